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

WYCKOFF_1963 = (
    "R. W. G. Wyckoff, Crystal Structures, 2nd ed., Vol. 1, Interscience, New York "
    "(1963): room-temperature lattice constant of the structure type"
)

# Each site: (species or {species: occupancy}, [x, y, z]); one site per Wyckoff orbit.
PROTOTYPES: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- electrolytes
    {
        "name": "Li10GeP2S12",
        "formula": "Li10GeP2S12",
        "spacegroup": "P4_2/nmc",
        "lattice": {"a": 8.69407, "c": 12.5994},
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "Ge": 4, "P": 5, "S": -2},
        "sites": [
            ({"Li": 0.691}, [0.2563, 0.2718, 0.8168]),  # Li1 16h
            ("Li", [0.0, 0.5, 0.0554]),  # Li2 4d
            ({"Li": 0.643}, [0.2463, 0.2463, 0.0]),  # Li3 8f
            ({"Ge": 0.515, "P": 0.485}, [0.0, 0.5, 0.3093]),  # Ge/P 4d
            ("P", [0.0, 0.0, 0.5]),  # P2 2b
            ("S", [0.0, 0.1843, 0.5897]),  # S1 8g
            ("S", [0.0, 0.2991, 0.9050]),  # S2 8g
            ("S", [0.0, 0.3010, 0.2086]),  # S3 8g
        ],
        "source": (
            "N. Kamaya et al., 'A lithium superionic conductor', Nat. Mater. 10, 682-686 "
            "(2011), Rietveld refinement of neutron data at room temperature"
        ),
        "doi": "10.1038/nmat3066",
        "note": (
            "Experimental disordered model in pymatgen's default P4_2/nmc setting (the "
            "same data as the copy pymatgen ships in util/structures/Li10GeP2S12.json): "
            "Li1 16h 0.691, Li3 8f 0.643, "
            "Ge/P 0.515/0.485 on 4d; refined composition Li10.1Ge1.03P1.97S12 (0.3 % "
            "off charge balance). Kuhn et al. (PCCP 2013) later found a fourth, partly "
            "occupied Li site (4c), not included. Order it before MD."
        ),
    },
    # ---------------------------------------------------------- competing phases
    {
        "name": "LiCl",
        "formula": "LiCl",
        "spacegroup": "Fm-3m",
        "lattice": {"a": 5.1295},
        "role": "competing",
        "oxidation_states": {"Li": 1, "Cl": -1},
        "sites": [("Li", [0, 0, 0]), ("Cl", [0.5, 0.5, 0.5])],
        "source": WYCKOFF_1963,
        "note": "Rock salt, 8 atoms. Hull phase for Li-Y-Cl, Li-In-Cl, Li-P-S-Cl.",
    },
    {
        "name": "LiBr",
        "formula": "LiBr",
        "spacegroup": "Fm-3m",
        "lattice": {"a": 5.5013},
        "role": "competing",
        "oxidation_states": {"Li": 1, "Br": -1},
        "sites": [("Li", [0, 0, 0]), ("Br", [0.5, 0.5, 0.5])],
        "source": WYCKOFF_1963,
        "note": "Rock salt, 8 atoms. Hull phase for Li-Y-Br, Li-In-Br, Li-P-S-Br.",
    },
    {
        "name": "LiI",
        "formula": "LiI",
        "spacegroup": "Fm-3m",
        "lattice": {"a": 6.0000},
        "role": "competing",
        "oxidation_states": {"Li": 1, "I": -1},
        "sites": [("Li", [0, 0, 0]), ("I", [0.5, 0.5, 0.5])],
        "source": WYCKOFF_1963,
        "note": "Rock salt, conventional cell. Hull phase for Li-P-S-I.",
    },
    {
        "name": "NaCl",
        "formula": "NaCl",
        "spacegroup": "Fm-3m",
        "lattice": {"a": 5.6402},
        "role": "competing",
        "oxidation_states": {"Na": 1, "Cl": -1},
        "sites": [("Na", [0, 0, 0]), ("Cl", [0.5, 0.5, 0.5])],
        "source": WYCKOFF_1963,
        "note": "Rock salt, conventional cell. Hull phase for NaxLi3-xYCl6 (paper 000).",
    },
    {
        "name": "Li2S",
        "formula": "Li2S",
        "spacegroup": "Fm-3m",
        "lattice": {"a": 5.708},
        "role": "competing",
        "oxidation_states": {"Li": 1, "S": -2},
        "sites": [("S", [0, 0, 0]), ("Li", [0.25, 0.25, 0.25])],
        "source": WYCKOFF_1963,
        "note": "Antifluorite, 12 atoms. Hull phase for every Li-P-S system.",
    },
    {
        "name": "Li2O",
        "formula": "Li2O",
        "spacegroup": "Fm-3m",
        "lattice": {"a": 4.6114},
        "role": "competing",
        "oxidation_states": {"Li": 1, "O": -2},
        "sites": [("O", [0, 0, 0]), ("Li", [0.25, 0.25, 0.25])],
        "source": WYCKOFF_1963,
        "note": "Antifluorite, conventional cell (12 atoms). Hull phase for Li4GeO4.",
    },
    {
        "name": "Li3P",
        "formula": "Li3P",
        "spacegroup": "P6_3/mmc",
        "lattice": {"a": 4.2667, "c": 7.5803},
        "role": "competing",
        "oxidation_states": {"Li": 1, "P": -3},
        "sites": [
            ("P", [1 / 3, 2 / 3, 0.25]),  # 2c
            ("Li", [0.0, 0.0, 0.25]),  # 2b
            ("Li", [1 / 3, 2 / 3, 0.5833]),  # 4f
        ],
        "source": (
            "Y. Dong and F. J. DiSalvo, Acta Cryst. E 63, i97 (2007): single-crystal "
            "structure of Li3P (Na3As / Li3Na type)"
        ),
        "note": (
            "8 atoms. Reduction product of Li-P-S electrolytes at the Li anode. Lattice "
            "and Li(4f) z as recalled from the reference; distances (Li-P 2.46 A) and a "
            "CHGNet relaxation (< 3 % volume change) agree. Check against the paper "
            "before quoting digits."
        ),
    },
    {
        "name": "GeO2",
        "formula": "GeO2",
        "spacegroup": "P4_2/mnm",
        "lattice": {"a": 4.4066, "c": 2.8619},
        "role": "competing",
        "oxidation_states": {"Ge": 4, "O": -2},
        "sites": [("Ge", [0, 0, 0]), ("O", [0.3060, 0.3060, 0.0])],
        "source": (
            "A. A. Bolzan, C. Fong, B. J. Kennedy, C. J. Howard, 'Structural studies of "
            "rutile-type metal dioxides', Acta Cryst. B 53, 373-380 (1997)"
        ),
        "doi": "10.1107/S0108768197001468",
        "note": (
            "Rutile-type (argutite) GeO2, the stable polymorph at ambient conditions; the "
            "alpha-quartz-type form is metastable. 6 atoms."
        ),
    },
    # ------------------------------------------------------------------ elements
    {
        "name": "Li",
        "formula": "Li",
        "spacegroup": "Im-3m",
        "lattice": {"a": 3.5093},
        "role": "element",
        "oxidation_states": {"Li": 0},
        "sites": [("Li", [0, 0, 0])],
        "source": WYCKOFF_1963,
        "note": "bcc, conventional cell (2 atoms); the room-temperature phase.",
    },
    {
        "name": "Na",
        "formula": "Na",
        "spacegroup": "Im-3m",
        "lattice": {"a": 4.2906},
        "role": "element",
        "oxidation_states": {"Na": 0},
        "sites": [("Na", [0, 0, 0])],
        "source": WYCKOFF_1963,
        "note": "bcc, conventional cell (2 atoms).",
    },
    {
        "name": "Y",
        "formula": "Y",
        "spacegroup": "P6_3/mmc",
        "lattice": {"a": 3.6474, "c": 5.7306},
        "role": "element",
        "oxidation_states": {"Y": 0},
        "sites": [("Y", [1 / 3, 2 / 3, 0.25])],
        "source": WYCKOFF_1963,
        "note": "hcp (2 atoms).",
    },
    {
        "name": "Zr",
        "formula": "Zr",
        "spacegroup": "P6_3/mmc",
        "lattice": {"a": 3.2316, "c": 5.1475},
        "role": "element",
        "oxidation_states": {"Zr": 0},
        "sites": [("Zr", [1 / 3, 2 / 3, 0.25])],
        "source": WYCKOFF_1963,
        "note": "alpha-Zr, hcp (2 atoms).",
    },
    {
        "name": "In",
        "formula": "In",
        "spacegroup": "I4/mmm",
        "lattice": {"a": 3.2523, "c": 4.9461},
        "role": "element",
        "oxidation_states": {"In": 0},
        "sites": [("In", [0, 0, 0])],
        "source": WYCKOFF_1963,
        "note": "Body-centred tetragonal indium (2 atoms).",
    },
    {
        "name": "Ge",
        "formula": "Ge",
        "spacegroup": "Fd-3m",
        "lattice": {"a": 5.6575},
        "role": "element",
        "oxidation_states": {"Ge": 0},
        "sites": [("Ge", [0, 0, 0])],
        "source": WYCKOFF_1963,
        "note": "Diamond structure, conventional cell (8 atoms).",
    },
    {
        "name": "Si",
        "formula": "Si",
        "spacegroup": "Fd-3m",
        "lattice": {"a": 5.4309},
        "role": "element",
        "oxidation_states": {"Si": 0},
        "sites": [("Si", [0, 0, 0])],
        "source": WYCKOFF_1963,
        "note": "Diamond structure, conventional cell (8 atoms).",
    },
    {
        "name": "P",
        "formula": "P",
        "spacegroup": "Cmce",
        "lattice": {"a": 3.3136, "b": 10.478, "c": 4.3763},
        "role": "element",
        "oxidation_states": {"P": 0},
        "sites": [("P", [0.0, 0.10168, 0.08056])],
        "source": (
            "A. Brown and S. Rundqvist, 'Refinement of the crystal structure of black "
            "phosphorus', Acta Cryst. 19, 684-685 (1965)"
        ),
        "note": (
            "Black phosphorus, 8 atoms; P-P 2.224 A. Note: MP-type DFT without van der "
            "Waals terms overestimates the interlayer spacing (b)."
        ),
    },
    {
        "name": "I2",
        "formula": "I",
        "spacegroup": "Cmce",
        "lattice": {"a": 7.18, "b": 4.71, "c": 9.81},
        "role": "element",
        "oxidation_states": {"I": 0},
        "sites": [("I", [0.0, 0.1543, 0.1174])],
        "source": (
            "F. van Bolhuis, P. B. Koster and T. Migchelsen, Acta Cryst. 23, 90-91 (1967): "
            "positions of molecular iodine (A14 type); room-temperature cell from R. W. G. "
            "Wyckoff, Crystal Structures, Vol. 1 (1963)"
        ),
        "note": (
            "Molecular crystal of I2 (8 atoms), I-I 2.72 A. Semi-local DFT and uMLIPs "
            "without dispersion expand it strongly; use as the I reference with care."
        ),
    },
]

NOT_SHIPPED: list[dict[str, str]] = []  # documented in docs/prototypes.md


def all_entries() -> list[dict[str, Any]]:
    """Return the entries above plus the per-family modules in scripts/prototype_data/."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prototype_data import halides, sulfides_oxides

    return [*PROTOTYPES, *halides.ENTRIES, *sulfides_oxides.ENTRIES]


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
