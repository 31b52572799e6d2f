"""Relaxation of positions and (optionally) the cell with a named potential."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ase.filters import ExpCellFilter, FrechetCellFilter
from jobflow import job
from pymatgen.core import Structure
from pymatgen.core.trajectory import Trajectory

from sse_flows.errors import SSEFlowsError
from sse_flows.makers.base import PotentialInput, PotentialJobMaker
from sse_flows.makers.static import common_fields, static_fields
from sse_flows.schemas import RelaxOutput
from sse_flows.structures import to_atoms
from sse_flows.structures.io import spacegroup_symbol

CELL_FILTERS = {"frechet": FrechetCellFilter, "exp": ExpCellFilter}


class RelaxationNotConvergedError(SSEFlowsError):
    """The optimizer used up its steps before the forces fell below fmax."""


@dataclass
class RelaxMaker(PotentialJobMaker):
    """Relax a structure; the optimizer loop is atomate2's ``AseRelaxer``.

    ``fmax`` applies to atomic forces and, with ``relax_cell``, to the cell degrees
    of freedom of the Frechet cell filter (stress times volume per atom).
    """

    name: str = "relax"
    optimizer: str = "FIRE"
    fmax: float = 0.05
    max_steps: int = 500
    relax_cell: bool = True
    cell_filter: Literal["frechet", "exp"] = "frechet"
    fix_symmetry: bool = False
    symprec: float = 1e-2
    require_convergence: bool = True

    @job(output_schema=RelaxOutput)
    def make(
        self, structure: Structure, potential: PotentialInput | None = None
    ) -> RelaxOutput:
        """Relax the structure and return the relaxed structure with its energies."""
        from atomate2.ase.utils import AseRelaxer

        loaded, provenance = self.prepare(structure, potential)
        relaxer = AseRelaxer(
            calculator=loaded.calculator,
            optimizer=self.optimizer,
            relax_cell=self.relax_cell,
            fix_symmetry=self.fix_symmetry,
            symprec=self.symprec,
        )
        result = relaxer.relax(
            to_atoms(structure),
            fmax=self.fmax,
            steps=self.max_steps,
            final_atoms_object_file=None,  # type: ignore[arg-type]
            cell_filter=CELL_FILTERS[self.cell_filter],
            use_emmet_models=False,
        )
        final = result.final_mol_or_struct
        trajectory = result.trajectory
        assert isinstance(final, Structure) and isinstance(trajectory, Trajectory)
        energies = [float(f["energy"]) for f in trajectory.frame_properties or []]
        n_steps = max(len(energies) - 2, 0)  # observer saw the start and an extra end call
        if self.require_convergence and not result.converged:
            raise RelaxationNotConvergedError(
                f"Relaxation of {structure.composition.reduced_formula} did not reach "
                f"fmax={self.fmax} eV/A in {self.max_steps} steps (last energy "
                f"{energies[-1]:.4f} eV). Raise max_steps, loosen fmax, or set "
                "require_convergence: false to keep the unconverged structure."
            )
        atoms = to_atoms(final)
        atoms.calc = loaded.calculator
        return RelaxOutput(
            **common_fields("relax", final, structure, loaded.provenance, provenance),
            **static_fields(atoms),
            converged=bool(result.converged),
            n_steps=n_steps,
            energy_trajectory=energies,
            volume_change=float(final.volume / structure.volume - 1.0),
            spacegroup_initial=spacegroup_symbol(structure, self.symprec),
            spacegroup_final=spacegroup_symbol(final, self.symprec),
        )
