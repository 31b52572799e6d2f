"""Training as a job: one generic maker for every family (the potential picks it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from jobflow import CURRENT_JOB, Maker, job

from sse_flows.documents import TrainedModel
from sse_flows.makers.base import (
    PotentialField,
    as_potential,
    closes_potentials,
    current_job_dir,
)
from sse_flows.potentials import PotentialSpec
from sse_flows.settings import get_settings
from sse_flows.training.settings import TrainSettings


def data_file(data: str | Path | dict[str, Any]) -> tuple[Path, str | None]:
    """Return the frames file of ``data`` and the uuid of the job that stored it.

    ``data`` is a path, or the output of a labeling flow (``dft_dataset``: its extxyz)
    or of a training set flow (``training_dataset``: its path).
    """
    if isinstance(data, dict):
        task_type = data.get("task_type")
        if task_type == "dft_dataset":
            return Path(data["files"]["extxyz"]), data.get("job_uuid")
        if task_type == "training_dataset":
            return Path(data["path"]), data.get("job_uuid")
        raise ValueError(
            f"TrainMaker takes a frames file or a dataset document, not {task_type!r}"
        )
    return Path(data).expanduser().resolve(), None


@dataclass
class TrainMaker(PotentialField, Maker):
    """Train or fine-tune the ``potential`` (family[:parent]) on labelled frames.

    The family's own trainer runs (CHGNet's Trainer, SevenNet, ``mace_run_train``,
    ``dp --pt train``) in a folder named after the job's uuid, so a killed job, run
    again, resumes from its last epoch checkpoint. The output is a
    :class:`~sse_flows.documents.TrainedModel`; its ``potential`` string, or
    ``artifact:<job uuid>``, loads the model anywhere a potential is taken.
    """

    #: a training job needs what MD needs: a GPU when there is one
    resource_role: ClassVar[str] = "potential"

    name: str = "train"
    potential: PotentialSpec = field(default_factory=lambda: PotentialSpec(name="chgnet"))
    settings: TrainSettings = field(default_factory=TrainSettings)
    #: where to train (None: a folder per job under the work dir); a rerun of the same
    #: inputs in the same folder resumes or returns the finished model
    out_dir: str | None = None

    def __post_init__(self) -> None:
        """Accept settings as a dict (a spec section, or another job's maker)."""
        super().__post_init__()
        if isinstance(self.settings, dict):
            self.settings = TrainSettings.model_validate(self.settings)

    @property
    def output_family(self) -> str:
        """Family of the model this job makes (cluster routing reads it)."""
        return self.potential.name

    @job(output_schema=TrainedModel)
    @closes_potentials
    def make(
        self,
        data: str | dict[str, Any],
        potential: PotentialSpec | str | None = None,
        held_out: dict[str, str] | None = None,
    ) -> TrainedModel:
        """Train on ``data`` (a frames file or a dataset output); see the class doc.

        ``held_out``: files of fixed 'valid' (and 'test') frames; ``data`` then all
        trains (see :func:`~sse_flows.training.run.train_model`).
        """
        from sse_flows.training.run import train_model

        spec = self.potential if potential is None else as_potential(potential)
        path, dataset_uuid = data_file(data)
        folder = (
            Path(self.out_dir)
            if self.out_dir
            else current_job_dir(get_settings().work_dir, "train")
        )
        running = CURRENT_JOB.job
        return train_model(
            path,
            spec,
            self.settings,
            folder,
            dataset_uuid=dataset_uuid,
            artifact_uuid=running.uuid if running is not None else None,
            held_out=held_out,
        )
