"""Run a table flow with the project's runner and say what did not finish.

The runner records the jobs a row's ordering job builds at run time (jobflow
``replace``) as well as the flow as built, so a failure inside a row's property flow
fails the run; here the failed jobs are listed by name, with the job that built them.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow


@dataclass
class TableRun:
    """Outcome of one table flow (one potential)."""

    name: str
    state: str  # COMPLETED, FAILED or SKIPPED
    flow_uuid: str | None = None
    skipped: str | None = None
    errors: list[str] = field(default_factory=list)


def run_table_flow(
    flow: Flow, spec: dict[str, Any] | None = None, quiet_stdout: bool = True
) -> TableRun:
    """Run the flow on the configured store; a skipped (empty) flow is not run.

    ``quiet_stdout`` sends what model packages print while loading to stderr, so the
    caller's stdout holds only its own output (the table).
    """
    from sse_flows.runner import run_flow

    skipped = (flow.metadata or {}).get("skipped")
    if skipped:
        return TableRun(name=flow.name, state="SKIPPED", skipped=skipped)
    redirect = (
        contextlib.redirect_stdout(sys.stderr) if quiet_stdout else contextlib.nullcontext()
    )
    with redirect:
        record = run_flow(flow, spec=spec)
    names = {j.uuid: j.name for j in record.jobs if j.created_by is None}
    errors = []
    for job in record.jobs:
        if job.state != "FAILED":
            continue
        creator = job.created_by
        built_by = f" (built by {names.get(creator, creator)})" if creator else ""
        errors.append(f"{job.name}{built_by}: {job.error}")
    return TableRun(
        name=flow.name, state=record.state, flow_uuid=record.flow_uuid, errors=errors
    )
