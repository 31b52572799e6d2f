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
from typing import Any
from uuid import uuid4

from jobflow import Flow, Job, JobStore, Response, run_locally
from maggma.core import Store

from sse_flows.provenance import now_utc
from sse_flows.quiet import harmless
from sse_flows.records import JobRecord, RunRecord, completed, flow_jobs, load_run
from sse_flows.settings import SSEFlowsSettings, get_settings
from sse_flows.stores import get_job_store, get_runs_store

UUID_VALUE = re.compile(
    r'"(?:uuid|@uuid)": "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"'
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
                        found += [(j, creator) for j in flow_jobs(item)]
                    elif isinstance(item, Job):
                        found.append((item, creator))
    return found


def _pending(flow_jobs: list[Job], record: RunRecord, store: JobStore) -> list[Job]:
    """Jobs of the flow to (re)run: no output yet, or a job they created failed.

    A job whose replacement failed has its own output stored; running it again
    builds the replacement again.
    """
    # a replacement flow with an output adds a job under its creator's own uuid
    # (created_by == uuid): it must not hide who created the creator
    creators = {
        j.uuid: j.created_by for j in record.jobs if j.created_by and j.created_by != j.uuid
    }
    broken = set()
    for failed in (j for j in record.jobs if j.created_by and j.state == "FAILED"):
        uuid = failed.uuid
        while uuid in creators:  # up to a job as built
            uuid = creators[uuid]
        broken.add(uuid)
    return [j for j in flow_jobs if j.uuid in broken or not completed(store, j.uuid)]


def _execute(
    flow: Flow, record: RunRecord, store: JobStore, runs: Store, settings: SSEFlowsSettings
) -> RunRecord:
    jobs = flow_jobs(flow)
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
            with harmless("jobflow-cd", "jobflow-connected"):
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
        if completed(store, job_record.uuid, job_record.index):
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
