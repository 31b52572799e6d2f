"""Prototype library: each shipped structure is what its index says; validation bites."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, PeriodicSite, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from sse_flows.errors import StructureInputError
from sse_flows.structures import (
    get_prototype_info,
    list_prototypes,
    load_prototype,
    read_and_validate,
    validate_structure,
    write_prototype,
)
from tests.conftest import REPO, SSE_FLOWS, cli_env

ALL = [info.name for info in list_prototypes()]

sys.path.insert(0, str(REPO / "scripts"))
from build_prototypes import labelled  # noqa: E402


def test_library_has_all_roles():
    roles = {info.role for info in list_prototypes()}
    assert roles == {"electrolyte", "competing", "element", "source"}
    assert {i.name for i in list_prototypes("element")} >= {"Li", "Y", "In", "P", "Ge"}
    with pytest.raises(StructureInputError, match="electrolyte, competing, element"):
        list_prototypes("solvent")


@pytest.mark.parametrize("name", ALL)
def test_prototype_loads_and_matches_its_index(name: str):
    info = get_prototype_info(name)
    structure = load_prototype(name.upper())  # names are case-insensitive
    assert len(structure) == info.nsites
    assert structure.is_ordered == info.ordered
    if info.role == "source":  # as published (noise, refined occupancies): provenance
        assert info.origin and "@" in info.origin and ":" in info.origin
        if info.noised:  # the noise is said where the file is described
            assert "noise" in info.note.lower() and "relax" in info.note.lower()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sga = SpacegroupAnalyzer(labelled(structure), symprec=0.01)
        assert sga.get_space_group_number() == info.spacegroup_number
    nominal = Composition(info.formula) * info.formula_units
    actual = structure.composition
    if info.ordered:
        assert actual.almost_equals(nominal, atol=1e-6)
    else:  # refined occupancies: within 5 % of the nominal formula
        for el in nominal:
            assert actual[el] == pytest.approx(nominal[el], rel=0.05)
    report = validate_structure(structure, info.oxidation_states)
    assert report.charge_checked
    if info.ordered and info.role != "element":
        assert report.net_charge == pytest.approx(0.0, abs=1e-6)
    assert report.min_distance is not None
    if info.ordered:  # disordered cells may hold split (alternative) sites closer
        assert report.min_distance > 1.5


def test_bond_lengths_are_chemical():
    def shortest(name: str, a: str, b: str) -> float:
        s = load_prototype(name)
        return min(
            n.nn_distance
            for site in s
            if a in site.species_string
            for n in s.get_neighbors(site, 4.0)
            if b in n.species_string
        )

    assert shortest("LiCl", "Li", "Cl") == pytest.approx(2.565, abs=0.01)
    assert shortest("Li2S", "Li", "S") == pytest.approx(2.47, abs=0.02)
    assert shortest("Li10GeP2S12", "P", "S") == pytest.approx(2.0, abs=0.08)
    assert shortest("P", "P", "P") == pytest.approx(2.224, abs=0.01)
    assert shortest("I2", "I", "I") == pytest.approx(2.72, abs=0.01)
    assert shortest("Li3P", "Li", "P") == pytest.approx(2.46, abs=0.03)


def test_unknown_name_lists_close_names():
    with pytest.raises(StructureInputError, match=r"No prototype named 'Li2Se'.*Li2S"):
        load_prototype("Li2Se")


def _rocksalt(**species) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m",
        Lattice.cubic(5.13),
        [species.get("cation", "Li"), species.get("anion", "Cl")],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )


OVERFULL_CIF = """data_overfull
_cell_length_a 5.13
_cell_length_b 5.13
_cell_length_c 5.13
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Li1 Li 0 0 0 0.7
Na1 Na 0 0 0 0.4
Cl1 Cl 0.5 0.5 0.5 1
"""


def test_occupancy_above_one_is_refused(tmp_path: Path):
    # pymatgen refuses to build such a site, so patch one in as a bad parser would
    bad = _rocksalt()
    bad._sites[0] = PeriodicSite(
        Composition({"Li": 0.7, "Na": 0.4}), [0, 0, 0], bad.lattice, skip_checks=True
    )
    with pytest.raises(StructureInputError, match=r"more than 1.*sum 1\.100.*Fix the occ"):
        validate_structure(bad)
    # in a file: read_structure alone would fall back to ASE and read LiCl
    path = tmp_path / "overfull.cif"
    path.write_text(OVERFULL_CIF)
    with pytest.raises(StructureInputError, match=r"overfull\.cif: occupancies add up"):
        read_and_validate(path)


def test_overlapping_atoms_are_refused_but_alternative_sites_are_not():
    bad = _rocksalt()
    bad.append("Li", bad[0].coords + np.array([0.6, 0, 0]), coords_are_cartesian=True)
    with pytest.raises(
        StructureInputError, match=r"0\.60 A apart.*duplicated or misplaced"
    ):
        validate_structure(bad, min_distance_scale=0.5)
    # two half-occupied Li sites 1.0 A apart are alternatives, not an overlap
    split = Structure(
        Lattice.cubic(5.13),
        [{"Li": 0.5}, {"Li": 0.5}, "Cl"],
        [[0, 0, 0], [1.0 / 5.13, 0, 0], [0.5, 0.5, 0.5]],
    )
    assert validate_structure(split, {"Li": 1, "Cl": -1}).charge_checked


def test_charge_imbalance_is_refused_and_unknown_states_are_reported():
    lis = _rocksalt(anion="S")
    with pytest.raises(
        StructureInputError, match=r"not charge balanced.*net charge -4\.000"
    ):
        validate_structure(lis, {"Li": 1, "S": -2})
    report = validate_structure(lis)
    assert not report.charge_checked
    assert "not checked" in report.notes[0]


def test_read_and_validate_names_the_file(tmp_path: Path):
    path = tmp_path / "overlap.cif"
    bad = _rocksalt()
    bad.append("Cl", [0.01, 0, 0])
    bad.to(filename=str(path))
    with pytest.raises(StructureInputError, match=r"overlap\.cif.*apart"):
        read_and_validate(path)
    good = tmp_path / "LiCl.cif"
    write_prototype("LiCl", good)
    structure, report = read_and_validate(good, {"Li": 1, "Cl": -1})
    assert report.net_charge == 0 and len(structure) == 8


def test_write_formats(tmp_path: Path):
    assert load_prototype("Li3P").matches(
        Structure.from_file(write_prototype("Li3P", tmp_path / "POSCAR"))
    )
    from ase.io import read

    assert len(read(write_prototype("Li2S", tmp_path / "li2s.extxyz"))) == 12
    cif = write_prototype("Li10GeP2S12", tmp_path / "lgps.cif")
    assert not Structure.from_file(cif).is_ordered
    with pytest.raises(StructureInputError, match="partially occupied"):
        write_prototype("Li10GeP2S12", tmp_path / "lgps.vasp")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SSE_FLOWS, *args], capture_output=True, text=True, env=cli_env(home), timeout=300
    )


def test_cli_list_json_show_and_write(isolated_settings: Path, tmp_path: Path):
    listing = _cli(isolated_settings, "prototypes")
    assert listing.returncode == 0, listing.stderr
    assert "Li10GeP2S12" in listing.stdout and "disordered" in listing.stdout
    rows = json.loads(
        _cli(isolated_settings, "prototypes", "--role", "element", "--json").stdout
    )
    assert {r["role"] for r in rows} == {"element"} and any(r["name"] == "Li" for r in rows)
    out = tmp_path / "Li2S.cif"
    written = _cli(isolated_settings, "prototypes", "li2s", "--write", str(out))
    assert (
        written.returncode == 0
        and Structure.from_file(out).composition.reduced_formula == "Li2S"
    )
    shown = _cli(isolated_settings, "prototypes", "GeO2")
    assert "P4_2/mnm" in shown.stdout and "10.1107/S0108768197001468" in shown.stdout
    unknown = _cli(isolated_settings, "prototypes", "Li7P3S11x")
    assert unknown.returncode == 2 and "No prototype named" in unknown.stderr


@pytest.fixture(scope="module")
def chgnet():
    from sse_flows.potentials import PotentialSpec, load_potential

    return load_potential(PotentialSpec.parse("chgnet")).calculator


# CHGNet is trained on PBE, which puts bcc Li ~7-8 % below experiment (a = 3.41 A).
@pytest.mark.parametrize(
    ("name", "tolerance"), [("LiCl", 0.06), ("Li2S", 0.06), ("Li3P", 0.06), ("Li", 0.10)]
)
def test_chgnet_keeps_the_experimental_volume(name: str, tolerance: float, chgnet):
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    from sse_flows.structures.io import to_atoms

    atoms = to_atoms(load_prototype(name))
    atoms.calc = chgnet
    v0 = atoms.get_volume()
    FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=300)
    assert abs(atoms.get_volume() / v0 - 1) < tolerance
    assert np.all(atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)] > 2.0)
