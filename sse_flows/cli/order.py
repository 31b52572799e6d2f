"""``sse-flows order``: ordered cells of a disordered structure from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.common import run_stored
from sse_flows.errors import SSEFlowsError
from sse_flows.potentials import check_available


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.replace("x", ",").split(",") if x.strip()]
    except ValueError:
        values = []
    if len(values) not in (3, 9) or any(v == 0 for v in values[:3] if len(values) == 3):
        raise SSEFlowsError(
            f"--supercell takes 3 integers like 1,1,2 (or 9 for a matrix): {text}"
        )
    return values


def _charges(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        symbol, _, value = part.partition("=")
        try:
            out[symbol.strip()] = float(value)
        except ValueError:
            raise SSEFlowsError(f"--oxidation takes Li=1,Y=3,Cl=-1; got '{part}'") from None
    return out


def summarise_ordering(out: dict[str, Any], limit: int = 10) -> str:
    """Readable lines for an ordering document."""
    lines = [
        f"ordering of {out['parent_formula']}: {out['n_distinct']} distinct orderings "
        f"({'all enumerated' if out['exhaustive'] else 'sampled'}) from "
        f"{out['n_combinations']:.3g} arrangements in {len(out['cells'])} supercell(s); "
        f"kept {out['n_kept']}, cut {out['n_cut']}, relaxed {out.get('n_relaxed', 0)}; "
        f"ranked by {out['ranked_by']}",
    ]
    for cell in out["cells"]:
        lines.append(
            f"  cell {cell['supercell']}: {cell['n_sites']} sites, "
            f"{cell['n_symmetry_ops']} symmetry ops, {cell['n_distinct']} distinct, "
            f"{cell['seconds']:.1f} s"
        )
    lines.append(
        "  rank  formula         spacegroup  mult   Ewald(meV/at)  screen(eV/at)"
        "  relaxed(meV/at)"
    )
    for c in out["candidates"][:limit]:
        screen = c.get("screen_energy_eV_atom")
        relaxed = c.get("relaxed_relative_eV_atom")
        lines.append(
            f"  {c['rank']:4d}  {c['formula']:15s} {c['spacegroup']:11s} "
            f"{c['multiplicity']:5d} "
            f"{1000 * c['ewald_relative_eV_atom']:14.2f} "
            f"{'' if screen is None else f'{screen:.4f}':>14s} "
            f"{'' if relaxed is None else f'{1000 * relaxed:.2f}':>16s}"
        )
    lines += [f"  note: {n}" for n in out.get("notes", [])]
    return "\n".join(lines)


def order(
    file: Annotated[
        Path, typer.Argument(help="Disordered structure (CIF with occupancies).")
    ],
    supercell: Annotated[
        str | None, typer.Option("--supercell", help="Supercell, e.g. 1,1,2 (or 9 ints).")
    ] = None,
    atoms: Annotated[
        int | None,
        typer.Option(
            "--atoms", help="Instead of --supercell: every cell shape of this size."
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", help="Candidates relaxed with the potential.")
    ] = 5,
    keep: Annotated[int, typer.Option("--keep", help="Candidates kept after Ewald.")] = 20,
    potential: Annotated[
        str | None,
        typer.Option(
            "--potential", help="Potential for screening/relaxing (none: Ewald only)."
        ),
    ] = None,
    oxidation: Annotated[
        str | None, typer.Option("--oxidation", help="Charges, e.g. Li=1,Y=3,Cl=-1.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of sampling/annealing.")] = 0,
    write: Annotated[
        Path | None, typer.Option("--write", help="Write the ranked cells as CIFs here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rank the symmetry-distinct ordered cells of a disordered structure.

    Enumerates (or samples, for huge cells) the orderings in the supercell, ranks them
    by Ewald energy, and with --potential screens and relaxes the best. The result is
    stored like any flow (see `sse-flows status`).
    """
    from sse_flows.cli.main import _dumps, _fail
    from sse_flows.makers.ordering import EnumerateOrderingsMaker, OrderingMaker
    from sse_flows.structures import read_structure

    try:
        structure = read_structure(file)
        if (supercell is None) == (atoms is None):
            raise SSEFlowsError("Give one of --supercell a,b,c or --atoms N.")
        cell: list[int] | list[list[int]] | None = None
        if supercell is not None:
            values = _ints(supercell)
            cell = values if len(values) == 3 else [values[0:3], values[3:6], values[6:9]]
        maker = OrderingMaker(
            potential=potential,
            top=top,
            enumerate_maker=EnumerateOrderingsMaker(
                supercell=cell,
                n_atoms=atoms,
                keep=max(keep, top) if potential else keep,
                oxidation_states=_charges(oxidation),
                seed=seed,
            ),
        )
        if cell is not None:  # bad occupancies or charges fail here, before a run starts
            from sse_flows.ordering import build_problem

            build_problem(structure, cell, _charges(oxidation))
        flow = maker.make(structure)
        if potential is not None:  # fail before any work if it cannot load
            check_available(potential)
    except SSEFlowsError as exc:
        _fail(exc)
    spec = {"command": "order", "file": str(file.resolve()), "supercell": supercell,
            "atoms": atoms, "top": top, "keep": keep, "potential": potential,
            "oxidation": oxidation, "seed": seed}  # fmt: skip
    flow_uuid, out = run_stored(flow, spec, "ordering")
    written: list[str] = []
    if write is not None:
        from pymatgen.core import Structure
        from pymatgen.io.cif import CifWriter

        write.mkdir(parents=True, exist_ok=True)
        for entry, structure_dict in zip(out["candidates"], out["structures"], strict=True):
            path = (
                write / f"rank{entry['rank']:03d}_{entry['formula'].replace(' ', '')}.cif"
            )
            CifWriter(Structure.from_dict(structure_dict)).write_file(path)
            written.append(str(path))
    if as_json:
        brief = {k: v for k, v in out.items() if k not in {"structures", "parent"}}
        typer.echo(_dumps({"flow_uuid": flow_uuid, "written": written, **brief}))
        return
    typer.echo(f"flow {flow_uuid}: COMPLETED")
    typer.echo(summarise_ordering(out))
    if written:
        typer.echo(f"wrote {len(written)} CIFs to {write}")
