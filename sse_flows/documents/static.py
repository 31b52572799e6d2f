"""Documents of single points and relaxations."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field
from pymatgen.core import Structure

from sse_flows.calc.relax import RelaxResult
from sse_flows.calc.static import StaticResult
from sse_flows.documents.base import TaskOutput
from sse_flows.potentials import LoadedPotential
from sse_flows.provenance import RunProvenance
from sse_flows.structures.io import spacegroup_symbol


class StaticOutput(TaskOutput):
    """Energy, forces and stress of one structure."""

    task_type: Literal["static", "relax"] = "static"
    energy: float = Field(description="Total energy in eV.")
    energy_per_atom: float = Field(description="Energy per atom in eV/atom.")
    forces: list[list[float]] = Field(description="Forces in eV/A, one row per site.")
    stress: list[list[float]] = Field(
        description="Stress tensor in GPa, ASE sign (positive = tensile)."
    )
    max_force: float = Field(description="Largest force norm in eV/A.")

    shown_columns: ClassVar[tuple[str, ...]] = ("energy_eV_atom",)

    @classmethod
    def from_result(
        cls,
        result: StaticResult,
        structure: Structure,
        loaded: LoadedPotential,
        provenance: RunProvenance,
    ) -> StaticOutput:
        """Build the document of a single point on ``structure``."""
        return cls(
            **cls.fields_of(structure, structure, loaded, provenance), **result.fields()
        )

    def summary_lines(self) -> list[str]:
        """Show formula, potential and energy."""
        return [
            *super().summary_lines(),
            f"  energy: {self.energy:.4f} eV ({self.energy_per_atom:.4f} eV/atom)",
        ]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Energy per atom."""
        return {"energy_eV_atom": output.get("energy_per_atom")}


class RelaxOutput(StaticOutput):
    """A relaxed structure and how the relaxation went."""

    task_type: Literal["static", "relax"] = "relax"
    converged: bool = Field(description="Whether fmax was reached within max_steps.")
    n_steps: int = Field(description="Optimizer steps taken.")
    energy_trajectory: list[float] = Field(
        description="Energy (eV) at each optimizer step."
    )
    volume_change: float = Field(description="Relative volume change (final/initial - 1).")
    spacegroup_initial: str = Field(description="Space group symbol before relaxation.")
    spacegroup_final: str = Field(description="Space group symbol after relaxation.")

    shown_columns: ClassVar[tuple[str, ...]] = ("energy_eV_atom", "converged")

    @classmethod
    def from_relaxation(
        cls,
        result: RelaxResult,
        structure: Structure,
        loaded: LoadedPotential,
        provenance: RunProvenance,
        symprec: float = 0.01,
    ) -> RelaxOutput:
        """Build the document of a relaxation that started from ``structure``."""
        final = result.structure
        return cls(
            **cls.fields_of(final, structure, loaded, provenance),
            **result.final.fields(),
            converged=result.converged,
            n_steps=result.n_steps,
            energy_trajectory=result.energies,
            volume_change=float(final.volume / structure.volume - 1.0),
            spacegroup_initial=spacegroup_symbol(structure, symprec),
            spacegroup_final=spacegroup_symbol(final, symprec),
        )

    def summary_lines(self) -> list[str]:
        """Energy and how the relaxation went."""
        return [
            *super().summary_lines(),
            f"  relax: converged={self.converged} in {self.n_steps} steps, "
            f"volume change {100 * self.volume_change:+.2f} %",
        ]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Energy per atom and convergence."""
        return {**super().query_columns(output), "converged": output.get("converged")}
