"""Dataset-size convergence (paper 001, Fig. 2b and SI Table S1/S2, Fig. S4/S8).

One labelled dataset is split once by structure group into train/valid/test (the
training settings' fractions and seed); nested subsets of the training groups
(``fractions``) are each trained on with :class:`~sse_flows.makers.training.TrainMaker`,
every model measured on the same valid/test frames; a last job stores error against
size (``dataset_size_convergence``) and a PNG of it. Every job is in the flow as
built, so ``sse-flows resume`` reruns only the sizes that did not finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jobflow import Flow, Maker, job

from sse_flows.documents import TrainedModel, coerce
from sse_flows.documents.dataset_size import DatasetSizeConvergence, SizePoint
from sse_flows.makers.base import PotentialField, as_potential, current_job_dir
from sse_flows.makers.training import TrainMaker, data_file
from sse_flows.potentials import PotentialSpec, default_potential
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.settings import get_settings


@dataclass
class DatasetSizeConvergenceMaker(PotentialField, Maker):
    """Train ``potential`` on growing nested subsets of one dataset; see the module doc.

    ``fractions``: of the training structure groups, increasing, the last usually 1.
    The held-out split uses ``train.settings`` (valid_fraction, test_fraction, seed).
    """

    name: str = "dataset size convergence"
    potential: PotentialSpec = field(default_factory=default_potential)
    fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])
    train: TrainMaker = field(default_factory=TrainMaker)

    def __post_init__(self) -> None:
        """Refuse fractions that cannot make nested, distinct subsets."""
        super().__post_init__()
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError(f"fractions must lie in (0, 1]; got {self.fractions}")
        if sorted(set(self.fractions)) != list(self.fractions):
            raise ValueError(
                f"give distinct fractions in increasing order, not {self.fractions}"
            )

    def make(
        self, data: str | dict[str, Any], potential: PotentialSpec | str | None = None
    ) -> Flow:
        """Return the split job, one training job per size and the summary job."""
        maker = (
            self if potential is None else replace(self, potential=as_potential(potential))
        )
        settings = maker.train.settings
        split = split_for_sizes(
            data,
            list(maker.fractions),
            settings.valid_fraction,
            settings.test_fraction,
            settings.seed,
        )
        split.name = f"{maker.name} subsets"
        trainings = []
        for index, fraction in enumerate(maker.fractions):
            trainer = replace(
                maker.train, name=f"{maker.name} {fraction:g}", potential=maker.potential
            )
            trainings.append(
                trainer.make(
                    split.output["subsets"][index]["path"],
                    potential=maker.potential,
                    held_out=split.output["held_out"],
                )
            )
        summary = summarize_sizes(
            maker.name,
            maker.potential.label(),
            settings.model_dump(),
            split.output,
            [t.output for t in trainings],
        )
        summary.name = f"{maker.name} curve"
        return Flow([split, *trainings, summary], output=summary.output, name=maker.name)


@job
def split_for_sizes(
    data: str | dict[str, Any],
    fractions: list[float],
    valid_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, Any]:
    """Split the dataset once; write the held-out files and one file per subset."""
    from sse_flows.training.data import (
        Splits,
        group_of,
        read_training_frames,
        split_by_group,
        write_frames,
        write_splits,
    )
    from sse_flows.training.dataset_size import nested_group_subsets

    path, dataset_uuid = data_file(data)
    frames = read_training_frames(path)
    splits = split_by_group(frames, valid_fraction, test_fraction, seed)
    folder = current_job_dir(get_settings().work_dir / "dataset_size", "subsets")
    held = {k: v for k, v in splits.frames.items() if k != "train"}
    held_splits = Splits(frames=held, groups={k: splits.groups[k] for k in held})
    write_splits(held_splits, folder)
    train_by_group: dict[str, list[Any]] = {}
    for index, frame in enumerate(frames):
        group = group_of(frame, index)
        if group in splits.groups["train"]:
            train_by_group.setdefault(group, []).append(frame)
    subsets = []
    chosen = nested_group_subsets(splits.groups["train"], fractions, seed)
    for fraction, groups in zip(fractions, chosen, strict=True):
        subset = [f for g in groups for f in train_by_group[g]]
        target = write_frames(subset, folder / f"train_{fraction:g}.extxyz")
        subsets.append(
            {
                "fraction": fraction,
                "n_groups": len(groups),
                "n_frames": len(subset),
                "path": str(target),
                "sha256": sha256_of(target),
            }
        )
    return {
        "data": str(path),
        "data_sha256": sha256_of(path),
        "dataset_uuid": dataset_uuid,
        "n_frames": len(frames),
        "held_out": {k: str(v) for k, v in held_splits.files.items()},
        "held_out_sizes": {k: len(v) for k, v in held.items() if v},
        "subsets": subsets,
    }


@job(output_schema=DatasetSizeConvergence)
def summarize_sizes(
    name: str,
    potential: str,
    settings: dict[str, Any],
    split: dict[str, Any],
    trained: list[Any],
) -> DatasetSizeConvergence:
    """Store error against training-set size and draw it."""
    from sse_flows.training.dataset_size import size_convergence_plot

    provenance = RunProvenance.start({"name": name, "potential": potential, **settings})
    models = [coerce(t, TrainedModel) for t in trained]
    points = [
        SizePoint(
            fraction=subset["fraction"],
            n_groups=subset["n_groups"],
            n_frames=subset["n_frames"],
            train_file=subset["path"],
            train_sha256=subset["sha256"],
            potential=model.potential,
            sha256=model.sha256,
            artifact_uuid=model.artifact_uuid,
            epochs_run=model.epochs_run,
            metrics=model.metrics,
        )
        for subset, model in zip(split["subsets"], models, strict=True)
    ]
    folder = Path(split["held_out"]["valid"]).parent
    plot = size_convergence_plot(
        [p.n_frames for p in points],
        [{s: m.model_dump() for s, m in p.metrics.items()} for p in points],
        folder / "size_convergence.png",
        f"{name}: {potential}",
    )
    return DatasetSizeConvergence(
        name=name,
        potential=potential,
        data=split["data"],
        data_sha256=split["data_sha256"],
        n_frames=split["n_frames"],
        held_out_files=split["held_out"],
        held_out_sizes=split["held_out_sizes"],
        settings={**settings, "fractions": [p.fraction for p in points]},
        points=points,
        plot=str(plot),
        provenance=provenance.finish(),
    )
