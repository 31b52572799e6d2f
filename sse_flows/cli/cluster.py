"""``sse-flows cluster init`` and ``submit``: flows on SLURM through jobflow-remote."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sse_flows.cli.app import app, fail
from sse_flows.cluster.project import ClusterPlan, SlurmWorkerPlan
from sse_flows.errors import SSEFlowsError

if TYPE_CHECKING:
    from jobflow import Flow

    from sse_flows.cluster.submit import Submission

cluster_app = typer.Typer(
    name="cluster",
    help="Set up submission to a SLURM cluster through jobflow-remote.",
    no_args_is_help=True,
)


@cluster_app.command("init")
def init(
    name: Annotated[str, typer.Option(help="Project name.")] = "sse-flows",
    manager: Annotated[
        str, typer.Option(help="'jobflow-remote' (main path) or 'fireworks'.")
    ] = "jobflow-remote",
    queue: Annotated[
        str, typer.Option(help="'mongodb' (production, runner daemon) or 'memory'.")
    ] = "memory",
    gpu_partition: Annotated[
        str | None, typer.Option(help="Partition for GPU jobs [default: from SLURM].")
    ] = None,
    gpu_time: Annotated[
        str | None, typer.Option(help="Wall time of GPU jobs [default: 24:00:00].")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option(help="GPUs per potential job [default: 1 if any].")
    ] = None,
    gpu_cpus: Annotated[
        int | None, typer.Option(help="CPUs per potential job [default: up to 4].")
    ] = None,
    cpu_partition: Annotated[
        str | None, typer.Option(help="Partition for CPU jobs [default: from SLURM].")
    ] = None,
    cpu_time: Annotated[
        str | None, typer.Option(help="Wall time of CPU jobs [default: 24:00:00].")
    ] = None,
    dft_ranks: Annotated[
        int | None, typer.Option(help="MPI ranks per DFT job [default: up to 4].")
    ] = None,
    account: Annotated[str | None, typer.Option(help="SLURM account.")] = None,
    module: Annotated[
        list[str] | None, typer.Option("--module", help="Module to load (repeatable).")
    ] = None,
    venv: Annotated[
        Path | None, typer.Option(help="Environment with sse-flows (default: this one).")
    ] = None,
    no_local: Annotated[
        bool, typer.Option("--no-local", help="No shell worker: analysis on SLURM too.")
    ] = False,
    poll: Annotated[
        float | None,
        typer.Option(help="Runner polling interval, s [default: 5 in memory, 30 MongoDB]."),
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            help="Where to write: jobflow-remote's projects folder by default; "
            "./fireworks for --manager fireworks."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file.")
    ] = False,
) -> None:
    """Write a jobflow-remote project whose requests fit the SLURM cluster here.

    With SLURM reachable, the partitions, CPUs, GPUs and time limits are read and the
    requests left out are chosen to fit; one no node can meet is refused.
    """
    from sse_flows.cluster.fit import Requests, fit_requests
    from sse_flows.cluster.project import write_project
    from sse_flows.cluster.slurm import probe_slurm

    try:
        if queue not in ("memory", "mongodb"):
            raise SSEFlowsError("--queue must be 'memory' or 'mongodb'")
        asked = Requests(
            gpu_partition, gpus, gpu_cpus, gpu_time, cpu_partition, dft_ranks, cpu_time
        )
        fitted = fit_requests(asked, probe_slurm())
        common = {"account": account, "modules": list(module or [])}
        gpu = SlurmWorkerPlan(
            partition=str(fitted.gpu_partition),
            time=str(fitted.gpu_time),
            gpus=int(fitted.gpus or 0),
            cpus_per_task=int(fitted.gpu_cpus or 1),
            **common,
        )
        plan = ClusterPlan(
            name=name,
            queue=queue,
            gpu=gpu,
            cpu=SlurmWorkerPlan(
                partition=str(fitted.cpu_partition), time=str(fitted.cpu_time), **common
            ),
            dft_ranks=int(fitted.dft_ranks or 1),
            local_worker=not no_local,
            poll_seconds=poll if poll is not None else (5.0 if queue == "memory" else 30.0),
            **({"venv": venv} if venv else {}),
        )
        if manager == "fireworks":
            _write_fireworks(plan, folder or Path("fireworks"), force)
            return
        if manager != "jobflow-remote":
            raise SSEFlowsError("--manager must be 'jobflow-remote' or 'fireworks'")
        path = write_project(plan, folder, overwrite=force)
    except SSEFlowsError as exc:
        fail(exc)
    typer.echo(f"wrote jobflow-remote project '{name}' to {path}")
    typer.echo(
        f"workers: gpu (partition {gpu.partition}, {gpu.gpus} GPU, {gpu.cpus_per_task} "
        f"CPUs, {gpu.time}: potential MD, relaxation, elastic, training), cpu (partition "
        f"{plan.cpu.partition}, DFT with {plan.dft_ranks} MPI ranks, enumeration, "
        "trajectory analysis)" + ("" if no_local else ", local (analysis)")
    )
    for note in fitted.notes:
        typer.echo(f"note: {note}")
    if queue == "memory":
        typer.echo(
            "queue: in memory: `sse-flows submit SPEC` runs the runner until the flow "
            "ends and shows each job's state. For a runner daemon, use MongoDB "
            "(--queue mongodb)."
        )
    else:
        typer.echo(
            f"next: `jf -p {name} admin reset` once, `jf -p {name} runner start`, "
            "then `sse-flows submit SPEC`"
        )


def _write_fireworks(plan: ClusterPlan, folder: Path, force: bool) -> None:
    from sse_flows.cluster.fireworks import LAUNCHPAD_FILE, write_fireworks

    paths = write_fireworks(plan, folder, overwrite=force)
    typer.echo(
        f"wrote {len(paths)} FireWorks files to {folder}: "
        + ", ".join(p.name for p in paths)
    )
    lp = folder.resolve() / LAUNCHPAD_FILE
    typer.echo(
        f"next: `lpad -l {lp} reset` once, `sse-flows submit SPEC --manager "
        f"fireworks --launchpad {lp}`, then per worker, e.g.: `qlaunch -l {lp} "
        f"-w {lp.parent}/fworker_gpu.yaml -q {lp.parent}/qadapter_gpu.yaml "
        "rapidfire`"
    )


def _live(line: str) -> None:
    typer.echo(line, err=True)


@app.command()
def submit(
    spec: Annotated[Path, typer.Argument(help="Flow specification YAML file.")],
    project: Annotated[
        str | None, typer.Option(help="jobflow-remote project (default: current).")
    ] = None,
    worker: Annotated[
        str | None, typer.Option(help="Send every job to this worker (no routing).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Cancel what is still queued or running after this many s."),
    ] = None,
    manager: Annotated[
        str, typer.Option(help="'jobflow-remote' (main path) or 'fireworks'.")
    ] = "jobflow-remote",
    launchpad: Annotated[
        Path | None,
        typer.Option(help="FireWorks launchpad.yaml (with --manager fireworks)."),
    ] = None,
) -> None:
    """Submit the flow a spec describes to SLURM, showing each job's state.

    With the in-memory queue this waits until every job has ended. A job SLURM can
    never start ends the submission at once with SLURM's reason and the option that
    fixes it; Ctrl-C or --timeout cancels what was queued. Either way the run is
    recorded, so `sse-flows rerun FLOW` can send it again.
    """
    from sse_flows.spec import FlowSpec

    try:
        flow_spec = FlowSpec.from_file(spec)
        flow = flow_spec.build()
        flow_spec.preflight()
        if manager == "fireworks":
            _submit_fireworks(flow, launchpad, worker)
            return
        if manager != "jobflow-remote":
            raise SSEFlowsError("--manager must be 'jobflow-remote' or 'fireworks'")
    except SSEFlowsError as exc:
        fail(exc)
    submit_and_show(flow, project, worker, flow_spec.record(), timeout)


def submit_and_show(
    flow: Flow,
    project: str | None,
    worker: str | None = None,
    spec: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> None:
    """Submit a flow with live job states on stderr; exit 1 on failure, 130 on Ctrl-C."""
    from sse_flows.cluster.submit import load_project
    from sse_flows.cluster.submit import submit as submit_flow
    from sse_flows.cluster.watch import SubmissionError

    try:
        name = load_project(project).name
    except SSEFlowsError as exc:
        fail(exc)
    again = f"sse-flows rerun {flow.uuid} --project {name}"
    typer.echo(f"submitting flow {flow.uuid} '{flow.name}' to project {name}", err=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = submit_flow(
                flow,
                project_name=name,
                worker=worker,
                spec=spec,
                timeout=timeout,
                report=_live,
            )
    except SubmissionError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        typer.echo(f"the run is recorded FAILED (sse-flows status); after the fix send "
                   f"it again with: {again}", err=True)  # fmt: skip
        raise typer.Exit(code=1) from exc
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: the flow's SLURM jobs were cancelled and the run recorded "
            f"FAILED; send it again with: {again}",
            err=True,
        )
        raise typer.Exit(code=130) from None
    except SSEFlowsError as exc:
        fail(exc)
    _print_submission(flow, result)


def _print_submission(flow: Flow, result: Submission) -> None:
    from sse_flows.cluster.routing import describe_routes

    typer.echo(
        f"flow {result.flow_uuid} '{flow.name}' -> project {result.project}: {result.state}"
    )
    states = {s.uuid: s for s in result.jobs}
    for row in describe_routes(flow, result.workers):
        state = states.get(row["uuid"])
        line = f"  {row['job']:22s} {row['role']:9s} -> {row['worker']:6s}"
        if state is not None:
            line += f" {state.state:10s} slurm {state.queue_id or '-'}"
            if state.error:
                line += f"  error: {state.error}"
        typer.echo(line)
    if result.state == "FAILED":
        raise typer.Exit(code=1)


def _submit_fireworks(flow: Flow, launchpad: Path | None, worker: str | None) -> None:
    from sse_flows.cluster.fireworks import submit_fireworks
    from sse_flows.cluster.routing import describe_routes

    if launchpad is None:
        raise SSEFlowsError("--manager fireworks needs --launchpad DIR/launchpad.yaml")
    with contextlib.redirect_stdout(sys.stderr):
        ids, chosen = submit_fireworks(flow, launchpad, worker=worker)
    typer.echo(f"flow {flow.uuid} '{flow.name}' added to the LaunchPad {launchpad}")
    for row in describe_routes(flow, chosen):
        typer.echo(
            f"  {row['job']:22s} {row['role']:9s} -> {row['worker']:6s} "
            f"fw_id {ids[row['uuid']]}"
        )


app.add_typer(cluster_app)
