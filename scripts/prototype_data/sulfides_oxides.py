"""Prototype entries: sulfides and oxides (entry format of scripts/build_prototypes.py)."""

from __future__ import annotations

from typing import Any

_ARGYRODITE_NOTE = (
    "Idealised argyrodite model (F-43m, origin with P on 4b): PS4 units (P 4b, S 16e), "
    "the halide fully on 4a and the 'free' S2- fully on 4c, Li statistically on 48h at "
    "occupancy 0.5 (24 Li on 48 sites; the two 48h sites of a doublet, ~1.8 A apart, "
    "are alternatives). Lattice constant as reported by Deiseroth et al.; the free "
    "coordinates (S 16e x, Li 48h x and z) are rounded values in the range of the "
    "published refinements, recalled rather than read from a table, and checked here "
    "for bond lengths and by a CHGNet relaxation of an ordered cell. Not modelled: the "
    "experimental X-/S2- exchange between 4a and 4c ({exchange}), and the additional "
    "partly occupied Li positions reported from neutron diffraction (e.g. Kraft et "
    "al., J. Am. Chem. Soc. 139, 10909 (2017)). Order it before MD (e.g. "
    "`sse-flows order`)."
)

_DEISEROTH = (
    "H.-J. Deiseroth, S.-T. Kong, H. Eckert, J. Vannahme, C. Reiner, T. Zaiss, "
    "M. Schlosser, 'Li6PS5X: a class of crystalline Li-rich solids with an unusually "
    "high Li+ mobility', Angew. Chem. Int. Ed. 47, 755-758 (2008): lattice constant; "
    "free coordinates recalled (see note)"
)

ENTRIES: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- argyrodites
    {
        "name": "Li6PS5Cl",
        "formula": "Li6PS5Cl",
        "spacegroup": "F-43m",
        "lattice": {"a": 9.85},
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "P": 5, "S": -2, "Cl": -1},
        "sites": [
            ("P", [0.5, 0.5, 0.5]),  # P 4b
            ("S", [0.620, 0.620, 0.620]),  # S1 16e (PS4)
            ("S", [0.25, 0.25, 0.25]),  # S2 4c (free S2-)
            ("Cl", [0.0, 0.0, 0.0]),  # Cl 4a
            ({"Li": 0.5}, [0.315, 0.315, 0.023]),  # Li 48h, half occupied
        ],
        "source": _DEISEROTH,
        "doi": "10.1002/anie.200703900",
        "note": _ARGYRODITE_NOTE.format(
            exchange="substantial for Cl, tens of percent depending on synthesis"
        ),
    },
    {
        "name": "Li6PS5Br",
        "formula": "Li6PS5Br",
        "spacegroup": "F-43m",
        "lattice": {"a": 9.98},
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "P": 5, "S": -2, "Br": -1},
        "sites": [
            ("P", [0.5, 0.5, 0.5]),  # P 4b
            ("S", [0.6185, 0.6185, 0.6185]),  # S1 16e (PS4)
            ("S", [0.25, 0.25, 0.25]),  # S2 4c (free S2-)
            ("Br", [0.0, 0.0, 0.0]),  # Br 4a
            ({"Li": 0.5}, [0.315, 0.315, 0.023]),  # Li 48h, half occupied
        ],
        "source": _DEISEROTH,
        "doi": "10.1002/anie.200703900",
        "note": _ARGYRODITE_NOTE.format(
            exchange="intermediate for Br, of the order of 20-30 %"
        ),
    },
    {
        "name": "Li6PS5I",
        "formula": "Li6PS5I",
        "spacegroup": "F-43m",
        "lattice": {"a": 10.14},
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "P": 5, "S": -2, "I": -1},
        "sites": [
            ("P", [0.5, 0.5, 0.5]),  # P 4b
            ("S", [0.617, 0.617, 0.617]),  # S1 16e (PS4)
            ("S", [0.25, 0.25, 0.25]),  # S2 4c (free S2-)
            ("I", [0.0, 0.0, 0.0]),  # I 4a
            ({"Li": 0.5}, [0.315, 0.315, 0.023]),  # Li 48h, half occupied
        ],
        "source": _DEISEROTH,
        "doi": "10.1002/anie.200703900",
        "note": _ARGYRODITE_NOTE.format(
            exchange="negligible for I, so this ordered-anion model is closest for Li6PS5I"
        ),
    },
    # ------------------------------------------------- ordered argyrodite cell
    {
        "name": "Li6PS5Cl-ordered",
        "formula": "Li6PS5Cl",
        "spacegroup": "P1",
        "lattice": {
            "a": 9.96278,
            "b": 9.91972,
            "c": 9.93128,
            "alpha": 89.9923,
            "beta": 90.3246,
            "gamma": 89.5755,
        },
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "P": 5, "S": -2, "Cl": -1},
        # every site listed (P1: each is its own 1a orbit)
        "sites": [
            ("P", [0.50963, 0.49396, 0.50004]),  # P1 1a
            ("P", [0.99977, 0.00124, 0.50440]),  # P2 1a
            ("P", [0.48945, 0.99285, 0.99743]),  # P3 1a
            ("P", [0.00017, 0.50340, 0.00428]),  # P4 1a
            ("S", [0.24937, 0.73300, 0.75117]),  # S1 1a
            ("S", [0.75095, 0.24475, 0.76342]),  # S2 1a
            ("S", [0.64471, 0.59361, 0.62259]),  # S3 1a
            ("S", [0.62730, 0.39078, 0.36643]),  # S4 1a
            ("S", [0.38956, 0.36603, 0.60923]),  # S5 1a
            ("S", [0.38619, 0.63178, 0.40537]),  # S6 1a
            ("S", [0.86787, 0.87386, 0.59723]),  # S7 1a
            ("S", [0.12655, 0.09218, 0.64089]),  # S8 1a
            ("S", [0.12524, 0.89966, 0.37545]),  # S9 1a
            ("S", [0.87976, 0.13948, 0.40503]),  # S10 1a
            ("S", [0.60569, 0.88915, 0.86144]),  # S11 1a
            ("S", [0.36292, 0.12703, 0.90273]),  # S12 1a
            ("S", [0.36635, 0.86914, 0.10647]),  # S13 1a
            ("S", [0.61717, 0.09598, 0.12550]),  # S14 1a
            ("S", [0.24944, 0.25784, 0.26608]),  # S15 1a
            ("S", [0.88439, 0.63606, 0.89279]),  # S16 1a
            ("S", [0.87009, 0.38167, 0.10799]),  # S17 1a
            ("S", [0.12504, 0.39042, 0.88410]),  # S18 1a
            ("S", [0.12143, 0.60589, 0.13758]),  # S19 1a
            ("S", [0.74784, 0.75989, 0.23882]),  # S20 1a
            ("Cl", [0.00978, 0.50318, 0.50622]),  # Cl1 1a
            ("Cl", [0.50140, 0.00373, 0.47026]),  # Cl2 1a
            ("Cl", [0.99064, 0.00008, 0.00824]),  # Cl3 1a
            ("Cl", [0.50067, 0.49851, 0.97265]),  # Cl4 1a
            ("Li", [0.29261, 0.66397, 0.97818]),  # Li1 1a
            ("Li", [0.18620, 0.94707, 0.84608]),  # Li2 1a
            ("Li", [0.48433, 0.68929, 0.77925]),  # Li3 1a
            ("Li", [0.01679, 0.70830, 0.70071]),  # Li4 1a
            ("Li", [0.20645, 0.50869, 0.67732]),  # Li5 1a
            ("Li", [0.31041, 0.83464, 0.54199]),  # Li6 1a
            ("Li", [0.98476, 0.20934, 0.79743]),  # Li7 1a
            ("Li", [0.79450, 0.17452, 0.98734]),  # Li8 1a
            ("Li", [0.51853, 0.28617, 0.80420]),  # Li9 1a
            ("Li", [0.67904, 0.03556, 0.66408]),  # Li10 1a
            ("Li", [0.72327, 0.47063, 0.82949]),  # Li11 1a
            ("Li", [0.80848, 0.33991, 0.54774]),  # Li12 1a
            ("Li", [0.18729, 0.04315, 0.17486]),  # Li13 1a
            ("Li", [0.01619, 0.29945, 0.28945]),  # Li14 1a
            ("Li", [0.30793, 0.33294, 0.04747]),  # Li15 1a
            ("Li", [0.21075, 0.48257, 0.34227]),  # Li16 1a
            ("Li", [0.48183, 0.20815, 0.29303]),  # Li17 1a
            ("Li", [0.29366, 0.16752, 0.48524]),  # Li18 1a
            ("Li", [0.71910, 0.97857, 0.32641]),  # Li19 1a
            ("Li", [0.98191, 0.79520, 0.20837]),  # Li20 1a
            ("Li", [0.78778, 0.83758, 0.01313]),  # Li21 1a
            ("Li", [0.51665, 0.80135, 0.28879]),  # Li22 1a
            ("Li", [0.67739, 0.54161, 0.16227]),  # Li23 1a
            ("Li", [0.81477, 0.66867, 0.45106]),  # Li24 1a
        ],
        "source": (
            "Lowest-Ewald ordering of the Li6PS5Cl entry (Deiseroth et al., Angew. Chem. "
            "Int. Ed. 47, 755 (2008) lattice; idealised coordinates) by sse-flows, relaxed "
            "with CHGNet 0.3.0"
        ),
        "note": (
            "Ordered 52-atom conventional cell: search_orderings(Li6PS5Cl, "
            "supercell=(1,1,1), keep=1, seed=0) puts 24 Li on the 48 Li 48h sites "
            "(the arrangement of lowest Ewald energy), then a CHGNet 0.3.0 relaxation "
            "(cell and positions, FIRE with FrechetCellFilter, fmax 0.05 eV/A, converged "
            "in 34 steps) gave this cell: volume +2.7 % over the 9.85 A experimental "
            "cube (CHGNet, like PBE-trained models, overestimates it), P-S 2.05-2.07 A, "
            "Li-S 2.35-2.59 A, "
            "Li-Cl 2.59-2.95 A. Anions fully ordered (Cl 4a, S 4c of the parent), i.e. 0 % "
            "site exchange; the experimental material is partly exchanged. Computational "
            "model, not an experimental structure."
        ),
    },
    # ---------------------------------------------------------- competing phases
    {
        "name": "Li4P2S6",
        "formula": "Li4P2S6",
        "spacegroup": "P-31m",
        "lattice": {"a": 6.10622, "c": 6.61513},
        "role": "competing",
        "oxidation_states": {"Li": 1, "P": 4, "S": -2},
        "sites": [
            ("Li", [1 / 3, 2 / 3, 0.0]),  # Li1 2c
            ("Li", [2 / 3, 1 / 3, 0.5]),  # Li2 2d
            ("P", [0.0, 0.0, 0.1715]),  # P 2e: P2 dumbbell along c, P-P 2.27 A
            ("S", [0.3237, 0.0, 0.25]),  # S 6k
        ],
        "source": (
            "Ordered P-31m model with the parameters of the aiida-cusp documentation "
            "(tutorial interstitial_migration_li4p2s6_neb; not cited there), which agree "
            "with the subcell of R. Mercier, J. P. Malugani, B. Fahys, J. Douglade, "
            "G. Robert, J. Solid State Chem. 43, 151 (1982), a = 6.07, c = 6.58 A"
        ),
        "note": (
            "Li4P2S6 (P2S6 4- units, P-P 2.27 A, P-S 2.04 A), 12 atoms. The refined "
            "structure has the P2 dumbbells disordered over two orientations (P6_3/mcm "
            "or a sqrt3 x sqrt3 P-3m1 supercell, Ben Yahia et al., Z. Kristallogr. 238, "
            "209 (2023)); this is the ordered subcell model DFT studies use. Hull phase "
            "of Li-P-S systems."
        ),
    },
    # ------------------------------------------------------------------- elements
    {
        "name": "S8",
        "formula": "S",
        "spacegroup": "Fddd",
        "lattice": {"a": 10.4646, "b": 12.866, "c": 24.486},
        "role": "element",
        "oxidation_states": {"S": 0},
        "sites": [
            ("S", [0.76915, 0.17232, 0.67360]),  # S1 32h
            ("S", [0.91777, 0.35190, 0.87906]),  # S2 32h
            ("S", [0.84098, 0.40522, 0.95118]),  # S3 32h
            ("S", [0.83905, 0.28261, 0.00447]),  # S4 32h
        ],
        "source": (
            "S. J. Rettig and J. Trotter, 'Refinement of the structure of orthorhombic "
            "sulfur, alpha-S8', Acta Cryst. C 43, 2260-2262 (1987), as tabulated in the "
            "AFLOW Library of Crystallographic Prototypes (A_oF128_70_4h, A16), read from "
            "the copy shipped with pymatgen "
            "(analysis/prototypes/aflow_prototypes.json.gz); coordinates in spglib's "
            "standard Fddd setting"
        ),
        "note": (
            "alpha-sulfur, molecular crystal of crown S8 rings, 128 atoms in the "
            "conventional cell; S-S 2.04-2.06 A. The S reference for Li-P-S hulls. "
            "Semi-local DFT and uMLIPs without dispersion expand the cell strongly "
            "(CHGNet 0.3.0 relaxation: +18 % volume, rings intact)."
        ),
    },
]
