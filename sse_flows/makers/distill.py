"""The jobs of distillation (paper 004) between the teacher's MD and the student.

The flow is :class:`sse_flows.flows.distill.DistillMaker` (see it for the recipe).
Its jobs here: :func:`distill_frames` gathers the frames the teacher will label
(perturbed start structures, the teacher's MD frames, perturbed copies of those) and
the held-out MD frames; the teacher labels both files
(:class:`~sse_flows.makers.dynamic.ReferenceLabelMaker`); :func:`cap_forces`
drops frames over the force cap and sets validation frames aside; after the student
is trained, :class:`DistillReportMaker` measures it against the teacher and times
both. What they compute is :mod:`sse_flows.training.distill`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from sse_flows.documents import MDOutput, TrainedModel, coerce
from sse_flows.documents.distillation import (
    Distillation,
    DistillFrames,
    SpeedRecord,
    TeacherRecord,
)
from sse_flows.makers.base import PotentialJobMaker, as_potential, closes_potentials
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.settings import get_settings
from sse_flows.structures import to_atoms
from sse_flows.training.distill import (
    DistillationError,
    Speed,
    force_cap_filter,
    md_frames,
    measure_speed,
    perturb_atoms,
    split_valid,
    student_errors,
)

CANDIDATES = "candidates.extxyz"
LABELS = "labels.extxyz"
HELD_OUT = "held_out.extxyz"
HELD_OUT_LABELS = "held_out_labels.extxyz"
COUNTS = "counts.json"


def distill_folder(run_id: str) -> Path:
    """Return the distillation's folder of frames: ``work_dir/distill/<id>``."""
    return get_settings().work_dir / "distill" / run_id


def _seed(*keys: int) -> int:
    """Return a seed derived from several integers (one stream per structure, use)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


@job
def distill_frames(
    structures: list[Any],
    md_outputs: list[Any],
    held_out_outputs: list[Any],
    run_id: str,
    perturb: dict[str, Any],
) -> dict[str, Any]:
    """Write the frames the teacher labels, and the held-out MD frames; count them.

    ``perturb``: ``n_perturbed`` copies per structure and ``md_frame_perturbations``
    per MD frame, strained by +-``strain_fraction`` and displaced ~``displacement_A``
    (``style``), seeded by ``seed``. Each frame's ``info['source']`` says where it
    came from (perturbed, md, md_perturbed).
    """
    from ase.io import write

    folder = distill_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    seed = int(perturb["seed"])

    def copies(atoms: Any, count: int, *keys: int) -> list[Any]:
        return perturb_atoms(
            atoms,
            count,
            float(perturb["displacement_A"]),
            float(perturb["strain_fraction"]),
            _seed(seed, *keys),
            perturb["style"],
        )

    candidates = []
    for index, value in enumerate(structures):
        for atoms in copies(
            to_atoms(coerce(value, Structure)), perturb["n_perturbed"], 0, index
        ):
            atoms.info["source"] = "perturbed"
            candidates.append(atoms)
    n_md = n_md_perturbed = 0
    for run, value in enumerate(md_outputs):
        output = coerce(value, MDOutput)
        for frame_index, atoms in enumerate(md_frames(output.trajectory.path)):
            atoms.info["source"] = "md"
            candidates.append(atoms)
            n_md += 1
            for extra in copies(
                atoms, perturb["md_frame_perturbations"], 1, run, frame_index
            ):
                extra.info["source"] = "md_perturbed"
                candidates.append(extra)
                n_md_perturbed += 1
    held_out = []
    for value in held_out_outputs:
        for atoms in md_frames(coerce(value, MDOutput).trajectory.path):
            atoms.info["source"] = "held_out_md"
            held_out.append(atoms)
    if not candidates or not held_out:
        raise DistillationError(
            f"nothing to {'label' if not candidates else 'test the student on'}: "
            f"{len(candidates)} training candidates, {len(held_out)} held-out MD frames. "
            "Raise n_perturbed or the MD production_steps (frames are stored every "
            "sample_interval steps)."
        )
    write(str(folder / CANDIDATES), candidates, format="extxyz")
    write(str(folder / HELD_OUT), held_out, format="extxyz")
    counts = {
        "perturbed": len(candidates) - n_md - n_md_perturbed,
        "md": n_md,
        "md_perturbed": n_md_perturbed,
        "held_out": len(held_out),
    }
    (folder / COUNTS).write_text(json.dumps(counts, indent=1))
    return {
        "folder": str(folder),
        "candidates": str(folder / CANDIDATES),
        "labels": str(folder / LABELS),
        "held_out": str(folder / HELD_OUT),
        "held_out_labels": str(folder / HELD_OUT_LABELS),
        "counts": counts,
    }


@job
def cap_forces(
    labels_file: str,
    folder: str,
    max_force_eV_A: float,
    valid_fraction: float,
    seed: int,
) -> dict[str, Any]:
    """Drop frames over the force cap; write the student's train and valid frames."""
    from sse_flows.training.data import read_training_frames, write_frames

    frames = read_training_frames(labels_file)
    capped = force_cap_filter(frames, max_force_eV_A)
    if len(capped.kept) < 2:
        raise DistillationError(
            f"{len(capped.dropped)} of {len(frames)} labelled frames have an atom's "
            f"|F| above {max_force_eV_A:g} eV/A; {len(capped.kept)} left, too few to "
            "train a student. Lower displacement_A / strain_fraction or the MD "
            "temperature, or raise max_force_eV_A."
        )
    train, valid = split_valid(capped.kept, valid_fraction, seed)
    base = Path(folder)
    train_file = write_frames(train, base / "train.extxyz")
    valid_file = write_frames(valid, base / "valid.extxyz")
    return {
        "labelled": len(frames),
        "dropped": len(capped.dropped),
        "dropped_indices": capped.dropped,
        "dropped_by_source": capped.dropped_by_source,
        "largest_force_eV_A": max(capped.max_force_eV_A),
        "train": str(train_file),
        "valid": str(valid_file),
        "n_train": len(train),
        "n_valid": len(valid),
    }


def _speed_record(speed: Speed) -> SpeedRecord:
    return SpeedRecord(
        potential=speed.potential,
        n_atoms=speed.n_atoms,
        steps=speed.steps,
        seconds=speed.seconds,
        atom_steps_per_s=speed.atom_steps_per_s,
    )


def compressed_student(model: TrainedModel) -> bool:
    """Whether the student's file is dp compress's output (the DeePMD trainer's note)."""
    compressed = Path(model.workdir) / "compressed.pth"
    return compressed.exists() and sha256_of(compressed) == model.sha256


def descriptor_type(model: TrainedModel) -> str:
    """Return the descriptor type dp trained (read from its input.json)."""
    config = Path(model.workdir) / "input.json"
    if config.exists():
        return str(json.loads(config.read_text())["model"]["descriptor"]["type"])
    return str(model.settings.get("model", {}).get("descriptor", {}).get("type", "?"))


@dataclass
class DistillReportMaker(PotentialJobMaker):
    """Measure the student against the teacher (``potential``); time both models.

    Errors: on the held-out teacher MD frames, which no job before trained or chose a
    checkpoint on. Speed: ``speed_steps`` NVE steps of each model on the first start
    structure (after ``speed_warmup`` untimed ones), one after the other in this job
    (so on the same hardware).
    """

    #: both models run here: on a cluster, on the same GPU node
    resource_role: ClassVar[str] = "potential"

    name: str = "distill report"
    speed_steps: int = 50
    speed_warmup: int = 5

    @job(output_schema=Distillation)
    @closes_potentials
    def make(
        self,
        structures: list[Any],
        frames: dict[str, Any],
        capped: dict[str, Any],
        held_out_labels: str,
        trained: Any,
        settings: dict[str, Any],
    ) -> Distillation:
        """Build the distillation's document (see the class doc)."""
        from sse_flows.calc.evaluate import read_labeled_frames

        teacher = self.potential
        cells = [coerce(s, Structure) for s in structures]
        model = coerce(trained, TrainedModel)
        student = as_potential(model.potential)
        provenance = RunProvenance.start(
            {"teacher": teacher.label(), "student": student.label(), **settings},
            extra_packages=("deepmd-kit", "dpdata"),
        )
        held = read_labeled_frames(held_out_labels)
        cell = to_atoms(cells[0])
        elements = sorted({el.symbol for c in cells for el in c.composition})
        timing = {"steps": self.speed_steps, "warmup": self.speed_warmup}
        timing["seed"] = int(settings["seed"])
        with load_potential(student, elements=elements) as loaded:
            errors = student_errors(held, loaded.calculator)
            speed_student = measure_speed(loaded, cell, **timing)
        with load_potential(teacher, elements=elements) as loaded:
            speed_teacher = measure_speed(loaded, cell, **timing)
        counts = frames["counts"]
        files = {
            "candidates": frames["candidates"],
            "labels": frames["labels"],
            "train": capped["train"],
            "valid": capped["valid"],
            "held_out": held_out_labels,
        }
        compressed = compressed_student(model)
        notes = [
            f"speed: {self.speed_steps} NVE steps on {cell.get_chemical_formula()} "
            f"({len(cell)} atoms) per model, in one job; a model in its own "
            "environment is timed through its worker, as sse-flows runs it"
        ]
        if not compressed:
            notes.append("the student is not compressed: " + "; ".join(model.notes))
        return Distillation(
            name=str(settings["name"]),
            teacher=_teacher_record(teacher, speed_teacher),
            student_potential=model.potential,
            student_sha256=model.sha256,
            student_artifact_uuid=model.artifact_uuid,
            student_compressed=compressed,
            student_descriptor=descriptor_type(model),
            structures=[c.composition.reduced_formula for c in cells],
            max_force_eV_A=float(settings["max_force_eV_A"]),
            frames=DistillFrames(
                perturbed=counts["perturbed"],
                md=counts["md"],
                md_perturbed=counts["md_perturbed"],
                labelled=capped["labelled"],
                dropped_force_cap=capped["dropped"],
                dropped_by_source=capped["dropped_by_source"],
                train=capped["n_train"],
                valid=capped["n_valid"],
                held_out=len(held),
            ),
            held_out_temperature_K=float(settings["held_out_md"]["temperature"]),
            held_out_errors=errors,
            valid_errors=model.metrics.get("valid"),
            speed_teacher=_speed_record(speed_teacher),
            speed_student=_speed_record(speed_student),
            speed_ratio=speed_student.atom_steps_per_s / speed_teacher.atom_steps_per_s,
            files=files,
            sha256={k: sha256_of(v) for k, v in files.items()},
            settings=settings,
            folder=frames["folder"],
            notes=notes,
            provenance=provenance.finish(),
        )


def _teacher_record(teacher: PotentialSpec, speed: Speed) -> TeacherRecord:
    loaded = speed.provenance
    return TeacherRecord(
        potential=teacher.label(),
        checkpoint_path=loaded.checkpoint_path if loaded else None,
        sha256=loaded.checkpoint_sha256 if loaded else None,
        package=loaded.package if loaded else None,
        package_version=loaded.package_version if loaded else None,
    )
