"""Prototype entries: halides (same entry format as scripts/build_prototypes.py).

No Rietveld/single-crystal coordinate table for these compounds could be read in the
sources available when the entries were made, so every entry here is either a
structure-type fallback (published type coordinates + the compound's published cell)
or an idealised model; the ``note`` of each entry says which numbers come from where.
"""

from __future__ import annotations

from typing import Any

ENTRIES: list[dict[str, Any]] = [
    # ------------------------------------------------------------- electrolytes
    {
        "name": "Li3YBr6",
        "formula": "Li3YBr6",
        "spacegroup": "C2/m",
        # Cell of the isotypic Li3ErBr6 (single crystal, Bohnsack et al. 1997).
        "lattice": {"a": 6.890, "b": 11.916, "c": 6.842, "beta": 109.77},
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "Y": 3, "Br": -1},
        "sites": [
            ("Y", [0.0, 0.0, 0.0]),  # Y 2a, in the z = 0 cation layer
            ("Li", [0.0, 1 / 3, 0.0]),  # Li1 4g, z = 0 layer (completes it with Y)
            ({"Li": 0.5}, [0.0, 1 / 6, 0.5]),  # Li2 4h, z = 1/2 layer, half occupied
            ("Br", [0.75, 0.0, 0.25]),  # Br1 4i, ideal ccp position
            ("Br", [0.25, 1 / 6, 0.25]),  # Br2 8j, ideal ccp position
        ],
        "source": (
            "Idealised model. Structure type and cell: A. Bohnsack, G. Balzer, M. S. "
            "Wickleder, H. U. Gudel, G. Meyer, 'Ternare Halogenide vom Typ A3MX6. VII. "
            "Die Bromide Li3MBr6 (M = Sm-Lu, Y): Synthese, Kristallstruktur, "
            "Ionenbeweglichkeit', Z. Anorg. Allg. Chem. 623, 1352-1356 (1997): Li3YBr6 "
            "isotypic with Li3ErBr6 (C2/m, Z = 2, a = 689.0, b = 1191.6, c = 684.2 pm, "
            "beta = 109.77 deg, single crystal); Li on 4g and 4h as described by Deng et "
            "al., J. Mater. Chem. A (2025), doi 10.1039/d5ta05321h (paper 001)"
        ),
        "note": (
            "IDEALISED, not a refinement: cubic close-packed Br at ideal positions "
            "(4i 3/4,0,1/4; 8j 1/4,1/6,1/4), Y on 2a, Li filling the rest of the Y layer "
            "(4g) and half of the octahedral 4h sites of the next layer (2d empty), "
            "following the site description of paper 001 (Li on 4g and 4h, 4g preferred, "
            "4h ~50 % in its ground states). The cell is that of the isotypic Li3ErBr6, "
            "not of Li3YBr6 itself (Y3+ and Er3+ radii differ by ~1 %); the Li3YBr6 cell "
            "of the same paper (powder data) could not be read. Y/Li antisite disorder "
            "reported by later neutron studies (Schlem et al., Chem. Mater. 33, 327 "
            "(2021)) is not included. Order it before MD (one 4h ordering fits the "
            "20-atom cell, space group C2); CHGNet relaxation of that ordering (cell + "
            "positions, FIRE, fmax 0.05): +2.0 % volume, Li and Y stay 6-coordinated."
        ),
    },
    # ---------------------------------------------------------- competing phases
    {
        "name": "YCl3",
        "formula": "YCl3",
        "spacegroup": "C2/m",
        "lattice": {"a": 6.92, "b": 11.94, "c": 6.44, "beta": 111.0},
        "role": "competing",
        "oxidation_states": {"Y": 3, "Cl": -1},
        "sites": [
            ("Y", [0.0, 0.1662, 0.0]),  # Y 4g (Al site of AlCl3)
            ("Cl", [0.2147, 0.0, 0.2263]),  # Cl1 4i
            ("Cl", [0.2518, 0.3213, 0.2248]),  # Cl2 8j
        ],
        "source": (
            "AlCl3-type coordinates (AFLOW prototype AB3_mC16_12_g_ij, as shipped with "
            "pymatgen) with the YCl3 lattice a = 6.92, b = 11.94, c = 6.44 A, beta = 111 "
            "deg (monoclinic C2/m, Z = 4) as listed in the Wikipedia 'Yttrium(III) "
            "chloride' infobox; original cell determination recalled as D. H. Templeton "
            "and G. F. Carter, J. Phys. Chem. 58, 940-944 (1954)"
        ),
        "note": (
            "Structure-type fallback (16 atoms): internal coordinates are those of AlCl3, "
            "not refined for YCl3. Layered CCP chloride, Y in 1/3 of the octahedral holes "
            "(every other layer). Hull phase for Li-Y-Cl (Li3YCl6 = 3 LiCl + YCl3). The "
            "Templeton & Carter attribution of the cell is recalled, not read. Y-Cl "
            "2.59-2.62 A; CHGNet relaxation +4.8 % volume, Y stays octahedral."
        ),
    },
]
