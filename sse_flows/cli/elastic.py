"""``sse-flows elastic`` and ``sse-flows eos``: mechanics of a structure from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sse_flows.cli.common import run_stored
from sse_flows.errors import SSEFlowsError
from sse_flows.potentials import check_available

if TYPE_CHECKING:
    pass

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

PotentialOption = Annotated[
    str, typer.Option("--potential", help="Registry name, e.g. chgnet, sevennet, emt.")
]
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
FmaxOption = Annotated[
    float, typer.Option("--fmax", help="Force tolerance of the first relaxation, eV/A.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values:
        raise SSEFlowsError(f"{option} takes numbers separated by commas; got '{text}'")
    return values


def _matrix(rows: list[list[float]]) -> list[str]:
    return ["    " + " ".join(f"{v:8.2f}" for v in row) for row in rows]


def summarise_elastic(out: dict[str, Any]) -> str:
    """Readable lines for an elastic document."""
    potential = out.get("potential", {}).get("name", "?")
    lines = [
        f"elastic tensor of {out['summary']['formula_pretty']} with {potential} "
        f"(GPa, Voigt, frame of the {'relaxed' if out.get('relax') else 'input'} cell):",
        *_matrix(out["C_ij_GPa"]),
        f"  K_VRH = {out['K_VRH_GPa']:.2f} GPa   G_VRH = {out['G_VRH_GPa']:.2f} GPa   "
        f"E = {out['E_GPa']:.2f} GPa   Poisson = {out['poisson']:.3f}",
        f"  Born stable: {out['born_stable']}   eigenvalues: "
        + ", ".join(f"{v:.1f}" for v in out["eigenvalues_GPa"]),
        f"  fit residual {out['fit_residual_GPa']:.3f} GPa; ions relaxed in strained "
        f"cells: {out['ions_relaxed']}",
    ]
    lines += [f"  failed: {f}" for f in out.get("born_failed", [])]
    lines += [f"  warning: {w}" for w in out.get("warnings", [])]
    return "\n".join(lines)


def summarise_eos(out: dict[str, Any]) -> str:
    """Readable lines for an EOS document."""
    potential = out.get("potential", {}).get("name", "?")
    lines = [
        f"{out['eos_name']} EOS of {out['summary']['formula_pretty']} with {potential}:",
        f"  V0 = {out['V0_A3_per_atom']:.4f} A^3/atom (reference cell "
        f"{out['reference_volume_A3_per_atom']:.4f})   B0 = {out['B0_GPa']:.2f} GPa   "
        f"B' = {out['B1']:.2f}   E0 = {out['E0_eV_atom']:.5f} eV/atom",
        f"  fit residual {1000 * out['fit_residual_eV_atom']:.3f} meV/atom over "
        f"{len(out['volumes_A3_per_atom'])} volumes",
    ]
    if out.get("plot"):
        lines.append(f"  plot: {out['plot']}")
    lines += [f"  warning: {w}" for w in out.get("warnings", [])]
    return "\n".join(lines)


def elastic(
    file: Annotated[Path, typer.Argument(help="Ordered structure file (CIF, POSCAR).")],
    potential: PotentialOption = "chgnet",
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
    import dataclasses

    from sse_flows.cli.main import _dumps, _fail
    from sse_flows.makers.mechanics import (
        ElasticMaker,
        default_reference_relax,
        elastic_strains,
    )
    from sse_flows.structures import read_structure, require_ordered

    try:
        structure = require_ordered(read_structure(file), "'elastic'")
        maker = ElasticMaker(
            potential=potential,
            relax_maker=dataclasses.replace(default_reference_relax(), fmax=fmax)
            if relax
            else None,
        )
        if not relax_ions:
            maker.ion_relax_maker = None
        maker.normal_strains = _floats(normal_strains, "--normal-strains") or list(
            maker.normal_strains
        )
        maker.shear_strains = _floats(shear_strains, "--shear-strains") or list(
            maker.shear_strains
        )
        elastic_strains(maker.normal_strains, maker.shear_strains)  # fail before a run
        check_available(potential)
    except SSEFlowsError as exc:
        _fail(exc)
    spec = {"command": "elastic", "file": str(file.resolve()), "potential": potential,
            "relax": relax, "relax_ions": relax_ions, "fmax": fmax,
            "normal_strains": maker.normal_strains,
            "shear_strains": maker.shear_strains}  # fmt: skip
    flow_uuid, out = run_stored(maker.make(structure), spec, "elastic")
    if as_json:
        typer.echo(_dumps({"flow_uuid": flow_uuid, **{k: out[k] for k in ELASTIC_KEYS}}))
        return
    typer.echo(f"flow {flow_uuid}: COMPLETED")
    typer.echo(summarise_elastic(out))


def eos(
    file: Annotated[Path, typer.Argument(help="Ordered structure file (CIF, POSCAR).")],
    potential: PotentialOption = "chgnet",
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
    import dataclasses

    from pymatgen.analysis.eos import EOS

    from sse_flows.cli.main import _dumps, _fail
    from sse_flows.makers.mechanics import EOSFitError, EOSMaker, default_reference_relax
    from sse_flows.structures import read_structure, require_ordered

    try:
        structure = require_ordered(read_structure(file), "'eos'")
        if eos_name not in EOS.MODELS:
            raise EOSFitError(
                f"Unknown --eos '{eos_name}'; choose one of {sorted(EOS.MODELS)}."
            )
        maker = EOSMaker(
            potential=potential,
            eos=eos_name,
            relax_maker=dataclasses.replace(default_reference_relax(), fmax=fmax)
            if relax
            else None,
        )
        if not relax_ions:
            maker.ion_relax_maker = None
        factors = _floats(volumes, "--volumes")
        if factors is not None:
            if len(factors) < 5:
                raise EOSFitError("--volumes needs 5 or more volume factors.")
            maker.volume_factors = factors
        check_available(potential)
    except SSEFlowsError as exc:
        _fail(exc)
    spec = {"command": "eos", "file": str(file.resolve()), "potential": potential,
            "relax": relax, "relax_ions": relax_ions, "fmax": fmax,
            "volumes": maker.volume_factors, "eos": eos_name}  # fmt: skip
    flow_uuid, out = run_stored(maker.make(structure), spec, "eos")
    if as_json:
        typer.echo(_dumps({"flow_uuid": flow_uuid, **{k: out[k] for k in EOS_KEYS}}))
        return
    typer.echo(f"flow {flow_uuid}: COMPLETED")
    typer.echo(summarise_eos(out))
