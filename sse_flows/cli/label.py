"""``sse-flows label``: DFT energies, forces and stresses for frames, as a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_flows.cli.app import command, fail, run_command_spec, show_output
from sse_flows.errors import SSEFlowsError


@command()
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
    from sse_flows.dft.backends import get_backend
    from sse_flows.makers.labeling import resolve_preset
    from sse_flows.spec import FlowSpec, LabelSpec

    try:
        if every < 1:
            raise SSEFlowsError("--every must be at least 1")
        spec = FlowSpec.from_data(
            {
                "flow": "label",
                "name": name,
                "label": {
                    "frames": [str(f.resolve()) for f in files],
                    "every": every,
                    "preset": preset,
                    "code": code,
                    "frames_per_job": frames_per_job,
                    "max_jobs": max_jobs,
                    "min_success_fraction": min_success,
                },
            },
            Path.cwd(),
            "label options",
        )
        assert isinstance(spec, LabelSpec)
        frames = spec.frames()  # a malformed file fails here
        loaded = resolve_preset(spec.label.labeling.preset, code)
        elements = sorted({el.symbol for s in frames for el in s.composition.elements})
        get_backend(loaded.code).check_ready(loaded, elements)  # fail before any work
    except (SSEFlowsError, ValueError) as exc:
        fail(exc)
    flow_uuid, out = run_command_spec(spec)
    show_output(flow_uuid, out, as_json)
