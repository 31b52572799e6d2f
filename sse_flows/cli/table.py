"""``sse-flows table NAME``: a paper's table with our stored values and deviations."""

from __future__ import annotations

from typing import Annotated

import typer

from sse_flows.errors import SSEFlowsError


def table(
    name: Annotated[
        str,
        typer.Argument(help="Table name, e.g. paper000-table1 (see the list on error)."),
    ],
    fmt: Annotated[str, typer.Option("--format", help="md, csv or tex.")] = "md",
) -> None:
    """Print a paper's table: the paper's values, ours from the store, deviations."""
    from sse_flows.tables import FORMATS, build_table, table_names

    if name not in table_names():
        typer.echo(
            f"error: unknown table '{name}'. Available: {', '.join(table_names())}",
            err=True,
        )
        raise typer.Exit(2)
    if fmt not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    try:
        text = build_table(name, fmt)
    except SSEFlowsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(text, nl=False)
