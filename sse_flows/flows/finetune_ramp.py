"""Iterative fine-tuning with a temperature ramp (paper 002, "uMLIP fine-tuning procedure").

At each temperature T, from ``t_start`` up to ``t_max`` in steps of ``t_step``:

1. NVT MD of every start structure at T with the *current* model;
2. farthest-point sampling of each trajectory (distance: position MSD, see
   :mod:`sse_flows.training.selection`), ``frames_per_step`` frames shared evenly
   between the structures (the paper: half LYC, half LYB);
3. labels: DFT (:class:`~sse_flows.flows.labeling.LabelingMaker`), or a reference
   potential (``reference``: distillation of a bigger model, and tests);
4. the current model's error on those new frames, before it sees them: under
   ``stop_force_mae_meV_A`` the ramp stops (the model already knows this T);
5. otherwise fine-tune the current model on *all* frames gathered so far
   (:class:`~sse_flows.makers.training.TrainMaker`) and go on to T + ``t_step`` with
   the new model; past ``t_max`` the ramp stops.

New frames are dealt to train/valid/test once, when they arrive, and each split only
grows: no model is ever measured on frames one of its ancestors trained on.

The flow is dynamic: each stage is a job that builds the next with jobflow's
``Response(replace=...)``; a last job, in the flow as built, reads the document the
chain wrote and is the flow's output. The replacement flows carry no output of their
own, so the runner traces a failed job back to the ramp's first job; ``sse-flows
resume`` then reruns the chain from there. After a kill the runner never learnt of
the chain's jobs: the document job, finding no document, takes the chain up again.
Either way the jobs built again get the uuids of the first attempt (derived from the
ramp's id), so MD resumes from its checkpoints, DFT skips labelled frames, reference
labels and the models of finished steps are reused from the ramp's folder
(``work_dir/finetune_ramp/<id>``), and only unfinished work runs again.

The jobs are :mod:`sse_flows.makers.finetune_ramp`'s; what they do between jobs
(FPS picks, growing splits, the document) is :mod:`sse_flows.training.ramp`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from jobflow import Flow, Maker
from pymatgen.core import Structure

from sse_flows.flows.labeling import LabelingMaker
from sse_flows.makers.base import PotentialField, as_potential
from sse_flows.makers.finetune_ramp import ramp_document, ramp_step
from sse_flows.makers.md import MDMaker
from sse_flows.makers.training import TrainMaker
from sse_flows.potentials import PotentialSpec, default_potential
from sse_flows.structures import require_ordered


def _ramp_md() -> MDMaker:
    """NVT MD as in paper 002: 1 fs steps, Nose-Hoover with a 0.1 ps coupling."""
    return MDMaker(
        name="md",
        ensemble="nvt",
        thermostat="nose_hoover",
        timestep_fs=1.0,
        taut_fs=100.0,
        equilibration_steps=1000,
        production_steps=5000,
        sample_interval=10,
        checkpoint_interval=1000,
    )


@dataclass
class IterativeFineTuneMaker(PotentialField, Maker):
    """Fine-tune ``potential`` step by step up a temperature ramp; see the module doc.

    ``reference``: label with this potential instead of DFT (``labeling`` is then not
    used): for distilling a big model into a small one, and for tests with ``emt``.
    ``group_by``: ``frame`` makes each picked frame its own structure group when new
    frames are dealt to train/valid/test (FPS already spreads them apart; needed with
    few structures); ``trajectory`` keeps each MD run's frames in one split. The
    valid/test fractions and the seed are ``train.settings``'.
    """

    name: str = "finetune ramp"
    potential: PotentialSpec = field(default_factory=default_potential)
    t_start: float = 200.0
    t_step: float = 200.0
    t_max: float = 800.0
    frames_per_step: int = 40
    stop_force_mae_meV_A: float | None = None
    reference: PotentialSpec | None = None
    group_by: Literal["frame", "trajectory"] = "frame"
    md: MDMaker = field(default_factory=_ramp_md)
    labeling: LabelingMaker = field(default_factory=LabelingMaker)
    train: TrainMaker = field(default_factory=TrainMaker)

    def __post_init__(self) -> None:
        """Parse potentials given as names; refuse settings that cannot run."""
        super().__post_init__()
        if self.reference is not None:
            self.reference = as_potential(self.reference)
        if self.t_step <= 0:
            raise ValueError(f"t_step must be positive, got {self.t_step}")
        if not 0 < self.t_start <= self.t_max:
            raise ValueError(
                f"need 0 < t_start <= t_max, got t_start {self.t_start}, t_max {self.t_max}"
            )
        if self.frames_per_step < 1:
            raise ValueError(f"frames_per_step must be >= 1, got {self.frames_per_step}")

    def temperatures(self) -> list[float]:
        """Return the ramp's temperatures (K), if it never stops early."""
        count = int(np.floor((self.t_max - self.t_start) / self.t_step + 1e-9)) + 1
        return [self.t_start + i * self.t_step for i in range(count)]

    def labeler(self) -> str:
        """Return who labels: 'reference:<potential>' or 'dft:<preset>'."""
        if self.reference is not None:
            return f"reference:{self.reference.label()}"
        from sse_flows.makers.labeling import resolve_preset

        preset = resolve_preset(self.labeling.preset, self.labeling.code)
        return f"dft:{preset.name}"

    def settings_record(self) -> dict[str, Any]:
        """Return the settings as stored in the document (plain values)."""
        return {
            "t_start": self.t_start,
            "t_step": self.t_step,
            "t_max": self.t_max,
            "temperatures": self.temperatures(),
            "frames_per_step": self.frames_per_step,
            "stop_force_mae_meV_A": self.stop_force_mae_meV_A,
            "group_by": self.group_by,
            "md": {  # the temperature is the step's
                k: v for k, v in self.md.protocol_dict().items() if k != "temperature"
            },
            "train": self.train.settings.model_dump(),
            "labeler": self.labeler(),
        }

    def make(
        self, structures: Sequence[Structure], potential: PotentialSpec | str | None = None
    ) -> Flow:
        """Return the ramp's flow: one job that builds each next stage as it goes."""
        if not structures:
            raise ValueError("give at least one start structure")
        if self.frames_per_step < len(structures):
            raise ValueError(
                f"frames_per_step {self.frames_per_step} is fewer than the "
                f"{len(structures)} structures: each structure's MD gives at least "
                "one frame per step"
            )
        for index, structure in enumerate(structures):
            require_ordered(structure, what=f"the fine-tuning ramp (structure {index})")
        self.labeler()  # an unknown DFT preset fails here, not after the first MD
        maker = (
            self if potential is None else replace(self, potential=as_potential(potential))
        )
        # a "uuid" key: a rerun of the stored flow gives the ramp a new id and folder
        ramp = {"uuid": str(uuid.uuid4())}
        first = ramp_step(maker, list(structures), None, ramp=ramp)
        first.name = f"{self.name} {self.t_start:g} K"
        document = ramp_document(ramp, first.output, maker, list(structures))
        document.name = f"{self.name} document"
        return Flow([first, document], output=document.output, name=self.name)
