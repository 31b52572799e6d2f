"""``sse-flows query``: stored results filtered by formula, system, potential, date."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

import typer

from sse_flows.cli.app import command
from sse_flows.errors import SSEFlowsError


def format_records(records: list[dict[str, Any]], fmt: str) -> str:
    """Render flat records as an aligned text table, CSV or JSON."""
    if fmt == "json":
        return json.dumps(records, indent=2, default=str)
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue().rstrip("\n")
    if not records:
        return "no stored result matches"
    cells = [[_cell(r.get(c)) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@command()
def query(
    formula: Annotated[
        str | None, typer.Option("--formula", help="Formula, e.g. Li3YCl6 (any multiple).")
    ] = None,
    chemsys: Annotated[
        str | None, typer.Option("--chemsys", help="Chemical system, e.g. Cl-Li-Y.")
    ] = None,
    potential: Annotated[
        str | None, typer.Option("--potential", help="Potential name, or name:checkpoint.")
    ] = None,
    prop: Annotated[
        str | None,
        typer.Option(
            "--property",
            help="Task type (conductivity, stability, elastic, eos, relax, ...) or a "
            "property (sigma, ea, e_hull, e_form, k, g).",
        ),
    ] = None,
    flow: Annotated[
        str | None, typer.Option("--flow", help="Part of the job or flow name.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Completed on or after (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Completed on or before (YYYY-MM-DD).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """List stored results matching the filters, one line per job output."""
    from sse_flows.query import flat_records, query_outputs

    if fmt not in ("table", "csv", "json"):
        typer.echo(f"error: --format must be table, csv or json, not '{fmt}'", err=True)
        raise typer.Exit(2)
    try:
        docs = query_outputs(
            formula=formula,
            chemsys=chemsys,
            potential=potential,
            prop=prop,
            flow=flow,
            since=since,
            until=until,
        )
    except SSEFlowsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_records(flat_records(docs), fmt))
