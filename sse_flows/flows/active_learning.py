"""Active learning for any family with a trainer: DP-GEN's concurrent-learning loop.

Each iteration (papers 000 and 004 build their potentials this way):

1. **train** a committee of ``committee_size`` models on every labelled frame so far
   (:class:`~sse_flows.makers.training.TrainMaker`, one job per member): different
   seeds, optionally bootstrap resamples, and members of different families when
   ``committee`` names several (they cycle);
2. **explore**: MD of each system at each temperature (and pressure) of the
   iteration's :class:`~sse_flows.training.active.ExplorationStage`, driven by the
   first member, scored by all (:class:`~sse_flows.makers.explore.ExploreMaker`;
   ``model_devi.out`` per run);
3. **classify** each frame by the maximum force deviation: accurate below
   ``trust_lo``, failed above ``trust_hi``, candidate between;
4. **stop** when the accurate ratio is at least ``accurate_ratio`` for ``patience``
   iterations in a row (converged), or after ``max_iterations`` (``fatal_at_max``:
   the loop's last job then fails, as dpgen2's does, with the document written); an
   unconverged iteration without candidates stops with an error (dpgen2 does too);
5. **select** up to ``max_candidates`` candidates per system by farthest-point
   sampling, at least ``min_frame_gap`` stored frames apart within a run;
6. **label** them: DFT (:class:`~sse_flows.flows.labeling.LabelingMaker`) or an
   ``oracle`` potential (a teacher in distillation; EMT in tests);
7. **grow** the dataset (new frames dealt to train/valid) and go on.

Defaults are dpgen2's: 4 models, accurate ratio 0.9, 10 iterations, fail at max;
trust levels 0.12 / 0.25 eV/A (papers 000 and 004).

The flow is dynamic (``Response(replace=...)``) and resumable as the fine-tuning ramp
is (:mod:`sse_flows.flows.finetune_ramp`): rebuilt jobs get the uuids of their first
build, so finished trainings, MD runs and labels are found again and reused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from jobflow import Flow, Maker
from pymatgen.core import Structure

from sse_flows.flows.labeling import LabelingMaker
from sse_flows.makers.active_learning import loop_document, loop_iteration
from sse_flows.makers.base import SpecSection, as_potential
from sse_flows.makers.explore import ExploreMaker
from sse_flows.makers.training import TrainMaker
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.structures import require_ordered
from sse_flows.training.active import ExplorationStage
from sse_flows.training.settings import TrainSettings


def _explore_md() -> ExploreMaker:
    """Exploration MD as DP-GEN's LAMMPS runs it: 1 fs steps, Nose-Hoover NVT."""
    return ExploreMaker(
        name="explore",
        ensemble="nvt",
        thermostat="nose_hoover",
        timestep_fs=1.0,
        taut_fs=100.0,
        checkpoint_interval=1000,
    )


def _default_stages() -> list[dict[str, Any]]:
    return [ExplorationStage(temperatures=[300.0], steps=1000).model_dump()]


@dataclass
class ActiveLearningMaker(SpecSection, Maker):
    """Improve a committee until it agrees on what it explores; see the module doc.

    ``committee``: one or more potentials (``FAMILY`` or ``FAMILY:PARENT``), cycled
    over the members; ``train`` holds the training settings (the seed of member i is
    the settings' seed + i, plus 1000 x the iteration); ``family_models`` gives a
    family's members their own ``settings.model`` (architectures are per family, and a
    mixed committee shares the other settings). ``diversity``: ``seed`` or
    ``bootstrap`` (each member also trains on a resample). ``initial_data``: labelled
    frames (extxyz) to start from; ``test_data``: fixed labelled frames every
    committee is measured on. ``exploration``: one stage per iteration (the last one
    repeats), DP-GEN's ``model_devi_jobs``. ``oracle``: a potential that labels, or
    None to label with ``labeling`` (DFT).
    """

    name: str = "active learning"
    committee: list[PotentialSpec] = field(default_factory=list)
    committee_size: int = 4
    diversity: Literal["seed", "bootstrap"] = "seed"
    family_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    initial_data: str | None = None
    test_data: str | None = None
    exploration: list[dict[str, Any]] = field(default_factory=_default_stages)
    trust_lo: float = 0.12
    trust_hi: float = 0.25
    max_candidates: int = 50
    min_frame_gap: int = 2
    accurate_ratio: float = 0.9
    patience: int = 1
    max_iterations: int = 10
    fatal_at_max: bool = True
    max_crashed_fraction: float = 0.25
    max_label_failed_fraction: float = 0.2
    oracle: PotentialSpec | None = None
    labeling: LabelingMaker = field(default_factory=LabelingMaker)
    train: TrainMaker = field(default_factory=TrainMaker)
    explore: ExploreMaker = field(default_factory=_explore_md)

    def __post_init__(self) -> None:
        """Parse potentials and stages; refuse settings that cannot run."""
        self.committee = [as_potential(p) for p in self.committee]
        if self.oracle is not None:
            self.oracle = as_potential(self.oracle)
        self.exploration = [
            ExplorationStage.model_validate(s).model_dump() for s in self.exploration
        ]
        if isinstance(self.train, dict):
            self.train = TrainMaker(**self.train)
        problems = []
        if self.trust_lo >= self.trust_hi:
            problems.append(
                f"trust lo ({self.trust_lo} eV/A) must be below hi ({self.trust_hi} eV/A)"
            )
        if self.trust_lo < 0:
            problems.append(f"trust lo must not be negative, got {self.trust_lo}")
        if self.committee_size < 2:
            problems.append(
                f"a committee needs at least 2 models to disagree, got "
                f"committee_size {self.committee_size}"
            )
        if not self.exploration:
            problems.append("exploration lists no stage")
        if not 0 < self.accurate_ratio <= 1:
            problems.append(f"accurate_ratio must lie in (0, 1], got {self.accurate_ratio}")
        for key in ("max_candidates", "patience", "max_iterations"):
            if getattr(self, key) < 1:
                problems.append(f"{key} must be >= 1, got {getattr(self, key)}")
        if problems:
            raise ValueError("; ".join(problems))

    def stages(self) -> list[ExplorationStage]:
        """Return the exploration schedule."""
        return [ExplorationStage.model_validate(s) for s in self.exploration]

    def member(self, index: int) -> PotentialSpec:
        """Return the potential committee member ``index`` trains (families cycle)."""
        return self.committee[index % len(self.committee)]

    def member_settings(self, index: int, iteration: int) -> TrainSettings:
        """Return member ``index``'s training settings: its seed, its family's model."""
        update: dict[str, Any] = {
            "seed": self.train.settings.seed + index + 1000 * iteration
        }
        family = self.member(index).name
        if family in self.family_models:
            update["model"] = self.family_models[family]
        return self.train.settings.model_copy(update=update)

    def labeler(self) -> str:
        """Return who labels: 'reference:<potential>' or 'dft:<preset>'."""
        if self.oracle is not None:
            return f"reference:{self.oracle.label()}"
        from sse_flows.makers.labeling import resolve_preset

        preset = resolve_preset(self.labeling.preset, self.labeling.code)
        return f"dft:{preset.name}"

    def settings_record(self) -> dict[str, Any]:
        """Return the settings as stored in the document (plain values)."""
        return {
            "committee": [p.label() for p in self.committee],
            "committee_size": self.committee_size,
            "diversity": self.diversity,
            "family_models": self.family_models,
            "initial_data": self.initial_data,
            "test_data": self.test_data,
            "exploration": self.exploration,
            "trust": {"lo": self.trust_lo, "hi": self.trust_hi},
            "max_candidates": self.max_candidates,
            "min_frame_gap": self.min_frame_gap,
            "converge": {"accurate_ratio": self.accurate_ratio, "patience": self.patience},
            "max_iterations": self.max_iterations,
            "fatal_at_max": self.fatal_at_max,
            "train": self.train.settings.model_dump(),
            "md": {
                k: v
                for k, v in self.explore.protocol_dict().items()
                if k not in ("temperature", "pressure_gpa", "production_steps")
            },
            "labeler": self.labeler(),
        }

    def preflight(self, structures: Sequence[Structure]) -> None:
        """Refuse what would fail later: no committee, no data, missing elements."""
        from sse_flows.training.data import read_training_frames
        from sse_flows.training.trainer import trainer_for

        if not self.committee:
            raise ValueError("name the committee's potential(s): committee=['mace']")
        if not self.initial_data or not Path(self.initial_data).exists():
            raise ValueError(
                f"initial_data {self.initial_data!r} is not a file: the first committee "
                "needs labelled frames (extxyz) to train on"
            )
        if not structures:
            raise ValueError("give at least one structure to explore")
        for index, structure in enumerate(structures):
            require_ordered(structure, what=f"active learning (structure {index})")
        for stage in self.stages():
            stage.runs(len(structures))
        elements = sorted({el.symbol for s in structures for el in s.composition})
        for potential in self.committee:
            trainer_for(potential.family)
        data_elements = {
            symbol
            for frame in read_training_frames(self.initial_data)
            for symbol in frame.atoms.get_chemical_symbols()
        }
        missing = sorted(set(elements) - data_elements)
        if missing and self.train.settings.from_scratch:
            raise ValueError(
                f"the structures hold {', '.join(missing)}, which the initial data "
                f"{self.initial_data} lacks: a committee trained from scratch on it "
                "cannot describe them. Add labelled frames with these elements."
            )
        checked = [] if self.train.settings.from_scratch else list(self.committee)
        for potential in [*checked, *([self.oracle] if self.oracle else [])]:
            with load_potential(potential, elements=elements):
                pass  # the registry names the elements a model lacks
        self.labeler()  # an unknown DFT preset fails here, not after the first MD

    def make(self, structures: Sequence[Structure]) -> Flow:
        """Return the loop's flow: one job that builds each next stage as it goes."""
        structures = list(structures)
        self.preflight(structures)
        loop = {"uuid": str(uuid.uuid4())}
        maker = replace(self, initial_data=str(Path(str(self.initial_data)).resolve()))
        if maker.test_data:
            maker = replace(maker, test_data=str(Path(maker.test_data).resolve()))
        first = loop_iteration(maker, structures, None, loop=loop)
        first.name = f"{self.name} iteration 1"
        document = loop_document(loop, first.output, maker, structures)
        document.name = f"{self.name} document"
        return Flow([first, document], output=document.output, name=self.name)
