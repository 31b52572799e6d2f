"""Document of the iterative temperature-ramp fine-tuning of paper 002.

One record per temperature step: the frames picked from MD with the model of that
moment, the model's error on them *before* it saw them (the ramp's convergence
measure), and the model trained after. Frames stay in files (extxyz), named here
with their hashes; the trained models are their own ``trained_model`` documents.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.documents.base import Document
from sse_flows.documents.training import SplitMetrics
from sse_flows.provenance import RunProvenance

STOP_REASONS = ("force_mae_below_threshold", "t_max_reached")


class StepModel(BaseModel):
    """The model trained at one step (on every frame gathered so far)."""

    potential: str = Field(description="A --potential string that loads it.")
    sha256: str = Field(description="sha256 of the model file.")
    artifact_uuid: str | None = Field(
        None, description="uuid of its trained_model job (artifact:<uuid> loads it)."
    )
    epochs_run: int
    held_out_split: str = Field(description="Split the metrics are on (test, else valid).")
    metrics: SplitMetrics = Field(description="Its errors on the held-out frames.")
    parent_metrics: SplitMetrics | None = Field(
        None, description="The errors of the model it started from, same frames."
    )
    split_sizes: dict[str, int] = Field(description="Frames per split it was given.")


class PickedFrames(BaseModel):
    """Frames picked by FPS from one structure's MD run."""

    structure: int = Field(description="Index of the start structure.")
    formula: str
    md_job: str | None = Field(None, description="uuid of the MD job.")
    trajectory: str = Field(description="The MD trajectory file.")
    candidates: int = Field(description="Frames in the trajectory.")
    picked: list[int] = Field(description="Trajectory frame indices, in picking order.")
    distances_A2: list[float | None] = Field(
        description="Each pick's position MSD to those before it (and the start), A^2."
    )


class FineTuneStep(BaseModel):
    """One temperature of the ramp."""

    index: int = Field(description="Step number, from 1.")
    temperature_K: float
    exploring_potential: str = Field(description="Model that ran the MD.")
    frames_added: int = Field(description="Labelled frames this step added.")
    frames_labelled_failed: int = Field(
        0, description="Picked frames the labeler left out (failed DFT)."
    )
    picked: list[PickedFrames]
    picked_file: str = Field(description="extxyz of the picked frames, unlabelled.")
    labels_file: str = Field(description="extxyz of this step's labelled frames.")
    labels_sha256: str
    error_before: SplitMetrics = Field(
        description="The exploring model's errors on this step's new frames, before "
        "training on them."
    )
    trained: StepModel | None = Field(
        None, description="Model trained at this step (None: the ramp stopped first)."
    )


class FineTuneRamp(Document):
    """An iterative temperature-ramp fine-tuning (paper 002): steps and final model."""

    task_type: Literal["finetune_ramp"] = "finetune_ramp"
    name: str
    start_potential: str = Field(description="The model the ramp started from.")
    labeler: str = Field(
        description="Who labelled the frames: 'dft:<preset>' or 'reference:<potential>'."
    )
    settings: dict[str, Any] = Field(
        description="Ramp settings: temperatures, frames per step, stop threshold, "
        "MD protocol and training settings."
    )
    structures: list[str] = Field(description="Formulas of the start structures.")
    steps: list[FineTuneStep]
    final_potential: str = Field(description="The model to use: the last one trained.")
    final_sha256: str | None = Field(
        None, description="sha256 of its file (None: no step trained one)."
    )
    stop_reason: Literal["force_mae_below_threshold", "t_max_reached"]
    stop_detail: str = Field(description="Why the ramp stopped, in words.")
    data_files: dict[str, str] = Field(
        default_factory=dict,
        description="Every labelled frame gathered, per split (extxyz).",
    )
    data_sha256: dict[str, str] = Field(default_factory=dict)
    folder: str = Field(description="Folder with every step's frames and models.")
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("n_steps", "last_temperature_K")

    def summary_lines(self) -> list[str]:
        """Return each step: the error before training and the trained model's error."""
        lines = [
            f"fine-tuning ramp '{self.name}' from {self.start_potential}, labels by "
            f"{self.labeler}",
            f"  stopped: {self.stop_detail}",
            f"  final potential: {self.final_potential}",
        ]
        for step in self.steps:
            text = (
                f"  step {step.index} at {step.temperature_K:g} K: +{step.frames_added} "
                f"frames, F MAE before {_fmt(step.error_before.force_mae_meV_A)} meV/A"
            )
            if step.trained is not None:
                text += (
                    f", trained {step.trained.held_out_split} F MAE "
                    f"{_fmt(step.trained.metrics.force_mae_meV_A)} meV/A"
                )
            lines.append(text)
        return lines

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the steps, last temperature, stop reason and final model."""
        steps = output.get("steps") or []
        last = steps[-1] if steps else {}
        before = last.get("error_before") or {}
        return {
            "n_steps": len(steps),
            "last_temperature_K": last.get("temperature_K"),
            "last_force_mae_before_meV_A": before.get("force_mae_meV_A"),
            "stop_reason": output.get("stop_reason"),
            "final_potential": output.get("final_potential"),
        }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
