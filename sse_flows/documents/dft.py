"""Documents of DFT labeling: one batch of labeled frames, and the dataset.

The frames themselves (:class:`~sse_flows.dft.labels.LabeledFrame`) are the DFT
layer's; units and sign conventions are stated there.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.dft.labels import (
    ENERGY_UNIT,
    FORCE_UNIT,
    STRESS_SIGN,
    STRESS_UNIT,
    DftSettingsRecord,
    LabeledFrame,
)
from sse_flows.documents.base import Document
from sse_flows.provenance import RunProvenance


class LabelBatchOutput(Document):
    """Output of one labeling job: the frames of one batch."""

    task_type: Literal["dft_label_batch"] = "dft_label_batch"
    batch: int = Field(description="Batch number within the labeling flow.")
    frames: list[LabeledFrame]
    dft: DftSettingsRecord
    provenance: RunProvenance

    @property
    def n_success(self) -> int:
        """Frames labeled and valid."""
        return sum(f.ok for f in self.frames)


class FailedFrame(BaseModel):
    """A frame kept out of the dataset, and why."""

    index: int
    formula: str
    reason: str
    calc_dir: str | None = None


class DatasetFiles(BaseModel):
    """Where the dataset's frames are: files, not document fields (16 MB limit)."""

    directory: str = Field(description="Folder holding every export.")
    extxyz: str = Field(
        description="Extended XYZ: energy, forces, stress (ASE names) and REF_energy, "
        "REF_forces, REF_stress (MACE names); stress in eV/A^3, ASE sign."
    )
    deepmd: str | None = Field(
        None, description="DeePMD npy folder (dpdata deepmd/npy, one system per formula)."
    )
    frames_json: str = Field(description="Every frame, failed ones included (JSON).")


class LabeledDataset(Document):
    """A labeled dataset: counts, failures, settings and where the frames are."""

    task_type: Literal["dft_dataset"] = "dft_dataset"
    name: str = Field(description="Dataset name (the labeling flow's name).")
    energy_unit: str = ENERGY_UNIT
    force_unit: str = FORCE_UNIT
    stress_unit: str = STRESS_UNIT
    stress_sign: str = STRESS_SIGN
    dft: DftSettingsRecord
    n_frames: int = Field(description="Frames given to the flow.")
    n_success: int = Field(description="Frames in the dataset.")
    n_failed: int = Field(description="Frames left out (see failed).")
    success_fraction: float
    min_success_fraction: float = Field(description="Threshold the flow was run with.")
    failed: list[FailedFrame] = Field(default_factory=list)
    corrections: dict[str, int] = Field(
        default_factory=dict, description="custodian corrections by handler, all frames."
    )
    formulas: dict[str, int] = Field(
        default_factory=dict, description="Frames in the dataset per formula."
    )
    energy_per_atom_range_eV: tuple[float, float] | None = None
    max_abs_force_eV_A: float | None = None
    files: DatasetFiles
    batch_uuids: list[str] = Field(
        default_factory=list, description="Jobs whose outputs hold the frames."
    )
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("n_success", "n_frames")

    def summary_lines(self) -> list[str]:
        """List counts, DFT settings, units, files and failed frames."""
        dft = self.dft
        lines = [
            f"dataset {self.name}: {self.n_success} of {self.n_frames} frames labeled "
            f"({100 * self.success_fraction:.0f} %, threshold "
            f"{100 * self.min_success_fraction:.0f} %)",
            f"  {dft.code} {dft.code_version or ''} {dft.functional}, preset {dft.preset}",
            f"  units: {self.energy_unit}, {self.force_unit}, {self.stress_unit} "
            f"({self.stress_sign})",
            f"  extxyz: {self.files.extxyz}",
        ]
        if self.files.deepmd:
            lines.append(f"  deepmd: {self.files.deepmd}")
        if self.corrections:
            fixes = ", ".join(f"{k} x{v}" for k, v in self.corrections.items())
            lines.append(f"  custodian corrections: {fixes}")
        return lines + [f"  failed frame {f.index}: {f.reason}" for f in self.failed]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Frames given and labeled."""
        return {"n_frames": output.get("n_frames"), "n_success": output.get("n_success")}
