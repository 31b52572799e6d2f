"""Document of a distillation (paper 004): a teacher's knowledge in a small student.

The teacher labelled perturbed structures and frames of its own MD; frames above a
force cap were dropped; a DeePMD se_e2_a student was trained on the rest (and
compressed). The document gives the student (a ``--potential`` string and its hash),
the frame counts, the student's errors against the teacher on held-out teacher MD,
and both models' speed. Frames stay in files, named here with their hashes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.documents.base import Document
from sse_flows.documents.training import SplitMetrics
from sse_flows.provenance import RunProvenance


class TeacherRecord(BaseModel):
    """The model that labelled every frame."""

    potential: str = Field(description="The teacher as a --potential string.")
    checkpoint_path: str | None = Field(None, description="Its weights file, if any.")
    sha256: str | None = Field(
        None, description="sha256 of its weights file (None: no file, e.g. EMT)."
    )
    package: str | None = Field(None, description="Package that ran it.")
    package_version: str | None = None


class DistillFrames(BaseModel):
    """How many frames came from where, and how many the force cap dropped."""

    perturbed: int = Field(description="Perturbed copies of the start structures.")
    md: int = Field(description="Frames of the teacher's MD runs.")
    md_perturbed: int = Field(description="Perturbed copies of those MD frames.")
    labelled: int = Field(description="Frames the teacher labelled (the sum above).")
    dropped_force_cap: int = Field(
        description="Frames dropped: an atom's |F| above the cap (or a non-finite label)."
    )
    dropped_by_source: dict[str, int] = Field(
        default_factory=dict, description="Dropped frames per source (perturbed, md...)."
    )
    train: int = Field(description="Frames the student trained on.")
    valid: int = Field(description="Frames that chose the student's best checkpoint.")
    held_out: int = Field(description="Held-out teacher MD frames (report only).")


class SpeedRecord(BaseModel):
    """A model's speed in a short NVE run on the same cell as the other's."""

    potential: str
    n_atoms: int
    steps: int = Field(description="Timed steps (after a few untimed warm-up steps).")
    seconds: float = Field(description="Wall time of the timed steps.")
    atom_steps_per_s: float = Field(description="Atoms x steps per wall second.")


class Distillation(Document):
    """A teacher distilled into a DeePMD se_e2_a student (paper 004)."""

    task_type: Literal["distillation"] = "distillation"
    name: str
    teacher: TeacherRecord
    student_potential: str = Field(description="A --potential string that loads it.")
    student_sha256: str = Field(description="sha256 of the student's model file.")
    student_artifact_uuid: str | None = Field(
        None, description="uuid of its trained_model job (artifact:<uuid> loads it)."
    )
    student_compressed: bool = Field(
        description="Whether the student file is the one dp compress tabulated."
    )
    student_descriptor: str = Field(description="Descriptor type (se_e2_a).")
    structures: list[str] = Field(description="Formulas of the start structures.")
    max_force_eV_A: float = Field(description="Force cap of the training frames.")
    frames: DistillFrames
    held_out_temperature_K: float = Field(
        description="Temperature of the held-out teacher MD."
    )
    held_out_errors: SplitMetrics = Field(
        description="Student minus teacher on the held-out teacher MD frames."
    )
    valid_errors: SplitMetrics | None = Field(
        None, description="Student minus teacher on its validation frames."
    )
    speed_teacher: SpeedRecord
    speed_student: SpeedRecord
    speed_ratio: float = Field(
        description="Student over teacher atom-steps per second (>1: student faster)."
    )
    files: dict[str, str] = Field(
        description="Frames files: candidates, labels, train, valid, held_out."
    )
    sha256: dict[str, str] = Field(description="sha256 of each of those files.")
    settings: dict[str, Any] = Field(description="The distillation's settings.")
    folder: str = Field(description="Folder with the frames files.")
    notes: list[str] = Field(default_factory=list)
    provenance: RunProvenance

    shown_columns: ClassVar[tuple[str, ...]] = ("held_out_force_mae_meV_A", "speed_ratio")

    def summary_lines(self) -> list[str]:
        """Return the teacher, student, frames, held-out errors and speeds."""
        f, e = self.frames, self.held_out_errors
        return [
            f"distillation '{self.name}': {self.teacher.potential} -> "
            f"{self.student_potential}"
            + (" (compressed)" if self.student_compressed else ""),
            f"  frames: {f.labelled} labelled ({f.perturbed} perturbed, {f.md} MD, "
            f"{f.md_perturbed} perturbed MD), {f.dropped_force_cap} dropped over "
            f"{self.max_force_eV_A:g} eV/A, train {f.train}, valid {f.valid}",
            f"  held-out teacher MD at {self.held_out_temperature_K:g} K "
            f"({f.held_out} frames): E MAE {_fmt(e.energy_mae_meV_atom)} meV/atom, "
            f"F MAE {_fmt(e.force_mae_meV_A)} meV/A, F RMSE "
            f"{_fmt(e.force_rmse_meV_A)} meV/A",
            f"  speed: student {self.speed_student.atom_steps_per_s:.4g}, teacher "
            f"{self.speed_teacher.atom_steps_per_s:.4g} atom-steps/s "
            f"(ratio {self.speed_ratio:.3g})",
        ] + [f"  note: {n}" for n in self.notes]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the held-out errors, the speed ratio and the student."""
        errors = output.get("held_out_errors") or {}
        frames = output.get("frames") or {}
        return {
            "held_out_energy_mae_meV_atom": errors.get("energy_mae_meV_atom"),
            "held_out_force_mae_meV_A": errors.get("force_mae_meV_A"),
            "speed_ratio": output.get("speed_ratio"),
            "dropped_force_cap": frames.get("dropped_force_cap"),
            "student_potential": output.get("student_potential"),
        }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
