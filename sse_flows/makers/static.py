"""Single-point energy, forces and stress."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from jobflow import job
from pymatgen.core import Structure

from sse_flows.makers.base import PotentialInput, PotentialJobMaker
from sse_flows.provenance import PotentialProvenance, RunProvenance
from sse_flows.schemas import StaticOutput, StructureSummary
from sse_flows.structures import to_atoms, to_structure


def static_fields(atoms: Atoms) -> dict:
    """Energy, forces and stress (GPa, ASE sign) of atoms with a calculator attached."""
    energy = float(atoms.get_potential_energy())
    forces = atoms.get_forces()
    stress = atoms.get_stress(voigt=False) / units.GPa
    return {
        "energy": energy,
        "energy_per_atom": energy / len(atoms),
        "forces": forces.tolist(),
        "stress": stress.tolist(),
        "max_force": float(np.linalg.norm(forces, axis=1).max()),
    }


def common_fields(
    task_type: str,
    final: Structure,
    initial: Structure,
    potential: PotentialProvenance,
    provenance: RunProvenance,
) -> dict:
    """Fields of TaskOutput, shared by every job's document."""
    return {
        "task_type": task_type,
        "summary": StructureSummary.of(final),
        "structure": final,
        "input_structure": initial,
        "potential": potential,
        "provenance": provenance.finish(),
    }


@dataclass
class StaticMaker(PotentialJobMaker):
    """Energy, forces and stress of a structure with a named potential."""

    name: str = "static"

    @job(output_schema=StaticOutput)
    def make(
        self, structure: Structure, potential: PotentialInput | None = None
    ) -> StaticOutput:
        """Evaluate the potential once."""
        loaded, provenance = self.prepare(structure, potential)
        atoms = to_atoms(structure)
        atoms.calc = loaded.calculator
        fields = static_fields(atoms)
        return StaticOutput(
            **common_fields(
                "static", to_structure(atoms), structure, loaded.provenance, provenance
            ),
            **fields,
        )
