"""``sse-flows table NAME``: a paper's table with our stored values and deviations.

With ``--compute`` the table's flow (``PaperTableMaker``) runs first for each potential
asked for (default: those of the table's rows that can run here), with the ``small``
or ``paper`` preset; potentials without weights on this machine are skipped and their
rows say so. stdout holds only the table; progress, model banners and errors go to
stderr. Exit codes: 2 for bad input, 1 when a run failed (the table is still printed).
"""

from __future__ import annotations

from typing import Annotated

import typer

from sse_flows.errors import SSEFlowsError


def _split(values: list[str] | None) -> list[str]:
    """Repeated options and comma lists, in order, without duplicates."""
    items = [v.strip() for value in values or [] for v in value.split(",")]
    return list(dict.fromkeys(v for v in items if v))


def _bad(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def default_potentials(name: str) -> list[str]:
    """Return the potentials of the table's rows that can run on this machine."""
    from sse_flows.flows.paper_tables import weights_missing
    from sse_flows.tables import load_table

    names = dict.fromkeys(row.potential for row in load_table(name).rows)
    return [p for p in names if weights_missing(p) is None]


def compute(
    name: str,
    potentials: list[str],
    preset: str,
    structures: dict[str, str],
    formulas: list[str] | None,
) -> tuple[bool, list[str]]:
    """Build every potential's flow (input errors raise first), then run them.

    Returns whether every run that was attempted completed, and the skipped potentials.
    """
    from sse_flows.flows.paper_tables import PaperTableMaker, run_table_flow

    flows = [
        PaperTableMaker(table=name, preset=preset, potential=p, formulas=formulas).make(
            structures
        )
        for p in potentials
    ]
    if preset == "paper" and any(not (f.metadata or {}).get("skipped") for f in flows):
        typer.echo(
            "note: the paper preset runs ns of MD per temperature (days on a GPU); "
            "here it runs locally, job after job",
            err=True,
        )
    ok, skipped_potentials = True, []
    for potential, flow in zip(potentials, flows, strict=True):
        skipped = (flow.metadata or {}).get("skipped")
        if skipped:
            typer.echo(f"skipped {potential}: {skipped}", err=True)
            skipped_potentials.append(potential)
            continue
        typer.echo(f"computing {flow.name} ({len(list(flow.iterflow()))} jobs)", err=True)
        spec = {
            "command": "table",
            "table": name,
            "preset": preset,
            "potential": potential,
            "structures": structures,
            "formulas": formulas,
        }
        run = run_table_flow(flow, spec=spec)
        typer.echo(f"  flow {run.flow_uuid}: {run.state}", err=True)
        for error in run.errors:
            typer.echo(f"  error: {error}", err=True)
        ok &= run.state == "COMPLETED"
    return ok, skipped_potentials


def table(
    name: Annotated[
        str,
        typer.Argument(help="Table name, e.g. paper000-table1 (see the list on error)."),
    ],
    fmt: Annotated[str, typer.Option("--format", help="md, csv or tex.")] = "md",
    run: Annotated[
        bool,
        typer.Option("--compute", help="Run the table's flow first, then print it."),
    ] = False,
    potential: Annotated[
        list[str] | None,
        typer.Option(
            "--potential",
            help="Potential(s) to compute and show (repeat or comma list); default with "
            "--compute: the table's potentials that can run here.",
        ),
    ] = None,
    preset: Annotated[
        str,
        typer.Option("--preset", help="small (minutes on a CPU), paper, or a YAML file."),
    ] = "small",
    structure: Annotated[
        list[str] | None,
        typer.Option(
            "--structure",
            help="FORMULA=FILE for a row (or host) structure not shipped (repeatable).",
        ),
    ] = None,
    formula: Annotated[
        list[str] | None,
        typer.Option("--formula", help="Compute only these rows (repeat or comma list)."),
    ] = None,
) -> None:
    """Print a paper's table: the paper's values, ours from the store, deviations.

    With --compute, first run what the table needs (hull, elastic tensor, MD over
    temperatures, orderings) for each potential with the chosen preset.
    """
    from sse_flows.flows.paper_tables import parse_structure_args
    from sse_flows.tables import FORMATS, build_table, table_names

    if name not in table_names():
        raise _bad(f"unknown table '{name}'. Available: {', '.join(table_names())}")
    if fmt not in FORMATS:
        raise _bad(f"--format must be one of {', '.join(FORMATS)}")
    potentials = _split(potential)
    formulas = _split(formula) or None
    if not run and (structure or formulas or preset != "small"):
        raise _bad("--preset, --structure and --formula only apply with --compute")
    ok = True
    if run:
        try:
            structures = parse_structure_args(structure or [])
            if not potentials:
                potentials = default_potentials(name)
                if not potentials:
                    typer.echo(
                        f"no potential of {name} can run here; give one with --potential "
                        "(e.g. --potential chgnet)",
                        err=True,
                    )
            ok, shown = compute(name, potentials, preset, structures, formulas)
        except SSEFlowsError as exc:
            raise _bad(str(exc)) from exc
    else:
        shown = potentials  # rows for these even when nothing is stored
    try:
        text = build_table(name, fmt, potentials=shown)
    except SSEFlowsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(text, nl=False)
    if not ok:
        typer.echo(
            "error: some runs failed (see above); the table shows what finished",
            err=True,
        )
        raise typer.Exit(1)
