"""MD through the worker proxy against the same model in-process inside its env.

A tiny MACE (trained here with ``mace_run_train`` on EMT Cu frames, or ``--model``)
runs NVE velocity Verlet on a 108-atom fcc Cu cell (3x3x3 conventional), 2 fs:

- ``direct``: a script in the MACE environment's own Python with ``MACECalculator``;
- ``proxy``: this environment, the calculator from ``load_potential('mace:...')``,
  i.e. every step's positions and results cross the framed pipe to the worker.

Both arms run the same steps after the same warm-up; they alternate ``--repeats``
times so machine load hits both. The figure is the ratio of the median wall time per
step (target <= 1.15).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_proxy.py [--model M.model]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, git_state, package_version, write_results

MD_SCRIPT = """
import json, sys, time
import numpy as np
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from ase import units

def run(calc, steps, warmup):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.02, seed=1)
    rng = np.random.default_rng(0)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=rng)
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, 2 * units.fs)
    dyn.run(warmup)
    start = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - start) / steps, atoms.get_potential_energy()
"""

DIRECT = (
    MD_SCRIPT
    + """
from mace.calculators import MACECalculator
calc = MACECalculator(model_paths=sys.argv[1], device="cpu", default_dtype="float64")
per_step, energy = run(calc, int(sys.argv[2]), int(sys.argv[3]))
print(json.dumps({"per_step_s": per_step, "energy": energy}))
"""
)


def direct_arm(python: Path, model: Path, steps: int, warmup: int) -> dict:
    """Per-step time of the model in its own interpreter."""
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(python), "-c", DIRECT, str(model), str(steps), str(warmup)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def proxy_arm(model: Path, steps: int, warmup: int) -> dict:
    """Per-step time through load_potential's worker proxy."""
    from sse_flows.potentials import PotentialSpec, load_potential

    namespace: dict = {}
    exec(MD_SCRIPT, namespace)  # the same MD function as the direct arm
    with load_potential(PotentialSpec.parse(f"mace:{model}")) as loaded:
        per_step, energy = namespace["run"](loaded.calculator, steps, warmup)
    return {"per_step_s": per_step, "energy": energy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "proxy.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    from sse_flows.potentials.environments import env_python

    python = env_python("mace")
    model = args.model
    if model is None:
        sys.path.insert(0, str(ROOT.parent))
        from tests.tiny_models import train_mace

        model = train_mace(python, Path(tempfile.mkdtemp(prefix="bench_proxy_")))
    runs: dict[str, list[dict]] = {"direct": [], "proxy": []}
    for repeat in range(args.repeats):
        order = ("direct", "proxy") if repeat % 2 == 0 else ("proxy", "direct")
        for arm in order:
            result = (
                direct_arm(python, model, args.steps, args.warmup)
                if arm == "direct"
                else proxy_arm(model, args.steps, args.warmup)
            )
            runs[arm].append(result)
            print(f"{arm:6s} {1e3 * result['per_step_s']:.2f} ms/step", flush=True)
    medians = {
        arm: statistics.median(r["per_step_s"] for r in rs) for arm, rs in runs.items()
    }
    ratio = medians["proxy"] / medians["direct"]
    same = abs(runs["proxy"][0]["energy"] - runs["direct"][0]["energy"])
    print(
        f"median ms/step: direct {1e3 * medians['direct']:.2f}, proxy "
        f"{1e3 * medians['proxy']:.2f}; ratio {ratio:.3f}; |dE| final {same:.2e} eV"
    )
    write_results(
        args.out,
        {
            "benchmark": "proxy",
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "packages": {p: package_version(p) for p in ("ase", "numpy", "torch")},
            **git_state(),
            "atoms": 108,
            "steps": args.steps,
            "warmup": args.warmup,
            "runs": runs,
            "median_per_step_s": medians,
            "ratio_proxy_to_direct": ratio,
            "final_energy_difference_eV": same,
            "total_wall_s": time.perf_counter() - t0,
        },
    )


if __name__ == "__main__":
    main()
