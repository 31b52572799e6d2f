"""Batched relaxation of 200 orderings (the ordering screen) against one by one.

The 200 lowest-Ewald symmetry-distinct orderings of Li/Na rocksalt (Li0.5Na0.5Cl,
every 20-atom supercell shape) are relaxed with the same model and settings
(positions only, FIRE, fmax 0.1 eV/A, at most 100 steps, as the screen's
``method: relax``) by:

- ``one-by-one``: :func:`sse_flows.calc.relax.relax` per structure (atomate2's
  ``AseRelaxer`` with the ASE calculator), what a relax job does;
- ``lockstep bN``: :func:`sse_flows.calc.relax_batch.relax_many` with the family's
  batched predictor, N frames per model call (every structure keeps its own ASE
  optimizer, so the paths are the same: the final energies are compared).

The arms run one after the other in one process (models loaded once, first call
warmed up); ratios are one-by-one time over arm time.

``--mode single-point`` times single points of the same cells instead (what the
screen, ``evaluate`` and the benchmark do): energy, forces and stress through the ASE
calculator one by one against the batched predictor. With a model in another
environment (``--potential mace:FILE``; ``--potential mace`` trains the tiny test
model first) the one-by-one arm pays a pipe round trip per frame, the batched arm one
per 64 frames, and the worker batches with MACE's graphs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_batched.py \
        [--potential chgnet] [--n 200] [--batches 1,8,32] [--mode relax|single-point]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, git_state, package_version, write_results


def orderings(n: int) -> list[Any]:
    """Return ``n`` ordered cells of Li0.5Na0.5Cl (20-atom supercells)."""
    from pymatgen.core import Lattice, Structure

    from sse_flows.ordering import search_orderings
    from sse_flows.structures.io import to_atoms

    parent = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.4), [{"Li": 0.5, "Na": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    search = search_orderings(parent.get_primitive_structure(), n_atoms=20, keep=n)
    cells = [to_atoms(c.structure) for c in search.candidates[:n]]
    if len(cells) < n:
        raise SystemExit(f"only {len(cells)} orderings found")
    return cells


def copper(n: int) -> list[Any]:
    """Return ``n`` rattled 32-atom fcc Cu cells."""
    from ase.build import bulk

    cells = []
    for seed in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
        atoms.rattle(0.05, seed=seed)
        cells.append(atoms)
    return cells


def single_points(cells: list[Any], calculator: Any, batches: str) -> dict[str, Any]:
    """Time energy, forces and stress of every cell: one by one, then batched."""
    from sse_flows.potentials import batch_predictor
    from sse_flows.potentials.batch import OneByOne

    OneByOne(calculator).predict(cells[:2])  # warm up
    start = time.perf_counter()
    reference = OneByOne(calculator).predict(cells)
    base = time.perf_counter() - start
    arms: dict[str, Any] = {"one-by-one": {"seconds": base}}
    print(f"one-by-one: {base:.1f} s", flush=True)
    for size in (int(b) for b in batches.split(",")):
        predictor = batch_predictor(calculator, size)
        start = time.perf_counter()
        results = predictor.predict(cells)
        elapsed = time.perf_counter() - start
        arms[f"batched b{size}"] = {
            "path": predictor.path,
            "seconds": elapsed,
            "speedup": base / elapsed,
            "max_energy_difference_eV": max(
                abs(a.energy - b.energy) for a, b in zip(results, reference, strict=True)
            ),
        }
        print(f"batched b{size} ({predictor.path}): {elapsed:.1f} s", flush=True)
    return arms


def main() -> None:
    """Time the arms and write the results JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--potential", default="chgnet")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--mode", choices=("relax", "single-point"), default="relax")
    parser.add_argument(
        "--system",
        choices=("orderings", "cu"),
        default="orderings",
        help="cu: rattled 32-atom Cu cells (for the tiny Cu-only MACE test model)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default: results/batched_<potential>.json"
    )
    args = parser.parse_args()
    results = ROOT / "results"
    stem = args.potential.split(":")[0]
    suffix = "" if args.mode == "relax" else "_single_point"
    args.out = args.out or results / f"batched_{stem}{suffix}.json"
    warnings.filterwarnings("ignore")

    from sse_flows.calc.relax import RelaxSettings, relax
    from sse_flows.calc.relax_batch import relax_many
    from sse_flows.potentials import PotentialSpec, batch_predictor, load_potential

    began = time.perf_counter()
    cells = orderings(args.n) if args.system == "orderings" else copper(args.n)
    elements = sorted({s for a in cells for s in a.get_chemical_symbols()})
    name = args.potential
    if name == "mace":  # the tiny test model, trained here in the MACE environment
        import sys
        import tempfile

        from sse_flows.potentials.environments import env_python

        sys.path.insert(0, str(ROOT.parent))
        from tests.tiny_models import train_mace

        folder = Path(tempfile.mkdtemp(prefix="bench_batched_"))
        name = f"mace:{train_mace(env_python('mace'), folder)}"
    calculator = load_potential(PotentialSpec.parse(name), elements).calculator
    if args.mode == "single-point":
        arms = single_points(cells, calculator, args.batches)
        write_results(
            args.out,
            {
                "total_wall_s": time.perf_counter() - began,
                "benchmark": "batched single points of orderings",
                "potential": name,
                "n_structures": len(cells),
                "n_atoms": len(cells[0]),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "git": git_state(),
                "arms": arms,
            },
        )
        return
    settings = RelaxSettings(
        fmax=0.1, max_steps=100, relax_cell=False, require_convergence=False
    )
    relax(cells[0].copy(), calculator, settings)  # warm up

    arms: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    single = [relax(a.copy(), calculator, settings) for a in cells]
    elapsed = time.perf_counter() - start
    reference = np.array([r.final.energy for r in single])
    arms["one-by-one"] = {
        "seconds": elapsed,
        "steps": int(sum(r.n_steps for r in single)),
        "converged": int(sum(r.converged for r in single)),
    }
    print(f"one-by-one: {elapsed:.1f} s", flush=True)
    for size in (int(b) for b in args.batches.split(",")):
        predictor = batch_predictor(calculator, size)
        start = time.perf_counter()
        results = relax_many(cells, predictor, settings)
        elapsed = time.perf_counter() - start
        energies = np.array([r.final.energy for r in results])
        arms[f"lockstep b{size}"] = {
            "path": predictor.path,
            "seconds": elapsed,
            "steps": int(sum(r.n_steps for r in results)),
            "converged": int(sum(r.converged for r in results)),
            "speedup": arms["one-by-one"]["seconds"] / elapsed,
            "max_energy_difference_eV": float(np.abs(energies - reference).max()),
        }
        print(f"lockstep b{size} ({predictor.path}): {elapsed:.1f} s", flush=True)
    write_results(
        args.out,
        {
            "total_wall_s": time.perf_counter() - began,
            "benchmark": "batched relaxation of orderings",
            "potential": args.potential,
            "n_structures": len(cells),
            "n_atoms": len(cells[0]),
            "settings": {"fmax": 0.1, "max_steps": 100, "relax_cell": False},
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "packages": {p: package_version(p) for p in ("ase", "torch", args.potential)},
            "git": git_state(),
            "arms": arms,
        },
    )
    for name, arm in arms.items():
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in arm.items()})


if __name__ == "__main__":
    main()
