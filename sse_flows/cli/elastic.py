"""``sse-flows elastic`` and ``sse-flows eos``: mechanics of a structure from the shell."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sse_flows.cli.app import command, fail, floats, run_and_show
from sse_flows.cli.options import (
    FmaxOption,
    JsonOption,
    PotentialOption,
    potential_spec,
)
from sse_flows.errors import SSEFlowsError

if TYPE_CHECKING:
    from sse_flows.makers import ElasticMaker, EOSMaker

ELASTIC_KEYS = (
    "K_VRH_GPa",
    "G_VRH_GPa",
    "E_GPa",
    "poisson",
    "born_stable",
    "born_failed",
    "eigenvalues_GPa",
    "C_ij_GPa",
    "fit_residual_GPa",
    "normal_strains",
    "shear_strains",
    "ions_relaxed",
    "warnings",
)
EOS_KEYS = (
    "B0_GPa",
    "V0_A3_per_atom",
    "B1",
    "E0_eV_atom",
    "eos_name",
    "fit_residual_eV_atom",
    "reference_volume_A3_per_atom",
    "volumes_A3_per_atom",
    "energies_eV_atom",
    "ions_relaxed",
    "plot",
    "warnings",
)

RelaxOption = Annotated[
    bool,
    typer.Option("--relax/--no-relax", help="Relax cell and ions first (symmetry kept)."),
]
RelaxIonsOption = Annotated[
    bool,
    typer.Option(
        "--relax-ions/--no-relax-ions",
        help="Relax the ions inside each strained or scaled cell (fixed cell).",
    ),
]


def _relax_makers(
    maker: ElasticMaker | EOSMaker, relax: bool, relax_ions: bool, fmax: float
) -> dict[str, Any]:
    """Return the sub-makers of an elastic or EOS maker as the flags ask."""
    reference = maker.relax_maker
    return {
        "relax_maker": dataclasses.replace(reference, fmax=fmax)
        if relax and reference is not None
        else None,
        "ion_relax_maker": maker.ion_relax_maker if relax_ions else None,
    }


@command()
def elastic(
    file: Annotated[Path, typer.Argument(help="Ordered structure file (CIF, POSCAR).")],
    potential: PotentialOption = None,
    relax: RelaxOption = True,
    relax_ions: RelaxIonsOption = True,
    normal_strains: Annotated[
        str | None,
        typer.Option(
            "--normal-strains", help="Normal strains, e.g. -0.01,-0.005,0.005,0.01."
        ),
    ] = None,
    shear_strains: Annotated[
        str | None,
        typer.Option(
            "--shear-strains",
            help="Engineering shear strains (2 e_ij), e.g. -0.02,-0.01,0.01,0.02.",
        ),
    ] = None,
    fmax: FmaxOption = 0.002,
    as_json: JsonOption = False,
) -> None:
    """Elastic tensor, bulk/shear/Young's moduli and Born stability with a potential.

    Relaxes the structure (unless --no-relax), applies each normal and shear strain,
    fits the 6x6 tensor to the stresses and derives Voigt-Reuss-Hill moduli. The result
    is stored like any flow (see `sse-flows status`).
    """
    from sse_flows.makers import ElasticMaker
    from sse_flows.spec import ElasticSpec

    try:
        spec_potential = potential_spec(potential)
        maker = ElasticMaker(potential=spec_potential)
        maker = dataclasses.replace(
            maker,
            **_relax_makers(maker, relax, relax_ions, fmax),
            normal_strains=floats(normal_strains, "--normal-strains")
            or maker.normal_strains,
            shear_strains=floats(shear_strains, "--shear-strains") or maker.shear_strains,
        )
        spec = ElasticSpec(
            flow="elastic",
            structure=str(file.resolve()),
            potential=spec_potential,
            elastic=maker,
        )
    except SSEFlowsError as exc:
        fail(exc)
    run_and_show(spec, as_json, ELASTIC_KEYS)


@command()
def eos(
    file: Annotated[Path, typer.Argument(help="Ordered structure file (CIF, POSCAR).")],
    potential: PotentialOption = None,
    relax: RelaxOption = True,
    relax_ions: RelaxIonsOption = True,
    volumes: Annotated[
        str | None,
        typer.Option(
            "--volumes",
            help="Volume factors of the reference cell, e.g. 0.94,0.97,1,1.03,1.06 "
            "(default 0.94 to 1.06 in steps of 0.02).",
        ),
    ] = None,
    eos_name: Annotated[
        str, typer.Option("--eos", help="pymatgen EOS: birch_murnaghan, vinet, ...")
    ] = "birch_murnaghan",
    fmax: FmaxOption = 0.002,
    as_json: JsonOption = False,
) -> None:
    """Energy-volume curve and equation-of-state fit (B0, V0) with a potential.

    Relaxes the structure (unless --no-relax), scales it isotropically, evaluates
    each volume and fits the EOS; a plot of E(V) goes to the job directory. The result
    is stored like any flow (see `sse-flows status`).
    """
    from sse_flows.makers import EOSMaker
    from sse_flows.spec import EOSSpec

    try:
        spec_potential = potential_spec(potential)
        maker = EOSMaker(potential=spec_potential, eos=eos_name)
        maker = dataclasses.replace(
            maker,
            **_relax_makers(maker, relax, relax_ions, fmax),
            volume_factors=floats(volumes, "--volumes") or maker.volume_factors,
        )
        spec = EOSSpec(
            flow="eos", structure=str(file.resolve()), potential=spec_potential, eos=maker
        )
    except SSEFlowsError as exc:
        fail(exc)
    run_and_show(spec, as_json, EOS_KEYS)
