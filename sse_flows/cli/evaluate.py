"""``sse-flows evaluate``: errors of potentials against labelled frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.app import command, dumps, fail, run_spec_quietly, split_values
from sse_flows.cli.options import JsonOption
from sse_flows.documents.evaluation import METRIC_FIELDS
from sse_flows.errors import SSEFlowsError

METRICS = ("potential", *METRIC_FIELDS)


def _row(out: dict[str, Any]) -> dict[str, Any]:
    return {"potential": out["potential_label"], **{k: out.get(k) for k in METRICS[1:]}}


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@command()
def evaluate(
    data: Annotated[
        str,
        typer.Argument(
            help="extxyz of labelled frames (energy, forces, stress as ASE writes them, "
            "or REF_energy/REF_forces/REF_stress), a labeling export folder, or the "
            "uuid of a stored dataset (labeling or training set flow)."
        ),
    ],
    potential: Annotated[
        list[str] | None,
        typer.Option(
            "--potential",
            help="Potential (repeat it, or a comma list): chgnet, sevennet:7net-0, "
            "mace:/path/model.model, deepmd:/path/frozen.pth ... [default: chgnet].",
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Labels to compare, e.g. energy,forces (default: energy and forces, "
            "and stress when every frame has it).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Energy, force and stress MAE/RMSE of each potential on labelled frames.

    Each potential runs in its own environment when it needs one (MACE, DeePMD) and
    the result is stored like any flow (`sse-flows query --property evaluation`).
    """
    from sse_flows.makers import EvaluateMaker
    from sse_flows.potentials import PotentialSpec
    from sse_flows.records import get_output
    from sse_flows.spec import EvaluateSpec

    names = split_values(potential) or ["chgnet"]
    try:
        potentials = [PotentialSpec.parse(name) for name in names]
        spec = EvaluateSpec(
            flow="evaluate",
            name=f"evaluate {Path(data).name}",
            data=data if not Path(data).exists() else str(Path(data).resolve()),
            potentials=potentials,
            evaluate=EvaluateMaker(labels=split_values([labels] if labels else [])),
        )
        spec.data_file()  # bad data fails here, before any model loads
        record = run_spec_quietly(spec)
    except SSEFlowsError as exc:
        fail(exc)
    outputs = [get_output(uuid) for uuid in record.output_jobs]
    rows = [_row(doc["output"]) for doc in outputs if doc is not None]
    skipped = {j.name: j.error for j in record.jobs if j.error}
    if as_json:
        typer.echo(dumps({"flow_uuid": record.flow_uuid, "results": rows}))
    elif rows:
        typer.echo("  ".join(f"{k:>20s}" for k in METRICS))
        for row in rows:
            typer.echo("  ".join(f"{_cell(row[k]):>20s}" for k in METRICS))
    if record.state != "COMPLETED" or len(rows) < len(potentials):
        for name, error in skipped.items():
            typer.secho(f"error: {name}: {error}", fg="red", err=True)
        raise typer.Exit(code=1)
