"""``sse-flows neb``: the barrier of a hop between two endpoint files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_flows.cli.app import command, fail, run_command_spec, show_output
from sse_flows.cli.options import JsonOption, PotentialOption, potential_spec
from sse_flows.errors import SSEFlowsError

NEB_KEYS = (
    "barrier_eV",
    "reverse_barrier_eV",
    "converged",
    "max_force_eV_A",
    "fmax_eV_A",
    "n_steps",
    "energies_eV",
    "reaction_coordinate_A",
    "highest_image_eV",
    "reaction_energy_eV",
    "saddle_index",
    "n_images",
    "climb",
    "reordered",
    "images_file",
    "plot_file",
    "warnings",
)
#: exit code of a run that completed with a band that did not converge
NOT_CONVERGED_EXIT = 1


@command()
def neb(
    initial: Annotated[Path, typer.Argument(help="Initial endpoint (CIF, POSCAR, ...).")],
    final: Annotated[Path, typer.Argument(help="Final endpoint, same cell and atoms.")],
    potential: PotentialOption = None,
    images: Annotated[
        int, typer.Option("--images", help="Moving images between the endpoints.")
    ] = 5,
    climb: Annotated[
        bool, typer.Option("--climb/--no-climb", help="Climbing image on the highest.")
    ] = True,
    fmax: Annotated[
        float, typer.Option("--fmax", help="Force tolerance of the band, eV/A.")
    ] = 0.05,
    max_steps: Annotated[
        int, typer.Option("--max-steps", help="Optimizer steps allowed for the band.")
    ] = 300,
    reorder: Annotated[
        bool,
        typer.Option(
            "--reorder",
            help="Pair the final endpoint's atoms with the initial's by nearest "
            "positions (instead of refusing endpoints listed in another order).",
        ),
    ] = False,
    relax_endpoints: Annotated[
        bool,
        typer.Option(
            "--relax-endpoints/--no-relax-endpoints",
            help="Relax both endpoints at their cell first.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Climbing-image NEB of a hop: barrier, energy profile, images and plot.

    Both endpoints must be in one cell with their atoms in one order; they are relaxed
    (positions only), the band is interpolated with IDPP and relaxed until every NEB
    force is below --fmax. The images (extxyz) and a PNG of the profile go to the job
    folder; the result is stored like any flow (see `sse-flows status`).

    A band that does not converge within --max-steps is stored with converged: false,
    its largest force and barrier_eV null (its highest image is not a barrier): the
    command prints it with a warning and exits with code 1. Bad endpoints (different
    atoms, cells, or atoms in another order) exit with code 2 before any work.
    """
    from sse_flows.makers.neb import NEBMaker
    from sse_flows.spec import NEBSpec

    try:
        spec_potential = potential_spec(potential)
        maker = NEBMaker(
            potential=spec_potential,
            n_images=images,
            climb=climb,
            fmax=fmax,
            max_steps=max_steps,
            reorder=reorder,
            relax_endpoints=relax_endpoints,
        )
        spec = NEBSpec(
            flow="neb",
            initial=str(initial.resolve()),
            final=str(final.resolve()),
            potential=spec_potential,
            neb=maker,
        )
    except SSEFlowsError as exc:
        fail(exc)
    flow_uuid, out = run_command_spec(spec)
    show_output(flow_uuid, out, as_json, NEB_KEYS)
    if not out.get("converged"):
        typer.secho(
            f"warning: the NEB did not converge (largest force "
            f"{out.get('max_force_eV_A', float('nan')):.3f} eV/A > fmax {fmax} eV/A "
            f"after {out.get('n_steps')} steps); no barrier is reported. Rerun with "
            "more --max-steps or --images.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(code=NOT_CONVERGED_EXIT)
