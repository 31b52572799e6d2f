"""Structure files from public repositories, and what is made from them.

``SOURCES``: files kept byte-for-byte in ``sse_flows/data/prototypes/sourced/`` with
where they came from (repository, commit, path), what they say they are, and whether
they carry noise. Most ICSD-derived files here come from OBELiX, which added Gaussian
noise (sigma 0.01 fractional) to every asymmetric-unit coordinate; cell, space group
and occupancies are intact. ``RESTORED``: prototypes made from a source by documented
curation steps, an ordering where the cell must be ordered, and a relaxation of the
ions at the experimental cell with the space group kept
(``scripts/restore_structures.py``, which writes ``restored/``). ``COMPARISONS``:
pairs of independent files of one phase, compared when the library is built.
"""

from __future__ import annotations

from typing import Any

OBELIX = "NRC-Mila/OBELiX@4eaac889809dd489e3bae468c45d5c0e02b9147a:data/randomized_cifs/"
OBELIX_NOTE = (
    "OBELiX added Gaussian noise (sigma 0.01 fractional) to every asymmetric-unit "
    "coordinate of its ICSD-derived files: cell, space group and occupancies are "
    "intact, bond lengths are off by up to ~0.15 A. Use for cell, site topology and "
    "occupancies; relax the ions before production."
)

_HALIDE = {"Li": 1, "Y": 3, "Cl": -1}
_LPS = {"Li": 1, "P": 5, "S": -2}
_LPSCL = {"Li": 1, "P": 5, "S": -2, "Cl": -1}

SOURCES: list[dict[str, Any]] = [
    {
        "name": "Li3YCl6-icsd29969",
        "file": "sourced/Li3YCl6_P-3m1_OBELiX-ei3_ICSD29969-noised.cif",
        "sha256": "9c986eb157e3445c",
        "formula": "Li3YCl6",
        "role": "source",
        "oxidation_states": _HALIDE,
        "origin": OBELIX + "ei3.cif",
        "noised": True,
        "icsd": 29969,
        "doi": "10.1002/adma.201803075",
        "source": (
            "ICSD 29969 as listed by OBELiX (all.csv); conductivity paper T. Asano et "
            "al., Adv. Mater. 30, 1803075 (2018); the CIF is OBELiX's 'close match' from "
            "doi 10.1021/acs.chemmater.0c04352. Coordinates noised by OBELiX"
        ),
        "note": (
            "Trigonal P-3m1 Li3YCl6 (Z = 3), a = 11.2093, c = 6.0469 A (Asano 2018: "
            "11.2217, 6.0552). Disordered: Li 6g 0.875 and 6h 0.625 (9 Li on 12 sites), "
            "Y 1a fully occupied, and Y split over two 2d orbits (z = 0.487, 0.566; "
            "z = 0.981, 0.434: 2 Y on 4 sites, 2.99 A apart, alternatives). "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li3YCl6-model01",
        "file": "sourced/Li3YCl6_P1-ordered-model01_li-research.cif",
        "sha256": "fe6a149e28f50813",
        "formula": "Li3YCl6",
        "role": "source",
        "oxidation_states": _HALIDE,
        "origin": (
            "Long-Brian-Yang/li-research@92671a5:structures/ordered/Li3YCl6/2x2x2/"
            "model_01/Li3YCl6_ordered_01.cif"
        ),
        "noised": False,
        "source": (
            "An ordered Li9Y3Cl18 model that li-research built from a CIF reconstructed "
            "from screenshots of Asano et al. (2018); not an experimental ordering"
        ),
        "note": (
            "Ordered, C2 at symprec 0.1, cell of Asano 2018. Relaxed with CHGNet it "
            "distorts (c +5.4 %, V +5.7 %) and gives K = 14.4, G = 5.9 GPa against paper "
            "000's CHGNet 34.3 / 13.5: kept for comparison only."
        ),
    },
    {
        "name": "Li3YCl6-dft60",
        "file": "sourced/Li3YCl6_ordered60at_P3_DFT_tanmoy-ai-19_relax_CONTCAR.vasp",
        "sha256": "e6c958c1f98f0c7d",
        "formula": "Li3YCl6",
        "role": "source",
        "oxidation_states": _HALIDE,
        "origin": (
            "tanmoy-ai-19/lithium-halide-solid-electrolytes@ff8b972b1e4b28bf694c288f8be9c7"
            "010d6e2eee:Li3YCl6/relax/CONTCAR"
        ),
        "noised": False,
        "doi": "10.1103/9bsm-klkq",
        "source": (
            "DFT ion relaxation of an ordered 60-atom Li3YCl6 cell (repository README "
            "cites Phys. Rev. Materials, doi 10.1103/9bsm-klkq); header "
            "'LYC-165-space-group'"
        ),
        "note": (
            "Ordered, P3 at symprec 0.1 (not 165 as its header says), a = 11.334, "
            "c = 12.401 A (c doubled), volume +4.5 % over Asano 2018; only the ions were "
            "relaxed. Copied from the repository's text as stored by the search index "
            "(6,914 bytes, the stored length; no git blob to compare). Comparison only."
        ),
    },
    {
        "name": "Li3InCl6-icsd89617",
        "file": "sourced/Li3InCl6_C2m_OBELiX-de5_ICSD89617-noised.cif",
        "sha256": "fea259896e7e7971",
        "formula": "Li3InCl6",
        "role": "source",
        "oxidation_states": {"Li": 1, "In": 3, "Cl": -1},
        "origin": OBELIX + "de5.cif",
        "noised": True,
        "icsd": 89617,
        "doi": "10.1002/anie.201909805",
        "source": (
            "ICSD 89617 via OBELiX; X. Li et al., Angew. Chem. Int. Ed. (2019) "
            "(OBELiX note: 'partial occupancy corrected'). Coordinates noised by OBELiX"
        ),
        "note": (
            "C2/m, a = 6.432, b = 11.093, c = 6.398 A, beta = 109.8 deg. In 2a 0.875 plus "
            "an In/Li antisite on 4g (0.07): 2.03 In per cell, charge +0.09. "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li3PS4-gamma-icsd180318",
        "file": "sourced/Li3PS4-gamma_Pmn21_OBELiX-joc_ICSD180318-noised.cif",
        "sha256": "4a695967a5db852b",
        "formula": "Li3PS4",
        "role": "source",
        "oxidation_states": _LPS,
        "origin": OBELIX + "joc.cif",
        "noised": True,
        "icsd": 180318,
        "doi": "10.1016/j.ssi.2010.10.001",
        "source": (
            "ICSD 180318 via OBELiX: gamma-Li3PS4, K. Homma et al., Solid State Ionics "
            "(2011). Coordinates noised by OBELiX"
        ),
        "note": (
            "Pmn2_1, a = 7.708, b = 6.535, c = 6.137 A; S occupancies 0.97-0.99 as "
            "refined (charge +0.36). "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li3PS4-beta-icsd180319",
        "file": "sourced/Li3PS4-beta_Pnma_OBELiX-nhq_ICSD180319-noised.cif",
        "sha256": "82bc81cc7a4d1183",
        "formula": "Li3PS4",
        "role": "source",
        "oxidation_states": _LPS,
        "origin": OBELIX + "nhq.cif",
        "noised": True,
        "icsd": 180319,
        "doi": "10.1016/j.ssi.2010.10.001",
        "source": (
            "ICSD 180319 via OBELiX: beta-Li3PS4, K. Homma et al., Solid State Ionics "
            "(2011). Coordinates noised by OBELiX"
        ),
        "note": (
            "Pnma, a = 12.819, b = 8.2195, c = 6.1236 A; Li 8d 1, 4b 0.7, 4c 0.3 (the "
            "shortest Li-S, 1.49 A, involves the 0.3 Li and the noise). The high-"
            "temperature phase; the hull uses gamma. "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li7P3S11-icsd157654",
        "file": "sourced/Li7P3S11_P-1_OBELiX-mdp_ICSD157654-noised.cif",
        "sha256": "0effbd30039cc8ca",
        "formula": "Li7P3S11",
        "role": "source",
        "oxidation_states": _LPS,
        "origin": OBELIX + "mdp.cif",
        "noised": True,
        "icsd": 157654,
        "doi": None,
        "source": (
            "ICSD 157654 via OBELiX: H. Yamane et al., Solid State Ionics "
            "(2007). Coordinates noised by OBELiX"
        ),
        "note": (
            "P-1, ordered, V = 829.35 A^3 (the literature cell in another setting); "
            "P-S 1.86-2.32 A from the noise. "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li7P3S11-dft",
        "file": "sourced/Li7P3S11_P1_torchdisorder.cif",
        "sha256": "ad9f8d8c78df0355",
        "formula": "Li7P3S11",
        "role": "source",
        "oxidation_states": _LPS,
        "origin": (
            "Feugmo-Group/torchdisorder@e9b1c8d:data/crystal-structures/Li7P3S11.cif"
        ),
        "noised": False,
        "source": (
            "No origin stated; a pymatgen P1 file with oxidation states whose cell is "
            "5.7 % larger than experiment (a DFT-relaxed cell, probably from the "
            "Materials Project)"
        ),
        "note": "Ordered, P-1 at symprec 0.1. Comparison only (not experimental).",
    },
    {
        "name": "Li10GeP2S12-cm2018",
        "file": "sourced/Li10GeP2S12_P42nmc_OBELiX-mtn_ChemMater2018.cif",
        "sha256": "3989be320fe9c6e7",
        "formula": "Li10GeP2S12",
        "role": "source",
        "oxidation_states": {"Li": 1, "Ge": 4, "P": 5, "S": -2},
        "origin": OBELIX + "mtn.cif",
        "noised": False,
        "doi": "10.1021/acs.chemmater.8b00266",
        "source": (
            "OBELiX entry mtn (no ICSD number, so not noised); refinement of the paper "
            "with doi 10.1021/acs.chemmater.8b00266"
        ),
        "note": (
            "P4_2/nmc, a = 8.7112, c = 12.6078 A; Li disordered (alternative sites "
            "0.42 A apart). Not noised."
        ),
    },
    {
        "name": "Li10GeP2S12-icsd188887",
        "file": "sourced/Li10GeP2S12_P42nmc_OBELiX-j8q_ICSD188887-noised.cif",
        "sha256": "739c38bf321c1459",
        "formula": "Li10GeP2S12",
        "role": "source",
        "oxidation_states": {"Li": 1, "Ge": 4, "P": 5, "S": -2},
        "origin": OBELIX + "j8q.cif",
        "noised": True,
        "icsd": 188887,
        "doi": "10.1039/c3cp51985f",
        "source": "ICSD 188887 via OBELiX (close match 10.1039/c3cp51985f); noised",
        "note": "P4_2/nmc, a = 8.719, c = 12.639 A; Li 20.06 per cell. " + OBELIX_NOTE,
    },
    {
        "name": "Li6PS5Cl-icsd259200",
        "file": "sourced/Li6PS5Cl_F-43m_OBELiX-122_ICSD259200-noised.cif",
        "sha256": "a9fe913c3a112ed6",
        "formula": "Li6PS5Cl",
        "role": "source",
        "oxidation_states": _LPSCL,
        "origin": OBELIX + "122.cif",
        "noised": True,
        "icsd": 259200,
        "doi": "10.1021/jacs.7b06327",
        "source": (
            "ICSD 259200 via OBELiX: M. A. Kraft et al., J. Am. Chem. Soc. 139, 10909 "
            "(2017). Coordinates noised by OBELiX"
        ),
        "note": ("F-43m, a = 9.898 A; Li 48h 0.5; S/Cl exchange on 4a/4c (0.385/0.615). ")
        + OBELIX_NOTE,
    },
    {
        "name": "Li6PS5Cl-icsd142473",
        "file": "sourced/Li6PS5Cl_F-43m_OBELiX-97p_ICSD142473-noised.cif",
        "sha256": "813d73bedf83011b",
        "formula": "Li6PS5Cl",
        "role": "source",
        "oxidation_states": _LPSCL,
        "origin": OBELIX + "97p.cif",
        "noised": True,
        "icsd": 142473,
        "doi": "10.1002/pssa.201001117",
        "source": (
            "ICSD 142473 via OBELiX: paper doi 10.1002/pssa.201001117 (close match "
            "10.1021/acs.inorgchem.0c01504). Coordinates noised by OBELiX"
        ),
        "note": (
            "F-43m, a = 9.8499 A; Li split over two 48h orbits (0.419, 0.081); S/Cl "
            "exchange on 4a/4c (0.438/0.562). "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li6PS5Cl-neutron",
        "file": "sourced/Li6PS5Cl_F-43m_neutron_bjmorgan-data_argyrodite_disorder.cif",
        "sha256": "1d3adab9708c611b",
        "formula": "Li6PS5Cl",
        "role": "source",
        "oxidation_states": _LPSCL,
        "origin": (
            "bjmorgan/data_argyrodite_disorder@70060fcba4422a22c37989ea8b0649fb56bd5687:"
            "data/reference_structures/Li6PS5Cl_Neutron.cif"
        ),
        "noised": False,
        "source": "Experimental neutron refinement (VESTA export; the paper is not named)",
        "note": (
            "F-43m, a = 9.86026 A; Li 48h 0.5; S/Cl exchange on 4a/4c (0.385/0.615). "
            "Not noised: the reference the recalled argyrodite is compared with."
        ),
    },
    {
        "name": "Li6PS5Cl-mp985592",
        "file": "sourced/Li6PS5Cl_mp-985592_E1582271-Solid-Electrolyte-MLIP-MD.cif",
        "sha256": "c6390e83f543112d",
        "formula": "Li6PS5Cl",
        "role": "electrolyte",
        "oxidation_states": _LPSCL,
        "origin": (
            "E1582271-dotcom/Solid-Electrolyte-MLIP-MD@cd51da0a:data/Li6PS5Cl_mp-985592.cif"
        ),
        "noised": False,
        "source": (
            "Materials Project mp-985592 (GGA/PBE-relaxed ordered cell), as saved by "
            "the repository's src/structure.py (MPRester, conventional standard cell)"
        ),
        "note": (
            "The ordered cell paper 000 computed its Li6PS5Cl rows on (structures from "
            "the Materials Project, its L46). 52 atoms, F-43m kept by the ordering: Li "
            "on 24g, Cl on 4a, free S on 4c. a = 10.2795 A, the PBE lattice (+4.3 % "
            "over experiment). Copied from the repository's text as stored by the "
            "search index (3,475 bytes, the stored length); an independent 2x2x2 copy "
            "(hydrogen1222/LPSCl-transport-study@43f92b9a:00_notes/source_inputs/"
            "done.cif) matches it to rms 3e-4."
        ),
    },
    {
        "name": "Li4GeS4-icsd92200",
        "file": "sourced/Li4GeS4_Pnma_OBELiX-e6b_ICSD92200-noised.cif",
        "sha256": "0e0b55cd68029afa",
        "formula": "Li4GeS4",
        "role": "source",
        "oxidation_states": {"Li": 1, "Ge": 4, "S": -2},
        "origin": OBELIX + "e6b.cif",
        "noised": True,
        "icsd": 92200,
        "doi": "10.1016/s0167-2738(00)00277-0",
        "source": (
            "ICSD 92200 via OBELiX: M. Murayama et al., Solid State Ionics (2000) "
            "('partial occupancy corrected'). Coordinates noised by OBELiX"
        ),
        "note": (
            "Pnma, a = 14.066, b = 7.751, c = 6.150 A; Li 8d half occupied (alternative "
            "sites 0.56 A apart). "
        )
        + OBELIX_NOTE,
    },
    {
        "name": "Li4GeO4-icsd65177",
        "file": "sourced/Li4GeO4_Cmcm_OBELiX-dth_ICSD65177-noised.cif",
        "sha256": "947a4e8d692a6143",
        "formula": "Li4GeO4",
        "role": "source",
        "oxidation_states": {"Li": 1, "Ge": 4, "O": -2},
        "origin": OBELIX + "dth.cif",
        "noised": True,
        "icsd": 65177,
        "doi": "10.1002/zaac.19875551213",
        "source": (
            "ICSD 65177 via OBELiX: R. Hofmann, R. Hoppe, Z. Anorg. Allg. Chem. 555, "
            "136 (1987). Coordinates noised by OBELiX"
        ),
        "note": "Cmcm, ordered, a = 7.766, b = 7.357, c = 6.049 A. " + OBELIX_NOTE,
    },
    {
        "name": "Li3PO4-icsd79427",
        "file": "sourced/Li3PO4_Pnma_OBELiX-w7d_ICSD79427-noised.cif",
        "sha256": "2319b779fd7bf30e",
        "formula": "Li3PO4",
        "role": "source",
        "oxidation_states": {"Li": 1, "P": 5, "O": -2},
        "origin": OBELIX + "w7d.cif",
        "noised": True,
        "icsd": 79427,
        "doi": "10.1006/jssc.1995.1140",
        "source": (
            "ICSD 79427 via OBELiX: gamma-Li3PO4 (doi 10.1006/jssc.1995.1140); noised"
        ),
        "note": "Pnma, ordered, a = 10.4612, b = 6.1113, c = 4.9208 A. " + OBELIX_NOTE,
    },
    {
        "name": "Li3YBr6-icsd29961",
        "file": "sourced/Li3YBr6_C2m_OBELiX-elz_ICSD29961-noised.cif",
        "sha256": "1ca8b07b300a6e8a",
        "formula": "Li3YBr6",
        "role": "source",
        "oxidation_states": {"Li": 1, "Y": 3, "Br": -1},
        "origin": OBELIX + "elz.cif",
        "noised": True,
        "icsd": 29961,
        "doi": "10.1002/adma.201803075",
        "source": (
            "ICSD 29961 via OBELiX; conductivity paper Asano et al. (2018), close match "
            "10.1021/acs.chemmater.0c04352. Coordinates noised by OBELiX"
        ),
        "note": (
            "C2/m, a = 6.9188, b = 11.9742, c = 6.8635 A, beta = 109.78 deg; Li/Y "
            "antisite mixing on 4g and 2a and Li on 4h and 8j. "
        )
        + OBELIX_NOTE,
    },
]

#: Prototypes made from a source: curation (each step documented), ordering when the
#: cell must be ordered, then the ions relaxed at the experimental cell with the space
#: group kept. ``scripts/restore_structures.py`` runs them with CHGNet.
RESTORED: list[dict[str, Any]] = [
    {
        "name": "Li3YCl6",
        "parent": "Li3YCl6-icsd29969",
        "role": "electrolyte",
        "curation": [],
        "order": {"supercell": [1, 1, 1], "pool": True, "orderings": 3},
        "bonds": [["Y", "Cl"], ["Li", "Cl"]],
        "note": (
            "Disordered P-3m1 as refined; coordinates restored through its three "
            "lowest-Ewald orderings (Li orbits and split Y orbits pooled), averaged "
            "back onto P-3m1. To order it, pool the Li orbits and the split Y orbits "
            "(sse_flows.ordering.problem.pool_partial_sites): 1,320 arrangements in "
            "one cell, 124 distinct."
        ),
    },
    {
        "name": "Li3PS4",
        "parent": "Li3PS4-gamma-icsd180318",
        "role": "competing",
        "curation": [["full_occupancy", "S"]],
        "order": None,
        "bonds": [["P", "S"]],
        "note": (
            "gamma-Li3PS4, the low-temperature polymorph and the Li3PS4 of the "
            "Materials Project hull. S occupancies (0.97-0.99 as refined) set to 1."
        ),
    },
    {
        "name": "Li7P3S11",
        "parent": "Li7P3S11-icsd157654",
        "role": "competing",
        "curation": [],
        "order": None,
        "bonds": [["P", "S"]],
        "note": "Li7P3S11 glass-ceramic phase (P2S7 and PS4 units); metastable.",
    },
    {
        "name": "Li4GeS4",
        "parent": "Li4GeS4-icsd92200",
        "role": "competing",
        "curation": [],
        "order": {"supercell": [1, 1, 1], "pool": False, "orderings": 3},
        "bonds": [["Ge", "S"]],
        "note": (
            "Disordered as refined (Li 8d half occupied); coordinates restored through "
            "its three lowest-Ewald orderings, averaged back onto Pnma."
        ),
    },
    {
        "name": "Li4GeO4",
        "parent": "Li4GeO4-icsd65177",
        "role": "competing",
        "curation": [],
        "order": None,
        "bonds": [["Ge", "O"]],
        "note": "",
    },
    {
        "name": "Li3PO4",
        "parent": "Li3PO4-icsd79427",
        "role": "competing",
        "curation": [],
        "order": None,
        "bonds": [["P", "O"]],
        "note": "gamma-Li3PO4.",
    },
    {
        "name": "Li3InCl6",
        "parent": "Li3InCl6-icsd89617",
        "role": "electrolyte",
        "curation": [["drop_minor", "In"]],
        "order": None,
        "bonds": [["In", "Cl"]],
        "note": (
            "The 7 % In/Li antisite on 4g is dropped and In 2a set to 1 (the ideal "
            "ordered C2/m cell, charge balanced)."
        ),
    },
]

#: Independent files of one phase: (name, name, sublattices compared; "S|Cl" counts
#: S and Cl as one, for anion sites that mix).
COMPARISONS: list[tuple[str, str, list[str]]] = [
    ("Li3YCl6", "Li3YCl6-model01", ["Cl"]),
    ("Li3YCl6", "Li3YCl6-dft60", ["Cl"]),
    ("Li7P3S11-icsd157654", "Li7P3S11-dft", ["P", "S"]),
    ("Li10GeP2S12-cm2018", "Li10GeP2S12-icsd188887", ["P|Ge", "S"]),
    ("Li10GeP2S12", "Li10GeP2S12-cm2018", ["P|Ge", "S"]),
    ("Li6PS5Cl", "Li6PS5Cl-neutron", ["P", "S|Cl"]),
    ("Li6PS5Cl", "Li6PS5Cl-icsd259200", ["P", "S|Cl"]),
    ("Li6PS5Cl", "Li6PS5Cl-icsd142473", ["P", "S|Cl"]),
    ("Li6PS5Cl", "Li6PS5Cl-mp985592", ["P", "S|Cl"]),
    ("Li3YBr6", "Li3YBr6-icsd29961", ["Br"]),
]

#: Phases no refined file was found for, derived from an isostructural shipped one by
#: substituting species and scaling to the phase's own volume per atom (A^3).
DERIVED: list[dict[str, Any]] = [
    {
        "name": "InCl3",
        "parent": "YCl3",
        "substitute": {"Y": "In"},
        "volume_per_atom": 26.45,
        "role": "competing",
        "oxidation_states": {"In": 3, "Cl": -1},
        "source": (
            "Derived: the shipped YCl3 (AlCl3 type, C2/m) with Y -> In, scaled to "
            "26.45 A^3/atom (InCl3 density 3.46 g/cm^3, Z = 4)"
        ),
        "note": (
            "InCl3 crystallises in the AlCl3 type (C2/m), as YCl3. Relax it before use "
            "(the stability flow does). Its Materials Project lowest polymorph may be "
            "another stacking of the same layers."
        ),
    },
    {
        "name": "InBr3",
        "parent": "YCl3",
        "substitute": {"Y": "In", "Cl": "Br"},
        "volume_per_atom": 31.0,
        "role": "competing",
        "oxidation_states": {"In": 3, "Br": -1},
        "source": (
            "Derived: the shipped YCl3 (AlCl3 type, C2/m) with Y -> In, Cl -> Br, "
            "scaled to 31.0 A^3/atom (InBr3 density 4.74 g/cm^3, Z = 4)"
        ),
        "note": "InBr3 crystallises in the AlCl3 type (C2/m). Relax it before use.",
    },
    {
        "name": "YBr3",
        "parent": "YCl3",
        "substitute": {"Cl": "Br"},
        "volume_per_atom": 34.5,
        "role": "competing",
        "oxidation_states": {"Y": 3, "Br": -1},
        "source": (
            "Derived: the shipped YCl3 (AlCl3 type, C2/m) with Cl -> Br, scaled to "
            "34.5 A^3/atom (estimate by volume additivity; the cell of Brown, "
            "Fletcher, Holah, J. Chem. Soc. A 1968, 1889 was not read)"
        ),
        "note": (
            "A STAND-IN: YBr3 crystallises in the FeCl3 type (R-3), the same YBr6 "
            "octahedral layers as the AlCl3 type stacked on hexagonal instead of cubic "
            "close-packed Br. The two stackings differ by a few meV/atom in DFT; an "
            "E_hull using this cell carries that uncertainty."
        ),
    },
    {
        "name": "Li3InBr6",
        "parent": "Li3InCl6",
        "substitute": {"Cl": "Br"},
        "volume_per_atom": 25.5,
        "role": "electrolyte",
        "oxidation_states": {"Li": 1, "In": 3, "Br": -1},
        "source": (
            "Derived: the shipped (restored) Li3InCl6 (C2/m) with Cl -> Br, scaled to "
            "25.5 A^3/atom (estimate: 3 LiBr + InBr3 by volume, plus ~3 % as for "
            "Li3InCl6; no refined cell was found)"
        ),
        "note": (
            "Li3InBr6 is reported monoclinic at room temperature (superionic above "
            "~314 K); the C2/m Li3InCl6 arrangement is assumed. Relax it before use."
        ),
    },
]
