"""The document of a phase-stability analysis: hull, formation energy, window."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.documents.base import Document, StructureSummary
from sse_flows.provenance import PotentialProvenance, RunProvenance
from sse_flows.thermo.corrections import CorrectionsRecord
from sse_flows.thermo.window import WindowResult


class EntryRecord(BaseModel):
    """One phase of the hull: where its energy came from and where it lies."""

    label: str = Field(description="Name of the phase (prototype name, file stem, ...).")
    formula: str = Field(description="Reduced formula.")
    composition: str = Field(description="Full formula of the computed cell.")
    energy_eV: float = Field(description="Total energy from the potential (uncorrected).")
    energy_per_atom_eV: float = Field(description="Uncorrected energy per atom, eV.")
    correction_eV_atom: float = Field(description="Correction applied per atom, eV.")
    e_above_hull_eV_atom: float = Field(description="Energy above the hull, eV/atom.")
    source: str = Field(
        description="'target', 'prototype', 'user', 'derived' (built by sse-flows) or "
        "'entry' (precomputed energy, used as given)."
    )
    detail: str | None = Field(None, description="Prototype name, file, or derivation.")
    job_uuid: str | None = Field(None, description="uuid of the relax job, if relaxed.")
    converged: bool | None = Field(None, description="Whether the relaxation converged.")


class PhaseFraction(BaseModel):
    """A decomposition product and its share of the target's atoms."""

    label: str = Field(description="Label of the product entry.")
    formula: str = Field(description="Reduced formula of the product.")
    fraction: float = Field(description="Fraction of the target's atoms in this phase.")


class FailedPhase(BaseModel):
    """A competing phase whose relaxation failed."""

    label: str = Field(description="Label of the phase.")
    formula: str = Field(description="Reduced formula.")
    job_uuid: str | None = Field(None, description="uuid of the failed relax job.")


class StabilityOutput(Document):
    """Formation energy, hull distance, decomposition and window of one target."""

    task_type: Literal["stability"] = "stability"
    summary: StructureSummary = Field(description="Query keys of the relaxed target.")
    structure: Structure | None = Field(None, description="Relaxed target structure.")
    chemsys: str = Field(description="Chemical system of the hull, e.g. Cl-Li.")
    e_form_eV_atom: float = Field(
        description="Formation energy per atom vs the elemental references (corrected "
        "energies when corrections apply)."
    )
    e_hull_eV_atom: float = Field(description="Energy above the hull, eV/atom (>= 0).")
    e_decomp_eV_atom: float | None = Field(
        None,
        description="Phase-separation energy: negative when the target lies below the "
        "hull of the other phases, equal to E_hull otherwise.",
    )
    stable: bool = Field(description="Whether the target is on the hull.")
    decomposition: list[PhaseFraction] = Field(
        description="Equilibrium phases at the target composition (itself if stable)."
    )
    window_V: list[float] | None = Field(
        description="[reduction, oxidation] limits in V vs Li/Li+ (None without Li)."
    )
    window: WindowResult | None = Field(
        None, description="Voltage ranges, phase equilibria, Li uptake, plot path."
    )
    entries: list[EntryRecord] = Field(description="Every entry of the phase diagram.")
    complete: bool = Field(
        description="False when failed competing phases were left out (allow_incomplete)."
    )
    failed_phases: list[FailedPhase] = Field(
        default_factory=list, description="Competing phases whose relaxation failed."
    )
    missing_subsystems: list[str] = Field(
        default_factory=list, description="Subsystems (2+ elements) with no compound."
    )
    missing_known_phases: list[str] = Field(
        default_factory=list,
        description="Known phases of this system (sse_flows/data/known_phases.yaml) "
        "that the entry set lacks.",
    )
    e_hull_lower_bound: str | None = Field(
        None,
        description="Why e_hull_eV_atom is only a lower bound (phases that could lie "
        "below it are missing or failed; adding them can only raise it); None when "
        "the hull holds every known phase of the system.",
    )
    notes: list[str] = Field(default_factory=list, description="Caveats of this result.")
    corrections: CorrectionsRecord = Field(description="Energy corrections applied.")
    pymatgen_version: str | None = Field(description="pymatgen used for the hull.")
    potential: PotentialProvenance | None = Field(
        None, description="Potential of the relaxations."
    )
    provenance: RunProvenance = Field(description="Software, host, times, inputs.")

    shown_columns: ClassVar[tuple[str, ...]] = ("e_form_eV_atom", "e_hull_eV_atom")

    def summary_lines(self) -> list[str]:
        """E_f, E_hull, decomposition, window, entries and caveats."""
        c = self.corrections
        lines = [
            f"stability of {self.summary.formula_pretty} in {self.chemsys} "
            f"({len(self.entries)} entries, corrections: {c.scheme}, "
            f"pymatgen {self.pymatgen_version})",
            f"  corrections: {c.reason or c.scheme}",
            f"  E_f    = {self.e_form_eV_atom:.4f} eV/atom",
            (
                f"  E_hull >= {1000 * self.e_hull_eV_atom:.1f} meV/atom (a lower bound: "
                f"{self.e_hull_lower_bound})"
                if self.e_hull_lower_bound
                else f"  E_hull = {1000 * self.e_hull_eV_atom:.1f} meV/atom"
                + (" (on the hull)" if self.stable else "")
            ),
            "  decomposition: "
            + " + ".join(f"{p.fraction:.3f} {p.formula}" for p in self.decomposition),
        ]
        if self.window_V is not None and self.window is not None:
            low, high = self.window_V
            lines.append(
                f"  window: {low:.2f} - {high:.2f} V vs Li/Li+ (plot: {self.window.plot})"
            )
            for r in self.window.ranges:
                top = "inf" if r.v_high is None else f"{r.v_high:.2f}"
                lines.append(
                    f"    {r.v_low:5.2f} - {top:>5s} V: Li uptake {r.li_uptake:+.3f}"
                    f" per f.u., {' + '.join(r.phases)}"
                )
        if self.missing_known_phases:
            lines.append(f"  known phases lacking: {', '.join(self.missing_known_phases)}")
        lines.append("  entries (label, source, E/atom eV, E_hull meV/atom):")
        for e in self.entries:
            lines.append(
                f"    {e.label:18s} {e.source:9s} {e.energy_per_atom_eV:9.4f} "
                f"{1000 * e.e_above_hull_eV_atom:8.1f}"
            )
        if not self.complete:
            failed = ", ".join(f.label for f in self.failed_phases)
            lines.append(f"  INCOMPLETE: failed phases left out: {failed}")
        return lines + [f"  note: {n}" for n in self.notes]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """E_f, E_hull and the Li window."""
        window = output.get("window_V") or [None, None]
        return {
            "e_form_eV_atom": output.get("e_form_eV_atom"),
            "e_hull_eV_atom": output.get("e_hull_eV_atom"),
            "e_hull_lower_bound": output.get("e_hull_lower_bound"),
            "window_low_V": window[0],
            "window_high_V": window[1],
        }
