"""Documents of the training set flow: the candidate draw, frames per run, the dataset.

The flow is :class:`sse_flows.flows.training_set.TrainingSetMaker` (paper 001's
recipe; its jobs are in :mod:`sse_flows.makers.training_set`). Frames and the dataset
itself are files; documents hold counts, coverage, hashes and where the files are (a
16 MB document limit, and training reads files).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.documents.base import Document
from sse_flows.provenance import PotentialProvenance, RunProvenance


class CandidateRecord(BaseModel):
    """One candidate structure: its energy, hull distance, and whether it was drawn."""

    id: str = Field(description="Candidate name (file stem, ordering rank, or index).")
    formula: str = Field(description="Reduced formula.")
    composition: str = Field(description="Full formula of the cell.")
    nsites: int = Field(description="Atoms in the cell.")
    atoms_per_formula_unit: int = Field(description="Atoms in one reduced formula unit.")
    source: str | None = Field(None, description="File or stored document it came from.")
    energy_job_uuid: str | None = Field(None, description="uuid of its energy job.")
    energy_eV: float | None = Field(None, description="Potential energy of the cell.")
    energy_per_atom_eV: float | None = Field(None, description="Energy per atom, eV.")
    e_above_ground_eV_atom: float | None = Field(
        None, description="Above the lowest candidate of the same composition, eV/atom."
    )
    e_hull_eV_atom: float | None = Field(
        None,
        description="Above the lower convex hull of all candidates' energies per atom "
        "over their compositions, eV/atom (equals e_above_ground for one composition).",
    )
    kept: bool = Field(False, description="Inside the hull window (eligible to draw).")
    excluded: str | None = Field(None, description="Why it cannot be drawn, if so.")
    probability: float | None = Field(
        None,
        description="Boltzmann probability of a single draw from the pool (0 for "
        "ground states taken outright, None when not kept).",
    )
    ground_state: bool = Field(False, description="Lowest of its composition.")
    times_drawn: int = Field(0, description="MD runs started from it.")


class DrawnSlot(BaseModel):
    """One MD run of the training set: which candidate it starts from, and why."""

    slot: int = Field(description="MD slot of the flow (0-based).")
    candidate: str = Field(description="Candidate id.")
    reason: Literal["ground state", "boltzmann"] = Field(
        description="Taken because it is the lowest of its composition, or drawn."
    )


class TrainingSelection(Document):
    """Energies of the candidates, the hull window, and the Boltzmann draw."""

    task_type: Literal["training_selection"] = "training_selection"
    candidates: list[CandidateRecord]
    drawn: list[DrawnSlot] = Field(description="MD runs in slot order.")
    structures: list[Structure] = Field(
        description="Start structure of each drawn slot (relaxed when relaxed)."
    )
    compositions: list[str] = Field(description="Reduced formulas of the candidates.")
    settings: dict[str, Any] = Field(description="Window, temperature, draw settings.")
    notes: list[str] = Field(default_factory=list)
    potential: PotentialProvenance | None = Field(
        None, description="Potential of the energies."
    )
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("n_candidates", "n_drawn")

    def summary_lines(self) -> list[str]:
        """Candidates, kept, drawn."""
        kept = sum(c.kept for c in self.candidates)
        lines = [
            f"training set draw: {len(self.candidates)} candidates, {kept} in the window, "
            f"{len(self.drawn)} MD runs ({', '.join(self.compositions)})",
            "  id                  formula      E-E0(meV/at)  E_hull(meV/at)  p      drawn",
        ]
        for c in self.candidates:
            above = "-" if c.e_above_ground_eV_atom is None else c.e_above_ground_eV_atom
            hull = "-" if c.e_hull_eV_atom is None else c.e_hull_eV_atom
            lines.append(
                f"  {c.id:19s} {c.formula:12s} {_mev(above):>12s}  {_mev(hull):>14s}"
                f"  {'-' if c.probability is None else f'{c.probability:.3f}':6s} "
                f"{c.times_drawn}" + (f" ({c.excluded})" if c.excluded else "")
            )
        return lines + [f"  note: {n}" for n in self.notes]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Candidates and drawn runs."""
        return {
            "n_candidates": len(output.get("candidates") or []),
            "n_drawn": len(output.get("drawn") or []),
        }


class TrainingFrames(Document):
    """Frames taken from one MD run and strained: the input of DFT labeling."""

    task_type: Literal["training_frames"] = "training_frames"
    slot: int
    candidate: str | None = Field(None, description="Candidate the run started from.")
    group: str | None = Field(
        None, description="Split group of these frames (one per candidate)."
    )
    formula: str | None = None
    md_job_uuid: str | None = None
    temperature: float | None = Field(None, description="MD target temperature, K.")
    trajectory: str | None = Field(None, description="The MD trajectory file read.")
    n_trajectory_frames: int = Field(0, description="Frames stored in the trajectory.")
    trajectory_indices: list[int] = Field(
        default_factory=list, description="Stored frames taken (0-based)."
    )
    md_steps: list[int] = Field(default_factory=list, description="Their MD steps.")
    indices: list[int] = Field(
        default_factory=list, description="Frame indices within the whole training set."
    )
    strains: list[list[list[float]]] = Field(
        default_factory=list, description="Symmetric strain tensor applied to each frame."
    )
    volume_ratios: list[float] = Field(
        default_factory=list, description="Strained / unstrained cell volume per frame."
    )
    frames: list[Structure] = Field(default_factory=list, description="Strained frames.")
    frames_file: str | None = Field(None, description="The strained frames as extxyz.")
    notes: list[str] = Field(default_factory=list)
    provenance: RunProvenance | None = None


class TrajectoryRecord(BaseModel):
    """One MD run of the training set and what it gave."""

    slot: int
    candidate: str
    group: str
    formula: str
    md_job_uuid: str | None = None
    temperature: float = Field(description="MD target temperature, K.")
    temperature_mean: float | None = Field(None, description="Measured mean, K.")
    trajectory: str | None = None
    frames_taken: int
    frames_labeled: int


class TrainingDatasetDoc(Document):
    """A labelled training set: where it is, what it covers, how it was made.

    ``path`` is an extxyz whose frames carry ``info['group']`` (the candidate a run
    started from), so :func:`sse_flows.training.data.split_by_group` never puts frames
    of one trajectory into two splits.
    """

    task_type: Literal["training_dataset"] = "training_dataset"
    name: str
    path: str = Field(description="extxyz: labels under ASE's and MACE's REF_* names.")
    sha256: str = Field(description="sha256 of that file.")
    n_frames: int = Field(description="Labelled frames in the file.")
    n_structures: int = Field(description="Groups (candidates run with MD) in the file.")
    n_candidates: int
    n_kept: int = Field(description="Candidates inside the hull window.")
    n_md_runs: int = Field(description="MD runs that gave frames.")
    groups: dict[str, int] = Field(description="Frames per group.")
    composition_coverage: dict[str, int] = Field(description="Frames per reduced formula.")
    temperature_coverage: dict[str, int] = Field(
        description="Frames per MD target temperature (K, as text)."
    )
    label_statistics: dict[str, float] = Field(
        description="Label ranges (sse_flows.training.data.label_statistics)."
    )
    strain_max_abs: float | None = Field(
        None, description="Largest |strain component| among the labelled frames."
    )
    candidates: list[CandidateRecord]
    trajectories: list[TrajectoryRecord]
    labeling_dataset_uuid: str | None = Field(
        None, description="uuid of the dft_dataset job (all frames, failed ones too)."
    )
    labeled_extxyz: str | None = Field(None, description="That dataset's own extxyz.")
    n_label_failed: int = Field(0, description="Frames DFT did not label.")
    dft: dict[str, Any] = Field(
        default_factory=dict, description="Code, functional and preset of the labels."
    )
    potential: PotentialProvenance | None = Field(
        None, description="Potential of the energies and the MD."
    )
    settings: dict[str, Any] = Field(description="The flow's settings, resolved.")
    notes: list[str] = Field(default_factory=list)
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("n_frames", "n_structures")

    def summary_lines(self) -> list[str]:
        """Show counts, coverage, labels and the file."""
        stats = self.label_statistics
        lines = [
            f"training set {self.name}: {self.n_frames} frames from {self.n_structures} "
            f"structures ({self.n_md_runs} MD runs; {self.n_kept} of "
            f"{self.n_candidates} candidates in the window)",
            f"  file: {self.path} (sha256 {self.sha256[:12]})",
            "  compositions: "
            + ", ".join(f"{k} {v}" for k, v in self.composition_coverage.items()),
            "  temperatures: "
            + ", ".join(f"{k} K {v}" for k, v in self.temperature_coverage.items()),
        ]
        if stats:
            lines.append(
                f"  labels: E/atom {stats['energy_per_atom_min_eV']:.3f} .. "
                f"{stats['energy_per_atom_max_eV']:.3f} eV, force rms "
                f"{stats['force_rms_eV_A']:.3f} eV/A"
            )
        if self.dft:
            lines.append(
                f"  dft: {self.dft.get('code')} {self.dft.get('functional')}, preset "
                f"{self.dft.get('preset')}; {self.n_label_failed} frames failed"
            )
        return lines + [f"  note: {n}" for n in self.notes]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Frames and structures."""
        return {
            "n_frames": output.get("n_frames"),
            "n_structures": output.get("n_structures"),
        }


def _mev(value: float | str) -> str:
    return value if isinstance(value, str) else f"{1000 * value:.2f}"
