"""Documents of the active-learning loop (DP-GEN's concurrent learning, any family).

One :class:`Exploration` per MD run (system x temperature x pressure) with its
accurate/candidate/failed counts; one :class:`IterationRecord` per iteration (the
committee, every exploration, the selection and labels, the dataset size); the
:class:`ActiveLearning` document holds them all. Trajectories, ``model_devi.out`` files
and frames stay in files named here.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.documents.base import Document
from sse_flows.documents.training import SplitMetrics
from sse_flows.provenance import RunProvenance

Label = Literal["accurate", "candidate", "failed"]
StopReason = Literal["converged", "max_iterations"]


class Exploration(BaseModel):
    """One MD run of the committee's driving model, scored by the whole committee."""

    system: int = Field(description="Index of the start structure.")
    formula: str
    temperature_K: float
    pressure_GPa: float | None = Field(None, description="None: constant volume.")
    ensemble: str
    steps_planned: int
    steps_run: int = Field(description="Steps done (fewer when the run exploded).")
    sample_interval: int = Field(description="Steps between scored frames.")
    frames: int = Field(description="Frames scored by the committee.")
    accurate: int
    candidate: int
    failed: int = Field(
        description="Frames above the upper trust level, plus the frames an exploded "
        "run did not reach."
    )
    exploded: str | None = Field(
        None, description="Why the MD stopped early (None: it ran to the end)."
    )
    crashed: str | None = Field(
        None, description="Error of a run that could not be scored at all."
    )
    max_devi_f_max: float | None = Field(
        None, description="Largest max_devi_f of the run, eV/A."
    )
    scoring: list[str] = Field(
        default_factory=list,
        description="Per committee member: 'driver' (forces from the MD), "
        "'batched:<family>', 'one-by-one', or 'worker:<path>' for a model in another "
        "environment.",
    )
    trajectory: str | None = Field(None, description="The driver's trajectory (HDF5).")
    model_devi: str | None = Field(
        None, description="DP-GEN model_devi.out of the run (8 columns, dp 3.2)."
    )
    run_dir: str


class CommitteeMember(BaseModel):
    """One model of an iteration's committee."""

    potential: str = Field(description="A --potential string that loads it.")
    sha256: str
    artifact_uuid: str | None = None
    seed: int
    valid_force_mae_meV_A: float | None = None
    test: SplitMetrics | None = Field(
        None, description="Its errors on the fixed test set, when one is given."
    )


class Histogram(BaseModel):
    """Histogram of max_devi_f over every scored frame of an iteration."""

    edges_eV_A: list[float]
    counts: list[int]
    plot: str | None = Field(None, description="PNG with the trust levels marked.")


class IterationRecord(BaseModel):
    """One iteration: train, explore, score, classify, select, label."""

    iteration: int = Field(description="From 1.")
    potentials: list[str] = Field(description="The committee, as --potential strings.")
    committee: list[CommitteeMember]
    explorations: list[Exploration]
    accurate_ratio: float
    candidate_ratio: float
    failed_ratio: float
    counts: dict[str, dict[str, int]] = Field(
        description="accurate/candidate/failed per system and temperature, keyed "
        "'<system>@<T>K' (and '@<P>GPa' under pressure)."
    )
    histogram: Histogram
    n_candidates: int = Field(description="Candidate frames found.")
    n_selected: int = Field(description="Frames picked for labels (max per system).")
    n_labeled: int = Field(description="Frames the oracle labelled.")
    n_label_failed: int = Field(0, description="Picked frames the oracle failed on.")
    n_train: int = Field(description="Training frames the committee was trained on.")
    n_valid: int = Field(description="Validation frames it was measured on.")
    selected_file: str | None = None
    labels_file: str | None = None
    notes: list[str] = Field(default_factory=list)


class ActiveLearning(Document):
    """An active-learning loop: every iteration, and the committee to use."""

    task_type: Literal["active_learning"] = "active_learning"
    name: str
    labeler: str = Field(description="Oracle: 'dft:<preset>' or 'reference:<potential>'.")
    settings: dict[str, Any] = Field(description="The loop's settings as resolved.")
    structures: list[str] = Field(description="Formulas of the explored systems.")
    iterations: list[IterationRecord]
    converged: bool
    stop_reason: StopReason
    stop_detail: str
    final_potentials: list[str] = Field(
        description="The last committee (the first drives MD best: lowest valid error)."
    )
    dataset: dict[str, str] = Field(description="Every labelled frame, per split.")
    dataset_sha256: dict[str, str] = Field(default_factory=dict)
    folder: str
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("n_iterations", "accurate_ratio")

    def summary_lines(self) -> list[str]:
        """Return each iteration's ratios and dataset size."""
        state = "converged" if self.converged else "NOT converged"
        lines = [
            f"active learning '{self.name}', labels by {self.labeler}: {state}",
            f"  stopped: {self.stop_detail}",
            f"  final potentials: {', '.join(self.final_potentials)}",
        ]
        for it in self.iterations:
            lines.append(
                f"  iteration {it.iteration}: accurate {it.accurate_ratio:.3f}, "
                f"candidate {it.candidate_ratio:.3f}, failed {it.failed_ratio:.3f}; "
                f"{it.n_train} training frames, +{it.n_labeled} labelled"
            )
        return lines

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the iteration count, the last accurate ratio and the outcome."""
        iterations = output.get("iterations") or []
        last = iterations[-1] if iterations else {}
        return {
            "n_iterations": len(iterations),
            "accurate_ratio": last.get("accurate_ratio"),
            "converged": output.get("converged"),
            "final_potential": (output.get("final_potentials") or [None])[0],
        }
