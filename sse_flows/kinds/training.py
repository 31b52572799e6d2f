"""Spec kinds of training: ``train`` (one model on one dataset)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jobflow import Job
from pydantic import Field

from sse_flows.kinds.base import FlowSpec
from sse_flows.kinds.datasets import frames_file
from sse_flows.makers.training import TrainMaker
from sse_flows.potentials import PotentialSpec


class TrainSpec(FlowSpec):
    """Train or fine-tune the spec's potential (family[:parent]) on labelled frames.

    ``data``: an extxyz (relative to the spec), a folder holding one, or the uuid of a
    stored dataset (labeling or training set flow). ``train`` holds the settings
    (``train: {settings: {epochs: 20, seed: 1}}``) and, optionally, ``out_dir``.
    """

    flow: Literal["train"]
    data: str = Field(description="Frames file, export folder or dataset job uuid.")
    train: TrainMaker = Field(default_factory=TrainMaker)

    def build_one(self) -> Job:
        """Build the training job for the spec's potential."""
        maker = dataclasses.replace(self.train, name=self.name, potential=self.potential)
        data = frames_file(self.spec_path(self.data), self.data)
        return maker.make(str(data))

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the parent when one is fine-tuned (from scratch loads nothing)."""
        return [] if self.train.settings.from_scratch else [self.potential]

    def preflight(self) -> None:
        """Refuse a family without a trainer, or unusable frames, before anything runs."""
        from sse_flows.training.data import read_training_frames
        from sse_flows.training.trainer import trainer_for

        super().preflight()
        trainer_for(self.potential.family)
        # a malformed or unlabelled file is bad input: say so before any job runs
        read_training_frames(frames_file(self.spec_path(self.data), self.data))
