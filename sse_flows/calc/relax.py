"""Relaxation of positions and (optionally) the cell: atomate2's ``AseRelaxer`` loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.filters import ExpCellFilter, FrechetCellFilter
from pymatgen.core import Structure
from pymatgen.core.trajectory import Trajectory

from sse_flows.calc.static import StaticResult, static
from sse_flows.errors import SSEFlowsError
from sse_flows.quiet import harmless
from sse_flows.structures.io import to_atoms

CELL_FILTERS = {"frechet": FrechetCellFilter, "exp": ExpCellFilter}


class RelaxationNotConvergedError(SSEFlowsError):
    """The optimizer used up its steps before the forces fell below fmax."""


@dataclass
class RelaxSettings:
    """How to relax.

    ``fmax`` (eV/A) applies to atomic forces and, with ``relax_cell``, to the cell
    degrees of freedom of the cell filter (stress times volume per atom).
    """

    optimizer: str = "FIRE"
    fmax: float = 0.05
    max_steps: int = 500
    relax_cell: bool = True
    cell_filter: Literal["frechet", "exp"] = "frechet"
    fix_symmetry: bool = False
    symprec: float = 1e-2
    require_convergence: bool = True


@dataclass
class RelaxResult:
    """The relaxed structure, its single point, and how the relaxation went."""

    structure: Structure
    final: StaticResult
    converged: bool
    n_steps: int
    energies: list[float]


def relax(atoms: Atoms, calculator: Calculator, settings: RelaxSettings) -> RelaxResult:
    """Relax ``atoms``; raise when not converged and convergence is required."""
    from atomate2.ase.utils import AseRelaxer

    relaxer = AseRelaxer(
        calculator=calculator,
        optimizer=settings.optimizer,
        relax_cell=settings.relax_cell,
        fix_symmetry=settings.fix_symmetry,
        symprec=settings.symprec,
    )
    with harmless("logm", "fix-atoms"):
        result = relaxer.relax(
            atoms,
            fmax=settings.fmax,
            steps=settings.max_steps,
            final_atoms_object_file=None,  # type: ignore[arg-type]
            cell_filter=CELL_FILTERS[settings.cell_filter],
            use_emmet_models=False,
        )
    final = result.final_mol_or_struct
    trajectory = result.trajectory
    assert isinstance(final, Structure) and isinstance(trajectory, Trajectory)
    energies = [float(f["energy"]) for f in trajectory.frame_properties or []]
    n_steps = max(len(energies) - 2, 0)  # observer saw the start and an extra end call
    if settings.require_convergence and not result.converged:
        raise RelaxationNotConvergedError(
            f"Relaxation of {final.composition.reduced_formula} did not reach "
            f"fmax={settings.fmax} eV/A in {settings.max_steps} steps (last energy "
            f"{energies[-1]:.4f} eV). Raise max_steps, loosen fmax, or set "
            "require_convergence: false to keep the unconverged structure."
        )
    return RelaxResult(
        structure=final,
        final=static(to_atoms(final), calculator),
        converged=bool(result.converged),
        n_steps=n_steps,
        energies=energies,
    )
