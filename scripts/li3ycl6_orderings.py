"""E_hull of Li3YCl6 across ordered cells, each relaxed with one potential.

The measurement behind docs/queries_and_tables.md ("Ordering and structure"): the 8
lowest-Ewald orderings of the restored P-3m1 prototype (Li and split-Y orbits pooled)
and the two sourced ordered cells, each fully relaxed (cell and ions, FIRE to 0.05
eV/A), against LiCl + YCl3 relaxed with the same potential (Li3YCl6 = 3 LiCl + YCl3,
so E_hull = E - (0.6 E_LiCl + 0.4 E_YCl3) per atom whenever the target lies above that
tie line, as it does for every cell here).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/li3ycl6_orderings.py chgnet [OUT.json]
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from pymatgen.core import Structure

from sse_flows.calc.relax import RelaxSettings, relax
from sse_flows.potentials.registry import load_potential
from sse_flows.potentials.spec import PotentialSpec
from sse_flows.structures.io import to_atoms
from sse_flows.structures.prototypes import load_prototype
from sse_flows.structures.restore import lowest_ewald_orderings

SOURCED = ("Li3YCl6-model01", "Li3YCl6-dft60")
SETTINGS = RelaxSettings(fmax=0.05, max_steps=800, require_convergence=False)


def main(potential: str, out: Path | None) -> None:
    """Relax every cell and the two hull phases; print and write E_hull per cell."""
    warnings.filterwarnings("ignore")
    calculator = load_potential(PotentialSpec.parse(potential)).calculator

    def relaxed(structure: Structure) -> tuple[float, float, bool]:
        result = relax(to_atoms(structure), calculator, SETTINGS)
        volume_change = result.structure.volume / structure.volume - 1
        return result.final.energy / len(structure), volume_change, result.converged

    licl, ycl3 = (relaxed(load_prototype(name))[0] for name in ("LiCl", "YCl3"))
    hull = 0.6 * licl + 0.4 * ycl3
    cells = {
        f"ewald-{i}": cell
        for i, cell in enumerate(
            lowest_ewald_orderings(load_prototype("Li3YCl6"), pool=True, count=8)
        )
    }
    cells.update({name: load_prototype(name) for name in SOURCED})
    rows = {}
    for label, cell in cells.items():
        energy, volume_change, converged = relaxed(cell)
        rows[label] = {
            "e_hull_eV_atom": energy - hull,
            "volume_change": volume_change,
            "converged": converged,
            "nsites": len(cell),
        }
        print(label, json.dumps(rows[label]), flush=True)
    if out:
        out.write_text(json.dumps({"potential": potential, "cells": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None)
