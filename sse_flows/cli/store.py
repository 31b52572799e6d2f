"""Running specs and reading back what the store holds: run, resume, rerun, status, show."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.app import command, dumps, fail, run_spec_quietly
from sse_flows.errors import SSEFlowsError


def summary_of(doc: dict[str, Any]) -> str:
    """Readable lines of a stored job document (its document's own summary)."""
    from sse_flows.documents import as_document

    out = doc.get("output", doc)
    header = f"job {doc.get('uuid', '?')} ({doc.get('name', '?')})"
    try:
        lines = as_document(out).summary_lines()
    except (ValueError, TypeError):
        return f"{header}: {out.get('task_type', '?') if isinstance(out, dict) else out}"
    return "\n".join([f"{header}: {lines[0]}", *lines[1:]])


@command()
def run(
    spec: Annotated[Path, typer.Argument(help="Flow specification YAML file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the output as JSON.")
    ] = False,
) -> None:
    """Run the flow a YAML spec describes, locally, on the configured store."""
    from sse_flows.records import get_output
    from sse_flows.spec import FlowSpec

    try:
        record = run_spec_quietly(FlowSpec.from_file(spec))
    except SSEFlowsError as exc:
        fail(exc)
    output = get_output(record.output_job) if record.output_job else None
    members = [d for d in (get_output(u) for u in record.output_jobs) if d is not None]
    if as_json:
        payload: dict[str, Any] = {
            "run": record.model_dump(exclude={"flow"}),
            "output": output,
        }
        if members:
            payload["outputs"] = members
        typer.echo(dumps(payload))
    else:
        typer.echo(f"flow {record.flow_uuid} '{record.name}': {record.state}")
        for job in record.jobs:
            line = f"  {job.name:12s} {job.uuid}  {job.state}"
            typer.echo(line + (f"  error: {job.error}" if job.error else ""))
        for doc in [output, *members]:
            if doc is not None:
                typer.echo(summary_of(doc))
    if record.state != "COMPLETED":
        typer.echo(
            f"fix the cause above, then continue with: sse-flows resume {record.flow_uuid}",
            err=True,
        )
        raise typer.Exit(code=1)


@command()
def resume(
    flow_uuid: Annotated[str, typer.Argument(help="uuid of a recorded flow.")],
) -> None:
    """Rerun the unfinished jobs of a flow (MD continues from its checkpoint)."""
    from sse_flows.runner import resume_flow

    try:
        with contextlib.redirect_stdout(sys.stderr):
            record = resume_flow(flow_uuid)
    except SSEFlowsError as exc:
        fail(exc)
    typer.echo(f"flow {record.flow_uuid} '{record.name}': {record.state}")
    for job in record.jobs:
        typer.echo(
            f"  {job.name:12s} {job.uuid}  {job.state}"
            + (f"  {job.error}" if job.error else "")
        )
    if record.state != "COMPLETED":
        raise typer.Exit(code=1)


@command()
def rerun(
    flow_uuid: Annotated[str, typer.Argument(help="uuid of a recorded flow.")],
    project: Annotated[
        str | None,
        typer.Option(
            help="Submit the rerun to this jobflow-remote project (default: the one "
            "the flow was submitted to; none: run here)."
        ),
    ] = None,
    here: Annotated[
        bool, typer.Option("--here", help="Run here even if it was submitted before.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(help="With a project: cancel what is still queued after this many s."),
    ] = None,
) -> None:
    """Run a recorded flow again from the store alone, as a new flow with new uuids."""
    from sse_flows.records import load_run
    from sse_flows.runner import renewed_flow, rerun_flow

    try:
        old = load_run(flow_uuid)
    except SSEFlowsError as exc:
        fail(exc)
    project = None if here else (project or old.project)
    if project is not None:
        from sse_flows.cli.cluster import submit_and_show

        flow = renewed_flow(old.flow)
        typer.echo(f"flow {flow_uuid} rerun as {flow.uuid} on project {project}")
        submit_and_show(flow, project, spec=old.spec, timeout=timeout)
        return
    try:
        with contextlib.redirect_stdout(sys.stderr):
            record = rerun_flow(flow_uuid)
    except SSEFlowsError as exc:
        fail(exc)
    typer.echo(f"flow {flow_uuid} rerun as {record.flow_uuid}: {record.state}")
    if record.state != "COMPLETED":
        raise typer.Exit(code=1)


@command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    project: Annotated[
        str | None,
        typer.Option(help="Also list the jobs queued in this jobflow-remote project."),
    ] = None,
) -> None:
    """Show the recorded flow runs and the state of their jobs."""
    from sse_flows.records import list_runs

    records = list_runs()
    queued = _queued_jobs(project) if project else []
    if as_json:
        payload: Any = [r.model_dump(exclude={"flow", "spec"}) for r in records]
        if project:
            payload = {"runs": payload, "queue": [q.model_dump() for q in queued]}
        typer.echo(dumps(payload))
        return
    if not records:
        typer.echo("no runs recorded in this store")
    for record in records:
        done = sum(j.state == "COMPLETED" for j in record.jobs)
        where = f"  [{record.project}]" if record.project else ""
        typer.echo(
            f"{record.flow_uuid}  {record.state:9s} {done}/{len(record.jobs)} jobs  "
            f"{record.started_at:%Y-%m-%d %H:%M} UTC  {record.name}{where}"
        )
        for job in record.jobs:
            if job.worker:
                typer.echo(
                    f"    {job.name:22s} {job.cluster_state or job.state:10s} "
                    f"{job.worker:6s} slurm {job.queue_id or '-'}"
                    + (f"  {job.error}" if job.error else "")
                )
            elif job.error:
                typer.echo(f"    {job.name}: {job.error}")
    for state in queued:
        typer.echo(
            f"queue {state.db_id:>5s} {state.state:12s} {state.worker:6s} "
            f"slurm {state.queue_id or '-':8s} {state.name}"
            + (f"  {state.error}" if state.error else "")
        )


def _queued_jobs(project: str) -> list[Any]:
    """Jobs in a jobflow-remote project's queue (MongoDB), newest flows first."""
    from sse_flows.cluster.submit import load_project, queued_jobs, uses_memory_queue

    try:
        proj = load_project(project)
    except SSEFlowsError as exc:
        fail(exc)
    if uses_memory_queue(proj):
        typer.echo(
            f"project {project} keeps its queue in memory: its runs are listed above",
            err=True,
        )
        return []
    return queued_jobs(proj)


@command()
def show(
    uuid: Annotated[str, typer.Argument(help="Job uuid, or flow uuid for its output.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole document.")
    ] = False,
) -> None:
    """Print a stored output document."""
    from sse_flows.records import get_output

    doc = get_output(uuid)
    if doc is None:
        fail(SSEFlowsError(f"No output stored for {uuid}; see `sse-flows status`."))
    typer.echo(dumps(doc) if as_json else summary_of(doc))


@command()
def config() -> None:
    """Print the settings in force (environment and YAML file resolved)."""
    from sse_flows.settings import config_file_path, get_settings

    typer.echo(f"# config file: {config_file_path()}")
    typer.echo(get_settings().model_dump_json(indent=2))
