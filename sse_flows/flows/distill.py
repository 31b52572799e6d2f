"""Distillation (paper 004): a teacher potential teaches a small DeePMD se_e2_a student.

The paper's recipe (its section 3.5 and SI "Model distillation"), as jobs:

1. **Teacher MD**: short MD with the teacher from every start structure at every
   temperature of ``temperatures`` (``md``: steps, thermostat; a frame every
   ``sample_interval`` steps). The paper ran 2000 steps of 1 fs NPT at 900 K and kept
   100 frames per run; ``md`` is NVT by default (``ensemble: npt`` is one key away).
2. **Frames**: ``n_perturbed`` random strains (+-``strain_fraction``) and
   displacements (~``displacement_A``) of each start structure, made with dpdata as
   in the paper; every MD frame, and ``md_frame_perturbations`` perturbed copies of
   each (the paper perturbed its MD frames further).
3. **Labels**: the teacher labels them all (energy, forces, stress).
4. **Force cap**: frames with any atom's |F| above ``max_force_eV_A`` (10 eV/A, as
   the paper) are dropped and counted; a random ``train.settings.valid_fraction`` of
   the rest chooses dp's best checkpoint.
5. **Student**: ``train`` trains a DeePMD se_e2_a from scratch (``dp --pt train``);
   the DeePMD trainer freezes and compresses it and returns the compressed file when
   it predicts like the frozen one.
6. **Report**: the student's errors against the teacher on a *separate* short
   teacher MD run (``held_out_md``, its own seed; its frames are used for nothing
   else), and both models' speed in atom-steps per second on the same cell.

Jobs are :mod:`sse_flows.makers.distill`'s; what they compute is
:mod:`sse_flows.training.distill`'s. The flow is static: a failed job is resumed by
``sse-flows resume`` (finished MD resumes from its checkpoints, teacher labels of the
same frames are reused, the training job resumes from its last epoch).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jobflow import Flow, Job, Maker
from pymatgen.core import Structure

from sse_flows.makers.base import SpecSection, as_potential
from sse_flows.makers.distill import DistillReportMaker, cap_forces, distill_frames
from sse_flows.makers.dynamic import ReferenceLabelMaker
from sse_flows.makers.md import MDMaker
from sse_flows.makers.training import TrainMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.structures import require_ordered
from sse_flows.training.distill import PerturbStyle, require_elements
from sse_flows.training.settings import TrainSettings

#: the student's family and descriptor: a plain DeePMD model, no attention (paper 004)
STUDENT_FAMILY = "deepmd"
STUDENT_DESCRIPTOR = "se_e2_a"


def _teacher_md() -> MDMaker:
    """NVT MD of the teacher: 1 fs steps, 2000 steps, a frame every 20 (the paper's)."""
    return MDMaker(
        name="teacher md",
        ensemble="nvt",
        thermostat="langevin",
        timestep_fs=1.0,
        production_steps=2000,
        sample_interval=20,
        checkpoint_interval=500,
    )


def _held_out_md() -> MDMaker:
    """Return a shorter teacher run at 900 K with its own seed: the test frames."""
    return MDMaker(
        name="held-out teacher md",
        ensemble="nvt",
        thermostat="langevin",
        temperature=900.0,
        timestep_fs=1.0,
        production_steps=1000,
        sample_interval=20,
        checkpoint_interval=500,
        seed=4242,
    )


def _student() -> TrainMaker:
    """Return a DeePMD se_e2_a trainer from scratch (the small default model)."""
    return TrainMaker(
        name="train student",
        potential=PotentialSpec(name=STUDENT_FAMILY),
        settings=TrainSettings(from_scratch=True, epochs=100),
    )


def _stored_frames(md: MDMaker) -> int:
    """Frames an MD run stores: every sample_interval steps of its production part."""
    return (
        md.total_steps // md.sample_interval - md.equilibration_steps // md.sample_interval
    )


@dataclass
class DistillMaker(SpecSection, Maker):
    """Distil ``teacher`` into a DeePMD se_e2_a student; see the module doc.

    ``n_perturbed`` per start structure and ``md_frame_perturbations`` per MD frame;
    ``seed`` seeds the perturbations and the validation draw. ``speed_steps`` NVE
    steps (after ``speed_warmup``) time each model.
    """

    name: str = "distill"
    teacher: PotentialSpec | None = None
    n_perturbed: int = 50
    displacement_A: float = 0.1
    strain_fraction: float = 0.03
    perturb_style: PerturbStyle = "normal"
    md_frame_perturbations: int = 1
    temperatures: list[float] = field(default_factory=lambda: [900.0])
    md: MDMaker = field(default_factory=_teacher_md)
    held_out_md: MDMaker = field(default_factory=_held_out_md)
    max_force_eV_A: float = 10.0
    train: TrainMaker = field(default_factory=_student)
    speed_steps: int = 50
    speed_warmup: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        """Parse the teacher given as a name; refuse settings that cannot run."""
        if self.teacher is not None:
            self.teacher = as_potential(self.teacher)
        if not self.max_force_eV_A > 0:
            raise ValueError(
                f"max_force_eV_A must be positive (the paper's cap is 10 eV/A), got "
                f"{self.max_force_eV_A}"
            )
        for key in ("n_perturbed", "md_frame_perturbations", "speed_warmup"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative, got {getattr(self, key)}")
        if self.speed_steps < 1:
            raise ValueError(f"speed_steps must be >= 1, got {self.speed_steps}")
        if self.displacement_A < 0:
            raise ValueError(
                f"displacement_A must not be negative, got {self.displacement_A}"
            )
        if not 0 <= self.strain_fraction < 0.5:
            raise ValueError(
                f"strain_fraction must be in [0, 0.5), got {self.strain_fraction}"
            )
        if not self.temperatures or any(t <= 0 for t in self.temperatures):
            raise ValueError(
                f"temperatures must list positive temperatures (K), got {self.temperatures}"
            )
        self._check_student()

    def _check_student(self) -> None:
        """Refuse a student that is not a DeePMD se_e2_a trained from scratch."""
        family = self.train.potential.name
        if family != STUDENT_FAMILY:
            raise ValueError(
                f"the student is a DeePMD se_e2_a (paper 004); train.potential is "
                f"{self.train.potential.label()!r}: set it to {STUDENT_FAMILY!r}"
            )
        settings = self.train.settings
        if not settings.from_scratch or self.train.potential.checkpoint:
            raise ValueError(
                "the student is trained from scratch: set train.settings.from_scratch "
                "to true and give train.potential without a checkpoint"
            )
        descriptor = settings.model.get("descriptor", {}).get("type", STUDENT_DESCRIPTOR)
        if descriptor != STUDENT_DESCRIPTOR:
            raise ValueError(
                f"the student's descriptor is {STUDENT_DESCRIPTOR} (no attention, "
                f"compressible), not {descriptor!r}: drop train.settings.model."
                "descriptor.type or set it to se_e2_a"
            )

    def settings_record(self) -> dict[str, Any]:
        """Return the settings as stored in the document (plain values)."""
        return {
            "name": self.name,
            "teacher": self.teacher.label() if self.teacher else None,
            "n_perturbed": self.n_perturbed,
            "displacement_A": self.displacement_A,
            "strain_fraction": self.strain_fraction,
            "perturb_style": self.perturb_style,
            "md_frame_perturbations": self.md_frame_perturbations,
            "temperatures": list(self.temperatures),
            "md": {k: v for k, v in self.md.protocol_dict().items() if k != "temperature"},
            "held_out_md": self.held_out_md.protocol_dict(),
            "max_force_eV_A": self.max_force_eV_A,
            "train": self.train.settings.model_dump(),
            "speed_steps": self.speed_steps,
            "speed_warmup": self.speed_warmup,
            "seed": self.seed,
        }

    def make(
        self,
        structures: Sequence[Structure],
        teacher: PotentialSpec | str | None = None,
    ) -> Flow:
        """Return the distillation's flow; refuse a teacher lacking an element first."""
        if not structures:
            raise ValueError("give at least one start structure")
        spec = as_potential(teacher) if teacher is not None else self.teacher
        if spec is None:
            raise ValueError("name the teacher potential (teacher: NAME or FAMILY:FILE)")
        for index, structure in enumerate(structures):
            require_ordered(structure, what=f"distillation (structure {index})")
        if _stored_frames(self.held_out_md) < 1:
            raise ValueError(
                "held_out_md stores no frame: its production_steps must reach "
                "sample_interval"
            )
        expected = len(structures) * (
            self.n_perturbed
            + len(self.temperatures)
            * _stored_frames(self.md)
            * (1 + self.md_frame_perturbations)
        )
        if expected < 2:
            raise ValueError(
                f"{expected} training frame(s) would be labelled: raise n_perturbed or "
                "md.production_steps"
            )
        elements = sorted({el.symbol for s in structures for el in s.composition})
        require_elements(spec, elements, f"teacher '{spec.label()}'")
        return self._flow(list(structures), spec)

    def _flow(self, structures: list[Structure], teacher: PotentialSpec) -> Flow:
        """Wire the jobs (see the module doc)."""
        run_id = str(uuid.uuid4())
        md_jobs = [
            replace(
                self.md,
                name=f"{self.name} teacher md {t:g} K #{i}",
                temperature=t,
                potential=teacher,
            ).make(structure, potential=teacher)
            for t in self.temperatures
            for i, structure in enumerate(structures)
        ]
        held_jobs = [
            replace(
                self.held_out_md, name=f"{self.name} held-out md #{i}", potential=teacher
            ).make(structure, potential=teacher)
            for i, structure in enumerate(structures)
        ]
        perturb = {
            "n_perturbed": self.n_perturbed,
            "md_frame_perturbations": self.md_frame_perturbations,
            "displacement_A": self.displacement_A,
            "strain_fraction": self.strain_fraction,
            "style": self.perturb_style,
            "seed": self.seed,
        }
        frames = distill_frames(
            structures,
            [j.output for j in md_jobs],
            [j.output for j in held_jobs],
            run_id,
            perturb,
        )
        frames.name = f"{self.name} frames"
        label = ReferenceLabelMaker(
            name=f"{self.name} teacher labels", potential=teacher
        ).make(frames.output["candidates"], frames.output["labels"])
        held_label = ReferenceLabelMaker(
            name=f"{self.name} held-out labels", potential=teacher
        ).make(frames.output["held_out"], frames.output["held_out_labels"])
        capped = cap_forces(
            label.output,
            frames.output["folder"],
            self.max_force_eV_A,
            self.train.settings.valid_fraction,
            self.seed,
        )
        capped.name = f"{self.name} force cap"
        student = replace(self.train, name=f"{self.name} train student").make(
            capped.output["train"], held_out={"valid": capped.output["valid"]}
        )
        settings = {**self.settings_record(), "teacher": teacher.label()}
        report = DistillReportMaker(
            name=f"{self.name} report",
            potential=teacher,
            speed_steps=self.speed_steps,
            speed_warmup=self.speed_warmup,
        ).make(
            structures,
            frames.output,
            capped.output,
            held_label.output,
            student.output,
            settings,
        )
        jobs: list[Flow | Job] = [
            *md_jobs,
            *held_jobs,
            frames,
            label,
            held_label,
            capped,
            student,
            report,
        ]
        return Flow(jobs, output=report.output, name=self.name)
