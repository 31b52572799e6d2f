"""Prototype entries: LGPS, binary competing phases and elements.

Same entry format as scripts/build_prototypes.py.
"""

from __future__ import annotations

from typing import Any

WYCKOFF_1963 = (
    "R. W. G. Wyckoff, Crystal Structures, 2nd ed., Vol. 1, Interscience, New York "
    "(1963): room-temperature lattice constant of the structure type"
)

# Each site: (species or {species: occupancy}, [x, y, z]); one site per Wyckoff orbit.
ENTRIES: list[dict[str, Any]] = [
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
