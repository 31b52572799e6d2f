"""Document of a dataset-size convergence study (paper 001, SI Tables S1-S2, Fig. S4).

One model per training-set size, all measured on the same held-out frames, so the
curve of error against size says whether more data would still help.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.documents.base import Document
from sse_flows.documents.training import SplitMetrics
from sse_flows.provenance import RunProvenance


class SizePoint(BaseModel):
    """One training-set size and the model trained on it."""

    fraction: float = Field(description="Fraction of the training structure groups.")
    n_groups: int = Field(description="Structure groups in this training set.")
    n_frames: int = Field(description="Frames in this training set.")
    train_file: str
    train_sha256: str
    potential: str = Field(description="The model trained on it (--potential string).")
    sha256: str = Field(description="sha256 of the model file.")
    artifact_uuid: str | None = None
    epochs_run: int
    metrics: dict[str, SplitMetrics] = Field(
        description="Errors on train, valid and test (valid and test: the same frames "
        "for every size)."
    )


class DatasetSizeConvergence(Document):
    """Error of the trained model against the size of its training set."""

    task_type: Literal["dataset_size_convergence"] = "dataset_size_convergence"
    name: str
    potential: str = Field(description="The model fine-tuned (or family trained).")
    data: str = Field(description="The labelled dataset the subsets come from.")
    data_sha256: str
    n_frames: int
    held_out_files: dict[str, str] = Field(description="valid/test frames, every size.")
    held_out_sizes: dict[str, int]
    settings: dict[str, Any] = Field(description="Split and training settings.")
    points: list[SizePoint] = Field(description="One per size, smallest first.")
    plot: str | None = Field(None, description="PNG of error against size.")
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("n_sizes", "largest_test_force_mae_meV_A")

    def held_out(self) -> str:
        """Return the split the curve is read on (test, else valid)."""
        return "test" if self.held_out_sizes.get("test") else "valid"

    def summary_lines(self) -> list[str]:
        """Return one line per size: frames, energy and force errors held out."""
        split = self.held_out()
        lines = [
            f"dataset-size convergence '{self.name}' of {self.potential} on {self.data} "
            f"({self.n_frames} frames; {split} {self.held_out_sizes.get(split)} frames)"
        ]
        for point in self.points:
            metrics = point.metrics.get(split)
            energy = metrics.energy_rmse_meV_atom if metrics else None
            force = metrics.force_rmse_meV_A if metrics else None
            lines.append(
                f"  {point.n_frames:>6} frames ({point.fraction:g}): {split} RMSE "
                f"E {_fmt(energy)} meV/atom, F {_fmt(force)} meV/A"
            )
        if self.plot:
            lines.append(f"  plot: {self.plot}")
        return lines

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the sizes, and the largest set's held-out force error."""
        points = output.get("points") or []
        last = (points[-1].get("metrics") or {}) if points else {}
        held = last.get("test") or last.get("valid") or {}
        return {
            "n_sizes": len(points),
            "largest_n_frames": points[-1].get("n_frames") if points else None,
            "largest_test_force_mae_meV_A": held.get("force_mae_meV_A"),
            "largest_test_force_rmse_meV_A": held.get("force_rmse_meV_A"),
        }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
