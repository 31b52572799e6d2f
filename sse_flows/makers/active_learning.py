"""The jobs of the active-learning loop, each building the next as it runs.

Jobs of :class:`sse_flows.flows.active_learning.ActiveLearningMaker` (see its module
for the recipe and for resume): :func:`loop_iteration` trains the committee and
replaces itself with the trainings and :func:`loop_explore`, which records the
committee and replaces itself with the exploration runs and :func:`loop_select`
(classify, stop or pick candidates and have them labelled), which hands over to
:func:`loop_grow` (labels in, dataset grown, next iteration). :func:`loop_document`,
in the flow as built, returns the document the last stage wrote. The jobs take the
flow maker as their settings (:class:`LoopPlan` names what they read of it).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from jobflow import Flow, Job, Response, job
from pymatgen.core import Structure

from sse_flows.documents import LabeledDataset, TrainedModel, coerce
from sse_flows.documents.active_learning import (
    ActiveLearning,
    CommitteeMember,
    Exploration,
    IterationRecord,
)
from sse_flows.makers.dynamic import (
    PROCESS,
    ReferenceLabelMaker,
    as_structures,
    chain_ran_here,
    decode_plan,
    stable_uuids,
)
from sse_flows.makers.explore import ExploreMaker, committee_labels
from sse_flows.makers.training import TrainMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.provenance import now_utc
from sse_flows.training.active import (
    LOOP_JSON,
    ActiveLearningError,
    CandidatePool,
    ExplorationStage,
    LoopState,
    bootstrap_file,
    deviation_histogram,
    initial_splits,
    label_failures,
    loop_folder,
    next_step,
    run_key,
    select_candidates,
    stage_for,
    write_loop_document,
)
from sse_flows.training.settings import TrainSettings


@runtime_checkable
class LoopPlan(Protocol):
    """The loop's settings as its jobs read them: an ``ActiveLearningMaker``."""

    name: str
    committee: list[PotentialSpec]
    committee_size: int
    diversity: str
    initial_data: str | None
    test_data: str | None
    trust_lo: float
    trust_hi: float
    max_candidates: int
    min_frame_gap: int
    accurate_ratio: float
    patience: int
    max_iterations: int
    fatal_at_max: bool
    max_crashed_fraction: float
    max_label_failed_fraction: float
    oracle: PotentialSpec | None
    labeling: Any  # a LabelingMaker (a flow maker)
    train: TrainMaker
    explore: ExploreMaker

    def stages(self) -> list[ExplorationStage]:
        """Return the exploration schedule."""

    def member(self, index: int) -> PotentialSpec:
        """Return the potential committee member ``index`` trains."""

    def member_settings(self, index: int, iteration: int) -> TrainSettings:
        """Return member ``index``'s training settings in ``iteration``."""

    def labeler(self) -> str:
        """Return who labels."""

    def settings_record(self) -> dict[str, Any]:
        """Return the settings as stored in the document."""


def _plan(value: Any) -> LoopPlan:
    """Return the flow maker a job was given (a dict with its class, read back)."""
    plan: LoopPlan = decode_plan(value, LoopPlan, "loop")
    return plan


def _finish(
    maker: LoopPlan,
    structures: list[Structure],
    state: LoopState,
    converged: bool,
    detail: str,
) -> str:
    """Write the loop's document; return the file (see :func:`loop_document`)."""
    return write_loop_document(
        state,
        name=maker.name,
        labeler=maker.labeler(),
        settings=maker.settings_record(),
        formulas=[s.composition.reduced_formula for s in structures],
        converged=converged,
        reason="converged" if converged else "max_iterations",
        detail=detail,
    )


@job
def loop_iteration(
    maker: LoopPlan,
    structures: list[Structure],
    state: dict[str, Any] | None,
    loop: dict[str, str] | None = None,
) -> Response:
    """Train the iteration's committee on every labelled frame, then explore."""
    maker, structures = _plan(maker), as_structures(structures)
    if state is None:
        namespace = (loop or {}).get("uuid") or str(uuid.uuid4())
        folder = loop_folder(namespace)
        current = LoopState(
            folder=str(folder),
            namespace=namespace,
            iteration=1,
            data=initial_splits(
                str(maker.initial_data),
                maker.train.settings.valid_fraction,
                maker.train.settings.seed,
                folder / "iter000" / "data",
            ),
            started_at=now_utc(),
        )
    else:
        current = LoopState.model_validate(state)
    folder = current.iteration_dir()
    trainings = []
    for index in range(maker.committee_size):
        settings = maker.member_settings(index, current.iteration)
        train_file = current.data["train"]
        if maker.diversity == "bootstrap":
            train_file = str(
                bootstrap_file(
                    train_file, settings.seed, folder / f"model{index}" / "bootstrap.extxyz"
                )
            )
        trainer = replace(
            maker.train,
            name=f"{maker.name} train {current.iteration}.{index}",
            potential=maker.member(index),
            settings=settings,
            out_dir=str(folder / f"model{index}"),
        )
        held_out = {"valid": current.data["valid"]}
        if maker.test_data:  # measured by the training job: no model loaded again
            held_out["test"] = maker.test_data
        trainings.append(trainer.make(train_file, held_out=held_out))
    explore = loop_explore(maker, structures, [t.output for t in trainings], current.dump())
    explore.name = f"{maker.name} explore {current.iteration}"
    flow = Flow([*trainings, explore], name=f"{maker.name} iteration {current.iteration}")
    return Response(
        output={"process": PROCESS} if state is None else None,
        replace=stable_uuids(flow, current.namespace, f"{current.iteration}/train"),
    )


def _committee(trained: list[TrainedModel], seeds: list[int]) -> list[CommitteeMember]:
    """Return the committee's records (errors on the fixed test set, if one was given)."""
    members = []
    for model, seed in zip(trained, seeds, strict=True):
        valid = model.metrics.get("valid")
        members.append(
            CommitteeMember(
                potential=model.potential,
                sha256=model.sha256,
                artifact_uuid=model.artifact_uuid,
                seed=seed,
                valid_force_mae_meV_A=valid.force_mae_meV_A if valid else None,
                test=model.metrics.get("test"),
            )
        )
    return members


@job
def loop_explore(
    maker: LoopPlan,
    structures: list[Structure],
    trained: list[Any],
    state: dict[str, Any],
) -> Response:
    """Record the committee, then run the iteration's committee MD on every system."""
    maker, structures = _plan(maker), as_structures(structures)
    current = LoopState.model_validate(state)
    models = [coerce(t, TrainedModel) for t in trained]
    seeds = [maker.member_settings(i, current.iteration).seed for i in range(len(models))]
    members = _committee(models, seeds)
    potentials = [m.potential for m in members]
    stage = stage_for(maker.stages(), current.iteration)
    runs = []
    for system, temperature, pressure in stage.runs(len(structures)):
        key = run_key(system, temperature, pressure)
        explorer = replace(
            maker.explore,
            name=f"{maker.name} explore {current.iteration} {key}",
            ensemble=stage.ensemble,
            thermostat=maker.explore.thermostat if stage.ensemble == "nvt" else None,
            temperature=temperature,
            pressure_gpa=pressure or 0.0,
            pressure_label=pressure,
            production_steps=stage.steps,
            timestep_fs=stage.timestep_fs,
            sample_interval=stage.sample_interval,
            seed=maker.explore.seed + current.iteration,
            trust_lo=maker.trust_lo,
            trust_hi=maker.trust_hi,
            system=system,
            run_dir=str(current.iteration_dir() / "explore" / key),
        )
        runs.append(explorer.make(structures[system], potentials))
    select = loop_select(
        maker,
        structures,
        [r.output for r in runs],
        [m.model_dump(mode="json") for m in members],
        current.dump(),
    )
    select.name = f"{maker.name} select {current.iteration}"
    flow = Flow([*runs, select], name=select.name)
    return Response(
        replace=stable_uuids(flow, current.namespace, f"{current.iteration}/explore")
    )


def _check_crashes(explorations: list[Exploration], limit: float) -> list[str]:
    """Return notes on crashed runs; raise when more crashed than ``limit`` allows."""
    crashed = [e for e in explorations if e.crashed]
    notes = [
        f"run {run_key(e.system, e.temperature_K, e.pressure_GPa)} crashed: {e.crashed}"
        for e in crashed
    ]
    if crashed and (
        len(crashed) == len(explorations) or len(crashed) > limit * len(explorations)
    ):
        raise ActiveLearningError(
            f"{len(crashed)} of {len(explorations)} exploration runs crashed (limit "
            f"{limit:.0%}): " + "; ".join(notes) + ". See crash.txt in each run folder."
        )
    return notes


@job
def loop_select(
    maker: LoopPlan,
    structures: list[Structure],
    explorations: list[Any],
    members: list[dict[str, Any]],
    state: dict[str, Any],
) -> Response | str:
    """Classify the frames; stop, or pick candidates and have them labelled."""
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    from sse_flows.md.trajectory import read_trajectory
    from sse_flows.structures import to_atoms

    maker, structures = _plan(maker), as_structures(structures)
    current = LoopState.model_validate(state)
    folder = current.iteration_dir()
    runs = [coerce(e, Exploration) for e in explorations]
    notes = _check_crashes(runs, maker.max_crashed_fraction)
    notes += [
        f"run {run_key(e.system, e.temperature_K, e.pressure_GPa)} exploded after "
        f"{e.steps_run} steps; its unreached frames count as failed: {e.exploded}"
        for e in runs
        if e.exploded
    ]
    totals = {
        k: sum(getattr(e, k) for e in runs) for k in ("accurate", "candidate", "failed")
    }
    total = max(sum(totals.values()), 1)
    deviations = [
        np.loadtxt(e.model_devi, ndmin=2)[:, 4] for e in runs if e.model_devi and e.frames
    ]
    histogram = deviation_histogram(
        np.concatenate(deviations) if deviations else np.zeros(0),
        maker.trust_lo,
        maker.trust_hi,
        folder / "deviation_histogram.png",
    )
    committee = [CommitteeMember.model_validate(m) for m in members]
    record = IterationRecord(
        iteration=current.iteration,
        potentials=[m.potential for m in committee],
        committee=committee,
        explorations=runs,
        accurate_ratio=totals["accurate"] / total,
        candidate_ratio=totals["candidate"] / total,
        failed_ratio=totals["failed"] / total,
        counts={
            run_key(e.system, e.temperature_K, e.pressure_GPa): {
                "accurate": e.accurate,
                "candidate": e.candidate,
                "failed": e.failed,
            }
            for e in runs
        },
        histogram=histogram,
        n_candidates=totals["candidate"],
        n_selected=0,
        n_labeled=0,
        n_train=_count(current.data["train"]),
        n_valid=_count(current.data["valid"]),
        notes=notes,
    )
    _write_record(folder, record)  # readable while the loop runs
    decision, current.streak = next_step(
        record.accurate_ratio,
        totals["candidate"],
        current.streak,
        current.iteration,
        target=maker.accurate_ratio,
        patience=maker.patience,
        max_iterations=maker.max_iterations,
    )
    if decision in ("converged", "max_iterations", "explore_again"):
        current.records.append(record)
    if decision == "converged":
        return _finish(
            maker,
            structures,
            current,
            True,
            f"accurate ratio {record.accurate_ratio:.3f} >= {maker.accurate_ratio} for "
            f"{current.streak} iteration(s) in a row (iteration {current.iteration})",
        )
    if decision == "max_iterations":
        return _finish(
            maker,
            structures,
            current,
            False,
            f"max_iterations {maker.max_iterations} reached with accurate ratio "
            f"{record.accurate_ratio:.3f} < {maker.accurate_ratio}",
        )
    if decision == "no_candidates":
        raise ActiveLearningError(
            f"Iteration {current.iteration} is not converged (accurate ratio "
            f"{record.accurate_ratio:.3f} < {maker.accurate_ratio}) and found no "
            f"candidates: every non-accurate frame is above trust hi "
            f"({maker.trust_hi} eV/A). The committee cannot learn from frames this far "
            "off: explore gentler conditions (lower temperatures, shorter runs), start "
            "from more data, or raise trust hi."
        )
    if decision == "explore_again":
        return _start_next(maker, structures, current)
    picked_atoms: list[Any] = []
    for system, structure in enumerate(structures):
        mine = [e for e in runs if e.system == system and e.frames and e.trajectory]
        if not mine:
            continue
        trajectories = [read_trajectory(e.trajectory) for e in mine if e.trajectory]
        labels = [committee_labels(e.run_dir) for e in mine]
        pool = CandidatePool(
            positions=[t.positions for t in trajectories],
            cells=[t.cells for t in trajectories],
            frames=[np.flatnonzero(lab == "candidate") for lab in labels],
            pbc=trajectories[0].pbc,
        )
        chosen = select_candidates(
            pool,
            to_atoms(structure).get_positions(),
            maker.max_candidates,
            maker.min_frame_gap,
        )
        for run, frame in chosen:
            atoms = trajectories[run].atoms(frame)
            atoms.wrap()
            exploration = mine[run]
            key = run_key(system, exploration.temperature_K, exploration.pressure_GPa)
            atoms.info.update(
                frame_index=len(picked_atoms),
                group=f"it{current.iteration}-{key}-f{frame}",
                temperature_K=exploration.temperature_K,
                step=current.iteration,
                structure=system,
                md_frame=frame,
            )
            picked_atoms.append(atoms)
    record.n_selected = len(picked_atoms)
    if not picked_atoms:
        raise ActiveLearningError(
            f"Iteration {current.iteration}: {totals['candidate']} candidates but none "
            "could be picked (min_frame_gap too large?)"
        )
    picked_file = folder / "selected.extxyz"
    write(str(picked_file), picked_atoms, format="extxyz")
    record.selected_file = str(picked_file)
    label: Job | Flow
    if maker.oracle is not None:
        label = ReferenceLabelMaker(
            name=f"{maker.name} labels {current.iteration}", potential=maker.oracle
        ).make(str(picked_file), str(folder / "oracle_labels.extxyz"))
    else:
        frames = [AseAtomsAdaptor.get_structure(a) for a in picked_atoms]
        label = replace(maker.labeling, name=f"{maker.name} dft {current.iteration}").make(
            frames
        )
    grow = loop_grow(
        maker, structures, label.output, record.model_dump(mode="json"), current.dump()
    )
    grow.name = f"{maker.name} grow {current.iteration}"
    flow = Flow([label, grow], name=grow.name)
    return Response(
        replace=stable_uuids(flow, current.namespace, f"{current.iteration}/label")
    )


def _write_record(folder: Path, record: IterationRecord) -> None:
    """Write the iteration's record to its folder (``iteration.json``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "iteration.json").write_text(record.model_dump_json(indent=1))


def _count(path: str) -> int:
    """Return the number of frames in an extxyz file (its header lines)."""
    from ase.io import read

    return len(read(path, index=":"))


@job
def loop_grow(
    maker: LoopPlan,
    structures: list[Structure],
    labels: Any,
    record: dict[str, Any],
    state: dict[str, Any],
) -> Response:
    """Add the labelled candidates to the dataset; start the next iteration."""
    from sse_flows.training.data import append_to_splits, write_frames
    from sse_flows.training.ramp import labelled_frames

    maker, structures = _plan(maker), as_structures(structures)
    current = LoopState.model_validate(state)
    entry = IterationRecord.model_validate(record)
    folder = current.iteration_dir()
    if isinstance(labels, str):
        labels_path, failed = Path(labels), 0
    else:
        dataset = coerce(labels, LabeledDataset)
        labels_path, failed = Path(dataset.files.extxyz), dataset.n_failed
    frames = labelled_frames(labels_path, str(entry.selected_file))
    entry.notes += label_failures(
        failed, entry.n_selected, maker.max_label_failed_fraction, current.iteration
    )
    entry.n_labeled, entry.n_label_failed = len(frames), failed
    entry.labels_file = str(write_frames(frames, folder / "labels.extxyz"))
    settings = maker.train.settings
    current.data = append_to_splits(
        current.data,
        frames,
        settings.valid_fraction,
        0.0,
        settings.seed + current.iteration,
        folder / "data",
    )
    current.records.append(entry)
    _write_record(folder, entry)
    return _start_next(maker, structures, current)


def _start_next(maker: LoopPlan, structures: list[Structure], state: LoopState) -> Response:
    """Replace the running job with the next iteration's first job."""
    state.iteration += 1
    following = loop_iteration(maker, structures, state.dump())
    following.name = f"{maker.name} iteration {state.iteration}"
    return Response(
        replace=stable_uuids(Flow([following]), state.namespace, f"{state.iteration}/start")
    )


@job
def loop_document(
    loop: dict[str, str],
    chain: dict[str, Any] | None = None,
    maker: LoopPlan | None = None,
    structures: list[Structure] | None = None,
) -> ActiveLearning | Response:
    """Return the document the loop's last stage wrote (the flow's output).

    As the fine-tuning ramp's document job: no document and the chain ran here, a
    stage failed (say so); it ran in a killed earlier process, take it up again from
    the start (every finished training, MD and label is reused).
    """
    path = loop_folder(loop["uuid"]) / LOOP_JSON
    if path.exists():
        document = ActiveLearning.model_validate_json(path.read_text())
        if not document.converged and maker is not None and _plan(maker).fatal_at_max:
            raise ActiveLearningError(
                f"The loop did not converge: {document.stop_detail}. Its document is "
                f"{path}; set fatal_at_max: false to store it as the flow's output "
                "anyway, or raise max_iterations and run again."
            )
        return document
    if chain_ran_here(chain) or maker is None or structures is None:
        raise ActiveLearningError(
            f"The loop did not finish ({path} was not written): a stage failed. "
            "`sse-flows status` names it; fix the cause and `sse-flows resume` the flow: "
            "finished trainings, MD runs and labels are reused."
        )
    plan = _plan(maker)
    again = loop_iteration(plan, as_structures(structures), None, loop=loop)
    again.name = f"{plan.name} iteration 1 (resumed)"
    document_job = loop_document(loop, again.output, plan, structures)
    document_job.name = f"{plan.name} document"
    return Response(replace=Flow([again, document_job], output=document_job.output))
