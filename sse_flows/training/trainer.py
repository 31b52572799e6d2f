"""What every family's trainer is given and returns, and how it is found.

A family names its trainer in its ``trainer`` slot as ``"module:Class"`` (imported on
use: trainers import torch and the family's package). A trainer drives the family's own
training code in ``run.workdir`` and leaves enough there to resume a killed run from
its last epoch checkpoint; :func:`sse_flows.training.run.train_model` does the rest
(data, splits, energy offsets, metrics, the artifact document).
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sse_flows.errors import SSEFlowsError
from sse_flows.potentials.family import PotentialFamily
from sse_flows.potentials.spec import PotentialSpec
from sse_flows.training.data import Splits
from sse_flows.training.reference import EnergyOffsets
from sse_flows.training.settings import TrainSettings


class NoTrainerError(SSEFlowsError):
    """The family has no trainer in sse-flows."""


class TrainingFailedError(SSEFlowsError):
    """The family's trainer stopped with an error."""


class TrainingDivergedError(TrainingFailedError):
    """The loss turned non-finite; the last good checkpoint is kept."""


@dataclass
class TrainingRun:
    """Everything a trainer needs; the same object for every family."""

    splits: Splits
    settings: TrainSettings
    workdir: Path
    device: str
    parent: PotentialSpec | None = None
    parent_path: Path | None = None
    offsets: EnergyOffsets | None = None

    @property
    def n_train(self) -> int:
        """Frames in the training split."""
        return len(self.splits.frames["train"])

    def steps_per_epoch(self) -> int:
        """Batches per pass over the training split."""
        return max(1, math.ceil(self.n_train / self.settings.batch_size))


@dataclass
class EpochRecord:
    """One point of the learning curve (None: the trainer does not report it)."""

    epoch: int
    train_loss: float | None = None
    valid_loss: float | None = None
    valid_energy_mae_meV_atom: float | None = None
    valid_force_mae_meV_A: float | None = None

    def finite(self) -> bool:
        """Whether every reported value is finite."""
        values = (self.train_loss, self.valid_loss)
        return all(v is None or math.isfinite(v) for v in values)


@dataclass
class TrainedCheckpoint:
    """What a trainer leaves: the model file and how training went."""

    checkpoint: Path
    learning_curve: list[EpochRecord]
    epochs_run: int
    energy_reference_method: str
    resumed_from_epoch: int | None = None
    notes: list[str] = field(default_factory=list)


class FamilyTrainer(ABC):
    """Base of the trainers: one per family, driving that family's own code."""

    family: ClassVar[str]
    #: a checkpoint name fine-tuned when the potential names none
    default_parent: ClassVar[str | None] = None
    #: learning rates used when the settings give none
    scratch_learning_rate: ClassVar[float] = 1e-3
    finetune_learning_rate: ClassVar[float] = 1e-4
    can_train_from_scratch: ClassVar[bool] = True

    def learning_rate(self, run: TrainingRun) -> float:
        """Return the settings' learning rate, else the family's default for the mode."""
        if run.settings.learning_rate is not None:
            return run.settings.learning_rate
        return (
            self.scratch_learning_rate
            if run.parent is None
            else self.finetune_learning_rate
        )

    @abstractmethod
    def train(self, run: TrainingRun) -> TrainedCheckpoint:
        """Train (or resume) in ``run.workdir``; return the model file."""


def trainer_for(family: PotentialFamily) -> FamilyTrainer:
    """Return the family's trainer, or say which families can be trained."""
    if not family.trainer:
        from sse_flows.potentials.catalog import families

        trainable = [f.name for f in families().values() if f.trainer]
        raise NoTrainerError(
            f"Potential family '{family.name}' has no trainer in sse-flows. Families "
            f"that can be trained: {', '.join(trainable)}."
        )
    module, _, name = str(family.trainer).partition(":")
    trainer: Any = getattr(importlib.import_module(module), name)
    return trainer()


def run_tool(
    argv: list[str], cwd: Path, log: Path, env_bin: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a family's command-line trainer, appending its output to ``log``.

    ``env_bin`` (the family environment's ``bin``) goes first on PATH; the main
    environment's PYTHONPATH is dropped so the tool sees only its own packages.
    """
    env = dict(os.environ)
    if env_bin is not None:
        env["PATH"] = f"{env_bin}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2500:]
        raise TrainingFailedError(
            f"{Path(argv[0]).name} failed (exit {done.returncode}); log {log}:\n{tail}"
        )
    return done
