"""The jobs of the fine-tuning ramp (paper 002): each stage builds the next as it runs.

The flow is :class:`sse_flows.flows.finetune_ramp.IterativeFineTuneMaker` (see its
module for the recipe and how a killed or failed ramp resumes). Its first job,
:func:`ramp_step`, explores one temperature (MD of every structure) and replaces
itself with :func:`select_frames` (FPS, labels), which replaces itself with
:func:`assess_step` (errors of the current model; stop, or train and go on with the
next :func:`ramp_step`). :func:`ramp_document`, in the flow as built, returns the
document the last stage wrote. The jobs take the flow maker as their settings: what
they read of it is :class:`RampPlan`.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from jobflow import Flow, Job, Response, job
from pymatgen.core import Structure

from sse_flows.documents import LabeledDataset, MDOutput, TrainedModel, coerce
from sse_flows.documents.finetune_ramp import (
    FineTuneRamp,
    FineTuneStep,
    PickedFrames,
    StepModel,
)
from sse_flows.makers.dynamic import (
    PROCESS,
    ReferenceLabelMaker,
    as_structures,
    chain_ran_here,
    decode_plan,
    stable_uuids,
)
from sse_flows.makers.md import MDMaker
from sse_flows.makers.training import TrainMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.provenance import now_utc, sha256_of
from sse_flows.training.ramp import (
    RAMP_JSON,
    FineTuneRampError,
    RampState,
    StopReason,
    grow_splits,
    labelled_frames,
    model_errors,
    pick_step_frames,
    ramp_folder,
    write_ramp_document,
)


@runtime_checkable
class RampPlan(Protocol):
    """The ramp's settings as its jobs read them: an ``IterativeFineTuneMaker``.

    The flow maker lives a layer up (:mod:`sse_flows.flows`); the jobs get it as an
    argument and name only what they use.
    """

    name: str
    potential: PotentialSpec
    t_start: float
    t_step: float
    t_max: float
    frames_per_step: int
    stop_force_mae_meV_A: float | None
    reference: PotentialSpec | None
    group_by: Literal["frame", "trajectory"]
    md: MDMaker
    labeling: Any  # a LabelingMaker (a flow maker): ``replace(...).make(frames)``
    train: TrainMaker

    def labeler(self) -> str:
        """Return who labels: 'reference:<potential>' or 'dft:<preset>'."""

    def settings_record(self) -> dict[str, Any]:
        """Return the settings as stored in the document."""


def _plan(value: Any) -> RampPlan:
    """Return the flow maker a job was given (a dict with its class, read back)."""
    plan: RampPlan = decode_plan(value, RampPlan, "ramp")
    return plan


@job
def ramp_step(
    maker: RampPlan,
    structures: list[Structure],
    state: dict[str, Any] | None,
    trained: dict[str, Any] | TrainedModel | None = None,
    ramp: dict[str, str] | None = None,
) -> Response | str:
    """Record the model just trained (if any), then explore the next temperature.

    The first call gets ``ramp`` (the ramp's id) and no state; later ones the state.
    """
    maker, structures = _plan(maker), as_structures(structures)
    if state is None:
        namespace = (ramp or {}).get("uuid") or str(uuid.uuid4())
        current = RampState(
            folder=str(ramp_folder(namespace)),
            namespace=namespace,
            index=1,
            temperature=maker.t_start,
            potential=maker.potential,
            started_at=now_utc(),
        )
    else:
        current = RampState.model_validate(state)
    if trained is not None:
        model = coerce(trained, TrainedModel)
        held = model.held_out()
        current.steps[-1].trained = StepModel(
            potential=model.potential,
            sha256=model.sha256,
            artifact_uuid=model.artifact_uuid,
            epochs_run=model.epochs_run,
            held_out_split=held,
            metrics=model.metrics[held],
            parent_metrics=model.parent_metrics.get(held),
            split_sizes=model.dataset.split_sizes,
        )
        current.potential = PotentialSpec.parse(model.potential)
        following = current.temperature + maker.t_step
        if following > maker.t_max + 1e-9:
            return _finish(
                maker,
                structures,
                current,
                "t_max_reached",
                f"the next temperature, {following:g} K, is above t_max {maker.t_max:g} K",
            )
        current.index += 1
        current.temperature = following
    md_jobs = []
    for position, structure in enumerate(structures):
        md_maker = replace(
            maker.md,
            name=f"{maker.name} md {current.temperature:g} K #{position}",
            temperature=current.temperature,
            potential=current.potential,
        )
        md_jobs.append(md_maker.make(structure, potential=current.potential))
    select = select_frames(maker, structures, [j.output for j in md_jobs], current.dump())
    select.name = f"{maker.name} select {current.temperature:g} K"
    flow = Flow([*md_jobs, select], name=select.name)
    key = f"{current.index}/explore"
    return Response(
        output={"process": PROCESS} if state is None else None,
        replace=stable_uuids(flow, current.namespace, key),
    )


@job
def ramp_document(
    ramp: dict[str, str],
    chain: dict[str, Any] | None = None,
    maker: RampPlan | None = None,
    structures: list[Structure] | None = None,
) -> FineTuneRamp | Response:
    """Return the document the ramp's last stage wrote (the flow's output).

    ``chain`` is the first stage's output (it orders this job after the ramp). No
    document: if the chain ran in this process, a stage failed and this job says so;
    if it ran in an earlier process that was killed (a resumed run whose first stage
    had finished), the chain is taken up again from its start (with ``maker`` and
    ``structures``), reusing every finished MD, label and model.
    """
    path = ramp_folder(ramp["uuid"]) / RAMP_JSON
    if path.exists():
        return FineTuneRamp.model_validate_json(path.read_text())
    if chain_ran_here(chain) or maker is None or structures is None:
        raise FineTuneRampError(
            f"The ramp did not finish ({path} was not written): a stage failed. "
            "`sse-flows status` names it; fix the cause and `sse-flows resume` the "
            "flow: finished MD, labels and models are reused."
        )
    maker = _plan(maker)
    again = ramp_step(maker, as_structures(structures), None, ramp=ramp)
    again.name = f"{maker.name} {maker.t_start:g} K (resumed)"
    document = ramp_document(ramp, again.output)
    document.name = f"{maker.name} document"
    return Response(replace=Flow([again, document], output=document.output))


@job
def select_frames(
    maker: RampPlan,
    structures: list[Structure],
    md_outputs: list[Any],
    state: dict[str, Any],
) -> Response:
    """Pick frames by FPS from each MD run, then have them labelled."""
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    maker, structures = _plan(maker), as_structures(structures)
    ramp = RampState.model_validate(state)
    folder = ramp.step_dir()
    folder.mkdir(parents=True, exist_ok=True)
    picked_atoms, picks = pick_step_frames(
        ramp,
        structures,
        [coerce(output, MDOutput) for output in md_outputs],
        maker.frames_per_step,
        maker.group_by,
    )
    picked_file = folder / "picked.extxyz"
    write(str(picked_file), picked_atoms, format="extxyz")
    label: Job | Flow
    if maker.reference is not None:
        label = ReferenceLabelMaker(
            name=f"{maker.name} labels {ramp.temperature:g} K", potential=maker.reference
        ).make(str(picked_file), str(folder / "reference_labels.extxyz"))
    else:
        frames = [AseAtomsAdaptor.get_structure(a) for a in picked_atoms]
        label = replace(
            maker.labeling, name=f"{maker.name} dft {ramp.temperature:g} K"
        ).make(frames)
    assess = assess_step(
        maker,
        structures,
        label.output,
        [p.model_dump() for p in picks],
        str(picked_file),
        ramp.dump(),
    )
    assess.name = f"{maker.name} assess {ramp.temperature:g} K"
    flow = Flow([label, assess], name=assess.name)
    return Response(replace=stable_uuids(flow, ramp.namespace, f"{ramp.index}/label"))


@job
def assess_step(
    maker: RampPlan,
    structures: list[Structure],
    labels: Any,
    picks: list[dict[str, Any]],
    picked_file: str,
    state: dict[str, Any],
) -> Response | str:
    """Measure the current model on the new frames; stop, or train on all frames."""
    from sse_flows.training.data import write_frames

    maker, structures = _plan(maker), as_structures(structures)
    ramp = RampState.model_validate(state)
    folder = ramp.step_dir()
    if isinstance(labels, str):
        labels_path, failed = Path(labels), 0
    else:
        dataset = coerce(labels, LabeledDataset)
        labels_path, failed = Path(dataset.files.extxyz), dataset.n_failed
    frames = labelled_frames(labels_path, picked_file)
    labels_file = write_frames(frames, folder / "labels.extxyz")
    before = model_errors(frames, ramp.potential)
    step = FineTuneStep(
        index=ramp.index,
        temperature_K=ramp.temperature,
        exploring_potential=ramp.potential.label(),
        frames_added=len(frames),
        frames_labelled_failed=failed,
        picked=[PickedFrames.model_validate(p) for p in picks],
        picked_file=picked_file,
        labels_file=str(labels_file),
        labels_sha256=sha256_of(labels_file),
        error_before=before,
    )
    ramp.steps.append(step)
    threshold = maker.stop_force_mae_meV_A
    force_mae = before.force_mae_meV_A
    if threshold is not None and force_mae is not None and force_mae < threshold:
        return _finish(
            maker,
            structures,
            ramp,
            "force_mae_below_threshold",
            f"the force MAE of {ramp.potential.label()} on the {len(frames)} new frames "
            f"at {ramp.temperature:g} K, {force_mae:.3g} meV/A, is under "
            f"{threshold:g} meV/A",
        )
    grow_splits(ramp, frames, maker.train.settings)
    trainer = replace(
        maker.train,
        name=f"{maker.name} train {ramp.temperature:g} K",
        potential=ramp.potential,
        out_dir=str(folder / "train"),
    )
    held_out = {k: v for k, v in ramp.data.items() if k in ("valid", "test")}
    training = trainer.make(ramp.data["train"], potential=ramp.potential, held_out=held_out)
    following = ramp_step(maker, structures, ramp.dump(), trained=training.output)
    following.name = f"{maker.name} next after {ramp.temperature:g} K"
    flow = Flow([training, following], name=training.name)
    return Response(replace=stable_uuids(flow, ramp.namespace, f"{ramp.index}/train"))


def _finish(
    maker: RampPlan,
    structures: list[Structure],
    ramp: RampState,
    reason: StopReason,
    detail: str,
) -> str:
    """Write the ramp's document to its folder; return the file (see ramp_document)."""
    return write_ramp_document(
        ramp,
        name=maker.name,
        start_potential=maker.potential,
        labeler=maker.labeler(),
        settings=maker.settings_record(),
        formulas=[s.composition.reduced_formula for s in structures],
        reason=reason,
        detail=detail,
    )
