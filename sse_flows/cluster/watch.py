"""Watching a submission: each job's state as SLURM sees it; a fast stop if it cannot run.

jobflow-remote's runner submits the jobs and follows them; it does not read why a job
stays pending. Here, between the runner's steps, the jobs of one flow are matched with
``squeue``: a state change is reported (queued with SLURM's reason, running,
completed, failed, with the SLURM job id), and a job SLURM can never start (its
pending reason, or ``sbatch`` refusing it) ends the submission with SLURM's words and
the ``cluster init`` option that fixes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sse_flows.cluster.slurm import (
    QueueState,
    SlurmInfo,
    fatal_reason,
    queue_states,
)
from sse_flows.errors import SSEFlowsError

if TYPE_CHECKING:
    from jobflow_remote.jobs.data import JobInfo
    from jobflow_remote.jobs.jobcontroller import JobController

#: the cluster init options that set each request, per kind of worker
OPTIONS = {
    "gpu": {
        "cpus": "--gpu-cpus",
        "gpus": "--gpus",
        "time": "--gpu-time",
        "partition": "--gpu-partition",
    },
    "cpu": {
        "cpus": "--dft-ranks",
        "gpus": "--gpus",
        "time": "--cpu-time",
        "partition": "--cpu-partition",
    },
}
#: jobflow-remote states in words a user reads
WORDS = {
    "WAITING": "waiting for its inputs",
    "READY": "ready",
    "CHECKED_OUT": "submitting",
    "UPLOADED": "submitting",
    "SUBMITTED": "queued",
    "RUNNING": "running",
    "RUN_FINISHED": "finishing",
    "DOWNLOADED": "finishing",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "REMOTE_ERROR": "failed to submit",
    "STOPPED": "stopped",
    "USER_STOPPED": "cancelled",
    "PAUSED": "paused",
}
ACTIVE = ("SUBMITTED", "RUNNING")


class SubmissionError(SSEFlowsError):
    """A submitted flow cannot finish: SLURM refuses a job, or time ran out."""


def explain(worker: str, resources: dict[str, Any], info: SlurmInfo | None) -> str:
    """Which request of a worker exceeds its partition, and the option that fixes it."""
    options = OPTIONS["cpu" if worker == "cpu" else "gpu"]
    fix = "then `sse-flows cluster init --force` with it and submit again"
    partition = info.partitions.get(resources.get("partition", "")) if info else None
    if partition is None:
        return (
            f"check the {worker} worker's request ({options['partition']}, "
            f"{options['cpus']}, {options['gpus']}, {options['time']}), {fix}"
        )
    cpus = int(resources.get("ntasks", 1)) * int(resources.get("cpus_per_task", 1))
    gres = str(resources.get("gres", ""))
    gpus = int(gres.split(":")[-1]) if gres.startswith("gpu") else 0
    if cpus > partition.cpus_per_node:
        return (
            f"the {worker} worker asks {cpus} CPUs per job and the nodes of partition "
            f"'{partition.name}' have {partition.cpus_per_node}: use "
            f"{options['cpus']} {partition.cpus_per_node} (or fewer), {fix}"
        )
    if gpus > partition.gpus_per_node:
        return (
            f"the {worker} worker asks {gpus} GPUs per job and the nodes of partition "
            f"'{partition.name}' have {partition.gpus_per_node}: use {options['gpus']} "
            f"{partition.gpus_per_node}, {fix}"
        )
    time_asked = str(resources.get("time", ""))
    if time_asked and not partition.time_allows(time_asked):
        return (
            f"the {worker} worker asks {time_asked} and partition '{partition.name}' "
            f"allows {partition.max_time}: lower {options['time']}, {fix}"
        )
    return (
        f"check the {worker} worker's request against partition '{partition.name}', {fix}"
    )


@dataclass
class JobView:
    """What is shown of one job."""

    name: str
    worker: str
    slurm_id: str | None
    words: str

    def line(self) -> str:
        """One line of the live report."""
        slurm = self.slurm_id or "-"
        return f"  {self.name:24s} {self.worker:6s} slurm {slurm:8s} {self.words}"


@dataclass
class QueueWatcher:
    """Follow one flow's jobs; report changes; raise when one can never run."""

    controller: JobController
    flow_uuid: str
    report: Callable[[str], None]
    resources: dict[str, dict[str, Any]]  # worker -> its SLURM request
    info: SlurmInfo | None = None
    timeout: float | None = None
    started: float = field(default_factory=time.monotonic)
    shown: dict[str, str] = field(default_factory=dict)

    def poll(self) -> None:
        """Look once; report what changed; raise SubmissionError if a job cannot run."""
        infos = self.controller.get_jobs_info(flow_ids=self.flow_uuid, sort=[("db_id", 1)])
        ids = [i.remote.process_id for i in infos if i.state.value in ACTIVE]
        queue = queue_states([i for i in ids if i])
        for info in infos:
            view = self._view(info, queue)
            if self.shown.get(info.uuid) != view.line():
                self.shown[info.uuid] = view.line()
                self.report(view.line())
            self._refuse(info, queue)
        if self.timeout is not None and time.monotonic() - self.started > self.timeout:
            raise SubmissionError(
                f"timed out after {self.timeout:g} s (--timeout); the jobs still queued "
                "or running were cancelled"
            )

    def _view(self, info: JobInfo, queue: dict[str, QueueState]) -> JobView:
        slurm_id = info.remote.process_id
        words = WORDS.get(info.state.value, info.state.value.lower())
        seen = queue.get(slurm_id or "")
        if seen is not None and seen.state == "PENDING":
            # "None" is SLURM's word for a job its scheduler has not looked at yet
            words = "queued" if seen.reason in ("", "None") else f"queued ({seen.reason})"
        elif seen is not None:
            words = seen.state.lower()
        return JobView(info.name, info.worker, slurm_id, words)

    def _refuse(self, info: JobInfo, queue: dict[str, QueueState]) -> None:
        resources = self.resources.get(info.worker, {})
        seen = queue.get(info.remote.process_id or "")
        nodes = self.info.nodes if self.info else None
        reason = fatal_reason(seen, nodes) if seen is not None else None
        if reason is not None:
            raise SubmissionError(
                f"job '{info.name}' (SLURM job {seen.job_id if seen else '?'}) can never "
                f"start: SLURM says {reason}. {explain(info.worker, resources, self.info)}"
            )
        error = info.remote.error or ""
        if info.state.value == "REMOTE_ERROR" or "submission failed" in error.lower():
            last = [line for line in error.strip().splitlines() if line.strip()]
            raise SubmissionError(
                f"SLURM refused job '{info.name}': {last[-1] if last else error}. "
                f"{explain(info.worker, resources, self.info)}"
            )
