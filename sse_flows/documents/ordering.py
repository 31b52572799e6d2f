"""The document of the ordering jobs: ranked ordered cells and the counts behind them."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.documents.base import Document, StructureSummary
from sse_flows.provenance import PotentialProvenance, RunProvenance


class CandidateEntry(BaseModel):
    """One ordered cell and every energy it was ranked by."""

    rank: int = Field(description="Position in the final ranking, 0 = best.")
    ewald_rank: int = Field(description="Position by Ewald energy (0 = lowest).")
    formula: str = Field(description="Full formula of the ordered cell.")
    nsites: int = Field(description="Atoms in the ordered cell.")
    supercell: list[list[int]] = Field(description="Supercell matrix of the parent cell.")
    spacegroup: str = Field(description="Space group of the unrelaxed ordered cell.")
    multiplicity: int = Field(
        description="Arrangements this ordering stands for (orbit size, or times sampled)."
    )
    ewald_energy_eV: float = Field(
        description="Ewald energy of the cell with formal charges."
    )
    ewald_relative_eV_atom: float = Field(
        description="Ewald energy above the lowest candidate, eV/atom."
    )
    screen_energy_eV_atom: float | None = Field(
        default=None,
        description="Screen energy, eV/atom: a single point (unrelaxed), or after the "
        "screen's loose relaxation when the screen relaxes (see screen_method).",
    )
    relaxed_energy_eV_atom: float | None = Field(
        default=None, description="Potential energy after relaxation, eV/atom."
    )
    relaxed_relative_eV_atom: float | None = Field(
        default=None,
        description="Relaxed energy above the best relaxed candidate, eV/atom.",
    )
    relax_converged: bool | None = Field(
        default=None, description="Whether the relaxation reached fmax (None: not relaxed)."
    )
    relax_error: str | None = Field(
        default=None, description="Why the relaxation failed, if it did."
    )
    spacegroup_relaxed: str | None = Field(
        default=None, description="Space group after relaxation."
    )
    configuration: list[int] = Field(
        description="Species index per disordered site (reproduces the cell exactly)."
    )


class SupercellReport(BaseModel):
    """What was considered in one supercell shape."""

    supercell: list[list[int]] = Field(description="Supercell matrix.")
    n_sites: int = Field(
        description="Sites in the supercell skeleton (vacancies included)."
    )
    n_combinations: int = Field(description="Arrangements before symmetry reduction.")
    n_symmetry_ops: int = Field(description="Symmetry operations of the supercell.")
    n_distinct: int = Field(description="Symmetry-distinct orderings found.")
    n_considered: int = Field(description="Arrangements looked at (all, or the samples).")
    exhaustive: bool = Field(description="True when every arrangement was enumerated.")
    seconds: float = Field(description="Wall time of this cell's search.")


class OrderingDocument(Document):
    """Ranked ordered cells of a disordered structure, with the counts behind them."""

    task_type: Literal["ordering"] = "ordering"
    stage: str = Field(description="ewald, screened (potential single points) or relaxed.")
    summary: StructureSummary = Field(description="Query keys of the best ordered cell.")
    parent_formula: str = Field(description="Formula of the disordered parent.")
    parent: Structure = Field(description="The disordered parent structure.")
    series: dict[str, object] | None = Field(
        default=None, description="Series name, member label and parameters, if any."
    )
    oxidation_states: dict[str, float] = Field(description="Charges used for Ewald.")
    cells: list[SupercellReport] = Field(description="Per-supercell counts.")
    n_combinations: int = Field(description="Arrangements over all supercells.")
    n_distinct: int = Field(description="Symmetry-distinct orderings found.")
    n_kept: int = Field(description="Candidates kept after the Ewald stage.")
    n_cut: int = Field(description="Distinct orderings found but not kept.")
    n_relaxed: int = Field(default=0, description="Candidates relaxed with the potential.")
    exhaustive: bool = Field(description="True when every cell was enumerated completely.")
    ewald_degenerate: bool = Field(
        description="True when Ewald energy cannot rank (isovalent mixing only)."
    )
    ranked_by: str = Field(
        description="ewald, potential_static, potential_screen_relax or potential_relaxed."
    )
    candidates: list[CandidateEntry] = Field(description="Candidates, best first.")
    structures: list[Structure] = Field(
        description="Ordered cells in candidate order (relaxed ones when relaxed)."
    )
    lowest: Structure = Field(description="The best ordered cell.")
    notes: list[str] = Field(default_factory=list, description="Caveats of this result.")
    screen_method: str | None = Field(
        default=None, description="single_point or relax (None: not screened)."
    )
    inference_path: str | None = Field(
        default=None,
        description="How the screen evaluated the potential: one-by-one or "
        "batched:<family> (frames per model call in screen_batch_size).",
    )
    screen_batch_size: int | None = Field(
        default=None, description="Frames per model call in the screen."
    )
    potential: PotentialProvenance | None = Field(
        default=None, description="Potential used for screening/relaxation."
    )
    provenance: RunProvenance = Field(description="Software, host, times, resolved inputs.")

    shown_columns: ClassVar[tuple[str, ...]] = ("n_distinct", "ranked_by")

    def summary_lines(self, limit: int = 10) -> list[str]:
        """Show counts per cell and the best candidates with their energies."""
        lines = [
            f"ordering of {self.parent_formula}: {self.n_distinct} distinct orderings "
            f"({'all enumerated' if self.exhaustive else 'sampled'}) from "
            f"{self.n_combinations:.3g} arrangements in {len(self.cells)} supercell(s); "
            f"kept {self.n_kept}, cut {self.n_cut}, relaxed {self.n_relaxed}; "
            f"ranked by {self.ranked_by}",
        ]
        for cell in self.cells:
            lines.append(
                f"  cell {cell.supercell}: {cell.n_sites} sites, "
                f"{cell.n_symmetry_ops} symmetry ops, {cell.n_distinct} distinct, "
                f"{cell.seconds:.1f} s"
            )
        lines.append(
            "  rank  formula         spacegroup  mult   Ewald(meV/at)  screen(eV/at)"
            "  relaxed(meV/at)"
        )
        for c in self.candidates[:limit]:
            screen, relaxed = c.screen_energy_eV_atom, c.relaxed_relative_eV_atom
            lines.append(
                f"  {c.rank:4d}  {c.formula:15s} {c.spacegroup:11s} {c.multiplicity:5d} "
                f"{1000 * c.ewald_relative_eV_atom:14.2f} "
                f"{'' if screen is None else f'{screen:.4f}':>14s} "
                f"{'' if relaxed is None else f'{1000 * relaxed:.2f}':>16s}"
            )
        return lines + [f"  note: {n}" for n in self.notes]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return counts and the relaxed energy of the best cell (per cell and per atom)."""
        candidates = output.get("candidates") or []
        best = candidates[0] if candidates else {}
        per_atom = best.get("relaxed_energy_eV_atom")
        nsites = (output.get("summary") or {}).get("nsites")
        energy = per_atom * nsites if per_atom is not None and nsites else None
        return {
            "n_distinct": output.get("n_distinct"),
            "ranked_by": output.get("ranked_by"),
            "ordering_energy_eV": energy,
            "ordering_energy_eV_atom": per_atom,
            "ordering_nsites": nsites,
        }
