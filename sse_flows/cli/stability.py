"""``sse-flows stability``: E_f, E_hull, decomposition and Li window of a structure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.common import run_stored
from sse_flows.errors import SSEFlowsError
from sse_flows.potentials import check_available


def summarise_stability(out: dict[str, Any]) -> str:
    """Readable lines for a stability document."""
    lines = [
        f"stability of {out['summary']['formula_pretty']} in {out['chemsys']} "
        f"({len(out['entries'])} entries, corrections: {out['corrections']['scheme']}, "
        f"pymatgen {out['pymatgen_version']})",
        f"  E_f    = {out['e_form_eV_atom']:.4f} eV/atom",
        f"  E_hull = {1000 * out['e_hull_eV_atom']:.1f} meV/atom"
        + (" (on the hull)" if out["stable"] else ""),
        "  decomposition: "
        + " + ".join(f"{p['fraction']:.3f} {p['formula']}" for p in out["decomposition"]),
    ]
    window = out.get("window")
    if out.get("window_V") is not None and window:
        low, high = out["window_V"]
        lines.append(
            f"  window: {low:.2f} - {high:.2f} V vs Li/Li+ (plot: {window['plot']})"
        )
        for r in window["ranges"]:
            top = "inf" if r["v_high"] is None else f"{r['v_high']:.2f}"
            lines.append(
                f"    {r['v_low']:5.2f} - {top:>5s} V: Li uptake {r['li_uptake']:+.3f}"
                f" per f.u., {' + '.join(r['phases'])}"
            )
    lines.append("  entries (label, source, E/atom eV, E_hull meV/atom):")
    for e in out["entries"]:
        lines.append(
            f"    {e['label']:18s} {e['source']:9s} {e['energy_per_atom_eV']:9.4f} "
            f"{1000 * e['e_above_hull_eV_atom']:8.1f}"
        )
    if not out["complete"]:
        failed = ", ".join(f["label"] for f in out["failed_phases"])
        lines.append(f"  INCOMPLETE: failed phases left out: {failed}")
    lines += [f"  note: {n}" for n in out["notes"]]
    return "\n".join(lines)


def stability(
    file: Annotated[Path, typer.Argument(help="Structure file of the target (ordered).")],
    potential: Annotated[
        str, typer.Option("--potential", help="Potential relaxing every phase.")
    ] = "chgnet",
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
        str, typer.Option("--corrections", help="none or mp2020_anion.")
    ] = "none",
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compute formation energy, E_hull, decomposition and Li window of a structure.

    Relaxes the target and every competing phase (shipped prototypes of its system plus
    --competing files) with one potential, builds the phase diagram, and for Li
    compounds computes the electrochemical window vs Li/Li+ with a plot. The result is
    stored like any flow (see `sse-flows status`).
    """
    from sse_flows.cli.main import _dumps, _fail
    from sse_flows.makers.relax import RelaxMaker
    from sse_flows.makers.stability import StabilityAnalysisMaker, StabilityMaker
    from sse_flows.structures import read_structure

    try:
        structure = read_structure(file)
        maker = StabilityMaker(
            potential=potential,
            use_prototypes=prototypes,
            derive_halogens=derive_halogens,
            relax_maker=RelaxMaker(name="relax phase", fmax=fmax, max_steps=max_steps),
            analysis_maker=StabilityAnalysisMaker(
                corrections=corrections, allow_incomplete=allow_incomplete
            ),
        )
        if corrections not in ("none", "mp2020_anion"):
            raise SSEFlowsError(
                f"--corrections takes none or mp2020_anion, not {corrections}"
            )
        flow = maker.make(structure, competing=competing)
        check_available(potential)  # fail before any work if it cannot load
    except SSEFlowsError as exc:
        _fail(exc)
    spec = {
        "command": "stability",
        "file": str(file.resolve()),
        "potential": potential,
        "competing": str(competing) if competing else None,
        "prototypes": prototypes,
        "derive_halogens": derive_halogens,
        "corrections": corrections,
        "allow_incomplete": allow_incomplete,
        "fmax": fmax,
        "max_steps": max_steps,
    }
    flow_uuid, out = run_stored(flow, spec, "stability")
    if as_json:
        keys = ("e_form_eV_atom", "e_hull_eV_atom", "decomposition", "window_V")
        brief = {k: out[k] for k in keys}
        rest = {k: v for k, v in out.items() if k not in {"structure", *keys}}
        typer.echo(_dumps({"flow_uuid": flow_uuid, **brief, **rest}))
        return
    typer.echo(f"flow {flow_uuid}: COMPLETED")
    typer.echo(summarise_stability(out))
