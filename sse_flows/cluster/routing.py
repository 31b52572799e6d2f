"""Which worker runs which job: potential work on GPUs, DFT on CPU ranks, analysis nearby.

A job's *role* comes from its maker (a class attribute ``resource_role``) or, for
plain function jobs, from :data:`FUNCTION_ROLES`; everything else is light analysis.
Roles map to worker names of the jobflow-remote project (:data:`DEFAULT_ROUTES`); a
model family that needs its own Python environment (MACE pins an old e3nn) goes to a
worker named after it when the project has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from jobflow import Flow, Job

from sse_flows.errors import SSEFlowsError


class JobRole(StrEnum):
    """What kind of resources a job needs."""

    POTENTIAL = "potential"  # MLIP MD, relaxation, elastic, training: a GPU
    DFT = "dft"  # DFT labeling: CPU nodes with MPI ranks
    CPU = "cpu"  # heavy single-process CPU work: enumeration, trajectory analysis
    ANALYSIS = "analysis"  # seconds of work on stored results: run next to the runner


#: role -> worker name in the project written by ``sse-flows cluster init``
DEFAULT_ROUTES: dict[JobRole, str] = {
    JobRole.POTENTIAL: "gpu",
    JobRole.DFT: "cpu",
    JobRole.CPU: "cpu",
    JobRole.ANALYSIS: "local",
}

#: plain ``@job`` functions that are more than light analysis
FUNCTION_ROLES: dict[str, JobRole] = {
    "analyze_md": JobRole.CPU,  # MSD over the whole trajectory file
    "collect_dataset": JobRole.CPU,  # writes the dataset beside the DFT frame folders
}

#: potential families that must run in their own environment, when a worker exists
FAMILY_WORKERS: dict[str, str] = {"mace": "mace"}

#: fallback order when a project lacks the worker a role maps to
_FALLBACK: dict[JobRole, tuple[JobRole, ...]] = {
    JobRole.ANALYSIS: (JobRole.CPU, JobRole.POTENTIAL),
    JobRole.CPU: (JobRole.POTENTIAL,),
    JobRole.DFT: (JobRole.CPU,),
    JobRole.POTENTIAL: (JobRole.CPU,),
}


def job_role(job: Job) -> JobRole:
    """Return the role of a job from its maker or its function name."""
    maker = job.maker
    if maker is not None:
        role = getattr(maker, "resource_role", None)
        if role is not None:
            return JobRole(role)
    name = getattr(job.function, "__name__", "")
    return FUNCTION_ROLES.get(name, JobRole.ANALYSIS)


def potential_family(job: Job) -> str | None:
    """Return the registry name of the potential a job uses, if any."""
    from sse_flows.potentials import PotentialSpec

    maker = job.maker
    value = (
        job.function_kwargs.get("potential")
        or getattr(maker, "potential", None)
        or getattr(getattr(maker, "relax_maker", None), "potential", None)
    )
    if value is None or not isinstance(value, str | dict):
        return None  # e.g. an OutputReference to a fine-tuned checkpoint
    try:
        return PotentialSpec.parse(value).name
    except (SSEFlowsError, ValueError):
        return None


def iter_jobs(flow: Flow | Job) -> Iterable[Job]:
    """Yield every job of a flow (or the job itself)."""
    if isinstance(flow, Job):
        yield flow
        return
    for job, _ in flow.iterflow():
        yield job


def choose_worker(
    job: Job, workers: Iterable[str], routes: Mapping[JobRole, str] | None = None
) -> str:
    """Return the worker a job should run on among the project's workers."""
    available = list(workers)
    if not available:
        raise SSEFlowsError("the jobflow-remote project has no workers")
    routes = {**DEFAULT_ROUTES, **(routes or {})}
    role = job_role(job)
    family = potential_family(job) if role == JobRole.POTENTIAL else None
    if family in FAMILY_WORKERS and FAMILY_WORKERS[family] in available:
        return FAMILY_WORKERS[family]
    for candidate in (role, *_FALLBACK[role]):
        if routes[candidate] in available:
            return routes[candidate]
    return available[0]


def route_flow(
    flow: Flow | Job,
    workers: Iterable[str],
    routes: Mapping[JobRole, str] | None = None,
    worker: str | None = None,
) -> dict[str, str]:
    """Set each job's jobflow-remote worker in place; return ``{job uuid: worker}``.

    ``worker`` sends every job to one worker. A job already given one of the
    project's workers with ``set_run_config`` keeps it. Jobs a job creates at run time
    inherit its worker (jobflow-remote's ``dynamic`` config updates).
    """
    from jobflow_remote import set_run_config

    available = list(workers)
    if worker is not None and worker not in available:
        raise SSEFlowsError(
            f"worker '{worker}' is not in the project; it has: {', '.join(available)}"
        )
    chosen: dict[str, str] = {}
    for job in iter_jobs(flow):
        pinned = job.config.manager_config.get("worker")
        if worker is None and pinned in available:
            chosen[job.uuid] = pinned  # the user's set_run_config wins over the roles
            continue
        name = worker or choose_worker(job, available, routes)
        set_run_config(job, worker=name, dynamic=True)
        chosen[job.uuid] = name
    return chosen


def describe_routes(flow: Flow | Job, chosen: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows of (job name, role, worker) for printing what goes where."""
    return [
        {
            "job": job.name,
            "uuid": job.uuid,
            "role": job_role(job).value,
            "worker": chosen.get(job.uuid),
        }
        for job in iter_jobs(flow)
    ]
