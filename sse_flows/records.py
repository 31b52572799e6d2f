"""Records of flow runs and reading back what the store holds.

A :class:`RunRecord` per flow keeps its state, each job's state and error, the spec
and the serialised flow (for resume and rerun); :func:`list_runs` tells a run whose
process died (KILLED) from one still running; :func:`get_output` reads a job's (or a
flow's) output document.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any, Literal

from jobflow import Flow, Job, JobStore
from maggma.core import Store
from monty.json import jsanitize
from pydantic import BaseModel, Field

from sse_flows.errors import SSEFlowsError
from sse_flows.provenance import now_utc
from sse_flows.quiet import harmless
from sse_flows.settings import SSEFlowsSettings, get_settings
from sse_flows.stores import get_job_store, get_runs_store


def flow_jobs(flow: Flow) -> list[Job]:
    """Every job of a flow in running order; none for a flow of empty flows.

    (jobflow cannot order a flow whose sub-flows are all empty, such as a table flow
    whose potentials were all skipped.)
    """

    def has_jobs(item: Flow | Job) -> bool:
        return isinstance(item, Job) or any(has_jobs(i) for i in item.jobs)

    if not has_jobs(flow):
        return []
    with harmless("jobflow-connected"):
        return [job for job, _ in flow.iterflow()]


def _output_uuid(flow: Flow) -> str | None:
    output = flow.output
    return getattr(output, "uuid", None)


def _output_uuids(flow: Flow) -> list[str]:
    """Jobs behind a list or dict output (series members, one flow per potential)."""
    from jobflow import OutputReference

    def refs(value: Any) -> list[str]:
        if isinstance(value, OutputReference):
            return [value.uuid]
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list | tuple):
            return [uuid for item in value for uuid in refs(item)]
        return []

    output = flow.output
    return [] if isinstance(output, OutputReference) else list(dict.fromkeys(refs(output)))


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
        description="uuids of the jobs whose outputs form a list or dict output (series "
        "members, one flow per potential).",
    )
    jobs: list[JobRecord] = Field(default_factory=list)
    spec: dict[str, Any] | None = Field(None, description="The spec file contents, if any.")
    host: str = Field(default_factory=socket.gethostname, description="Host running it.")
    pid: int = Field(default_factory=os.getpid, description="Process running it.")
    project: str | None = Field(
        None, description="jobflow-remote project it was submitted to (None: run here)."
    )
    error: str | None = Field(
        None,
        description="Why the run stopped as a whole (a job SLURM can never start, a "
        "timeout, an interruption); job errors are on the jobs.",
    )
    flow: dict[str, Any] = Field(description="The serialised flow, for resume.")

    @classmethod
    def for_flow(
        cls, flow: Flow, state: State, spec: dict[str, Any] | None = None, **fields: Any
    ) -> RunRecord:
        """Open a record of ``flow``: its outputs, jobs and the serialised flow."""
        fields.setdefault(
            "jobs", [JobRecord(uuid=j.uuid, name=j.name) for j in flow_jobs(flow)]
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


def completed(store: JobStore, uuid: str, index: int | None = None) -> bool:
    """Whether a job (that index of it, if given) has an output in the store."""
    query: dict[str, Any] = {"uuid": uuid}
    if index is not None:
        query["index"] = index
    return store.query_one(query, properties=["uuid"]) is not None


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
                    if job.state != "COMPLETED" and completed(store, job.uuid, job.index):
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
