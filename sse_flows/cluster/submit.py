"""Submit flows to a jobflow-remote project and read back the state of their jobs.

With a MongoDB queue, :func:`submit` adds the flow and returns: the ``jf`` runner
daemon submits the SLURM jobs. With the in-memory queue (no MongoDB), :func:`submit`
also drives jobflow-remote's own ``Runner`` in this process until every job has ended,
then records the run in the sse-flows run store so ``sse-flows status`` shows it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job
from pydantic import BaseModel, Field

from sse_flows.cluster.project import SSE_METADATA_KEY
from sse_flows.cluster.routing import (
    JobRole,
    environments_needed,
    iter_jobs,
    job_role,
    route_flow,
)
from sse_flows.cluster.slurm import cancel, probe_slurm, queue_states
from sse_flows.cluster.watch import QueueWatcher, SubmissionError
from sse_flows.errors import SSEFlowsError
from sse_flows.provenance import now_utc
from sse_flows.quiet import harmless
from sse_flows.records import JobRecord, RunRecord
from sse_flows.settings import SSEFlowsSettings, get_settings
from sse_flows.stores import get_runs_store

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from jobflow_remote.config.base import Project
    from jobflow_remote.jobs.data import JobInfo
    from jobflow_remote.jobs.jobcontroller import JobController
    from jobflow_remote.jobs.runner import Runner

#: jobflow-remote states after which nothing more happens without a user action
FINAL_STATES = ("COMPLETED", "FAILED", "REMOTE_ERROR", "USER_STOPPED", "STOPPED")
#: states of a job that may still change by itself
UNFINISHED = (
    "READY",
    "CHECKED_OUT",
    "UPLOADED",
    "SUBMITTED",
    "RUNNING",
    "RUN_FINISHED",
    "DOWNLOADED",
    "BATCH_SUBMITTED",
    "BATCH_RUNNING",
)


class ClusterJobState(BaseModel):
    """One job of a submitted flow, as the jobflow-remote queue sees it."""

    db_id: str = Field(description="jobflow-remote id of the job.")
    uuid: str
    name: str
    worker: str
    state: str = Field(description="jobflow-remote state, e.g. RUNNING, COMPLETED.")
    queue_id: str | None = Field(None, description="SLURM job id, once submitted.")
    error: str | None = Field(None, description="Last line of the error, if any.")


@dataclass
class Submission:
    """What :func:`submit` did."""

    project: str
    flow_uuid: str
    db_ids: list[str]
    workers: dict[str, str]
    waited: bool = False
    jobs: list[ClusterJobState] = field(default_factory=list)
    error: str | None = None

    @property
    def state(self) -> str:
        """COMPLETED when every job completed, FAILED when one ended otherwise."""
        if not self.waited:
            return "SUBMITTED"
        return "COMPLETED" if all(j.state == "COMPLETED" for j in self.jobs) else "FAILED"


def load_project(name: str | None = None) -> Project:
    """Return a jobflow-remote project by name (default: the current one)."""
    from jobflow_remote import ConfigManager
    from jobflow_remote.config.base import ProjectUndefinedError

    try:
        return ConfigManager().get_project(name)
    except ProjectUndefinedError as exc:
        raise SSEFlowsError(
            f"no jobflow-remote project {name or ''} ({exc}); write one with "
            "`sse-flows cluster init`"
        ) from exc


def _sse_metadata(project: Project) -> dict[str, Any]:
    return dict((project.metadata or {}).get(SSE_METADATA_KEY, {}))


def uses_memory_queue(project: Project) -> bool:
    """Tell whether the queue lives in this process only (no MongoDB)."""
    return project.queue.store.get("type") == "MemoryStore"


def _route(flow: Flow | Job, project: Project, worker: str | None) -> dict[str, str]:
    from jobflow_remote import set_run_config

    meta = _sse_metadata(project)
    routes = {JobRole(k): v for k, v in meta.get("routes", {}).items()}
    chosen = route_flow(flow, project.workers, routes=routes, worker=worker)
    dft_resources = meta.get("role_resources", {}).get(JobRole.DFT.value)
    jobs = list(iter_jobs(flow))
    for job in jobs:
        if dft_resources and job_role(job) == JobRole.DFT and worker is None:
            set_run_config(job, resources=dict(dft_resources), dynamic=True)
    return chosen


def check_environments(flow: Flow | Job) -> None:
    """Fail before submitting when a job will need a family environment not built.

    The project's workers are local to this machine's SLURM (``cluster init``), so
    the environments they will start are the ones ``SSE_FLOWS_ENVS_DIR`` holds here.
    """
    from sse_flows.potentials.environments import env_status

    for name, jobs in environments_needed(flow).items():
        if not env_status(name).ready:
            shown = ", ".join(sorted(set(jobs))[:5])
            raise SubmissionError(
                f"jobs {shown} run their model in environment '{name}', which is not "
                f"built here. run: sse-flows env create {name}"
            )


def _last_line(text: str | None) -> str | None:
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def flow_states(controller: JobController, flow_uuid: str) -> list[ClusterJobState]:
    """Return the jobs of a flow with their jobflow-remote and SLURM state."""
    infos = controller.get_jobs_info(flow_ids=flow_uuid, sort=[("db_id", 1)])
    return [_state(info) for info in infos]


def _state(info: JobInfo) -> ClusterJobState:
    return ClusterJobState(
        db_id=info.db_id,
        uuid=info.uuid,
        name=info.name,
        worker=info.worker,
        state=info.state.value,
        queue_id=info.remote.process_id,
        error=_last_line(info.error or info.remote.error),
    )


def queued_jobs(project: Project, limit: int = 200) -> list[ClusterJobState]:
    """Return the newest jobs of a project's (MongoDB) queue."""
    from jobflow_remote.jobs.jobcontroller import JobController

    controller = JobController.from_project(project)
    infos = controller.get_jobs_info(sort=[("updated_on", -1)], limit=limit)
    return [_state(info) for info in infos]


def _finished_jobs(submission: Submission) -> list[JobRecord]:
    """Job records of a finished in-process submission, with workers and SLURM ids."""
    jobs = []
    for state in submission.jobs:
        error = state.error
        if state.state == "WAITING":
            error = "not run: a job it depends on failed"
        jobs.append(
            JobRecord(
                uuid=state.uuid,
                name=state.name,
                state="COMPLETED" if state.state == "COMPLETED" else "FAILED",
                error=error,
                worker=state.worker,
                queue_id=state.queue_id,
                cluster_state=state.state,
            )
        )
    return jobs


def submit(
    flow: Flow | Job,
    project_name: str | None = None,
    worker: str | None = None,
    spec: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    settings: SSEFlowsSettings | None = None,
    report: Callable[[str], None] | None = None,
) -> Submission:
    """Route the flow's jobs to the project's workers and add it to the queue.

    With the in-memory queue the runner runs here until every job has ended (at most
    ``timeout`` seconds), ``report`` gets a line per change of a job's state, and the
    run is recorded for ``sse-flows status``. :class:`SubmissionError` says why it
    stopped early.
    """
    flow = flow if isinstance(flow, Flow) else Flow([flow], name=flow.name)
    project = load_project(project_name)
    check_environments(flow)
    chosen = _route(flow, project, worker)
    first = next(iter(project.workers))
    if not uses_memory_queue(project):
        from jobflow_remote import submit_flow

        db_ids = submit_flow(flow, worker=first, project=project.name)
        jobs = [
            JobRecord(uuid=j.uuid, name=j.name, worker=chosen.get(j.uuid))
            for j in iter_jobs(flow)
        ]  # recorded so that `status` and `rerun` find the flow
        record = RunRecord.for_flow(
            flow, "SUBMITTED", dict(spec) if spec else None, jobs=jobs, project=project.name
        )
        _save(record, settings)
        return Submission(project.name, flow.uuid, db_ids, chosen)
    return _run_here(
        flow, project, first, chosen, spec, timeout, report or _ignore, settings
    )


def _ignore(line: str) -> None:
    """Report nothing."""


def _save(record: RunRecord, settings: SSEFlowsSettings | None) -> None:
    runs = get_runs_store(settings or get_settings())
    runs.connect()
    try:
        record.save(runs)
    finally:
        runs.close()


def _run_here(
    flow: Flow,
    project: Project,
    default_worker: str,
    chosen: dict[str, str],
    spec: Mapping[str, Any] | None,
    timeout: float | None,
    report: Callable[[str], None],
    settings: SSEFlowsSettings | None,
) -> Submission:
    """Submit and follow the flow here until every job has ended (in-memory queue).

    A job SLURM can never start, sbatch refusing a job, the timeout or Ctrl-C end the
    submission: what was queued is cancelled and the run is recorded FAILED with the
    reason, so `sse-flows rerun` can send the stored flow again.
    """
    from jobflow_remote.jobs.runner import Runner

    with harmless("jobflow-remote-makedirs"):
        runner = Runner(project_name=project.name, log_level=None)
    logging.getLogger("jobflow_remote").setLevel(logging.WARNING)
    controller = runner.job_controller
    if controller.auxiliary.find_one({"next_id": {"$exists": True}}) is None:
        # a fresh in-memory queue needs its counters. reset() also tries to index the
        # JobStore, which montydb cannot (no drop_indexes): that warning is harmless.
        quiet = logging.getLogger("jobflow_remote.jobs.jobcontroller")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            controller.reset(max_limit=0)
        finally:
            quiet.setLevel(level)
    db_ids = controller.add_flow(flow, worker=default_worker)
    submission = Submission(project.name, flow.uuid, db_ids, chosen, waited=True)
    record = RunRecord.for_flow(
        flow, "RUNNING", dict(spec) if spec else None, project=project.name
    )
    _save(record, settings)
    watcher = QueueWatcher(
        controller,
        flow.uuid,
        report,
        resources=worker_resources(project),
        info=probe_slurm(),
        timeout=timeout,
    )
    stop = StopRequest()
    try:
        with harmless("jobflow-cd", "jobflow-remote-makedirs"), stop:
            _drive(runner, watcher, stop)
    except (SubmissionError, KeyboardInterrupt) as exc:
        stopped = _stop(controller, flow.uuid)
        reason = str(exc)
        if isinstance(exc, KeyboardInterrupt):
            by = "SIGTERM" if stop.received == signal.SIGTERM else "Ctrl-C"
            reason = f"interrupted ({by})"
        submission.error = f"{reason}; cancelled SLURM jobs: {', '.join(stopped) or 'none'}"
        record.error = submission.error
        raise
    finally:
        submission.jobs = flow_states(controller, flow.uuid)
        record.jobs = _finished_jobs(submission)
        record.state = "COMPLETED" if submission.state == "COMPLETED" else "FAILED"
        record.ended_at = now_utc()
        _save(record, settings)
        if runner.jobstore is not None:
            runner.jobstore.close()
    return submission


class StopRequest:
    """Turn Ctrl-C and SIGTERM into a request the driving loop honours between steps.

    A KeyboardInterrupt raised inside the libraries the loop calls (a store query, a
    queue check) can be swallowed there and the loop would run on; a flag cannot. A
    second Ctrl-C raises at once.
    """

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def check(self) -> None:
        """Raise KeyboardInterrupt once a stop was asked for."""
        if self.received is not None:
            raise KeyboardInterrupt


def _drive(runner: Runner, watcher: QueueWatcher, stop: StopRequest) -> None:
    """jobflow-remote's own loop (``Runner.run_all_jobs``) with the watcher in it."""
    from jobflow_remote.jobs.state import JobState
    from jobflow_remote.utils.schedule import SafeScheduler

    options = runner.runner_options
    states = [
        JobState.CHECKED_OUT.value,
        JobState.RUN_FINISHED.value,
        JobState.DOWNLOADED.value,
        JobState.UPLOADED.value,
    ]
    scheduler = SafeScheduler(seconds_after_failure=120)
    runner.checkout()
    scheduler.every(max(1, int(options.delay_checkout))).seconds.do(runner.checkout)
    runner.check_run_status()
    scheduler.every(max(1, int(options.delay_check_run_status))).seconds.do(
        runner.check_run_status
    )
    runner.advance_state(states)
    scheduler.every(max(1, int(options.delay_advance_status))).seconds.do(
        runner.advance_state, states
    )
    unfinished = {"state": {"$in": [s.value for s in JobState if s.value in UNFINISHED]}}
    while True:
        stop.check()
        scheduler.run_pending()
        stop.check()
        watcher.poll()
        if not runner.job_controller.count_jobs(query=unfinished):
            watcher.poll()  # the last states
            return
        stop.check()
        time.sleep(0.5)


def _stop(controller: JobController, flow_uuid: str) -> list[str]:
    """Cancel the flow's SLURM jobs still queued or running; return their ids."""
    infos = controller.get_jobs_info(flow_ids=flow_uuid)
    # every id SLURM was given: a job may have left SUBMITTED for RUNNING a moment ago
    ids = [str(i.remote.process_id) for i in infos if i.remote.process_id]
    queued = list(queue_states(ids))
    left = cancel(queued)
    controller.stop_jobs(flow_ids=flow_uuid, raise_on_error=False, break_lock=True)
    if left:
        log.warning("SLURM still lists jobs %s after scancel", ", ".join(left))
    return queued


def worker_resources(project: Project) -> dict[str, dict[str, Any]]:
    """Each SLURM worker's request (for messages about what SLURM refused)."""
    resources = {}
    for name, worker in project.workers.items():
        values = getattr(worker, "resources", None) or {}
        resources[name] = dict(values)
    dft = _sse_metadata(project).get("role_resources", {}).get(JobRole.DFT.value)
    if dft and "cpu" in resources:
        resources["cpu"] = {**resources["cpu"], **dft}
    return resources
