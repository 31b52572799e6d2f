"""Committee MD (one model drives, N score) against single-model MD, per step.

Two jobs on the same 32-atom fcc Cu cell (2x2x2 conventional, rattled), NVT Langevin
at 600 K, 2 fs, with CHGNet 0.3.0 (shipped with the package):

- ``single``: :class:`~sse_flows.makers.md.MDMaker`, one model, a frame stored every
  ``k`` steps;
- ``committee``: :class:`~sse_flows.makers.explore.ExploreMaker` with N copies of the
  model loaded separately: the first drives the MD and stores its forces, the other
  N - 1 evaluate every stored frame (every ``k`` steps), then ``model_devi.out`` and
  the classification are written.

Per-step time by differencing: each arm runs S1 and S2 steps, the figure is
(t(S2) - t(S1)) / (S2 - S1), so loading the models and starting the job cancel. The
arms alternate; medians of ``--repeats``. Target: committee / single <= N x 1.05.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_committee.py [--models 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, git_state, package_version, write_results


def _structure() -> Any:
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.03, seed=1)
    return AseAtomsAdaptor.get_structure(atoms)


def run_arm(
    arm: str, steps: int, every: int, models: int, potential: str, virials: bool = True
) -> float:
    """Run one job in a fresh folder; return its wall time (s)."""
    from jobflow import run_locally

    from sse_flows.makers.explore import ExploreMaker
    from sse_flows.makers.md import MDMaker

    folder = Path(tempfile.mkdtemp(prefix=f"bench_committee_{arm}_"))
    protocol: dict[str, Any] = {
        "ensemble": "nvt",
        "thermostat": "langevin",
        "temperature": 600.0,
        "timestep_fs": 2.0,
        "production_steps": steps,
        "sample_interval": every,
        "checkpoint_interval": steps,
        "run_dir": str(folder),
    }
    if arm == "single":
        job = MDMaker(**protocol).make(_structure(), potential=potential)
    else:
        job = ExploreMaker(**protocol, score_virials=virials).make(
            _structure(), [potential] * models
        )
    start = time.perf_counter()
    run_locally(job, store=None, ensure_success=True, log=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--potential", default="chgnet")
    parser.add_argument("--steps", default="20,120", help="S1,S2")
    parser.add_argument("--every", default="1,10", help="sample intervals k to measure")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--no-virials", action="store_true", help="score forces and energies only"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "committee.json")
    args = parser.parse_args()
    os.environ.setdefault("SSE_FLOWS_PROGRESS", "false")
    s1, s2 = (int(s) for s in args.steps.split(","))
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    run_arm("single", s1, 1, args.models, args.potential)  # warm-up: imports, caches
    for every in (int(k) for k in args.every.split(",")):
        per_step: dict[str, list[float]] = {"single": [], "committee": []}
        for repeat in range(args.repeats):
            arms = ("single", "committee") if repeat % 2 == 0 else ("committee", "single")
            for arm in arms:
                virials = not args.no_virials
                short = run_arm(arm, s1, every, args.models, args.potential, virials)
                long = run_arm(arm, s2, every, args.models, args.potential, virials)
                per_step[arm].append((long - short) / (s2 - s1))
                print(
                    f"k={every:3d} {arm:9s} {s1}: {short:.1f} s, {s2}: {long:.1f} s -> "
                    f"{1e3 * per_step[arm][-1]:.1f} ms/step",
                    flush=True,
                )
        medians = {arm: statistics.median(v) for arm, v in per_step.items()}
        ratio = medians["committee"] / medians["single"]
        results[f"k={every}"] = {
            "per_step_s": per_step,
            "median_per_step_s": medians,
            "ratio_committee_to_single": ratio,
            "target": args.models * 1.05,
        }
        print(f"k={every}: committee / single = {ratio:.2f} (target <= "
              f"{args.models * 1.05:.2f})", flush=True)  # fmt: skip
    write_results(
        args.out,
        {
            "benchmark": "committee",
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "packages": {p: package_version(p) for p in ("ase", "torch", "chgnet")},
            **git_state(),
            "atoms": 32,
            "models": args.models,
            "score_virials": not args.no_virials,
            "potential": args.potential,
            "steps": [s1, s2],
            "repeats": args.repeats,
            "results": results,
            "total_wall_s": time.perf_counter() - t0,
        },
    )


if __name__ == "__main__":
    main()
