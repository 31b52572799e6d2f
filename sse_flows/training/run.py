"""One training run, whatever the family: data in, a trained-model document out.

Steps: read and check the frames; split them by structure; resolve the parent (the
potential's checkpoint, or the family's default) and refuse one of another family;
measure the parent on the held-out split and fit the per-element energy offsets
(:mod:`sse_flows.training.reference`); hand the run to the family's trainer; check
the learning curve; measure the new model on every split; draw parity plots and the
learning curve; write ``model.json`` next to the model file.

Everything lives in ``out_dir``. A rerun with the same inputs returns the finished
document, or lets the trainer resume from its last epoch checkpoint; a folder that
holds a run of other inputs is refused rather than mixed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sse_flows.calc.evaluate import LabeledFrame, evaluate_frames
from sse_flows.documents.training import (
    DatasetRecord,
    EnergyReferenceRecord,
    ParentModel,
    SplitMetrics,
    TrainedModel,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.potentials.registry import resolve_checkpoint, resolve_device
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.training.data import (
    SPLITS,
    Splits,
    held_out_splits,
    read_training_frames,
    split_by_group,
    write_splits,
)
from sse_flows.training.plots import learning_curve_plot, parity_plot
from sse_flows.training.reference import EnergyOffsets, fit_offsets
from sse_flows.training.settings import TrainSettings
from sse_flows.training.trainer import (
    FamilyTrainer,
    TrainedCheckpoint,
    TrainingDivergedError,
    TrainingRun,
    trainer_for,
)

MODEL_JSON = "model.json"
RUN_JSON = "run.json"


class TrainingSetupError(SSEFlowsError):
    """A training run was asked for in a way that cannot work."""


def resolve_parent(
    potential: PotentialSpec, settings: TrainSettings, trainer: FamilyTrainer
) -> tuple[PotentialSpec | None, Path | None]:
    """Return the model to fine-tune and its weights file (None, None: from scratch)."""
    family = potential.family
    if settings.from_scratch:
        if potential.checkpoint:
            raise TrainingSetupError(
                f"--from-scratch and a parent ({potential.label()}) were both given: "
                f"train from scratch with --potential {family.name}, or fine-tune "
                "without --from-scratch."
            )
        if not trainer.can_train_from_scratch:
            raise TrainingSetupError(
                f"{family.name} is only fine-tuned here; give a parent checkpoint."
            )
        return None, None
    checkpoint = potential.checkpoint or trainer.default_parent
    if checkpoint is None:
        raise TrainingSetupError(
            f"{family.name} has no default parent model: name one "
            f"({family.name}:/path/to/model) or pass --from-scratch."
        )
    parent = potential.model_copy(update={"checkpoint": checkpoint})
    _, path = resolve_checkpoint(parent)  # refuses a file of another family
    return parent, path


def _fingerprint(
    data_sha: str, potential: PotentialSpec, parent_sha: str | None, settings: TrainSettings
) -> dict[str, Any]:
    return {
        "data_sha256": data_sha,
        "family": potential.name,
        "parent_sha256": parent_sha,
        "settings": settings.model_dump(),
    }


def _check_folder(out_dir: Path, fingerprint: dict[str, Any]) -> TrainedModel | None:
    """Return the finished document of the same run; refuse a folder of another run."""
    run_file = out_dir / RUN_JSON
    if run_file.exists():
        earlier = json.loads(run_file.read_text())
        if earlier != fingerprint:
            changed = [k for k in fingerprint if earlier.get(k) != fingerprint[k]]
            raise TrainingSetupError(
                f"{out_dir} holds a training run of other inputs (differs in "
                f"{', '.join(changed)}); choose another --out folder or delete it."
            )
        model_file = out_dir / MODEL_JSON
        if model_file.exists():
            return TrainedModel.model_validate_json(model_file.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(fingerprint, indent=1))
    return None


def _metrics(frames: list[LabeledFrame], calculator: Any, stress: bool) -> tuple:
    labels = ["energy", "forces", *(["stress"] if stress else [])]
    result = evaluate_frames(frames, calculator, labels)
    metrics = SplitMetrics.of(result)
    return metrics, result.pairs


def held_out_split(splits: Splits) -> str:
    """Return the split reported against the parent: test, else valid."""
    return "test" if splits.frames["test"] else "valid"


def _parent_lineage(parent_path: Path | None) -> tuple[str | None, list[ParentModel]]:
    """Return the parent's artifact uuid and ancestors, when it was trained by sse-flows."""
    if parent_path is None:
        return None, []
    record = parent_path.parent / MODEL_JSON
    if not record.exists():
        return None, []
    earlier = TrainedModel.model_validate_json(record.read_text())
    if earlier.sha256 != sha256_of(parent_path):
        return None, []
    return earlier.artifact_uuid, earlier.lineage


def _measure_parent(
    parent: PotentialSpec, splits: Splits, settings: TrainSettings
) -> tuple[dict[str, SplitMetrics], EnergyOffsets | None]:
    """Measure the parent on the held-out split; fit the energy offsets to the labels."""
    held = held_out_split(splits)
    with load_potential(parent, elements=splits.elements()) as loaded:
        metrics, _ = _metrics(splits.frames[held], loaded.calculator, splits.has_stress)
        offsets = None
        if settings.match_energy_reference:
            energies = []
            for frame in splits.frames["train"]:
                atoms = frame.atoms.copy()
                atoms.calc = loaded.calculator
                energies.append(float(atoms.get_potential_energy()))
            offsets = fit_offsets(splits.frames["train"], energies)
    return {held: metrics}, offsets


def _energy_record(result: TrainedCheckpoint, offsets: EnergyOffsets | None) -> Any:
    if offsets is None:
        return EnergyReferenceRecord(method=result.energy_reference_method)
    return EnergyReferenceRecord(
        method=result.energy_reference_method,
        offsets_eV=offsets.offsets_eV,
        rms_before_meV_atom=offsets.rms_before_meV_atom,
        rms_after_meV_atom=offsets.rms_after_meV_atom,
    )


def train_model(
    data: str | Path,
    potential: PotentialSpec | str,
    settings: TrainSettings,
    out_dir: str | Path,
    *,
    dataset_uuid: str | None = None,
    artifact_uuid: str | None = None,
    held_out: Mapping[str, str | Path] | None = None,
) -> TrainedModel:
    """Train or fine-tune ``potential`` on the frames in ``data``; see the module doc.

    ``held_out`` (files of 'valid' and optionally 'test'): every frame of ``data``
    trains and these are the held-out splits, as given (the settings' fractions are
    not used), so models trained on different data are measured on the same frames.
    """
    potential = PotentialSpec.parse(potential)
    family = potential.family
    trainer = trainer_for(family)
    out_dir = Path(out_dir).expanduser().resolve()
    data = Path(data).expanduser().resolve()
    frames = read_training_frames(data)
    parent, parent_path = resolve_parent(potential, settings, trainer)
    fingerprint = _fingerprint(
        sha256_of(data),
        potential,
        sha256_of(parent_path) if parent_path else None,
        settings,
    )
    if held_out:
        fingerprint["held_out_sha256"] = {k: sha256_of(v) for k, v in held_out.items()}
    finished = _check_folder(out_dir, fingerprint)
    if finished is not None:
        return finished
    provenance = RunProvenance.start(
        {"data": str(data), "potential": potential.label(), **settings.model_dump()},
        extra_packages=(family.package,),
    )
    splits = (
        held_out_splits(frames, held_out)
        if held_out
        else split_by_group(
            frames, settings.valid_fraction, settings.test_fraction, settings.seed
        )
    )
    write_splits(splits, out_dir / "data")
    parent_metrics: dict[str, SplitMetrics] = {}
    offsets = None
    if parent is not None:
        parent_metrics, offsets = _measure_parent(parent, splits, settings)
    run = TrainingRun(
        splits=splits,
        settings=settings,
        workdir=out_dir / "train",
        device=resolve_device(settings.device),
        parent=parent,
        parent_path=parent_path,
        offsets=offsets,
    )
    run.workdir.mkdir(parents=True, exist_ok=True)
    result = trainer.train(run)
    bad = [p.epoch for p in result.learning_curve if not p.finite()]
    if bad:
        raise TrainingDivergedError(
            f"The loss of {family.name} turned non-finite at epoch {bad[0]}; training "
            f"stopped. The last good checkpoint is kept: {result.checkpoint}. Lower the "
            "learning rate or check the labels."
        )
    model_file = out_dir / ("model" + _suffix(result.checkpoint))
    shutil.copyfile(result.checkpoint, model_file)
    spec = PotentialSpec(name=family.name, checkpoint=str(model_file))
    metrics: dict[str, SplitMetrics] = {}
    pairs: dict[str, dict[str, Any]] = {}
    with load_potential(spec, elements=splits.elements()) as loaded:
        for split in SPLITS:
            if splits.frames[split]:
                metrics[split], pairs[split] = _metrics(
                    splits.frames[split], loaded.calculator, splits.has_stress
                )
    plots = _plots(out_dir / "plots", pairs, asdict_curve(result), family.name)
    parent_uuid, ancestors = _parent_lineage(parent_path)
    parent_record = (
        ParentModel(
            potential=parent.label(),
            checkpoint_path=str(parent_path) if parent_path else None,
            sha256=sha256_of(parent_path) if parent_path else None,
            artifact=parent_uuid,
        )
        if parent is not None
        else None
    )
    document = TrainedModel(
        family=family.name,
        potential=spec.label(),
        checkpoint=str(model_file),
        sha256=sha256_of(model_file),
        artifact_uuid=artifact_uuid,
        parent=parent_record,
        lineage=[parent_record, *ancestors] if parent_record else [],
        dataset=DatasetRecord(
            path=str(data),
            sha256=fingerprint["data_sha256"],
            n_frames=len(frames),
            split_sizes=splits.sizes(),
            split_groups={k: len(v) for k, v in splits.groups.items()},
            split_files={k: str(v) for k, v in splits.files.items()},
            split_sha256=splits.sha256,
            dataset_uuid=dataset_uuid,
        ),
        settings=settings.model_dump(),
        energy_reference=_energy_record(result, offsets),
        metrics=metrics,
        parent_metrics=parent_metrics,
        learning_curve=asdict_curve(result),
        epochs_run=result.epochs_run,
        resumed_from_epoch=result.resumed_from_epoch,
        plots=plots,
        workdir=str(run.workdir),
        notes=result.notes,
        provenance=provenance.finish(),
    )
    (out_dir / MODEL_JSON).write_text(document.model_dump_json(indent=1))
    return document


def asdict_curve(result: TrainedCheckpoint) -> list[dict[str, Any]]:
    """Return the learning curve as plain dicts."""
    return [asdict(point) for point in result.learning_curve]


def _suffix(path: Path) -> str:
    name = path.name
    return ".pth.tar" if name.endswith(".pth.tar") else path.suffix


def _plots(
    folder: Path,
    pairs: dict[str, dict[str, Any]],
    curve: list[dict[str, Any]],
    family: str,
) -> dict[str, str]:
    files: dict[str, str] = {}
    for quantity in ("energy", "forces", "stress"):
        by_split = {s: p[quantity] for s, p in pairs.items() if quantity in p}
        if by_split:
            path = parity_plot(
                by_split,
                quantity,
                folder / f"parity_{quantity}.png",
                f"{family} trained",
            )
            files[f"parity_{quantity}"] = str(path)
    if curve:
        files["learning_curve"] = str(
            learning_curve_plot(curve, folder / "learning_curve.png")
        )
    return files
