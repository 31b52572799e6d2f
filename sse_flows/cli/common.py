"""What the property commands share: fail-fast checks and running a flow on the store."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import typer
from jobflow import Flow, Job


def run_stored(
    work: Flow | Job, spec: dict[str, Any], what: str
) -> tuple[str, dict[str, Any]]:
    """Run a flow (or one job) as a recorded run; return the flow uuid and its output.

    Model packages print on stdout while they load; that goes to stderr so ``--json``
    output stays parseable. A failed run exits with code 1 and the jobs' errors.
    """
    from sse_flows.runner import get_output, run_flow

    flow = work if isinstance(work, Flow) else Flow([work], output=work.output, name=what)
    with contextlib.redirect_stdout(sys.stderr):
        record = run_flow(flow, spec=spec)
    doc = get_output(record.output_job) if record.output_job else None
    if record.state != "COMPLETED" or doc is None:
        errors = "; ".join(f"{j.name}: {j.error}" for j in record.jobs if j.error)
        typer.secho(f"error: {what} failed ({errors or record.state})", fg="red", err=True)
        raise typer.Exit(code=1)
    return record.flow_uuid, doc["output"]
