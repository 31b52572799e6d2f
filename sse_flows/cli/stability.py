"""``sse-flows stability``: E_f, E_hull, decomposition and Li window of a structure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_flows.cli.app import command, fail, run_and_show
from sse_flows.cli.options import JsonOption, PotentialOption, potential_spec
from sse_flows.errors import SSEFlowsError

STABILITY_KEYS = (
    "e_form_eV_atom",
    "e_hull_eV_atom",
    "decomposition",
    "window_V",
    "e_decomp_eV_atom",
    "stable",
    "chemsys",
    "window",
    "entries",
    "complete",
    "failed_phases",
    "missing_subsystems",
    "missing_known_phases",
    "notes",
    "corrections",
    "potential",
)


@command()
def stability(
    file: Annotated[Path, typer.Argument(help="Structure file of the target (ordered).")],
    potential: PotentialOption = None,
    competing: Annotated[
        Path | None,
        typer.Option(
            "--competing", help="Directory of structure files of extra competing phases."
        ),
    ] = None,
    prototypes: Annotated[
        bool,
        typer.Option(
            "--prototypes/--no-prototypes",
            help="Add the shipped prototypes of the target's chemical system.",
        ),
    ] = True,
    derive_halogens: Annotated[
        bool,
        typer.Option(
            "--derive-halogens/--no-derive-halogens",
            help="Build solid Cl2/Br2 from the I2 cell when no reference is given.",
        ),
    ] = True,
    corrections: Annotated[
        str,
        typer.Option(
            "--corrections",
            help="auto (MP2020 anion corrections only where the potential's energies "
            "lack them), none, or mp2020_anion.",
        ),
    ] = "auto",
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Build the hull without competing phases whose relaxation failed.",
        ),
    ] = False,
    fmax: Annotated[
        float, typer.Option("--fmax", help="Relaxation force limit, eV/A.")
    ] = 0.05,
    max_steps: Annotated[
        int, typer.Option("--max-steps", help="Relaxation step limit per phase.")
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    """Compute formation energy, E_hull, decomposition and Li window of a structure.

    Relaxes the target and every competing phase (shipped prototypes of its system plus
    --competing files) with one potential, builds the phase diagram, and for Li
    compounds computes the electrochemical window vs Li/Li+ with a plot. The result is
    stored like any flow (see `sse-flows status`).
    """
    from sse_flows.spec import FlowSpec

    try:
        spec = FlowSpec.from_data(
            {
                "flow": "stability",
                "structure": str(file.resolve()),
                "potential": potential_spec(potential),
                "competing": str(competing.resolve()) if competing else None,
                "stability": {
                    "use_prototypes": prototypes,
                    "derive_halogens": derive_halogens,
                    "relax_maker": {
                        "name": "relax phase",
                        "fmax": fmax,
                        "max_steps": max_steps,
                    },
                    "analysis_maker": {
                        "corrections": corrections,
                        "allow_incomplete": allow_incomplete,
                    },
                },
            },
            Path.cwd(),
            "stability options",
        )
    except SSEFlowsError as exc:
        fail(exc)
    run_and_show(spec, as_json, STABILITY_KEYS)
