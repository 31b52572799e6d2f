"""Options several commands share, spelled the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

from sse_flows.potentials import PotentialSpec, default_potential

PotentialOption = Annotated[
    str | None,
    typer.Option(
        "--potential",
        help="Potential: name or name:checkpoint (chgnet, sevennet:7net-0, emt, "
        "calculator:module.Class, mace:/path/model.model) [default: chgnet].",
    ),
]
FmaxOption = Annotated[
    float, typer.Option("--fmax", help="Force tolerance of the first relaxation, eV/A.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def potential_spec(value: str | None) -> PotentialSpec:
    """Parse the potential a command line names (paths from the working directory)."""
    return default_potential() if value is None else PotentialSpec.parse(value)
