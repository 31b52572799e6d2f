"""Build the prototype structure library from published crystallographic data.

Each entry below holds what a crystallographer would check against the paper: the
space group, the lattice parameters, one representative position per Wyckoff orbit
with its species and occupancy, and the reference. The script expands the orbits
with pymatgen's ``Structure.from_spacegroup``, checks the result (space group,
formula, shortest distances) and writes one CIF per prototype plus ``index.yaml``
into ``sse_flows/data/prototypes``. Run it after changing any entry:

    python scripts/build_prototypes.py [--check]

``--check`` rebuilds in memory and fails if the shipped files differ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from pymatgen.symmetry.groups import SpaceGroup

OUT = Path(__file__).resolve().parents[1] / "sse_flows" / "data" / "prototypes"

NOT_SHIPPED: list[dict[str, str]] = []  # documented in docs/prototypes.md


def all_entries() -> list[dict[str, Any]]:
    """Return the entries of the per-family modules in scripts/prototype_data/."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prototype_data import halides, simple, sulfides_oxides

    return [*simple.ENTRIES, *halides.ENTRIES, *sulfides_oxides.ENTRIES]


def build(entry: dict[str, Any]) -> Structure:
    """Expand the Wyckoff orbits of one entry into its conventional cell."""
    lat = entry["lattice"]
    a = lat["a"]
    b = lat.get("b", a)
    c = lat.get("c", a)
    alpha, beta, gamma = (
        lat.get("alpha", 90.0),
        lat.get("beta", 90.0),
        lat.get("gamma", 90.0),
    )
    if "gamma" not in lat and entry["spacegroup"].startswith(
        ("P6", "P-6", "P3", "P-3", "R")
    ):
        gamma = 120.0
    lattice = Lattice.from_parameters(a, b, c, alpha, beta, gamma)
    species = [site[0] for site in entry["sites"]]
    coords = [site[1] for site in entry["sites"]]
    structure = Structure.from_spacegroup(
        entry["spacegroup"], lattice, species, coords, tol=1e-3
    )
    structure.merge_sites(tol=0.01, mode="delete")
    return structure


def labelled(structure: Structure) -> Structure:
    """Replace each distinct partial occupancy by a dummy element, for symmetry analysis."""
    if structure.is_ordered:
        return structure
    mapping: dict[str, str] = {}
    fillers = ["H", "He", "Be", "B", "C", "N", "F", "Ne", "Mg", "Al", "Ar", "K", "Ca"]
    species = []
    for site in structure:
        key = site.species_string
        if key not in mapping:
            mapping[key] = fillers[len(mapping)]
        species.append(mapping[key])
    return Structure(structure.lattice, species, structure.frac_coords)


def check(entry: dict[str, Any], structure: Structure) -> dict[str, Any]:
    """Space group and formula as declared, no overlapping atoms; returns index facts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sga = SpacegroupAnalyzer(labelled(structure), symprec=0.01)
        number = sga.get_space_group_number()
        symbol = sga.get_space_group_symbol()
    expected = SpaceGroup(entry["spacegroup"]).int_number
    if number != expected:
        raise SystemExit(
            f"{entry['name']}: space group {symbol} ({number}), "
            f"expected {entry['spacegroup']}"
        )
    nominal = Composition(entry["formula"]).reduced_composition
    actual = structure.composition
    factor = actual[nominal.elements[-1]] / nominal[nominal.elements[-1]]
    for el in set(nominal.elements) | set(actual.elements):
        if abs(actual[el] - factor * nominal[el]) > 0.05 * factor * max(nominal[el], 1):
            raise SystemExit(
                f"{entry['name']}: composition {actual} does not match {entry['formula']}"
            )
    return {
        "spacegroup_symbol": symbol,
        "spacegroup_number": number,
        "formula_units": round(factor, 6),
    }


def write_all(out: Path) -> list[dict[str, Any]]:
    """Write every CIF and the index into ``out``; return the index entries."""
    from sse_flows.structures.prototypes import validate_structure

    out.mkdir(parents=True, exist_ok=True)
    index = []
    for entry in all_entries():
        structure = build(entry)
        facts = check(entry, structure)
        validate_structure(structure, entry["oxidation_states"])
        filename = f"{entry['name']}.cif"
        CifWriter(structure, symprec=None).write_file(out / filename)
        record = {
            "name": entry["name"],
            "formula": entry["formula"],
            **facts,
            "role": entry["role"],
            "nsites": len(structure),
            "ordered": structure.is_ordered,
            "oxidation_states": entry["oxidation_states"],
            "source": entry["source"],
            "doi": entry.get("doi"),
            "icsd": entry.get("icsd"),
            "cod": entry.get("cod"),
            "note": entry.get("note", ""),
            "file": filename,
        }
        index.append(record)
    header = (
        "# Generated by scripts/build_prototypes.py -- edit the data there, not here.\n"
    )
    (out / "index.yaml").write_text(
        header + yaml.safe_dump({"prototypes": index}, sort_keys=False, width=100)
    )
    return index


def main(argv: list[str] | None = None) -> int:
    """Rebuild the library (or, with --check, verify the shipped copy is current)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with shipped files")
    args = parser.parse_args(argv)
    if not args.check:
        index = write_all(OUT)
        for rec in index:
            print(
                f"{rec['name']:16s} {rec['spacegroup_symbol']:10s} {rec['nsites']:4d} "
                f"{'ordered' if rec['ordered'] else 'disordered'}"
            )
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write_all(Path(tmp))
        stale = [
            p.name
            for p in sorted(Path(tmp).iterdir())
            if not (OUT / p.name).is_file() or (OUT / p.name).read_text() != p.read_text()
        ]
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    print("prototype library is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
