"""Wall time of sse-flows' MD maker against a bare ASE loop doing the same MD.

For each potential the same calculator object (loaded once through the registry) runs
the same structure, integrator, parameters, seeds and number of steps in up to four
arms, interleaved and rotated per repetition so that drift on a shared machine hits
every arm alike:

  ase             MaxwellBoltzmann + Stationary, then ``dyn.run(steps)``
  engine          ``sse_flows.md.engine.run_md(..., progress=False)``
  maker           ``MDMaker(...).make(structure)`` run by ``jobflow.run_locally``
                  (SSE_FLOWS_PROGRESS=false)
  maker+progress  the same with the tqdm progress bar on (SSE_FLOWS_PROGRESS=true)

Model loading and one short warm-up run per arm are excluded. The warm-up also
checks that every arm produced the same final positions as the bare loop, i.e. did
the same work. Ratios are arm / ase: of the medians, of the minima, the median of the
per-repetition (paired) ratios and the ratio of median CPU times.

    OMP_NUM_THREADS=1 python benchmarks/bench_md_overhead.py
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _common import git_state, package_version, write_results

ROOT = Path(__file__).resolve().parent
DEFAULT_OUTPUT = ROOT / "results" / "md_overhead.json"
ML_STEPS, ML_REPEATS = 100, 5  # CHGNet: ~0.18 s/step for 48 atoms here
DEFAULT_STEPS = {"emt": 200}  # other potentials: ML_STEPS
DEFAULT_REPEATS = {"emt": 8}  # cheap, and its runs are the noisiest: more of them
PACKAGES = ("sse-flows", "ase", "jobflow", "torch", "chgnet", "h5py")
ARMS = ("ase", "engine", "maker", "maker+progress")

Runner = Callable[[int, Path], np.ndarray]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--potential",
        nargs="+",
        default=["chgnet", "emt"],
        help="registry names; 'emt' runs fcc Cu, anything else antifluorite Li2S",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"MD steps per run (default: {ML_STEPS} for ML potentials, 200 for emt)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"timed runs per arm (default: {ML_REPEATS} for ML potentials, 8 for emt)",
    )
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument(
        "--supercell",
        type=int,
        nargs=3,
        default=[2, 2, 1],
        help="Li2S conventional cell (12 atoms) repeats (default 48 atoms)",
    )
    parser.add_argument(
        "--emt-supercell",
        type=int,
        nargs=3,
        default=[3, 3, 3],
        help="Cu conventional cell (4 atoms) repeats (default 108 atoms)",
    )
    parser.add_argument(
        "--ensemble",
        choices=["nvt", "nve"],
        default="nvt",
        help="nvt: Langevin + FixCom (the maker default); nve: VelocityVerlet",
    )
    parser.add_argument("--temperature", type=float, default=600.0)
    parser.add_argument("--timestep-fs", type=float, default=2.0)
    parser.add_argument("--sample-interval", type=int, default=10)
    parser.add_argument("--checkpoint-interval", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--engine-for",
        nargs="*",
        default=["emt"],
        metavar="POTENTIAL",
        help="potentials that also get the engine-only arm",
    )
    parser.add_argument(
        "--progress-for",
        nargs="*",
        default=["emt"],
        metavar="POTENTIAL",
        help="potentials that also get the maker+progress arm",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- setup


def build_structure(potential: str, args: argparse.Namespace) -> Any:
    from pymatgen.core import Lattice, Structure

    if potential == "emt":
        cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
        return cu * args.emt_supercell
    # Antifluorite Li2S, a = 5.72 A, as examples/structures/Li2S.cif.
    li2s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.72), ["S", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    return li2s * args.supercell


def protocol_kwargs(args: argparse.Namespace, steps: int) -> dict[str, Any]:
    return {
        "ensemble": args.ensemble,
        "thermostat": "langevin" if args.ensemble == "nvt" else None,
        "temperature": args.temperature,
        "timestep_fs": args.timestep_fs,
        "equilibration_steps": 0,
        "production_steps": steps,
        "sample_interval": args.sample_interval,
        "checkpoint_interval": args.checkpoint_interval,
        "seed": args.seed,
    }


def make_runners(
    potential: str, structure: Any, calculator: Any, args: argparse.Namespace
) -> dict[str, Runner]:
    """Return arm name -> run(steps, scratch dir) giving the final positions."""
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from sse_flows.makers import MDMaker
    from sse_flows.md.engine import run_md
    from sse_flows.md.protocol import MDProtocol
    from sse_flows.structures import to_atoms

    atoms0 = to_atoms(structure)  # the conversion the maker does

    def ase_loop(steps: int, scratch: Path) -> np.ndarray:
        # Mirrors sse_flows.md.integrators.build_dynamics and run_md's velocity draw.
        atoms = atoms0.copy()
        atoms.calc = calculator
        rng = np.random.default_rng(args.seed)
        MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=rng)
        Stationary(atoms)
        dt = args.timestep_fs * units.fs
        if args.ensemble == "nve":
            dyn = VelocityVerlet(atoms, timestep=dt)
        else:
            atoms.set_constraint(FixCom())
            dyn = Langevin(
                atoms,
                timestep=dt,
                temperature_K=args.temperature,
                friction=MDProtocol.friction_per_fs / units.fs,
                fixcm=False,
                rng=np.random.default_rng(args.seed + 1),
            )
        dyn.run(steps)
        return atoms.get_positions()

    def engine(steps: int, scratch: Path) -> np.ndarray:
        protocol = MDProtocol(**protocol_kwargs(args, steps))
        result = run_md(atoms0, calculator, protocol, scratch / "md", progress=False)
        assert result.steps_done == steps
        return result.atoms.get_positions()

    def maker(steps: int, scratch: Path, progress: bool = False) -> np.ndarray:
        os.environ["SSE_FLOWS_PROGRESS"] = "true" if progress else "false"
        job = MDMaker(run_dir=str(scratch / "md"), **protocol_kwargs(args, steps)).make(
            structure, potential=potential
        )
        responses = run_locally(
            job,
            store=JobStore(MemoryStore()),
            create_folders=True,
            root_dir=scratch,
            log=False,
            ensure_success=True,
        )
        output = responses[job.uuid][1].output
        assert output.steps == steps
        return output.structure.cart_coords

    runners: dict[str, Runner] = {"ase": ase_loop, "maker": maker}
    if potential in args.engine_for:
        runners["engine"] = engine
    if potential in args.progress_for:
        runners["maker+progress"] = lambda steps, scratch: maker(steps, scratch, True)
    return {arm: runners[arm] for arm in ARMS if arm in runners}


def timed(run: Runner, steps: int) -> tuple[float, float, np.ndarray]:
    """Run one arm in a fresh scratch directory; return wall s, CPU s, positions."""
    scratch = Path(tempfile.mkdtemp(prefix="sse-bench-"))
    try:
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        positions = run(steps, scratch)
        return time.perf_counter() - t0, time.process_time() - c0, positions
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        os.environ["SSE_FLOWS_PROGRESS"] = "false"


# --------------------------------------------------------------------------- bench


def bench_potential(potential: str, args: argparse.Namespace) -> dict[str, Any]:
    from sse_flows.potentials import PotentialSpec, load_potential, registry

    steps = args.steps or DEFAULT_STEPS.get(potential, ML_STEPS)
    repeats = args.repeats or DEFAULT_REPEATS.get(potential, ML_REPEATS)
    structure = build_structure(potential, args)
    t0 = time.perf_counter()
    calculator = load_potential(PotentialSpec.parse(potential)).calculator
    load_s = time.perf_counter() - t0
    runners = make_runners(potential, structure, calculator, args)
    label = f"{potential}: {structure.composition.reduced_formula} {len(structure)} atoms"
    print(f"\n{label}, {steps} steps x {repeats} repeats, arms {list(runners)}")
    print(f"  model load {load_s:.1f} s (excluded)", flush=True)

    # Warm-up (not timed): also checks that every arm did the same MD.
    reference = None
    max_dev: dict[str, float] = {}
    for arm, run in runners.items():
        _, _, positions = timed(run, args.warmup_steps)
        reference = positions if reference is None else reference
        max_dev[arm] = float(np.abs(positions - reference).max())
    cached = [p.calculator for p in registry._CACHE.values() if p.family.name == potential]
    same_calc = len(cached) == 1 and cached[0] is calculator
    print(f"  warm-up max |dx| vs ase (A): {max_dev}; one cached calculator: {same_calc}")

    arms = list(runners)
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu: dict[str, list[float]] = {arm: [] for arm in arms}
    order_log, load_log = [], []
    for rep in range(repeats):
        # Rotate the order each repetition: with two arms this is A B, B A, A B, ...
        order = arms[rep % len(arms) :] + arms[: rep % len(arms)]
        order_log.append(order)
        load_log.append(os.getloadavg()[0])
        for arm in order:
            elapsed, cpu_s, _ = timed(runners[arm], steps)
            times[arm].append(elapsed)
            cpu[arm].append(cpu_s)
        row = "  ".join(f"{arm} {times[arm][-1]:.2f}s" for arm in arms)
        print(f"  rep {rep + 1} (load {load_log[-1]:.1f}): {row}", flush=True)

    med_of = {arm: statistics.median(times[arm]) for arm in arms}
    cpu_med_of = {arm: statistics.median(cpu[arm]) for arm in arms}
    summary = {}
    for arm in arms:
        paired = [t / b for t, b in zip(times[arm], times["ase"], strict=True)]
        summary[arm] = {
            "times_s": times[arm],
            "cpu_s": cpu[arm],
            "median_s": med_of[arm],
            "min_s": min(times[arm]),
            "ratio_median": med_of[arm] / med_of["ase"],
            "ratio_min": min(times[arm]) / min(times["ase"]),
            "paired_ratios": paired,
            "paired_ratio_median": statistics.median(paired),
            "cpu_ratio_median": cpu_med_of[arm] / cpu_med_of["ase"],
            "overhead_ms_per_step": (med_of[arm] - med_of["ase"]) / steps * 1e3,
        }
    return {
        "potential": potential,
        "formula": structure.composition.reduced_formula,
        "n_atoms": len(structure),
        "steps": steps,
        "repeats": repeats,
        "protocol": protocol_kwargs(args, steps),
        "model_load_s": load_s,
        "ase_ms_per_step": med_of["ase"] / steps * 1e3,
        "loadavg_1min_per_repeat": load_log,
        "warmup_max_position_deviation_A": max_dev,
        "single_cached_calculator": same_calc,
        "order": order_log,
        "arms": summary,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'potential':<9} {'atoms':>5} {'steps':>5} {'arm':<15} {'median s':>9} "
        f"{'min s':>8} {'ratio med':>9} {'ratio min':>9} {'paired':>7} {'cpu':>6} "
        f"{'ms/step+':>8}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for res in results:
        for arm, s in res["arms"].items():
            print(
                f"{res['potential']:<9} {res['n_atoms']:>5} {res['steps']:>5} {arm:<15} "
                f"{s['median_s']:>9.3f} {s['min_s']:>8.3f} {s['ratio_median']:>9.3f} "
                f"{s['ratio_min']:>9.3f} {s['paired_ratio_median']:>7.3f} "
                f"{s['cpu_ratio_median']:>6.3f} {s['overhead_ms_per_step']:>8.2f}"
            )
    print(
        "ratios are arm / ase: 'ratio med' of medians, 'ratio min' of minima, 'paired' "
        "median of per-repetition ratios, 'cpu' of median CPU times; 'ms/step+' is "
        "(median - ase median) / steps"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "OMP_NUM_THREADS" not in os.environ:
        print("OMP_NUM_THREADS unset: using 1 for torch (set it for numpy too)")
        os.environ["OMP_NUM_THREADS"] = "1"  # torch is imported later and reads it
    os.environ["SSE_FLOWS_PROGRESS"] = "false"
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*requires_grad.*")

    started = time.perf_counter()
    results = [bench_potential(p, args) for p in args.potential]
    print_table(results)

    torch_threads = None
    if "torch" in sys.modules:
        torch_threads = sys.modules["torch"].get_num_threads()
    payload = {
        "benchmark": "md_overhead",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch_threads,
        "python": platform.python_version(),
        "versions": {n: package_version(n) for n in PACKAGES},
        **git_state(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "total_wall_s": time.perf_counter() - started,
        "results": results,
    }
    write_results(args.output, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
