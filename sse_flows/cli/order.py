"""``sse-flows order``: ordered cells of a disordered structure from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_flows.cli.app import command, fail, run_command_spec, show_output
from sse_flows.errors import SSEFlowsError


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


@command()
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
    from sse_flows.spec import FlowSpec

    try:
        if (supercell is None) == (atoms is None):
            raise SSEFlowsError("Give one of --supercell a,b,c or --atoms N.")
        cell: list[int] | list[list[int]] | None = None
        if supercell is not None:
            values = _ints(supercell)
            cell = values if len(values) == 3 else [values[0:3], values[3:6], values[6:9]]
        spec = FlowSpec.from_data(
            {
                "flow": "order",
                "structure": str(file.resolve()),
                "order": {
                    "potential": potential or "none",
                    "top": top,
                    "supercell": cell,
                    "n_atoms": atoms,
                    "keep": max(keep, top) if potential else keep,
                    "oxidation_states": _charges(oxidation),
                    "seed": seed,
                },
            },
            Path.cwd(),
            "order options",
        )
    except SSEFlowsError as exc:
        fail(exc)
    flow_uuid, out = run_command_spec(spec)
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
    brief = tuple(k for k in out if k not in {"structures", "parent"})
    show_output(flow_uuid, out, as_json, brief, extra={"written": written})
    if written and not as_json:
        typer.echo(f"wrote {len(written)} CIFs to {write}")
