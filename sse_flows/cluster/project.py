"""Write the jobflow-remote project that sends sse-flows jobs to SLURM.

The project holds the workers (a GPU worker for potential work, a CPU worker with MPI
ranks for DFT, a shell worker for light analysis; families in environments of their
own run through a worker process from any of them), the JobStore (the store
``sse-flows query`` and ``table`` read) and the queue store. With MongoDB both live in
the database and the ``jf`` runner daemon drives the jobs. Without MongoDB the queue is
an in-memory store, so submission and the runner share one process (``sse-flows
submit`` then waits).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from sse_flows.cluster.routing import DEFAULT_ROUTES, JobRole
from sse_flows.errors import SSEFlowsError
from sse_flows.settings import SSEFlowsSettings, get_settings

QUEUE_COLLECTION = "jf_jobs"
SSE_METADATA_KEY = "sse_flows"


class SlurmWorkerPlan(BaseModel):
    """One SLURM worker: where its jobs queue and what each job asks for."""

    partition: str = Field(description="SLURM partition (--partition).")
    time: str = Field("24:00:00", description="Wall-time limit per job (--time).")
    gpus: int = Field(0, description="GPUs per job (--gres=gpu:N).")
    ntasks: int = Field(1, description="Tasks per job (--ntasks).")
    cpus_per_task: int = Field(1, description="CPUs per task (--cpus-per-task).")
    mem: str | None = Field(None, description="Memory per job (--mem), e.g. 16G.")
    account: str | None = Field(None, description="Account to charge (--account).")
    venv: Path | None = Field(None, description="Python environment to activate.")
    modules: list[str] = Field(default_factory=list, description="Modules to load.")

    def resources(self) -> dict[str, Any]:
        """Qtoolkit SLURM template values."""
        values: dict[str, Any] = {
            "partition": self.partition,
            "time": self.time,
            "nodes": 1,
            "ntasks": self.ntasks,
            "cpus_per_task": self.cpus_per_task,
        }
        if self.gpus:
            values["gres"] = f"gpu:{self.gpus}"
        if self.mem:
            values["mem"] = self.mem
        if self.account:
            values["account"] = self.account
        return values


class ClusterPlan(BaseModel):
    """Everything ``sse-flows cluster init`` asks for."""

    name: str = Field("sse-flows", description="jobflow-remote project name.")
    queue: Literal["memory", "mongodb"] = Field(
        "memory",
        description="Queue store: 'mongodb' for production (runner daemon), 'memory' "
        "where no MongoDB exists (submit runs the runner in its own process).",
    )
    gpu: SlurmWorkerPlan = Field(
        default_factory=lambda: SlurmWorkerPlan(partition="gpu", gpus=1, cpus_per_task=4)
    )
    cpu: SlurmWorkerPlan = Field(default_factory=lambda: SlurmWorkerPlan(partition="cpu"))
    dft_ranks: int = Field(4, description="MPI ranks per DFT labeling job.")
    local_worker: bool = Field(True, description="Run light analysis as shell jobs.")
    venv: Path = Field(
        default_factory=lambda: Path(sys.prefix),
        description="Python environment with sse-flows, activated by every job.",
    )
    poll_seconds: float = Field(30.0, description="Runner polling interval.")
    exports: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for every job."
    )


def slurm_workers(plan: ClusterPlan) -> dict[str, SlurmWorkerPlan]:
    """Every SLURM worker of a plan by name: gpu and cpu.

    A family with an environment of its own (MACE, DeePMD, MatterSim) needs no worker
    of its own: its jobs run in sse-flows' environment like any other and start the
    model in the family's environment (:mod:`sse_flows.potentials.proxy`), found
    through ``SSE_FLOWS_ENVS_DIR`` (:func:`job_exports`).
    """
    return {"gpu": plan.gpu, "cpu": plan.cpu}


def pre_run_script(venv: Path, modules: list[str], exports: dict[str, str]) -> str:
    """Return the shell lines run before each job: modules, venv, exports."""
    lines = [f"module load {m}" for m in modules]
    lines.append(f"source {venv}/bin/activate")
    lines += [f"export {key}={value}" for key, value in sorted(exports.items())]
    return "\n".join(lines)


def job_exports(settings: SSEFlowsSettings, extra: dict[str, str]) -> dict[str, str]:
    """Return the settings every job needs to find its store, scratch and weights."""
    exports = {
        "SSE_FLOWS_STORE": settings.store,
        "SSE_FLOWS_WORK_DIR": str(settings.work_dir),
        "SSE_FLOWS_WEIGHTS_DIR": str(settings.weights_dir),
        "SSE_FLOWS_DB": str(settings.db),
        "SSE_FLOWS_ENVS_DIR": str(settings.envs_dir),
        "SSE_FLOWS_PROGRESS": "false",
    }
    return {**exports, **extra}


def _queue_store(plan: ClusterPlan, settings: SSEFlowsSettings) -> dict[str, Any]:
    if plan.queue == "memory":
        return {"type": "MemoryStore", "collection_name": QUEUE_COLLECTION}
    if settings.mongo_uri:
        from maggma.stores import MongoStore

        store = MongoStore.from_uri(
            settings.mongo_uri,
            collection_name=QUEUE_COLLECTION,
            database=settings.mongo_database,
        )
        return store.as_dict()
    return {
        "type": "MongoStore",
        "host": settings.mongo_host,
        "port": settings.mongo_port,
        "database": settings.mongo_database,
        "username": settings.mongo_username or "",
        "password": settings.mongo_password or "",
        "collection_name": QUEUE_COLLECTION,
    }


def build_project(plan: ClusterPlan, settings: SSEFlowsSettings | None = None) -> dict:
    """Return the jobflow-remote project as a plain dict (what the YAML file holds)."""
    from sse_flows.stores import get_job_store

    settings = settings or get_settings()
    if plan.queue == "mongodb" and settings.store != "mongo":
        raise SSEFlowsError(
            "a MongoDB queue needs the outputs in MongoDB too: set SSE_FLOWS_STORE=mongo "
            "and SSE_FLOWS_MONGO_URI (or host/port) before `sse-flows cluster init`"
        )
    exports = job_exports(settings, plan.exports)
    work = settings.work_dir / "cluster"

    def slurm_worker(name: str, worker: SlurmWorkerPlan) -> dict[str, Any]:
        return {
            "type": "local",
            "scheduler_type": "slurm",
            "work_dir": str(work / name),
            "resources": worker.resources(),
            "pre_run": pre_run_script(worker.venv or plan.venv, worker.modules, exports),
            "timeout_execute": 120,
        }

    workers = {
        name: slurm_worker(name, worker) for name, worker in slurm_workers(plan).items()
    }
    if plan.local_worker:
        workers["local"] = {
            "type": "local",
            "scheduler_type": "shell",
            "work_dir": str(work / "local"),
            "pre_run": pre_run_script(plan.venv, [], exports),
            "timeout_execute": 120,
        }
    dft_resources = {**plan.cpu.resources(), "ntasks": plan.dft_ranks, "cpus_per_task": 1}
    delay = plan.poll_seconds
    return {
        "name": plan.name,
        "base_dir": str(settings.work_dir / "jfremote" / plan.name),
        "workers": workers,
        "queue": {"store": _queue_store(plan, settings)},
        "jobstore": get_job_store(settings).as_dict(),
        "runner": {
            "delay_checkout": delay,
            "delay_check_run_status": delay,
            "delay_advance_status": delay,
            "delta_retry": [delay, 10 * delay, 40 * delay],
        },
        "metadata": {
            SSE_METADATA_KEY: {
                "routes": {role.value: w for role, w in DEFAULT_ROUTES.items()},
                "role_resources": {JobRole.DFT.value: dft_resources},
                "queue": plan.queue,
            }
        },
    }


def projects_folder() -> Path:
    """Folder jobflow-remote reads projects from (JFREMOTE_PROJECTS_FOLDER)."""
    import jobflow_remote

    return Path(jobflow_remote.SETTINGS.projects_folder).expanduser()


def write_project(
    plan: ClusterPlan,
    folder: Path | None = None,
    settings: SSEFlowsSettings | None = None,
    overwrite: bool = False,
) -> Path:
    """Validate the project with jobflow-remote and write ``<folder>/<name>.yaml``."""
    from jobflow_remote.config.base import Project

    project = build_project(plan, settings)
    Project.model_validate(project)  # fail here, not when the runner starts
    folder = (folder or projects_folder()).expanduser()
    path = folder / f"{plan.name}.yaml"
    if path.exists() and not overwrite:
        raise SSEFlowsError(f"{path} exists; pass --force to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path
