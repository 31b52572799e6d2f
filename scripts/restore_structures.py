"""Restore the coordinates of noised source files: the RESTORED prototypes.

For each entry of ``scripts/prototype_data/sourced.py:RESTORED``: read the source file
shipped in ``sse_flows/data/prototypes/sourced/``, apply its curation steps, order it
when it must be ordered (lowest Ewald energy), then relax the ions with CHGNet at the
experimental cell with the space group kept
(:func:`sse_flows.structures.restore.restore_positions`). Writes
``scripts/prototype_data/restored/<name>.cif`` and ``restored.yaml`` (what changed:
shifts, bond ranges before and after, steps, model). ``build_prototypes.py`` then
ships them. Run it when a RESTORED entry or a source changes:

    OMP_NUM_THREADS=1 python scripts/restore_structures.py [NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

ROOT = Path(__file__).resolve().parents[1]
SOURCED = ROOT / "sse_flows" / "data" / "prototypes"
OUT = Path(__file__).resolve().parent / "prototype_data" / "restored"
POTENTIAL = "chgnet"


def read_source(name: str) -> Structure:
    """Read a SOURCES entry's file as shipped."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prototype_data.sourced import SOURCES

    entry = next(e for e in SOURCES if e["name"] == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_file(str(SOURCED / entry["file"]))


def restore_entry(entry: dict[str, Any], calculator: Any) -> tuple[Structure, dict]:
    """Curate, order and restore one entry; return the structure and its record."""
    from sse_flows.structures.restore import (
        bond_range,
        curate,
        restore_disordered,
        restore_positions,
    )

    parent = curate(read_source(entry["parent"]), entry["curation"])
    pairs = [tuple(p) for p in entry["bonds"]]
    order = entry["order"]
    if order is None:
        result = restore_positions(parent, calculator)
    else:
        result = restore_disordered(
            parent, calculator, order["supercell"], order["pool"], order["orderings"]
        )
    record = {
        "parent": entry["parent"],
        "potential": POTENTIAL,
        "spacegroup": result.spacegroup_after,
        "max_shift_A": round(result.max_shift_A, 3),
        "rms_shift_A": round(result.rms_shift_A, 3),
        "steps": result.n_steps,
        "energy_change_meV_atom": round(1000 * result.energy_change_eV_atom, 1),
        "bonds_before_A": {k: list(v) for k, v in bond_range(parent, pairs).items()},
        "bonds_after_A": {
            k: list(v) for k, v in bond_range(result.structure, pairs).items()
        },
        "notes": result.notes,
    }
    return result.structure, record


def main(argv: list[str] | None = None) -> int:
    """Restore the named entries (default all) and rewrite restored.yaml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prototype_data.sourced import RESTORED

    from sse_flows.potentials import PotentialSpec, load_potential

    loaded = load_potential(PotentialSpec.parse(POTENTIAL))
    OUT.mkdir(parents=True, exist_ok=True)
    index_path = OUT / "restored.yaml"
    index = yaml.safe_load(index_path.read_text()) if index_path.is_file() else {}
    for entry in RESTORED:
        if args.names and entry["name"] not in args.names:
            continue
        structure, record = restore_entry(entry, loaded.calculator)
        record["model"] = (
            f"{loaded.provenance.name} {loaded.provenance.checkpoint} "
            f"({loaded.provenance.package} {loaded.provenance.package_version})"
        )
        CifWriter(structure, symprec=None).write_file(OUT / f"{entry['name']}.cif")
        index[entry["name"]] = record
        print(entry["name"], record)
    index_path.write_text(
        "# Written by scripts/restore_structures.py.\n"
        + yaml.safe_dump(index, sort_keys=True, width=100)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
