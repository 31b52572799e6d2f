"""``sse-flows benchmark``: several potentials on one dataset and named structures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.app import command, dumps, fail, run_spec_quietly, split_values
from sse_flows.cli.options import JsonOption
from sse_flows.documents.evaluation import METRIC_FIELDS
from sse_flows.errors import SSEFlowsError

#: the error fields of `sse-flows evaluate`, per row of the JSON
ROW_KEYS = (
    "potential",
    "available",
    "reason",
    *METRIC_FIELDS,
    "subsets",
    "by_formula",
    "inference_path",
    "properties",
    "property_errors",
    "diffusion",
    "log10_D_mae",
    "failed",
)


def json_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per potential, in ranking order, with the evaluate fields."""
    by_label = {row["potential"]: row for row in doc["rows"]}
    return [{k: by_label[label].get(k) for k in ROW_KEYS} for label in doc["ranking"]]


def stored_benchmark(uuid: str) -> dict[str, Any] | None:
    """Return the benchmark document of a flow or job uuid, or None."""
    from sse_flows.records import get_output

    doc = get_output(uuid)
    output = (doc or {}).get("output")
    if isinstance(output, dict) and output.get("task_type") == "benchmark":
        return output
    return None


@command()
def benchmark(
    data: Annotated[
        str,
        typer.Argument(
            help="Labelled frames (extxyz, labeling export folder or stored dataset "
            "uuid); 'none' for properties only."
        ),
    ],
    potential: Annotated[
        list[str] | None,
        typer.Option("--potential", help="A row (repeat it, or a comma list)."),
    ] = None,
    structures: Annotated[
        Path | None,
        typer.Option("--structures", help="Folder of structure files (name = file stem)."),
    ] = None,
    properties: Annotated[
        str,
        typer.Option(
            "--properties", help="Comma list of errors, stability, elastic, diffusion."
        ),
    ] = "errors",
    reference_potential: Annotated[
        str | None,
        typer.Option(
            "--reference-potential",
            help="Model whose properties and D(T) are the reference.",
        ),
    ] = None,
    reference_values: Annotated[
        Path | None,
        typer.Option(
            "--reference-values",
            help="YAML/JSON: structure name -> {e_form_eV_atom, e_hull_eV_atom, "
            "K_VRH_GPa, G_VRH_GPa, Ea_eV}.",
        ),
    ] = None,
    temperatures: Annotated[
        str | None,
        typer.Option("--temperatures", help="Diffusion temperature grid, K (comma list)."),
    ] = None,
    subset_key: Annotated[
        str | None,
        typer.Option(
            "--subset-key",
            help="atoms.info key naming each frame's subset (default: 'subset' or "
            "'config_type', else near-equilibrium vs heated by RMS force).",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Leaderboard as md, csv or tex.")
    ] = "md",
    as_json: JsonOption = False,
) -> None:
    """Rank potentials: errors on labelled frames, properties, diffusion (paper 000).

    Every potential runs in one stored flow (`sse-flows table UUID` prints its
    leaderboard again); one without weights here gets a row saying so. Exit code 1
    when a part failed (the leaderboard still prints, the row names the part).
    """
    from sse_flows.spec import FlowSpec
    from sse_flows.tables import FORMATS
    from sse_flows.tables.leaderboard import render_leaderboard

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    names = split_values(potential)
    if not names:
        fail("give at least one --potential")
    section: dict[str, Any] = {"properties": split_values([properties])}
    if reference_potential:
        section["reference_potential"] = reference_potential
    if subset_key:
        section["evaluate"] = {"subset_key": subset_key}
    if temperatures:
        section["conductivity"] = {
            "temperatures": [float(t) for t in split_values([temperatures])]
        }
    spec_data: dict[str, Any] = {
        "flow": "benchmark",
        "name": f"benchmark {Path(data).name}",
        "potentials": names,
        "data": None
        if data == "none"
        else str(Path(data).resolve())
        if Path(data).exists()
        else data,
        "benchmark": section,
    }
    if structures is not None:
        spec_data["structures"] = str(structures.expanduser().resolve())
    if reference_values is not None:
        spec_data["reference_values"] = str(reference_values.expanduser().resolve())
    try:
        spec = FlowSpec.from_data(spec_data, Path.cwd(), "benchmark options")
        record = run_spec_quietly(spec)
    except (SSEFlowsError, ValueError) as exc:
        fail(exc)
    doc = stored_benchmark(record.output_job) if record.output_job else None
    errors = [f"{j.name}: {j.error}" for j in record.jobs if j.error]
    if doc is None:
        typer.secho(
            f"error: benchmark failed ({'; '.join(errors) or record.state})",
            fg="red",
            err=True,
        )
        raise typer.Exit(code=1)
    if as_json:
        typer.echo(
            dumps(
                {
                    "flow_uuid": record.flow_uuid,
                    "data": doc.get("data"),
                    "reference": doc.get("reference"),
                    "rows": json_rows(doc),
                }
            )
        )
    else:
        typer.echo(render_leaderboard(doc, fmt), nl=False)
        typer.echo(f"flow {record.flow_uuid}", err=True)
    if errors or any(row.get("failed") for row in doc["rows"]):
        for error in errors:
            typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(code=1)
