"""``sse-flows label``: DFT energies, forces and stresses for frames, as a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.common import run_stored
from sse_flows.dft.frames import read_frames
from sse_flows.errors import SSEFlowsError


def summarise_dataset(out: dict[str, Any]) -> str:
    """Readable lines for a labeled dataset document."""
    dft = out["dft"]
    lines = [
        f"dataset {out['name']}: {out['n_success']} of {out['n_frames']} frames labeled "
        f"({100 * out['success_fraction']:.0f} %, threshold "
        f"{100 * out['min_success_fraction']:.0f} %)",
        f"  {dft['code']} {dft.get('code_version') or ''} {dft['functional']}, "
        f"preset {dft['preset']}",
        f"  units: {out['energy_unit']}, {out['force_unit']}, {out['stress_unit']} "
        f"({out['stress_sign']})",
        f"  extxyz: {out['files']['extxyz']}",
    ]
    if out["files"].get("deepmd"):
        lines.append(f"  deepmd: {out['files']['deepmd']}")
    if out.get("corrections"):
        fixes = ", ".join(f"{k} x{v}" for k, v in out["corrections"].items())
        lines.append(f"  custodian corrections: {fixes}")
    lines += [f"  failed frame {f['index']}: {f['reason']}" for f in out["failed"]]
    return "\n".join(lines)


def label(
    files: Annotated[
        list[Path], typer.Argument(help="Frame files: MD .h5, extxyz, traj, CIF, POSCAR.")
    ],
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="cp2k-pbe-small, vasp-mp-pbe, vasp-paper000, vasp-paper001-scan, or "
            "a preset YAML file [default: the code's: cp2k-pbe-small, vasp-mp-pbe].",
        ),
    ] = None,
    code: Annotated[
        str | None, typer.Option("--code", help="cp2k or vasp (checked against preset).")
    ] = None,
    every: Annotated[int, typer.Option("--every", help="Take every N-th frame.")] = 1,
    frames_per_job: Annotated[
        int, typer.Option("--frames-per-job", help="Frames per batch job.")
    ] = 20,
    max_jobs: Annotated[
        int | None, typer.Option("--max-jobs", help="At most this many batch jobs.")
    ] = None,
    min_success: Annotated[
        float,
        typer.Option("--min-success", help="Fraction of frames that must succeed."),
    ] = 0.9,
    name: Annotated[str, typer.Option("--name", help="Dataset name.")] = "dft labeling",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Label frames with DFT and write the dataset (extxyz and DeePMD npy).

    Frames are labeled in batches (one job per --frames-per-job frames); failed frames
    are reported and left out. Runs here on the configured store; to send it to a
    cluster, build the flow with LabelingMaker and use `sse-flows submit`.
    """
    from sse_flows.cli.main import _dumps, _fail
    from sse_flows.dft.backends import get_backend
    from sse_flows.makers.labeling import LabelingMaker, resolve_preset

    try:
        if every < 1:
            raise SSEFlowsError("--every must be at least 1")
        frames = [f for path in files for f in read_frames(path, every)]
        maker = LabelingMaker(
            name=name,
            preset=preset,
            code=code,
            frames_per_job=frames_per_job,
            max_jobs=max_jobs,
            min_success_fraction=min_success,
        )
        flow = maker.make(frames)
        loaded = resolve_preset(preset, code)
        elements = sorted({el.symbol for s in frames for el in s.composition.elements})
        get_backend(loaded.code).check_ready(loaded, elements)  # fail before any work
    except (SSEFlowsError, ValueError) as exc:
        _fail(exc)
    spec = {
        "command": "label",
        "files": [str(f.resolve()) for f in files],
        "preset": preset or loaded.name,
        "code": code,
        "every": every,
        "frames_per_job": frames_per_job,
        "max_jobs": max_jobs,
        "min_success": min_success,
    }
    _, out = run_stored(flow, spec, "label")
    typer.echo(_dumps(out) if as_json else summarise_dataset(out))
