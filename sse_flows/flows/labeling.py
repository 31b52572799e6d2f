"""DFT labeling as a flow: frames in, a validated dataset (documents + training files) out.

Frames are labeled in batches, one scheduler job per batch, so thousands of frames
mean tens of jobs, not thousands; the last job gathers the dataset (see
:mod:`sse_flows.makers.labeling` for resume and failure rules).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from jobflow import Flow, Maker
from pymatgen.core import Structure

from sse_flows.makers.base import SpecSection
from sse_flows.makers.labeling import DatasetMaker, LabelBatchMaker, resolve_preset
from sse_flows.structures import require_ordered


@dataclass
class LabelingMaker(SpecSection, Maker):
    """Label frames with DFT: batches of static calculations, then one dataset.

    ``preset``: a shipped DFT preset (``cp2k-pbe-small``, ``vasp-mp-pbe``,
    ``vasp-paper000``, ``vasp-paper001-scan``) or a preset YAML file; None takes the
    code's default (cp2k-pbe-small, vasp-mp-pbe). ``code``, if given, must match the
    preset's. ``frames_per_job`` sets the batch size;
    ``max_jobs``, if set, caps the number of batch jobs instead.
    """

    name: str = "dft labeling"
    preset: str | None = None
    code: str | None = None
    frames_per_job: int = 20
    max_jobs: int | None = None
    min_success_fraction: float = 0.9
    export_deepmd: bool = True
    batch_maker: LabelBatchMaker = field(default_factory=LabelBatchMaker)

    def batch_size(self, n_frames: int) -> int:
        """Frames per batch job for ``n_frames`` frames."""
        size = max(1, self.frames_per_job)
        if self.max_jobs:
            size = max(size, math.ceil(n_frames / self.max_jobs))
        return size

    def make(self, frames: Sequence[Structure]) -> Flow:
        """One labeling job per batch and a final dataset job."""
        if not frames:
            raise ValueError("No frames to label.")
        if not 0.0 <= self.min_success_fraction <= 1.0:
            raise ValueError("min_success_fraction must lie in [0, 1].")
        preset = resolve_preset(self.preset, self.code)
        for index, frame in enumerate(frames):
            require_ordered(frame, what=f"DFT labeling (frame {index})")
        # the jobs carry the settings themselves: a preset file need not exist where
        # they run, and the store alone holds what was computed
        maker = replace(self.batch_maker, preset=preset.model_dump(), code=preset.code)
        size = self.batch_size(len(frames))
        starts = range(0, len(frames), size)
        jobs = []
        for batch, start in enumerate(starts):
            chunk = list(frames[start : start + size])
            label = maker.make(chunk, list(range(start, start + len(chunk))), batch)
            label.name = f"{maker.name} {batch + 1}/{len(starts)}"
            jobs.append(label)
        collect = DatasetMaker(
            name=self.name,
            min_success_fraction=self.min_success_fraction,
            export_deepmd=self.export_deepmd,
        ).make([j.output for j in jobs], [j.uuid for j in jobs])
        collect.name = f"{self.name} dataset"
        return Flow([*jobs, collect], output=collect.output, name=self.name)
