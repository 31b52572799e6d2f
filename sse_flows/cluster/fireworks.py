"""The second submission path: FireWorks, with one SLURM queue adapter per worker.

Jobs are routed exactly as for jobflow-remote (:mod:`sse_flows.cluster.routing`), but
the worker name becomes the Firework ``_category``: each FireWorker pulls only its own
category, and its queue adapter asks SLURM for that worker's partition and GPUs.
``sse-flows cluster init --manager fireworks`` writes the files; ``qlaunch`` with a
worker's pair of files then submits its jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jobflow import Flow, Job

from sse_flows.cluster.project import (
    ClusterPlan,
    SlurmWorkerPlan,
    job_exports,
    pre_run_script,
    slurm_workers,
)
from sse_flows.cluster.routing import JobRole, choose_worker, iter_jobs, spawned_routes
from sse_flows.errors import SSEFlowsError
from sse_flows.settings import SSEFlowsSettings, get_settings

if TYPE_CHECKING:
    from fireworks import Workflow

LAUNCHPAD_FILE = "launchpad.yaml"


def _qadapter(
    name: str, worker: SlurmWorkerPlan, plan: ClusterPlan, folder: Path, exports: dict
) -> dict[str, Any]:
    resources = worker.resources()  # FireWorks names two of qtoolkit's keys otherwise
    return {
        "_fw_name": "CommonAdapter",
        "_fw_q_type": "SLURM",
        "rocket_launch": (
            f"rlaunch -w {folder / f'fworker_{name}.yaml'} "
            f"-l {folder / LAUNCHPAD_FILE} singleshot"
        ),
        "queue": resources.pop("partition"),
        "walltime": resources.pop("time"),
        **resources,
        "job_name": f"sse-{name}",
        "pre_rocket": pre_run_script(worker.venv or plan.venv, worker.modules, exports),
    }


def _launchpad(settings: SSEFlowsSettings) -> dict[str, Any]:
    if settings.mongo_uri:
        return {
            "host": settings.mongo_uri,
            "name": settings.mongo_database,
            "uri_mode": True,
        }
    return {
        "host": settings.mongo_host,
        "port": settings.mongo_port,
        "name": f"{settings.mongo_database}_fireworks",
        "username": settings.mongo_username,
        "password": settings.mongo_password,
    }


def write_fireworks(
    plan: ClusterPlan,
    folder: Path,
    settings: SSEFlowsSettings | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the launchpad, one FireWorker per worker and a queue adapter per SLURM one."""
    settings = settings or get_settings()
    folder = folder.expanduser().resolve()
    exports = job_exports(settings, plan.exports)
    files: dict[str, dict[str, Any]] = {LAUNCHPAD_FILE: _launchpad(settings)}
    names = [*slurm_workers(plan), *(["local"] if plan.local_worker else [])]
    for name in names:
        files[f"fworker_{name}.yaml"] = {
            "name": f"sse-{name}",
            "category": [name],
            "query": "{}",
        }
    for name, worker in slurm_workers(plan).items():
        files[f"qadapter_{name}.yaml"] = _qadapter(name, worker, plan, folder, exports)
    paths = [folder / f for f in files]
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        raise SSEFlowsError(f"{taken[0]} exists; pass --force to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in zip(paths, files.values(), strict=True):
        path.write_text(yaml.safe_dump(content, sort_keys=False))
    return paths


def fireworks_workers(folder: Path) -> list[str]:
    """Return the worker (category) names a FireWorks folder has FireWorkers for."""
    return sorted(p.stem.removeprefix("fworker_") for p in folder.glob("fworker_*.yaml"))


def to_workflow(
    flow: Flow | Job,
    workers: list[str],
    routes: Mapping[JobRole, str] | None = None,
    worker: str | None = None,
) -> tuple[Workflow, dict[str, str]]:
    """Convert a flow to a Workflow whose Fireworks carry their worker as category."""
    from jobflow.managers.fireworks import flow_to_workflow

    from sse_flows.stores import get_job_store

    if worker is not None and worker not in workers:
        raise SSEFlowsError(
            f"worker '{worker}' has no FireWorker; there are: {', '.join(workers)}"
        )
    chosen: dict[str, str] = {}
    for job in iter_jobs(flow):
        name = worker or choose_worker(job, workers, routes)
        job.update_config({"manager_config": {"_category": name}}, dynamic=True)
        spawned = spawned_routes(job, workers, routes) if worker is None else []
        for function, child in spawned:  # e.g. MD segments of the precision loop
            job.update_config(
                {"manager_config": {"_category": child}},
                function_filter=function,
                dynamic=True,
            )
        if spawned:
            job.config.pass_manager_config = False
        chosen[job.uuid] = name
    return flow_to_workflow(flow, store=get_job_store()), chosen


def submit_fireworks(
    flow: Flow | Job, launchpad_file: Path, worker: str | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """Add the flow to the LaunchPad beside its FireWorkers.

    Returns ``{job uuid: fw_id}`` and ``{job uuid: worker}``.
    """
    from fireworks import LaunchPad

    launchpad_file = launchpad_file.expanduser().resolve()
    if not launchpad_file.exists():
        raise SSEFlowsError(
            f"{launchpad_file} not found; write it with "
            "`sse-flows cluster init --manager fireworks --folder DIR`"
        )
    workers = fireworks_workers(launchpad_file.parent)
    if not workers:
        raise SSEFlowsError(f"no fworker_*.yaml next to {launchpad_file}")
    workflow, chosen = to_workflow(flow, workers, worker=worker)
    launchpad = LaunchPad.from_file(str(launchpad_file))
    launchpad.add_wf(workflow)  # gives the Fireworks their LaunchPad ids in place
    ids = {fw.tasks[0]["job"].uuid: fw.fw_id for fw in workflow.fws}
    return ids, chosen
