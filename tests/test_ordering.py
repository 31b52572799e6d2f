"""Ordering of disordered structures: counts, Ewald ranking, series, errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from sse_flows.ordering import OrderingError, build_problem, search_orderings
from sse_flows.ordering.series import (
    anion_exchange_series,
    halide_mixing_series,
    paper001_grid,
    substitution_series,
)
from sse_flows.ordering.symmetry import distinct_supercells

COULOMB = 14.399645  # e^2 / (4 pi eps0) in eV A


def simple_cubic_ab(a: float = 2.82) -> Structure:
    return Structure(Lattice.cubic(a), [{"Na": 0.5, "Cl": 0.5}], [[0, 0, 0]])


def rocksalt_mixed_cation() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.4), [{"Li": 0.5, "Na": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3]
    )


def argyrodite_li_disordered() -> Structure:
    """Li6PS5Cl, F-43m, Li 0.5 on 48h: the shipped prototype."""
    from sse_flows.structures.prototypes import load_prototype

    return load_prototype("Li6PS5Cl")


def brute_force_distinct(structure: Structure, supercell) -> int:
    """Every arrangement as a Structure, grouped by pymatgen's StructureMatcher."""
    problem = build_problem(structure, supercell)
    per_sub = []
    for sub in problem.sublattices:
        options = []
        for combo in itertools.permutations(
            np.repeat(np.arange(len(sub.species)), sub.counts)
        ):
            options.append(combo)
        per_sub.append(sorted(set(options)))
    structures = [
        problem.decorate(np.concatenate(parts)) for parts in itertools.product(*per_sub)
    ]
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = matcher.group_structures(structures)
    return len(groups)


# --- counts -------------------------------------------------------------------


def test_simple_cubic_2x2x2_counts_and_rocksalt_ground_state():
    result = search_orderings(simple_cubic_ab(), supercell=(2, 2, 2), keep=100)
    cell = result.cells[0]
    assert cell.n_combinations == 70  # C(8, 4)
    assert cell.exhaustive
    assert cell.n_distinct == 6
    assert sum(c.multiplicity for c in result.candidates) == 70
    best = result.candidates[0]
    assert best.spacegroup == "Fm-3m"
    # Madelung constant of rocksalt, per ion pair, nearest-neighbour distance 2.82 A
    per_pair = best.ewald_energy / 4
    assert per_pair == pytest.approx(-1.747565 * COULOMB / 2.82, rel=1e-5)
    # ranked energies equal pymatgen's own Ewald sum of each cell
    for candidate in result.candidates:
        charged = candidate.structure.copy()
        charged.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
        assert candidate.ewald_energy == pytest.approx(EwaldSummation(charged).total_energy)
    energies = [c.ewald_energy for c in result.candidates]
    assert energies == sorted(energies)


def test_cscl_is_the_lowest_ewald_ordering_of_bcc():
    bcc = Structure(
        Lattice.cubic(4.12), [{"Cs": 0.5, "Cl": 0.5}] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    result = search_orderings(bcc, supercell=(2, 1, 1), keep=5)
    assert result.cells[0].n_combinations == 6  # C(4, 2)
    best = result.candidates[0]
    assert best.spacegroup == "Pm-3m"
    r_nn = 4.12 * np.sqrt(3) / 2
    assert best.ewald_energy / 2 == pytest.approx(-1.762675 * COULOMB / r_nn, rel=1e-5)


@pytest.mark.parametrize(
    ("structure", "supercell"),
    [
        (rocksalt_mixed_cation(), (2, 1, 1)),
        (
            Structure.from_spacegroup(  # vacancies on both sublattices
                "Fm-3m",
                Lattice.cubic(5.1),
                [{"Li": 0.5}, {"Cl": 0.5}],
                [[0, 0, 0], [0.5] * 3],
            ),
            (1, 1, 1),
        ),
        (  # hexagonal, two species on one orbit and a fixed anion
            Structure(
                Lattice.hexagonal(3.0, 5.0),
                [{"Li": 2 / 3, "Na": 1 / 3}, "Cl"],
                [[0, 0, 0], [1 / 3, 2 / 3, 0.5]],
            ),
            (3, 1, 2),
        ),
    ],
)
def test_distinct_counts_match_brute_force_structure_matching(structure, supercell):
    result = search_orderings(structure, supercell=supercell, keep=10_000)
    assert result.cells[0].n_distinct == brute_force_distinct(structure, supercell)
    assert sum(c.multiplicity for c in result.candidates) == result.cells[0].n_combinations


def test_supercell_shapes_match_hart_forcade_counts():
    fcc = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    prim = fcc.get_primitive_structure()
    simple = Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])
    # Hart & Forcade, PRB 77, 224115 (2008), Table IV: inequivalent HNFs per index
    assert [len(distinct_supercells(prim, n)) for n in range(1, 9)] == [
        1, 2, 3, 7, 5, 10, 7, 20,
    ]  # fmt: skip
    assert [len(distinct_supercells(simple, n)) for n in range(1, 9)] == [
        1, 3, 3, 9, 5, 13, 7, 24,
    ]  # fmt: skip


def test_all_shapes_of_a_size_agree_with_icet():
    icet = pytest.importorskip("icet")
    from pymatgen.io.ase import AseAtomsAdaptor

    prim = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]]
    ).get_primitive_structure()
    ours = search_orderings(prim, n_atoms=4, keep=1000, oxidation_states={"Cu": 0, "Au": 0})
    atoms = AseAtomsAdaptor.get_atoms(Structure(prim.lattice, ["Cu"], [[0, 0, 0]]))
    enumerate_structures = icet.tools.enumerate_structures
    icet_count = sum(
        1
        for n in (2, 4)  # icet drops orderings whose true period is smaller: add them back
        for _ in enumerate_structures(
            atoms, [n], ["Cu", "Au"], concentration_restrictions={"Au": (0.5, 0.5)}
        )
    )
    assert len(ours.candidates) == icet_count == 7


# --- sampling beyond enumeration -----------------------------------------------


def test_annealing_finds_rocksalt_in_a_cell_too_large_to_enumerate():
    result = search_orderings(simple_cubic_ab(), supercell=(4, 4, 4), keep=3, n_samples=200)
    assert not result.cells[0].exhaustive
    assert result.cells[0].n_combinations > 10**18
    best = result.candidates[0]
    assert best.spacegroup == "Fm-3m"
    assert best.ewald_energy / 32 == pytest.approx(-1.747565 * COULOMB / 2.82, rel=1e-5)
    assert any("sampled" in note for note in result.notes)


def test_ranking_is_reproducible_under_a_seed():
    args = {"supercell": (1, 1, 1), "keep": 5, "n_samples": 300}
    first = search_orderings(argyrodite_li_disordered(), seed=7, **args)
    again = search_orderings(argyrodite_li_disordered(), seed=7, **args)
    assert [c.configuration for c in first.candidates] == [
        c.configuration for c in again.candidates
    ]
    assert [c.ewald_energy for c in first.candidates] == [
        c.ewald_energy for c in again.candidates
    ]


# --- series -------------------------------------------------------------------


def _anion_counts(structure: Structure, cl_sites: np.ndarray, s_sites: np.ndarray):
    """Cl on the original 4a positions and on the free-S (4d) positions."""
    cl_frac = np.array([s.frac_coords for s in structure if s.species_string == "Cl"])

    def count(targets):
        hits = 0
        for t in targets:
            d = np.abs(((cl_frac - t) + 0.5) % 1.0 - 0.5).max(axis=1)
            hits += int((d < 1e-4).any())
        return hits

    return count(cl_sites), count(s_sites)


def test_anion_exchange_fraction_is_exact():
    host = search_orderings(argyrodite_li_disordered(), supercell=(1, 1, 1), keep=1)
    ordered = host.candidates[0].structure
    members = anion_exchange_series(ordered, fractions=(0.0, 0.25, 0.5, 0.75, 1.0))
    assert [m.parameters["exchange_fraction"] for m in members] == [0, 0.25, 0.5, 0.75, 1]
    cl_sites = np.array([s.frac_coords for s in ordered if s.species_string == "Cl"])
    free = [
        i
        for i, s in enumerate(ordered)
        if s.species_string == "S"
        and not any(n.species_string == "P" for n in ordered.get_neighbors(s, 2.5))
    ]
    s_sites = ordered.frac_coords[free]
    for member in members:
        f = member.parameters["exchange_fraction"]
        result = search_orderings(member.structure, supercell=(1, 1, 1), keep=4)
        assert 1 <= len(result.candidates) <= 4
        for candidate in result.candidates:
            assert candidate.structure.composition == ordered.composition
            on_4a, on_4d = _anion_counts(candidate.structure, cl_sites, s_sites)
            assert on_4d == round(4 * f)
            assert on_4a == 4 - round(4 * f)


def test_exchange_fraction_that_needs_a_larger_cell():
    from sse_flows.flows.series import smallest_supercell

    host = search_orderings(argyrodite_li_disordered(), supercell=(1, 1, 1), keep=1)
    member = anion_exchange_series(host.candidates[0].structure, fractions=(0.15,))[0]
    # 15 % of the 4 halide sites of the cubic cell is 0.6: five cells hold exactly 3 of 20
    with pytest.raises(OrderingError, match="multiple of 5"):
        build_problem(member.structure, (1, 1, 1))
    cell = smallest_supercell(member.structure)
    assert int(np.prod(cell)) == 5
    problem = build_problem(member.structure, cell)
    exchanged = {
        sub.name: dict(zip(sub.species, sub.counts, strict=True))
        for sub in problem.sublattices
    }
    assert exchanged["halide site (4a)"] == {"Cl": 17, "S": 3}
    assert exchanged["free chalcogen site (4d)"] == {"Cl": 3, "S": 17}


def test_substitution_series_counts_and_isovalent_flag():
    host = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    members = substitution_series(host, "Li", "Na", amounts=(0.25, 0.5), per_formula=1)
    for member in members:
        result = search_orderings(member.structure, supercell=(2, 1, 1), keep=1000)
        x = member.parameters["x"]
        assert result.ewald_degenerate
        assert any("cannot rank" in n for n in result.notes)
        for candidate in result.candidates:
            comp = candidate.structure.composition
            assert comp["Na"] == round(8 * x)
            assert comp["Li"] == 8 - round(8 * x)
        assert result.cells[0].n_distinct == brute_force_distinct(
            member.structure, (2, 1, 1)
        )


def test_halide_and_paper001_grids():
    rocksalt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    members = halide_mixing_series(rocksalt, amounts=(0.0, 0.5, 1.0))
    br = [m.structure[-1].species.get_el_amt_dict().get("Br", 0.0) for m in members]
    assert br == pytest.approx([0.0, 0.5, 1.0])
    result = search_orderings(members[1].structure, supercell=(1, 1, 1), keep=100)
    assert all(c.structure.composition["Br"] == 2 for c in result.candidates)
    host = Structure(
        Lattice.hexagonal(3.7, 6.0), ["Y", "Cl", "Cl"], [[0, 0, 0], [1 / 3, 2 / 3, 0.25],
        [2 / 3, 1 / 3, 0.75]],
    )  # fmt: skip
    grid = paper001_grid(host, steps=(0.0, 0.5, 1.0))
    params = sorted((m.parameters["x"], m.parameters["y"]) for m in grid)
    assert params == [(0, 1), (0.5, 0.5), (0.5, 1), (1, 0), (1, 0.5), (1, 1)]
    from sse_flows.structures.prototypes import load_prototype

    bromide = paper001_grid(load_prototype("Li3YBr6"), steps=(0.0, 0.5, 1.0))
    assert sorted((m.parameters["x"], m.parameters["y"]) for m in bromide) == params
    half = next(m for m in bromide if m.parameters["x"] == 0.5 and m.parameters["y"] == 0.5)
    result = search_orderings(half.structure, supercell=(1, 1, 1), keep=3, n_samples=200)
    comp = result.candidates[0].structure.composition
    assert (comp["In"], comp["Y"], comp["Br"], comp["Cl"]) == (1, 1, 6, 6)


# --- bad input ----------------------------------------------------------------


def test_non_integer_counts_name_the_supercell_that_works():
    structure = Structure(Lattice.cubic(3.0), [{"Li": 1 / 3, "Na": 2 / 3}], [[0, 0, 0]])
    with pytest.raises(OrderingError, match="multiple of 3"):
        build_problem(structure, (2, 1, 1), oxidation_states={"Li": 0, "Na": 0})


def test_charge_and_argument_problems():
    charged = Structure(Lattice.cubic(3.0), [{"Li": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3])
    with pytest.raises(OrderingError, match="net charge"):
        build_problem(charged, (2, 1, 1), oxidation_states={"Li": 1, "Cl": -1})
    with pytest.raises(OrderingError, match="No oxidation state"):
        build_problem(simple_cubic_ab(), (2, 1, 1), oxidation_states={"Na": 1})
    with pytest.raises(OrderingError, match="exactly one"):
        search_orderings(simple_cubic_ab())
    with pytest.raises(OrderingError, match="whole number of cells"):
        search_orderings(simple_cubic_ab(), n_atoms=3.5)  # type: ignore[arg-type]
