"""Ewald stage of the ordering search on the cells the papers use, against pymatgen.

Cases (each a disordered parent and a fixed supercell):

- argyrodite Li6PS5Cl, Li 0.5 on 48h, conventional cell (52 atoms ordered, 76 sites):
  3.2e13 arrangements, so the search anneals on the Ewald energy;
- the same cell with Li ordered and 50 % S/Cl exchange between 4a and 4d, and 15 %
  exchange in five cells (260 atoms);
- Li3YBr6-type C2/m prototype, Li 0.5 on 4h: 1x1x2 and 1x2x2 supercells;
- Na/Li substitution (x = 1) in that prototype, 1x1x2 and 1x2x2 (Ewald-degenerate:
  enumerated, then sampled).

For each: wall time of ``search_orderings`` (keep 20), arrangements, distinct orderings.
Against pymatgen's ``OrderDisorderedStructureTransformation`` (``algo=0``, 20 ranked)
on the same supercell: wall time, and how many of its 20 are distinct (pymatgen does
no symmetry reduction). And the cost per candidate of our quadratic-form Ewald energy
against ``EwaldSummation`` on the decorated cell (same numbers, checked).

    OMP_NUM_THREADS=1 python benchmarks/bench_ordering.py
    # writes benchmarks/results/ordering.json
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, git_state, package_version, write_results
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.transformations.standard_transformations import (
    OrderDisorderedStructureTransformation,
)

from sse_flows.ordering import build_problem, search_orderings
from sse_flows.ordering.ewald import EwaldModel
from sse_flows.ordering.series import anion_exchange_series, substitution_series
from sse_flows.structures.prototypes import load_prototype

warnings.filterwarnings("ignore")


def cases() -> list[tuple[str, Structure, tuple[int, int, int]]]:
    """The benchmark cases: name, disordered parent, supercell."""
    arg = load_prototype("Li6PS5Cl")
    ordered = search_orderings(arg, supercell=(1, 1, 1), keep=1).candidates[0].structure
    exchange, exchange15 = (
        m.structure for m in anion_exchange_series(ordered, fractions=(0.5, 0.15))
    )
    lyb = load_prototype("Li3YBr6")
    na = substitution_series(lyb, "Li", "Na", amounts=(1.0,))[0].structure
    return [
        ("argyrodite Li order, conventional", arg, (1, 1, 1)),
        ("argyrodite 50% S/Cl exchange", exchange, (1, 1, 1)),
        ("argyrodite 15% S/Cl exchange, 5 cells", exchange15, (5, 1, 1)),
        ("Li3YBr6 Li order 1x1x2", lyb, (1, 1, 2)),
        ("Li3YBr6 Li order 1x2x2", lyb, (1, 2, 2)),
        ("Na1Li2YBr6 Na/Li 1x1x2", na, (1, 1, 2)),
        ("Na1Li2YBr6 Na/Li 1x2x2 (sampled)", na, (1, 2, 2)),
    ]


def pymatgen_odst(structure: Structure, supercell, oxidation: dict[str, float], n: int):
    """pymatgen's ranked list on the same supercell: time and distinct count."""
    cell = structure.copy()
    if "sublattice" in cell.site_properties:
        cell.remove_site_property("sublattice")
    cell.add_oxidation_state_by_element(oxidation)
    cell.make_supercell(supercell)
    start = time.perf_counter()
    ranked = OrderDisorderedStructureTransformation(algo=0).apply_transformation(
        cell, return_ranked_list=n
    )
    seconds = time.perf_counter() - start
    structures = [r["structure"] for r in ranked]
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    distinct = len(matcher.group_structures(structures))
    return seconds, len(structures), distinct, [r["energy"] for r in ranked]


def main(argv: list[str] | None = None) -> int:
    """Run every case and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "ordering.json")
    parser.add_argument("--skip-pymatgen", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for name, structure, supercell in cases():
        start = time.perf_counter()
        result = search_orderings(structure, supercell=supercell, keep=20, seed=0)
        ours_s = time.perf_counter() - start
        cell = result.cells[0]
        row: dict[str, Any] = {
            "case": name,
            "sites": cell.n_sites,
            "arrangements": cell.n_combinations,
            "symmetry_ops": cell.n_symmetry_ops,
            "distinct": cell.n_distinct,
            "exhaustive": cell.exhaustive,
            "ewald_degenerate": result.ewald_degenerate,
            "sse_flows_s": ours_s,
            "best_ewald_eV": result.candidates[0].ewald_energy,
        }
        # cost per candidate: quadratic form vs EwaldSummation on the decorated cell
        problem = build_problem(structure, supercell)
        model = EwaldModel.for_problem(problem)
        configs = np.asarray([c.configuration for c in result.candidates], dtype=np.int8)
        start = time.perf_counter()
        for _ in range(50):
            fast = model.energies(configs)
        fast_s = (time.perf_counter() - start) / (50 * len(configs))
        start = time.perf_counter()
        slow = []
        for c in result.candidates[:5]:
            charged = c.structure.copy()
            charged.add_oxidation_state_by_element(result.oxidation_states)
            slow.append(EwaldSummation(charged).total_energy)
        slow_s = (time.perf_counter() - start) / len(slow)
        np.testing.assert_allclose(fast[: len(slow)], slow, rtol=1e-8, atol=1e-6)
        row["ewald_per_candidate_s"] = fast_s
        row["pymatgen_ewald_per_candidate_s"] = slow_s
        if not args.skip_pymatgen and cell.n_combinations <= 10**7:
            oxidation = {k: v for k, v in result.oxidation_states.items() if k != "X"}
            try:
                seconds, n, distinct, energies = pymatgen_odst(
                    structure, supercell, oxidation, 20
                )
                row.update(
                    {
                        "pymatgen_odst_s": seconds,
                        "pymatgen_returned": n,
                        "pymatgen_distinct": distinct,
                        "pymatgen_best_ewald_eV": float(energies[0]),
                    }
                )
            except ValueError as exc:
                row["pymatgen_error"] = str(exc)
        rows.append(row)
        print(
            f"{name:36s} {cell.n_sites:4d} sites {cell.n_combinations:10.3g} arr "
            f"{cell.n_distinct:7d} distinct {ours_s:7.2f} s"
            + (
                f" | pymatgen {row['pymatgen_odst_s']:7.2f} s, "
                f"{row['pymatgen_distinct']}/{row['pymatgen_returned']} distinct"
                if "pymatgen_odst_s" in row
                else f" | pymatgen: {row.get('pymatgen_error', 'skipped')}"
            )
            + f" | Ewald/candidate {1e6 * fast_s:.1f} us vs {1e3 * slow_s:.1f} ms"
        )
    payload = {
        "benchmark": "ordering",
        "host": platform.node(),
        "python": platform.python_version(),
        "packages": {p: package_version(p) for p in ("pymatgen", "numpy", "spglib")},
        **git_state(),
        "rows": rows,
        "total_wall_s": time.perf_counter() - t0,
    }
    write_results(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
