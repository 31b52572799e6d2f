"""Which worker runs which job: potential work on GPUs, DFT on CPU ranks, analysis nearby.

A job's *role* comes from its maker (a class attribute ``resource_role``); a job
without a maker is light analysis. Roles map to worker names of the jobflow-remote
project (:data:`DEFAULT_ROUTES`). A model family with an environment of its own
(:attr:`PotentialFamily.environment`, e.g. MACE, which pins an old e3nn) needs no
worker of its own: its jobs start the model in that environment
(:mod:`sse_flows.potentials.proxy`); :func:`environments_needed` says which
environments a flow's jobs will start, also for a potential made at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

from jobflow import Flow, Job

from sse_flows.errors import SSEFlowsError
from sse_flows.records import flow_jobs


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


#: fallback order when a project lacks the worker a role maps to
_FALLBACK: dict[JobRole, tuple[JobRole, ...]] = {
    JobRole.ANALYSIS: (JobRole.CPU, JobRole.POTENTIAL),
    JobRole.CPU: (JobRole.POTENTIAL,),
    JobRole.DFT: (JobRole.CPU,),
    JobRole.POTENTIAL: (JobRole.CPU,),
}


def job_role(job: Job) -> JobRole:
    """Return the role of a job from its maker (light analysis without one)."""
    role = getattr(job.maker, "resource_role", None)
    return JobRole(role) if role is not None else JobRole.ANALYSIS


def potential_family(job: Job, jobs: Mapping[str, Job] | None = None) -> str | None:
    """Return the registry name of the potential a job uses, if any.

    A potential made at run time (a trained checkpoint passed as an
    ``OutputReference``) is resolved through the job producing it, in ``jobs`` (uuid
    -> job): its maker's ``output_family`` or, failing that, its own ``potential``
    (the model it fine-tunes).
    """
    from jobflow import OutputReference

    from sse_flows.potentials import PotentialSpec

    value = job.function_kwargs.get("potential") or getattr(job.maker, "potential", None)
    if isinstance(value, PotentialSpec):
        return value.name
    if isinstance(value, OutputReference) and jobs and value.uuid in jobs:
        producer = jobs[value.uuid]
        named = getattr(producer.maker, "output_family", None)
        if isinstance(named, str):
            return named
        return potential_family(producer, jobs)
    return None


def environments_needed(flow: Flow | Job) -> dict[str, list[str]]:
    """Environment name -> names of the jobs that will start a model in it."""
    from sse_flows.potentials import get_family
    from sse_flows.potentials.registry import runs_in_environment

    jobs = {job.uuid: job for job in iter_jobs(flow)}
    needed: dict[str, list[str]] = {}
    for job in jobs.values():
        if job_role(job) != JobRole.POTENTIAL:
            continue
        name = potential_family(job, jobs)
        family = get_family(name) if name else None
        if family is not None and family.environment and runs_in_environment(family):
            needed.setdefault(family.environment.name, []).append(job.name)
    return needed


def iter_jobs(flow: Flow | Job) -> Iterable[Job]:
    """Yield every job of a flow (or the job itself)."""
    if isinstance(flow, Job):
        yield flow
        return
    yield from flow_jobs(flow)


def choose_worker(
    job: Job, workers: Iterable[str], routes: Mapping[JobRole, str] | None = None
) -> str:
    """Return the worker a job should run on among the project's workers."""
    return worker_for_role(job_role(job), workers, routes)


def worker_for_role(
    role: JobRole, workers: Iterable[str], routes: Mapping[JobRole, str] | None = None
) -> str:
    """Return the worker for a role among the project's workers (with fallbacks)."""
    available = list(workers)
    if not available:
        raise SSEFlowsError("the jobflow-remote project has no workers")
    routes = {**DEFAULT_ROUTES, **(routes or {})}
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
    inherit its worker (jobflow-remote's ``dynamic`` config updates), except those
    made by a maker its maker names in ``spawns`` (the precision loop's MD
    segments): they go to their own role's worker.
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
        spawned = spawned_routes(job, available, routes) if worker is None else []
        for function, child_worker in spawned:
            set_run_config(job, worker=child_worker, function_filter=function, dynamic=True)
        if spawned:  # else jobflow passes this job's worker to every job it creates
            job.config.pass_manager_config = False
        chosen[job.uuid] = name
    return chosen


def spawned_routes(
    job: Job, workers: Iterable[str], routes: Mapping[JobRole, str] | None = None
) -> list[tuple[Callable[..., Any], str]]:
    """Return (maker function, worker) for the jobs a job creates with named makers.

    ``spawns``, a class attribute of the job's maker, names the fields holding the
    makers of jobs it creates at run time (the precision loop's MD segments); each
    goes to its own role's worker rather than its creator's.
    """
    found = []
    for name in getattr(job.maker, "spawns", ()):
        child = getattr(job.maker, name)
        role = JobRole(getattr(child, "resource_role", JobRole.ANALYSIS))
        found.append((type(child).make, worker_for_role(role, workers, routes)))
    return found


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
