"""``sse-flows train``: train or fine-tune a potential on labelled frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.app import command, dumps, fail, run_spec_quietly
from sse_flows.cli.options import JsonOption
from sse_flows.errors import SSEFlowsError

SHOWN = ("energy_mae_meV_atom", "force_mae_meV_A", "stress_mae_GPa")


def summary(output: dict[str, Any], uuid: str | None) -> dict[str, Any]:
    """Return the JSON ``sse-flows train --json`` prints."""
    parent = output.get("parent") or {}
    return {
        "potential": output["potential"],
        "artifact": f"artifact:{uuid}" if uuid else None,
        "checkpoint": output["checkpoint"],
        "sha256": output["sha256"],
        "parent": parent.get("potential"),
        "parent_sha256": parent.get("sha256"),
        "metrics": output["metrics"],
        "parent_metrics": output.get("parent_metrics") or {},
        "epochs_run": output["epochs_run"],
        "resumed_from_epoch": output.get("resumed_from_epoch"),
        "energy_reference": output["energy_reference"],
        "plots": output.get("plots") or {},
        "dataset_sha256": output["dataset"]["sha256"],
    }


@command()
def train(
    data: Annotated[
        str,
        typer.Argument(
            help="extxyz of labelled frames (energy and forces; stress optional), a "
            "folder holding one, or the uuid of a stored dataset."
        ),
    ],
    potential: Annotated[
        str,
        typer.Option(
            "--potential",
            help="FAMILY or FAMILY:PARENT: chgnet (fine-tunes 0.3.0), sevennet "
            "(7net-0), mace:/path/foundation.model, deepmd:/path/model.pt, or "
            "artifact:<uuid> of an earlier training.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the model, splits, plots, logs.")
    ],
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help="Train a new model, no parent.")
    ] = False,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Passes over the training split.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Split and trainer seed.")
    ] = None,
    valid_fraction: Annotated[
        float | None,
        typer.Option("--valid-fraction", help="Fraction of structures for validation."),
    ] = None,
    test_fraction: Annotated[
        float | None, typer.Option("--test-fraction", help="Fraction held out for test.")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    as_json: JsonOption = False,
) -> None:
    """Train FAMILY from scratch or fine-tune FAMILY:PARENT; print the model and errors.

    Rerun the same command after a kill: training resumes from its last epoch
    checkpoint in --out. The model is used with --potential as printed.
    """
    from sse_flows.makers import TrainMaker
    from sse_flows.potentials import PotentialSpec
    from sse_flows.records import get_output
    from sse_flows.spec import TrainSpec
    from sse_flows.training.settings import TrainSettings

    given = {
        "epochs": epochs,
        "seed": seed,
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "learning_rate": lr,
        "batch_size": batch_size,
        "from_scratch": from_scratch or None,
    }
    try:
        spec_potential = PotentialSpec.parse(potential)
        settings = TrainSettings(**{k: v for k, v in given.items() if v is not None})
        spec = TrainSpec(
            flow="train",
            name=f"train {spec_potential.label()} on {Path(data).name}",
            data=str(Path(data).resolve()) if Path(data).exists() else data,
            potential=spec_potential,
            train=TrainMaker(settings=settings, out_dir=str(out.resolve())),
        )
        record = run_spec_quietly(spec)
    except (SSEFlowsError, ValueError) as exc:
        fail(exc)
    job = record.output_job
    doc = get_output(job) if job else None
    if record.state != "COMPLETED" or doc is None:
        for failed in record.jobs:
            if failed.error:
                typer.secho(f"error: {failed.name}: {failed.error}", fg="red", err=True)
        typer.echo(
            "fix the cause, then run the same command again: training resumes from its "
            "last checkpoint in --out",
            err=True,
        )
        raise typer.Exit(code=1)
    output = doc["output"]
    if as_json:
        typer.echo(dumps(summary(output, job)))
        return
    from sse_flows.documents import TrainedModel

    for line in TrainedModel.model_validate(output).summary_lines():
        typer.echo(line)
    typer.echo(f"use it as: --potential {output['potential']}  (or artifact:{job})")
