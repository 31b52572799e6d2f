"""Energy, forces and stress of one configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.stress import voigt_6_to_full_3x3_stress

from sse_flows.constants import GPA
from sse_flows.potentials.batch import FrameResult


@dataclass
class StaticResult:
    """One evaluation: eV, eV/A, GPa with the ASE sign (positive = tensile)."""

    energy: float
    forces: np.ndarray  # (N, 3)
    stress_GPa: np.ndarray  # (3, 3)
    n_atoms: int

    @property
    def max_force(self) -> float:
        """Largest force norm, eV/A."""
        return float(np.linalg.norm(self.forces, axis=1).max())

    @classmethod
    def of_prediction(cls, prediction: FrameResult) -> StaticResult:
        """Take a batched prediction (Voigt stress in eV/A^3, ASE sign)."""
        stress = (
            np.full((3, 3), np.nan)
            if prediction.stress is None
            else voigt_6_to_full_3x3_stress(prediction.stress) / GPA
        )
        return cls(
            energy=prediction.energy,
            forces=prediction.forces,
            stress_GPa=stress,
            n_atoms=len(prediction.forces),
        )

    def fields(self) -> dict[str, Any]:
        """Return the document fields of a single point."""
        return {
            "energy": self.energy,
            "energy_per_atom": self.energy / self.n_atoms,
            "forces": self.forces.tolist(),
            "stress": self.stress_GPa.tolist(),
            "max_force": self.max_force,
        }


def static(atoms: Atoms, calculator: Calculator | None = None) -> StaticResult:
    """Evaluate once; ``calculator`` None uses the one already attached."""
    if calculator is not None:
        atoms.calc = calculator
    return StaticResult(
        energy=float(atoms.get_potential_energy()),
        forces=np.asarray(atoms.get_forces(), dtype=float),
        stress_GPa=np.asarray(atoms.get_stress(voigt=False), dtype=float) / GPA,
        n_atoms=len(atoms),
    )
