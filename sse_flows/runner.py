"""Run flows on this machine and keep a record of each run (state, errors, the flow).

jobflow's ``run_locally`` stores outputs of the jobs that succeed and only logs the
others; the record kept here says which jobs failed and why, and holds the serialised
flow so ``resume`` can rerun what did not finish (an MD job then continues from its
checkpoint, because rerun jobs keep their uuids).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from datetime import datetime
from typing import Any, Literal
from uuid import uuid4

from jobflow import Flow, Job, JobStore, Response, run_locally
from maggma.core import Store
from monty.json import jsanitize
from pydantic import BaseModel, Field

from sse_flows.errors import SSEFlowsError
from sse_flows.provenance import now_utc
from sse_flows.settings import SSEFlowsSettings, get_settings
from sse_flows.stores import get_job_store, get_runs_store

UUID_VALUE = re.compile(
    r'"(?:uuid|@uuid)": "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"'
)

State = Literal["RUNNING", "COMPLETED", "FAILED", "KILLED", "SUBMITTED"]


class JobRecord(BaseModel):
    """State of one job of a run."""

    uuid: str
    name: str
    index: int = Field(1, description="Job index (a replacing job shares the uuid).")
    created_by: str | None = Field(
        None,
        description="uuid of the job that created it while the flow ran (replace, "
        "detour, addition); None for jobs of the flow as built.",
    )
    state: State | Literal["WAITING"] = "WAITING"
    error: str | None = None
    worker: str | None = Field(None, description="jobflow-remote worker, if submitted.")
    queue_id: str | None = Field(None, description="SLURM job id, if submitted.")
    cluster_state: str | None = Field(None, description="Last jobflow-remote state.")


class RunRecord(BaseModel):
    """One run of a flow by the CLI or :func:`run_flow`."""

    flow_uuid: str = Field(description="uuid of the flow.")
    name: str = Field(description="Flow name.")
    state: State = Field(
        description="RUNNING, COMPLETED, FAILED, KILLED (process gone) or SUBMITTED "
        "(handed to a jobflow-remote runner daemon)."
    )
    started_at: datetime = Field(default_factory=now_utc)
    ended_at: datetime | None = None
    output_job: str | None = Field(
        None, description="uuid of the job giving the flow output."
    )
    output_jobs: list[str] = Field(
        default_factory=list,
        description="uuids of the jobs whose outputs form a list output (series flows).",
    )
    jobs: list[JobRecord] = Field(default_factory=list)
    spec: dict[str, Any] | None = Field(None, description="The spec file contents, if any.")
    host: str = Field(default_factory=socket.gethostname, description="Host running it.")
    pid: int = Field(default_factory=os.getpid, description="Process running it.")
    project: str | None = Field(
        None, description="jobflow-remote project it was submitted to (None: run here)."
    )
    flow: dict[str, Any] = Field(description="The serialised flow, for resume.")

    @classmethod
    def for_flow(
        cls, flow: Flow, state: State, spec: dict[str, Any] | None = None, **fields: Any
    ) -> RunRecord:
        """Open a record of ``flow``: its outputs, jobs and the serialised flow."""
        fields.setdefault(
            "jobs", [JobRecord(uuid=j.uuid, name=j.name) for j, _ in flow.iterflow()]
        )
        return cls(
            flow_uuid=flow.uuid,
            name=flow.name,
            state=state,
            output_job=_output_uuid(flow),
            output_jobs=_output_uuids(flow),
            spec=spec,
            flow=jsanitize(flow.as_dict(), strict=True, allow_bson=True),
            **fields,
        )

    def save(self, runs: Store) -> None:
        """Write (or replace) this record in the run store."""
        runs.update(
            jsanitize(self.model_dump(), strict=True, allow_bson=True), key="flow_uuid"
        )


class _FailureCollector(logging.Handler):
    """Collect the tracebacks run_locally logs for failing jobs."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.errors: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " failed with exception:\n" in message:
            name, _, trace = message.partition(" failed with exception:\n")
            last = [line for line in trace.strip().splitlines() if line.strip()]
            self.errors.setdefault(name, last[-1] if last else trace)


def _output_uuid(flow: Flow) -> str | None:
    output = flow.output
    return getattr(output, "uuid", None)


def _output_uuids(flow: Flow) -> list[str]:
    """Jobs behind a list output (one document per series member)."""
    output = flow.output
    if not isinstance(output, list | tuple):
        return []
    return [u for u in (getattr(o, "uuid", None) for o in output) if u is not None]


def _completed(store: JobStore, uuid: str, index: int | None = None) -> bool:
    query: dict[str, Any] = {"uuid": uuid}
    if index is not None:
        query["index"] = index
    return store.query_one(query, properties=["uuid"]) is not None


def _dynamic_jobs(
    responses: dict[str, dict[int, Response]],
) -> list[tuple[Job, str]]:
    """Jobs that jobs created while running (replace, detour, addition).

    ``run_locally`` runs them but they are not in the flow as built: without them a
    failure inside a replacement flow would leave the run looking complete.
    """
    found: list[tuple[Job, str]] = []
    for creator, by_index in responses.items():
        for response in by_index.values():
            for part in (response.replace, response.detour, response.addition):
                parts = part if isinstance(part, list | tuple) else [part]
                for item in parts:
                    if isinstance(item, Flow):
                        found += [(j, creator) for j, _ in item.iterflow()]
                    elif isinstance(item, Job):
                        found.append((item, creator))
    return found


def _pending(flow_jobs: list[Job], record: RunRecord, store: JobStore) -> list[Job]:
    """Jobs of the flow to (re)run: no output yet, or a job they created failed.

    A job whose replacement failed has its own output stored; running it again
    builds the replacement again.
    """
    creators = {j.uuid: j.created_by for j in record.jobs if j.created_by}
    broken = set()
    for failed in (j for j in record.jobs if j.created_by and j.state == "FAILED"):
        uuid = failed.uuid
        while uuid in creators and creators[uuid] != uuid:  # up to a job as built
            uuid = creators[uuid]
        broken.add(uuid)
    return [j for j in flow_jobs if j.uuid in broken or not _completed(store, j.uuid)]


def _execute(
    flow: Flow, record: RunRecord, store: JobStore, runs: Store, settings: SSEFlowsSettings
) -> RunRecord:
    jobs = [j for j, _ in flow.iterflow()]
    pending = _pending(jobs, record, store)
    record.jobs = [JobRecord(uuid=j.uuid, name=j.name, index=j.index) for j in jobs]
    record.save(runs)
    if len(pending) < len(jobs):
        for job in pending:  # detach from the stored flow so a new flow can hold them
            job.hosts = []
    collector = _FailureCollector()
    logger = logging.getLogger("jobflow.managers.local")
    logger.addHandler(collector)
    previous_level, previous_disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)
    # jobflow-remote's log set-up (dictConfig) disables loggers that exist already
    logger.disabled = False
    root = settings.work_dir / "jobs"
    root.mkdir(parents=True, exist_ok=True)
    responses: dict[str, dict[int, Response]] = {}
    try:
        if pending:
            responses = run_locally(
                Flow(list[Job | Flow](pending), name=flow.name)
                if len(pending) < len(jobs)
                else flow,
                store=store,
                create_folders=False,
                root_dir=root,
                log=False,
                allow_external_references=True,
            )
    finally:
        logger.removeHandler(collector)
        logger.setLevel(previous_level)
        logger.disabled = previous_disabled
    record.jobs += [
        JobRecord(uuid=j.uuid, name=j.name, index=j.index, created_by=creator)
        for j, creator in _dynamic_jobs(responses)
    ]
    for job_record in record.jobs:
        if _completed(store, job_record.uuid, job_record.index):
            job_record.state, job_record.error = "COMPLETED", None
        else:
            job_record.state = "FAILED"
            job_record.error = collector.errors.get(
                job_record.name, "not run: a job it depends on failed"
            )
    record.state = (
        "COMPLETED" if all(j.state == "COMPLETED" for j in record.jobs) else "FAILED"
    )
    record.ended_at = now_utc()
    record.save(runs)
    return record


def run_flow(
    flow: Flow, spec: dict[str, Any] | None = None, settings: SSEFlowsSettings | None = None
) -> RunRecord:
    """Run a flow on the configured store and return its run record."""
    settings = settings or get_settings()
    store, runs = get_job_store(settings), get_runs_store(settings)
    store.connect()
    runs.connect()
    try:
        record = RunRecord.for_flow(flow, "RUNNING", spec)
        return _execute(flow, record, store, runs, settings)
    finally:
        store.close()
        runs.close()


def resume_flow(flow_uuid: str, settings: SSEFlowsSettings | None = None) -> RunRecord:
    """Rerun the jobs of a recorded flow that have no output in the store yet."""
    settings = settings or get_settings()
    record = load_run(flow_uuid, settings)
    store, runs = get_job_store(settings), get_runs_store(settings)
    store.connect()
    runs.connect()
    try:
        flow = Flow.from_dict(record.flow)
        assert isinstance(flow, Flow)
        record.state = "RUNNING"
        record.ended_at = None
        record.host, record.pid = socket.gethostname(), os.getpid()
        return _execute(flow, record, store, runs, settings)
    finally:
        store.close()
        runs.close()


def load_run(flow_uuid: str, settings: SSEFlowsSettings | None = None) -> RunRecord:
    """Return the run record of a flow, or say how to find one."""
    runs = get_runs_store(settings or get_settings())
    runs.connect()
    try:
        doc = runs.query_one({"flow_uuid": flow_uuid})
    finally:
        runs.close()
    if doc is None:
        raise SSEFlowsError(f"No run with flow uuid {flow_uuid}; see `sse-flows status`.")
    doc.pop("_id", None)
    return RunRecord.model_validate(doc)


def renewed_flow(flow: dict[str, Any]) -> Flow:
    """Return the stored flow with fresh uuids, so a rerun adds results, not replaces.

    Job, flow and reference uuids are swapped consistently in the serialised flow;
    everything else (structures, maker settings, potential spec) stays as recorded.
    """
    text = json.dumps(flow)
    for old in sorted(set(UUID_VALUE.findall(text))):
        text = text.replace(old, str(uuid4()))
    renewed = Flow.from_dict(json.loads(text))
    assert isinstance(renewed, Flow)
    return renewed


def rerun_flow(flow_uuid: str, settings: SSEFlowsSettings | None = None) -> RunRecord:
    """Run a recorded flow again from the store alone, as a new flow."""
    settings = settings or get_settings()
    record = load_run(flow_uuid, settings)
    flow = renewed_flow(record.flow)
    flow.name = record.name
    spec = dict(record.spec or {})
    spec["rerun_of"] = flow_uuid
    return run_flow(flow, spec=spec, settings=settings)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, another user's
        return True
    return True


def list_runs(settings: SSEFlowsSettings | None = None) -> list[RunRecord]:
    """Return every run record, newest first, with job states read from the store.

    A run whose process died (killed, node lost) still says RUNNING in its record;
    it is reported as KILLED when its process is gone from this host.
    """
    settings = settings or get_settings()
    runs, store = get_runs_store(settings), get_job_store(settings)
    runs.connect()
    store.connect()
    try:
        records = []
        for doc in runs.query(sort={"started_at": -1}):
            doc.pop("_id", None)
            record = RunRecord.model_validate(doc)
            if record.state == "RUNNING":
                for job in record.jobs:
                    if job.state != "COMPLETED" and _completed(store, job.uuid, job.index):
                        job.state = "COMPLETED"
                if record.host == socket.gethostname() and not _process_alive(record.pid):
                    record.state = "KILLED"
            records.append(record)
    finally:
        runs.close()
        store.close()
    return records


def _has_reference(value: Any) -> bool:
    """Tell whether an output is, or holds, a reference to other jobs' outputs."""
    if isinstance(value, dict):
        return value.get("@class") == "OutputReference" or any(
            _has_reference(v) for v in value.values()
        )
    if isinstance(value, list | tuple):
        return any(_has_reference(v) for v in value)
    return False


def get_output(
    uuid: str, settings: SSEFlowsSettings | None = None
) -> dict[str, Any] | None:
    """Return the stored output of a job (or of a flow's output job) as a plain dict."""
    settings = settings or get_settings()
    store = get_job_store(settings)
    store.connect()
    try:
        doc = store.query_one({"uuid": uuid}, sort={"index": -1}, load=True)
        if doc is None:
            run = next((r for r in list_runs(settings) if r.flow_uuid == uuid), None)
            if run is not None and run.output_job:
                uuid = run.output_job
                doc = store.query_one({"uuid": uuid}, sort={"index": -1}, load=True)
        if doc is not None and _has_reference(doc.get("output")):
            # a job replaced by a flow (dynamic fan-out) points at the flow's output
            output = store.get_output(uuid, which="last", load=True)
            doc["output"] = jsanitize(
                output, strict=True, allow_bson=True, enum_values=True
            )
    finally:
        store.close()
    if doc is not None:
        doc.pop("_id", None)
    return doc
