"""The fine-tuning ramp's work between its jobs: state, frames, splits, document.

The ramp (:mod:`sse_flows.flows.finetune_ramp`, jobs in
:mod:`sse_flows.makers.finetune_ramp`) hands a :class:`RampState` from stage to stage
as a plain dict. Each step picks frames by FPS from every MD run
(:func:`pick_step_frames`), reads their labels back with their tags
(:func:`labelled_frames`), measures the current model on them (:func:`model_errors`)
and deals them to splits that only grow (:func:`grow_splits`); the last stage writes
the ``finetune_ramp`` document to ``work_dir/finetune_ramp/<id>/finetune_ramp.json``
(:func:`write_ramp_document`), where the flow's last job reads it. Nothing here
knows about jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ase import Atoms
from pydantic import BaseModel, ConfigDict
from pymatgen.core import Structure

from sse_flows.calc.evaluate import LabeledFrame, default_labels, evaluate_frames
from sse_flows.documents import MDOutput
from sse_flows.documents.finetune_ramp import FineTuneRamp, FineTuneStep, PickedFrames
from sse_flows.documents.training import SplitMetrics
from sse_flows.errors import SSEFlowsError
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.settings import get_settings
from sse_flows.training.sampling import frame_shares
from sse_flows.training.settings import TrainSettings

RAMP_JSON = "finetune_ramp.json"

StopReason = Literal["force_mae_below_threshold", "t_max_reached"]


class FineTuneRampError(SSEFlowsError):
    """The ramp cannot go on as set up."""


class RampState(BaseModel):
    """What one stage of the ramp hands to the next (stored as a plain dict)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    folder: str
    namespace: str  # the ramp's id: the seed of every later uuid, its folder's name
    index: int  # step number, from 1
    temperature: float
    potential: PotentialSpec  # the current model
    steps: list[FineTuneStep] = []
    data: dict[str, str] = {}  # every labelled frame so far, per split
    started_at: datetime

    def step_dir(self) -> Path:
        """Return this step's folder."""
        return Path(self.folder) / f"step{self.index:02d}_{self.temperature:g}K"

    def dump(self) -> dict[str, Any]:
        """Return the state as JSON-ready values."""
        return self.model_dump(mode="json")


def ramp_folder(namespace: str) -> Path:
    """Return the ramp's folder: every step's frames, labels and models."""
    return get_settings().work_dir / "finetune_ramp" / namespace


def model_errors(frames: list[LabeledFrame], potential: PotentialSpec) -> SplitMetrics:
    """Return the errors of ``potential`` on labelled frames."""
    elements = sorted({s for f in frames for s in f.atoms.get_chemical_symbols()})
    with load_potential(potential, elements=elements) as loaded:
        result = evaluate_frames(frames, loaded.calculator, default_labels(frames))
    return SplitMetrics.of(result)


def write_ramp_document(
    ramp: RampState,
    *,
    name: str,
    start_potential: PotentialSpec,
    labeler: str,
    settings: dict[str, Any],
    formulas: list[str],
    reason: StopReason,
    detail: str,
) -> str:
    """Write the ramp's document to its folder; return the file.

    ``settings`` are the flow maker's, as stored; ``formulas`` the start structures'.
    """
    trained = [s.trained for s in ramp.steps if s.trained is not None]
    provenance = RunProvenance.start(
        {"name": name, "potential": start_potential.label(), **settings},
        extra_packages=(start_potential.family.package,),
    )
    provenance.started_at = ramp.started_at
    document = FineTuneRamp(
        name=name,
        start_potential=start_potential.label(),
        labeler=labeler,
        settings=settings,
        structures=formulas,
        steps=ramp.steps,
        final_potential=ramp.potential.label(),
        final_sha256=trained[-1].sha256 if trained else None,
        stop_reason=reason,
        stop_detail=detail,
        data_files=dict(ramp.data),
        data_sha256={k: sha256_of(v) for k, v in ramp.data.items()},
        folder=ramp.folder,
        provenance=provenance.finish(),
    )
    return document.write_json(Path(ramp.folder) / RAMP_JSON)


def pick_step_frames(
    ramp: RampState,
    structures: Sequence[Structure],
    md_outputs: Sequence[MDOutput],
    frames_per_step: int,
    group_by: Literal["frame", "trajectory"],
) -> tuple[list[Atoms], list[PickedFrames]]:
    """Pick this step's frames by FPS from each structure's MD, tagged for labelling.

    ``frames_per_step`` is shared evenly between the structures; each frame's
    ``info`` names its group (per frame or per trajectory), temperature, step,
    structure and MD frame, and its position in the picked list (``frame_index``).
    """
    from sse_flows.md.trajectory import read_trajectory
    from sse_flows.structures import to_atoms
    from sse_flows.training.selection import farthest_point_sampling

    picked_atoms: list[Atoms] = []
    picks = []
    shares = frame_shares(frames_per_step, len(structures))
    for position, (structure, md) in enumerate(zip(structures, md_outputs, strict=True)):
        trajectory = read_trajectory(md.trajectory.path)
        if len(trajectory) < shares[position]:
            raise FineTuneRampError(
                f"The MD of structure {position} at {ramp.temperature:g} K stored "
                f"{len(trajectory)} frames, fewer than the {shares[position]} to pick; "
                "run longer (md.production_steps) or store more often "
                "(md.sample_interval)."
            )
        start = to_atoms(md.input_structure).get_positions()
        chosen = farthest_point_sampling(
            trajectory.positions,
            trajectory.cells,
            shares[position],
            reference=start,
            pbc=trajectory.pbc,
        )
        for frame in chosen.indices:
            atoms = trajectory.atoms(frame)
            atoms.wrap()
            group = f"step{ramp.index}-s{position}"
            atoms.info.update(
                frame_index=len(picked_atoms),
                group=group if group_by == "trajectory" else f"{group}-f{frame}",
                temperature_K=ramp.temperature,
                step=ramp.index,
                structure=position,
                md_frame=frame,
            )
            picked_atoms.append(atoms)
        picks.append(
            PickedFrames(
                structure=position,
                formula=structure.composition.reduced_formula,
                md_job=_job_uuid(md),
                trajectory=md.trajectory.path,
                candidates=len(trajectory),
                picked=chosen.indices,
                distances_A2=chosen.distances,
            )
        )
    return picked_atoms, picks


def _job_uuid(md: MDOutput) -> str | None:
    """Return the MD job's uuid from its run folder (``work_dir/<uuid>``), if so named."""
    name = Path(md.run_dir).name
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return None


def labelled_frames(labels_file: str | Path, picked_file: str | Path) -> list[LabeledFrame]:
    """Read the labels of the picked frames, with the tags of ``picked_file`` restored.

    DFT output keeps only ``frame_index``; it points into the picked frames.
    """
    from ase.io import read

    from sse_flows.training.data import read_training_frames

    frames = read_training_frames(Path(labels_file))
    picked: list[Any] = list(read(picked_file, index=":"))
    for frame in frames:
        info = picked[int(frame.atoms.info["frame_index"])].info
        for name in ("group", "temperature_K", "step", "structure", "md_frame"):
            frame.atoms.info[name] = info[name]
    return frames


def grow_splits(
    ramp: RampState, frames: list[LabeledFrame], settings: TrainSettings
) -> None:
    """Deal the new frames to train/valid/test and append them to the ramp's files.

    Each split only grows (``ramp.data`` points at its file, under this step's
    ``data/``), so no model is measured on frames an ancestor trained on.
    """
    from sse_flows.training.data import append_to_splits

    try:
        ramp.data = append_to_splits(
            ramp.data,
            frames,
            settings.valid_fraction,
            settings.test_fraction,
            settings.seed + ramp.index,
            ramp.step_dir() / "data",
        )
    except SSEFlowsError as exc:
        raise FineTuneRampError(
            f"Step {ramp.index} ({ramp.temperature:g} K): the {len(frames)} new frames "
            f"cannot be dealt to train/valid/test: {exc} (group_by='frame' makes each "
            "frame a group; frames_per_step sets how many there are)."
        ) from exc
    if "valid" not in ramp.data:
        raise FineTuneRampError(
            f"Step {ramp.index}: no validation frames yet; raise frames_per_step or "
            "train.settings.valid_fraction."
        )
