"""``sse-flows table NAME``: a paper's table with our stored values and deviations.

With ``--compute`` the table's spec (``flow: table``, one flow per potential) runs
first: by default for the table's potentials that can run here, with the ``small`` or
``paper`` preset (``--properties`` keeps some of the table's properties); potentials
without weights on this machine are skipped and their rows say so. The table shows the
results of the preset given (stored with each result), else the newest of any.
stdout holds only the table; progress, model banners and errors go to stderr. Exit
codes: 2 for bad input, 1 when a run failed (the table is still printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_flows.cli.app import command, fail, run_spec_quietly, split_values
from sse_flows.errors import SSEFlowsError


def default_potentials(name: str) -> list[str]:
    """Return the potentials of the table's rows that can run on this machine."""
    from sse_flows.flows.paper_tables import weights_missing
    from sse_flows.potentials import PotentialSpec
    from sse_flows.tables import load_table

    names = dict.fromkeys(row.potential for row in load_table(name).rows)
    return [p for p in names if weights_missing(PotentialSpec.parse(p)) is None]


def compute(
    name: str,
    potentials: list[str],
    preset: str,
    structures: dict[str, str],
    formulas: list[str] | None,
    properties: list[str] | None = None,
) -> bool:
    """Run the table's spec for the potentials; return whether every run completed."""
    from sse_flows.spec import FlowSpec

    spec = FlowSpec.from_data(
        {
            "flow": "table",
            "name": f"{name} {preset}",
            "table": name,
            "preset": preset,
            "potentials": potentials,
            "structures": structures,
            "formulas": formulas,
            "properties": properties,
        },
        Path.cwd(),
        "table options",
    )
    flow = spec.build()
    for label, reason in (flow.metadata or {}).get("skipped", {}).items():
        typer.echo(f"skipped {label}: {reason}", err=True)
    if preset == "paper" and "conductivity" in (properties or ["conductivity"]):
        typer.echo(
            "note: the paper preset runs ns of MD per temperature (days on a GPU); "
            "here it runs locally, job after job (--properties stability,elastic "
            "leaves it out)",
            err=True,
        )
    from sse_flows.records import flow_jobs

    if not flow_jobs(flow):
        return True
    typer.echo(f"computing {spec.name} ({len(flow_jobs(flow))} jobs)", err=True)
    record = run_spec_quietly(spec)
    typer.echo(f"  flow {record.flow_uuid}: {record.state}", err=True)
    names = {j.uuid: j.name for j in record.jobs if j.created_by is None}
    for job in record.jobs:
        if job.state == "FAILED":
            built_by = f" (built by {names.get(job.created_by, job.created_by)})"
            typer.echo(
                f"  error: {job.name}{built_by if job.created_by else ''}: {job.error}",
                err=True,
            )
    return record.state == "COMPLETED"


def _preset_name(preset: str | None) -> str | None:
    """Return the name results are stored under: a preset file's stem, or the name."""
    if preset is None:
        return None
    path = Path(preset)
    return path.stem if path.suffix in (".yaml", ".yml") else preset


@command()
def table(
    name: Annotated[
        str,
        typer.Argument(
            help="Table name, e.g. paper000-table1 (see the list on error), or the "
            "flow uuid of a stored benchmark (its leaderboard)."
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", help="md, csv or tex.")] = "md",
    run: Annotated[
        bool, typer.Option("--compute", help="Run the table's flow first, then print it.")
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
        str | None,
        typer.Option(
            "--preset",
            help="small (minutes on a CPU), paper, or a YAML file; with --compute the "
            "default is small. The table shows that preset's results (without: the "
            "newest of any).",
        ),
    ] = None,
    properties: Annotated[
        list[str] | None,
        typer.Option(
            "--properties",
            help="With --compute: only these of stability, elastic, conductivity "
            "(comma list).",
        ),
    ] = None,
    structure: Annotated[
        list[str] | None,
        typer.Option(
            "--structure", help="FORMULA=FILE for a row (or host) structure not shipped."
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
    from sse_flows.cli.benchmark import stored_benchmark
    from sse_flows.flows.paper_tables import parse_structure_args
    from sse_flows.tables import FORMATS, build_table, table_names
    from sse_flows.tables.leaderboard import render_leaderboard

    if name not in table_names() and fmt in FORMATS and not run:
        stored = stored_benchmark(name)
        if stored is not None:
            typer.echo(render_leaderboard(stored, fmt), nl=False)
            return
    if name not in table_names():
        fail(
            f"unknown table '{name}' (and not a stored benchmark). Available: "
            f"{', '.join(table_names())}"
        )
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    potentials = split_values(potential)
    formulas = split_values(formula) or None
    chosen = split_values(properties) or None
    if not run and (structure or formulas or chosen):
        fail("--structure, --formula and --properties only apply with --compute")
    ok = True
    if run:
        preset = preset or "small"
        try:
            structures = parse_structure_args(structure or [])
            potentials = potentials or default_potentials(name)
            if potentials:
                ok = compute(name, potentials, preset, structures, formulas, chosen)
            else:
                typer.echo(
                    f"no potential of {name} can run here; give one with --potential "
                    "(e.g. --potential chgnet)",
                    err=True,
                )
        except SSEFlowsError as exc:
            fail(exc)
    try:
        text = build_table(name, fmt, potentials=potentials, preset=_preset_name(preset))
    except SSEFlowsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(text, nl=False)
    if not ok:
        typer.echo(
            "error: some runs failed (see above); the table shows what finished", err=True
        )
        raise typer.Exit(1)
