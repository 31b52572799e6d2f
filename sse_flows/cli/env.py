"""``sse-flows env``: build, list and check the model families' own environments."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sse_flows.cli.app import app, fail
from sse_flows.cli.options import JsonOption
from sse_flows.errors import SSEFlowsError

env_app = typer.Typer(
    name="env",
    help="Python environments of model families that cannot share the main one "
    "(MACE, DeePMD, MatterSim); their models run there through a worker process.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Environment name (see `env list`).")]


@env_app.command("create")
def create(
    name: NameArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when it is ready.")
    ] = False,
) -> None:
    """Build an environment under SSE_FLOWS_ENVS_DIR (idempotent: a ready one is kept)."""
    from sse_flows.potentials.environments import create_env

    try:
        create_env(name, force=force, say=lambda line: typer.echo(line, err=True))
    except SSEFlowsError as exc:
        fail(exc)


@env_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """Every declared environment: interpreter, ready or not, package versions."""
    from sse_flows.potentials.environments import list_envs

    rows = list_envs()
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    for row in rows:
        state = "ready" if row.ready else "not built"
        if row.failed_step:
            state = f"failed at '{row.failed_step}' (log {row.log})"
        elif row.stale:
            state = "stale (declaration changed; env create rebuilds it)"
        typer.echo(f"{row.name:10s} {state:10s} families: {', '.join(row.families)}")
        typer.echo(f"{'':10s} {row.python}")
        if row.packages:
            versions = ", ".join(f"{k} {v}" for k, v in row.packages.items() if v)
            typer.echo(f"{'':10s} {versions}")


@env_app.command("check")
def check(name: NameArgument) -> None:
    """Import the environment's packages in its own interpreter."""
    from sse_flows.potentials.environments import check_env, env_status, record_versions

    try:
        versions = check_env(name)
        status = env_status(name)
    except SSEFlowsError as exc:
        fail(exc)
    if not status.ready:
        fail(
            f"environment '{name}' imports its packages but is not marked ready "
            f"(an interrupted build?). run: sse-flows env create {name} --force"
        )
    record_versions(name, versions)
    typer.echo(f"{name}: ok ({status.python})")
    typer.echo(", ".join(f"{k} {v}" for k, v in versions.items() if v))


app.add_typer(env_app)
