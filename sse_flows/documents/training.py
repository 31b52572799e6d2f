"""Documents of training: a trained model (an artifact usable as a potential).

The model file itself stays on disk (``checkpoint``); the document holds what is
needed to trust and reuse it: hashes of the model, its parent and its data, the
settings, the errors on every split beside the parent's, and the learning curve.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.documents.base import Document
from sse_flows.provenance import RunProvenance


class SplitMetrics(BaseModel):
    """Errors of a model on one split (prediction minus label)."""

    n_frames: int
    energy_mae_meV_atom: float | None = None
    energy_rmse_meV_atom: float | None = None
    force_mae_meV_A: float | None = None
    force_rmse_meV_A: float | None = None
    stress_mae_GPa: float | None = None
    stress_rmse_GPa: float | None = None

    @classmethod
    def of(cls, result: Any) -> SplitMetrics:
        """Take the metrics of an evaluation (``calc.evaluate.EvaluationResult``)."""
        return cls(
            n_frames=result.n_frames,
            **{
                name: getattr(result, name)
                for name in cls.model_fields
                if name != "n_frames"
            },
        )


class ParentModel(BaseModel):
    """The model that was fine-tuned (None fields: trained from scratch)."""

    potential: str = Field(description="The parent as a potential string.")
    checkpoint_path: str | None = Field(None, description="Its weights file.")
    sha256: str | None = Field(None, description="sha256 of that file.")
    artifact: str | None = Field(
        None, description="uuid of the parent's own trained_model document, if any."
    )


class DatasetRecord(BaseModel):
    """The data a model was trained on, and how it was split."""

    path: str = Field(description="Frames file given to training.")
    sha256: str = Field(description="sha256 of that file.")
    n_frames: int
    split_sizes: dict[str, int] = Field(description="Frames per split.")
    split_groups: dict[str, int] = Field(
        description="Structures (trajectories) per split: no group is in two splits."
    )
    split_files: dict[str, str] = Field(description="extxyz of each split.")
    split_sha256: dict[str, str]
    dataset_uuid: str | None = Field(
        None, description="uuid of the stored dataset document, when it came from one."
    )


class EnergyReferenceRecord(BaseModel):
    """How the labels' energy scale was matched to the parent's."""

    method: str = Field(description="What was done, in words.")
    offsets_eV: dict[str, float] = Field(
        default_factory=dict, description="Per-element offsets (label - parent), eV."
    )
    rms_before_meV_atom: float | None = Field(
        None, description="RMS of (label - parent) per atom on the training split."
    )
    rms_after_meV_atom: float | None = Field(
        None, description="The same after removing the per-element offsets."
    )


class TrainedModel(Document):
    """A trained or fine-tuned potential: use it as ``potential`` anywhere.

    ``potential`` (family:checkpoint) and ``artifact:<uuid of this job>`` both load it.
    """

    task_type: Literal["trained_model"] = "trained_model"
    family: str = Field(description="Model family (chgnet, sevennet, mace, deepmd).")
    potential: str = Field(description="A --potential string that loads this model.")
    checkpoint: str = Field(description="The model file.")
    sha256: str = Field(description="sha256 of the model file.")
    artifact_uuid: str | None = Field(
        None, description="uuid of the job that made this document (artifact:<uuid>)."
    )
    parent: ParentModel | None = Field(None, description="None: trained from scratch.")
    lineage: list[ParentModel] = Field(
        default_factory=list,
        description="Ancestors, nearest first (the parent, its parent, ...).",
    )
    dataset: DatasetRecord
    settings: dict[str, Any] = Field(description="TrainSettings as resolved.")
    energy_reference: EnergyReferenceRecord
    metrics: dict[str, SplitMetrics] = Field(description="Errors on each split.")
    parent_metrics: dict[str, SplitMetrics] = Field(
        default_factory=dict,
        description="The parent's errors on the same splits (test, else valid).",
    )
    learning_curve: list[dict[str, Any]] = Field(
        default_factory=list, description="Per epoch: losses and validation errors."
    )
    epochs_run: int
    resumed_from_epoch: int | None = Field(
        None, description="Epoch a killed run was resumed from."
    )
    plots: dict[str, str] = Field(
        default_factory=dict, description="PNG files: parity plots, learning curve."
    )
    workdir: str = Field(description="Folder with the trainer's files and logs.")
    notes: list[str] = Field(default_factory=list)
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("family", "test_force_mae_meV_A")

    def held_out(self) -> str:
        """Return the split the headline errors come from (test, else valid)."""
        return "test" if "test" in self.metrics else "valid"

    def summary_lines(self) -> list[str]:
        """Model, parent, data and the errors beside the parent's."""
        parent = self.parent.potential if self.parent else "none (from scratch)"
        lines = [
            f"trained {self.family} model {self.checkpoint}",
            f"  sha256 {self.sha256[:16]}..., parent {parent}",
            f"  data {self.dataset.path} ({self.dataset.n_frames} frames, splits "
            + ", ".join(f"{k} {v}" for k, v in self.dataset.split_sizes.items())
            + ")",
            f"  epochs {self.epochs_run}"
            + (
                f", resumed from {self.resumed_from_epoch}"
                if self.resumed_from_epoch
                else ""
            ),
        ]
        for split, metrics in self.metrics.items():
            old = self.parent_metrics.get(split)
            text = f"  {split}: E MAE {_fmt(metrics.energy_mae_meV_atom)} meV/atom, "
            text += f"F MAE {_fmt(metrics.force_mae_meV_A)} meV/A"
            if old is not None:
                text += (
                    f" (parent {_fmt(old.energy_mae_meV_atom)}, "
                    f"{_fmt(old.force_mae_meV_A)})"
                )
            lines.append(text)
        return lines + [f"  note: {n}" for n in self.notes]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Family and held-out errors."""
        metrics = output.get("metrics") or {}
        held = metrics.get("test") or metrics.get("valid") or {}
        return {
            "family": output.get("family"),
            "test_energy_mae_meV_atom": held.get("energy_mae_meV_atom"),
            "test_force_mae_meV_A": held.get("force_mae_meV_A"),
        }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
