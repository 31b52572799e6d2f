"""What the CP2K labeling path costs on top of running CP2K itself.

One frame, one input file, three arms run in turn (rotated each repetition):

- ``bare``: ``mpirun -np 1 cp2k.psmp -i cp2k.inp`` on the input the backend wrote
  (basis and potential files copied beside it): CP2K alone;
- ``label``: ``Cp2kBackend.label`` (atomate2 input writer, custodian with its CP2K
  handlers and validator, parsing, clean-up), custodian polling every 2 s (default);
- ``label poll 10 s``: the same with custodian's own default polling interval.

Reported per arm: median and minimum wall time, ratio of medians to ``bare`` and the
extra seconds per frame. The frame is 2-atom rock salt LiCl with the shipped
``cp2k-pbe-small`` preset (k-point density 30: 6x6x6 here).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dft_labeling.py
    # writes benchmarks/results/dft_labeling.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, git_state, package_version, write_results
from pymatgen.core import Lattice, Structure

from sse_flows.dft.backends import get_backend
from sse_flows.dft.cp2k import cp2k_command
from sse_flows.dft.presets import load_dft_preset

INPUTS = ("cp2k.inp", "BASIS", "POTENTIAL")


def licl() -> Structure:
    """Primitive rock salt LiCl, Li displaced so the forces are not zero."""
    cell = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()
    cell.translate_sites([0], [0.05, 0.0, 0.0], frac_coords=False)
    return cell


def run_label(preset_name: str, polling: int, directory: Path) -> float:
    """Wall time of one backend.label call with custodian polling ``polling`` s."""
    os.environ["SSE_FLOWS_CUSTODIAN_POLLING_S"] = str(polling)
    start = time.perf_counter()
    frame = get_backend("cp2k").label(licl(), 0, load_dft_preset(preset_name), directory)
    wall = time.perf_counter() - start
    if not frame.ok:
        raise RuntimeError(f"labeling failed: {frame.reason}")
    return wall


def run_bare(template: Path, directory: Path) -> float:
    """Wall time of CP2K alone on the backend's input."""
    directory.mkdir(parents=True)
    for name in INPUTS:
        if (template / name).is_file():
            shutil.copy(template / name, directory / name)
    command = [*shlex.split(cp2k_command()), "-i", "cp2k.inp", "-o", "cp2k.out"]
    start = time.perf_counter()
    subprocess.run(command, cwd=directory, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    """Run the arms and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="cp2k-pbe-small")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "dft_labeling.json")
    args = parser.parse_args()
    begin = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_dft_"))
    # warm-up: writes the input the bare arm reuses, not timed
    run_label(args.preset, 2, work / "template")
    arms = ["bare", "label", "label poll 10 s"]
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    for rep in range(args.repeats):
        order = arms[rep % len(arms) :] + arms[: rep % len(arms)]
        for arm in order:
            folder = work / f"{arm.replace(' ', '_')}_{rep}"
            if arm == "bare":
                wall = run_bare(work / "template", folder)
            else:
                wall = run_label(args.preset, 10 if "10" in arm else 2, folder)
            times[arm].append(wall)
            print(f"rep {rep} {arm:16s} {wall:6.1f} s")
    bare = statistics.median(times["bare"])
    summary: dict[str, Any] = {}
    print(f"\n{'arm':16s} {'median s':>9s} {'min s':>7s} {'ratio':>6s} {'extra s':>8s}")
    for arm in arms:
        median = statistics.median(times[arm])
        summary[arm] = {
            "wall_s": times[arm],
            "median_s": median,
            "min_s": min(times[arm]),
            "ratio_to_bare": median / bare,
            "extra_s": median - bare,
        }
        print(
            f"{arm:16s} {median:9.1f} {min(times[arm]):7.1f} "
            f"{median / bare:6.2f} {median - bare:8.1f}"
        )
    shutil.rmtree(work, ignore_errors=True)
    write_results(
        args.out,
        {
            "benchmark": "dft_labeling",
            "preset": args.preset,
            "frame": "LiCl primitive rock salt, 2 atoms",
            "repeats": args.repeats,
            "arms": summary,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "packages": {
                p: package_version(p) for p in ("atomate2", "custodian", "pymatgen")
            },
            **git_state(),
            "total_wall_s": time.perf_counter() - begin,
        },
    )


if __name__ == "__main__":
    main()
