"""The active-learning loop's work between its jobs: schedule, state, selection, document.

The loop (:mod:`sse_flows.flows.active_learning`, jobs in
:mod:`sse_flows.makers.active_learning`) hands a :class:`LoopState` from job to job
as a plain dict. Here: the exploration schedule (:class:`ExplorationStage`, DP-GEN's
``model_devi_jobs`` entry), the first split of the initial data, bootstrap resampling
of a committee member's training set, the choice of candidate frames
(:func:`select_candidates`), the deviation histogram and the document. Nothing here
knows about jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sse_flows.documents.active_learning import (
    ActiveLearning,
    Histogram,
    IterationRecord,
    StopReason,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.settings import get_settings
from sse_flows.training.selection import position_msd

LOOP_JSON = "active_learning.json"


class ActiveLearningError(SSEFlowsError):
    """The loop cannot go on as set up, or an iteration left it nothing to do."""


class ExplorationStage(BaseModel):
    """MD runs of one iteration, per system: DP-GEN's ``model_devi_jobs`` entry.

    Every system listed (``systems``, default all) runs once per temperature and
    pressure. ``sample_interval`` is DP-GEN's ``trj_freq``: the committee scores a
    frame every that many steps.
    """

    model_config = ConfigDict(extra="forbid")

    temperatures: list[float] = Field(min_length=1, description="K.")
    pressures_GPa: list[float] | None = Field(
        None, description="For ensemble npt (GPa); None with nvt/nve."
    )
    ensemble: Literal["nvt", "npt", "nve"] = "nvt"
    steps: int = Field(1000, ge=1, description="MD steps per run.")
    timestep_fs: float = Field(1.0, gt=0)
    sample_interval: int = Field(10, ge=1, description="Steps between scored frames.")
    systems: list[int] | None = Field(
        None, description="Indices of the structures to explore (None: all)."
    )

    @model_validator(mode="after")
    def _pressures(self) -> ExplorationStage:
        if self.ensemble == "npt" and not self.pressures_GPa:
            raise ValueError("ensemble npt needs pressures_GPa (a list of GPa)")
        if self.ensemble != "npt" and self.pressures_GPa:
            raise ValueError(
                f"pressures_GPa is given but the ensemble is {self.ensemble}: use npt"
            )
        if any(t <= 0 for t in self.temperatures):
            raise ValueError(f"temperatures must be positive, got {self.temperatures}")
        if self.steps < self.sample_interval:
            raise ValueError(
                f"steps ({self.steps}) < sample_interval ({self.sample_interval}): "
                "the committee would score no frame"
            )
        return self

    def runs(self, n_systems: int) -> list[tuple[int, float, float | None]]:
        """Return (system, temperature, pressure) of every MD run of this stage."""
        systems = self.systems if self.systems is not None else list(range(n_systems))
        wrong = [s for s in systems if not 0 <= s < n_systems]
        if wrong:
            raise ActiveLearningError(
                f"exploration systems {wrong} do not exist: there are {n_systems} "
                f"structures (indices 0-{n_systems - 1})"
            )
        pressures: list[float | None] = (
            list(self.pressures_GPa) if self.pressures_GPa else [None]
        )
        return [(s, t, p) for s in systems for t in self.temperatures for p in pressures]


def stage_for(stages: Sequence[ExplorationStage], iteration: int) -> ExplorationStage:
    """Return iteration ``iteration``'s stage (from 1); past the list, the last one."""
    return stages[min(iteration, len(stages)) - 1]


def run_key(system: int, temperature: float, pressure: float | None) -> str:
    """Return the name of one MD run: '<system>@<T>K' (and '@<P>GPa')."""
    key = f"{system}@{temperature:g}K"
    return key if pressure is None else f"{key}@{pressure:g}GPa"


class LoopState(BaseModel):
    """What one job of the loop hands to the next (stored as a plain dict)."""

    folder: str
    namespace: str  # the loop's id: the seed of every later uuid, its folder's name
    iteration: int  # from 1
    data: dict[str, str] = {}  # every labelled frame so far, per split
    records: list[IterationRecord] = []
    streak: int = 0  # iterations in a row at or above the accurate ratio
    started_at: datetime

    def iteration_dir(self) -> Path:
        """Return this iteration's folder."""
        return Path(self.folder) / f"iter{self.iteration:03d}"

    def dump(self) -> dict[str, Any]:
        """Return the state as JSON-ready values."""
        return self.model_dump(mode="json")


Decision = Literal["converged", "max_iterations", "no_candidates", "explore_again", "label"]


def next_step(
    accurate_ratio: float,
    candidates: int,
    streak: int,
    iteration: int,
    *,
    target: float,
    patience: int,
    max_iterations: int,
) -> tuple[Decision, int]:
    """Decide what follows a scored iteration; return the decision and the new streak.

    ``streak`` counts the iterations in a row at or above ``target`` before this one.
    Converged once it reaches ``patience``; else stop at ``max_iterations``; else an
    unconverged iteration without candidates is a dead end (``no_candidates``: dpgen2
    stops with an error too); a converged one without candidates explores again
    (new seeds, no new labels) until the streak is long enough; otherwise label.
    """
    above = accurate_ratio >= target
    streak = streak + 1 if above else 0
    if streak >= patience:
        return "converged", streak
    if iteration >= max_iterations:
        return "max_iterations", streak
    if candidates == 0:
        return ("explore_again" if above else "no_candidates"), streak
    return "label", streak


def label_failures(failed: int, selected: int, limit: float, iteration: int) -> list[str]:
    """Return a note on frames the oracle failed on; raise beyond ``limit`` of them."""
    if failed > limit * selected:
        raise ActiveLearningError(
            f"Iteration {iteration}: the oracle failed on {failed} of {selected} frames "
            f"(limit {limit:.0%}); see the labeling jobs' outputs (failed frames and "
            "why), fix the DFT settings and resume."
        )
    return [f"the oracle failed on {failed} of {selected} frames"] if failed else []


def loop_folder(namespace: str) -> Path:
    """Return the loop's folder: every iteration's models, runs, frames and labels."""
    return get_settings().work_dir / "active_learning" / namespace


def initial_splits(
    initial_data: str | Path, valid_fraction: float, seed: int, folder: Path
) -> dict[str, str]:
    """Split the initial labelled frames into train/valid files (by group, seeded)."""
    from sse_flows.training.data import append_to_splits, read_training_frames

    frames = read_training_frames(initial_data)
    try:
        return append_to_splits({}, frames, valid_fraction, 0.0, seed, folder)
    except SSEFlowsError as exc:
        raise ActiveLearningError(
            f"The initial data {initial_data} cannot be split into train and valid: {exc}"
        ) from exc


def bootstrap_file(train_file: str | Path, seed: int, out: Path) -> Path:
    """Write a bootstrap resample of the training frames (same count, with replacement).

    Bootstrapping makes committee members disagree where the data are thin, beyond what
    different seeds alone give (the classic query-by-committee recipe).
    """
    from ase.io import read, write

    frames = list(read(str(train_file), index=":"))
    picks = np.random.default_rng(seed).integers(0, len(frames), len(frames))
    out.parent.mkdir(parents=True, exist_ok=True)
    write(str(out), [frames[i] for i in picks], format="extxyz")
    return out


@dataclass
class CandidatePool:
    """Candidate frames of one system, over all its MD runs of an iteration."""

    positions: list[np.ndarray]  # one (frames, atoms, 3) array per run
    cells: list[np.ndarray]  # (frames, 3, 3) per run
    frames: list[np.ndarray]  # candidate frame indices per run
    pbc: np.ndarray


def select_candidates(
    pool: CandidatePool, start: np.ndarray, n: int, min_gap: int
) -> list[tuple[int, int]]:
    """Pick up to ``n`` candidates, farthest-point sampled; return (run, frame) pairs.

    Distance: the position MSD of :mod:`sse_flows.training.selection` (one system's
    runs hold the same atoms in the same order). The start structure counts as
    picked, so the first pick is the candidate farthest from it. Within one run, no
    two picks are closer than ``min_gap`` stored frames (IPSuite's ``min_distance``):
    neighbouring frames of a trajectory are near-copies. Written here because
    :func:`~sse_flows.training.selection.farthest_point_sampling` has no exclusions.
    """
    owners = [(r, int(f)) for r, frames in enumerate(pool.frames) for f in frames]
    if not owners or n <= 0:
        return []
    positions = np.stack([pool.positions[r][f] for r, f in owners])
    cells = np.stack([pool.cells[r][f] for r, f in owners])
    nearest = position_msd(positions, start, cells, pool.pbc)
    allowed = np.ones(len(owners), dtype=bool)
    picked: list[tuple[int, int]] = []
    while len(picked) < n and allowed.any():
        scores = np.where(allowed, nearest, -np.inf)
        best = int(np.argmax(scores))
        run, frame = owners[best]
        picked.append((run, frame))
        nearest = np.minimum(
            nearest, position_msd(positions, positions[best], cells[best], pool.pbc)
        )
        for k, (r, f) in enumerate(owners):
            if r == run and abs(f - frame) < max(min_gap, 1):
                allowed[k] = False
    return picked


def deviation_histogram(
    values: np.ndarray, lo: float, hi: float, plot: Path | None
) -> Histogram:
    """Return the histogram of max_devi_f (finite values) and draw it with the levels."""
    finite = values[np.isfinite(values)]
    top = max(float(finite.max()) if finite.size else 0.0, 2.0 * hi)
    edges = np.linspace(0.0, top, 41)
    counts, _ = np.histogram(np.clip(finite, 0.0, top), bins=edges)
    path = None
    if plot is not None and finite.size:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.hist(np.clip(finite, 0.0, top), bins=list(edges), color="0.4")
        for level, name in ((lo, "lo"), (hi, "hi")):
            ax.axvline(level, color="tab:red", ls="--")
            ax.text(level, ax.get_ylim()[1] * 0.95, f" {name}", color="tab:red")
        ax.set_xlabel("max force deviation (eV/A)")
        ax.set_ylabel("frames")
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        plt.close(fig)
        path = str(plot)
    return Histogram(
        edges_eV_A=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        plot=path,
    )


def write_loop_document(
    state: LoopState,
    *,
    name: str,
    labeler: str,
    settings: dict[str, Any],
    formulas: list[str],
    converged: bool,
    reason: StopReason,
    detail: str,
) -> str:
    """Write the loop's document to its folder (atomically); return the file."""
    last = state.records[-1] if state.records else None
    provenance = RunProvenance.start({"name": name, **settings})
    provenance.started_at = state.started_at
    document = ActiveLearning(
        name=name,
        labeler=labeler,
        settings=settings,
        structures=formulas,
        iterations=state.records,
        converged=converged,
        stop_reason=reason,
        stop_detail=detail,
        final_potentials=list(last.potentials) if last else [],
        dataset=dict(state.data),
        dataset_sha256={k: sha256_of(v) for k, v in state.data.items()},
        folder=state.folder,
        provenance=provenance.finish(),
    )
    return document.write_json(Path(state.folder) / LOOP_JSON)
