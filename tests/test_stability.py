"""Phase stability: hand-built hulls, the EMT flow, the LiCl window, corrections, CLI."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import yaml
from jobflow import run_locally
from pymatgen.analysis.phase_diagram import GrandPotentialPhaseDiagram, PhaseDiagram
from pymatgen.core import Composition, Element, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.documents import StabilityOutput
from sse_flows.flows import StabilityMaker
from sse_flows.makers.stability import StabilityAnalysisMaker
from sse_flows.stores import get_job_store
from sse_flows.structures import load_prototype
from sse_flows.thermo import (
    IncompleteHullError,
    MissingReferenceError,
    StabilityError,
    analyze_hull,
    apply_corrections,
    decide_corrections,
    electrochemical_window,
    make_entry,
)

# --------------------------------------------------------------------- hand-built hulls
# Elemental energies per atom: Li -2.0, Cl -1.5, Y -6.0 (eV). Formation energies per
# atom are chosen, total energies follow.
E_EL = {"Li": -2.0, "Cl": -1.5, "Y": -6.0}


def _entry(formula: str, e_form: float) -> ComputedEntry:
    comp = Composition(formula)
    energy = comp.num_atoms * e_form + sum(E_EL[el.symbol] * n for el, n in comp.items())
    return make_entry(comp, energy, formula, "test")


def _elements() -> list[ComputedEntry]:
    return [make_entry("Li2", -4.0, "Li", "test"), make_entry("Cl2", -3.0, "Cl2", "test"),
            make_entry("Y", -6.0, "Y", "test")]  # fmt: skip


def test_binary_hull_by_hand() -> None:
    # LiCl at -1.75 eV/atom; LiCl3 at -0.375 lies above the LiCl-Cl2 tie line, which
    # at x_Cl = 3/4 is -1.75 * (1 - 3/4) / (1 - 1/2) = -0.875: E_hull = 0.5 eV/atom,
    # decomposing LiCl3 -> LiCl + Cl2 with half the atoms in each.
    others = [*_elements()[:2], _entry("LiCl", -1.75)]
    result = analyze_hull(_entry("LiCl3", -0.375), others)
    assert result.e_form_eV_atom == pytest.approx(-0.375)
    assert result.e_hull_eV_atom == pytest.approx(0.5)
    assert not result.stable
    assert {p.formula: p.fraction for p in result.decomposition} == pytest.approx(
        {"LiCl": 0.5, "Cl2": 0.5}
    )
    stable = analyze_hull(_entry("LiCl", -1.75), _elements()[:2])
    assert stable.stable and stable.e_hull_eV_atom == 0.0
    assert stable.e_decomp_eV_atom == pytest.approx(-1.75)  # below the Li-Cl2 line


def test_ternary_hull_and_window_by_hand() -> None:
    # Li3YCl6 -> 3 LiCl (6 atoms) + YCl3 (4 atoms): hull at 0.6*-1.75 + 0.4*-2.0 = -1.85.
    others = [*_elements(), _entry("LiCl", -1.75), _entry("YCl3", -2.0)]
    target = _entry("Li3YCl6", -1.80)
    result = analyze_hull(target, others)
    assert result.e_form_eV_atom == pytest.approx(-1.80)
    assert result.e_hull_eV_atom == pytest.approx(0.05)
    assert {p.formula: p.fraction for p in result.decomposition} == pytest.approx(
        {"LiCl": 0.6, "YCl3": 0.4}
    )
    # Window of the Li-neutral products LiCl + YCl3. Reduction YCl3 + 3 Li -> Y + 3 LiCl:
    # dE = -6 + 3(-7) - (-18.5) - 3(-2) = -2.5 eV for 3 Li -> 0.8333 V. Oxidation
    # LiCl -> Li + 1/2 Cl2: 3.5 eV for 1 Li -> 3.5 V.
    window = electrochemical_window(target, others)
    assert window.window_V == pytest.approx([2.5 / 3, 3.5])
    assert window.mu_ref_eV == pytest.approx(-2.0)
    uptakes = [(r.v_low, r.li_uptake, sorted(r.phases)) for r in window.ranges]
    assert uptakes[0][:2] == pytest.approx((0.0, 3.0))  # Li3YCl6 + 3 Li -> Y + 6 LiCl
    assert uptakes[0][2] == ["LiCl", "Y"]
    assert uptakes[-1][1] == pytest.approx(-3.0)  # all Li released: YCl3 + Cl2
    assert sorted(uptakes[-1][2]) == ["Cl2", "YCl3"]
    # The same equilibria from grand-potential diagrams at the middle of each range.
    entries = [target, *others]
    for r in window.ranges:
        v = r.v_low + 0.05 if r.v_high is None else (r.v_low + r.v_high) / 2
        gpd = GrandPotentialPhaseDiagram(entries, {Element("Li"): -2.0 - v})
        decomp = gpd.get_decomposition(Composition("YCl6"))
        li = sum(amt * e.original_comp["Li"] / e.composition.num_atoms
                 for e, amt in decomp.items()) * 7  # fmt: skip
        assert li - 3 == pytest.approx(r.li_uptake, abs=1e-9)
        assert sorted(e.original_entry.composition.reduced_formula for e in decomp) == (
            sorted(r.phases)
        )


def test_missing_reference_names_the_element() -> None:
    with pytest.raises(MissingReferenceError, match=r"Y\b.*same potential"):
        analyze_hull(_entry("YCl3", -2.0), _elements()[:2])


# ------------------------------------------------------------------------- EMT flow
def _fcc(species: list[str], a: float) -> Structure:
    coords = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(a), species, coords)


def _alloys() -> dict[str, Structure]:
    return {
        "Cu3Au": _fcc(["Au", "Cu", "Cu", "Cu"], 3.75),
        "CuAu3": _fcc(["Cu", "Au", "Au", "Au"], 3.95),
        "CuAu": Structure(
            Lattice.tetragonal(3.85 / 2**0.5, 3.75), ["Cu", "Au"], [[0, 0, 0], [0.5] * 3]
        ),
        "Cu": _fcc(["Cu"] * 4, 3.6),
        "Au": _fcc(["Au"] * 4, 4.08),
    }


def _ase_relaxed_energy_per_atom(structure: Structure) -> float:
    """Relax independently with ASE (EMT, FIRE, Frechet cell filter)."""
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = EMT()
    FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-3, steps=2000)
    return float(atoms.get_potential_energy()) / len(atoms)


def test_emt_flow_matches_direct_pymatgen() -> None:
    phases = _alloys()
    target = phases.pop("Cu3Au")
    flow = StabilityMaker(potential="emt").make(target, competing=list(phases.values()))
    responses = run_locally(flow, store=get_job_store(), ensure_success=True)
    out = responses[flow.output.uuid][1].output
    assert isinstance(out, StabilityOutput)
    assert out.complete and out.window_V is None  # no Li
    assert {e.source for e in out.entries} == {"target", "user"}
    assert all(e.job_uuid in responses for e in out.entries)
    # (a) the same relaxed energies through pymatgen directly
    pd = PhaseDiagram(
        [ComputedEntry(Composition(e.composition), e.energy_eV) for e in out.entries]
    )
    by_label = {e.label: e for e in out.entries}
    pd_entries = {e.composition.reduced_formula: e for e in pd.all_entries}
    t = pd_entries["Cu3Au"]
    assert out.e_form_eV_atom == pytest.approx(pd.get_form_energy_per_atom(t), abs=1e-9)
    assert out.e_hull_eV_atom == pytest.approx(pd.get_e_above_hull(t), abs=1e-9)
    assert by_label["CuAu3"].e_above_hull_eV_atom == pytest.approx(
        pd.get_e_above_hull(pd_entries["CuAu3"]), abs=1e-9
    )
    # (b) energies from independent ASE relaxations, to relaxation tolerance
    direct = {"Cu3Au": _ase_relaxed_energy_per_atom(target)}
    direct.update({k: _ase_relaxed_energy_per_atom(s) for k, s in phases.items()})
    for label, energy in direct.items():
        assert by_label[label].energy_per_atom_eV == pytest.approx(energy, abs=2e-3)
    pd2 = PhaseDiagram(
        [
            ComputedEntry(Composition(k), e * Composition(k).num_atoms)
            for k, e in direct.items()
        ]
    )
    t2 = next(e for e in pd2.all_entries if e.composition.reduced_formula == "Cu3Au")
    assert out.e_form_eV_atom == pytest.approx(pd2.get_form_energy_per_atom(t2), abs=2e-3)
    assert out.e_hull_eV_atom == pytest.approx(pd2.get_e_above_hull(t2), abs=2e-3)
    decomp, _ = pd2.get_decomp_and_e_above_hull(t2, allow_negative=True)
    assert {p.formula for p in out.decomposition} == {
        e.composition.reduced_formula for e in decomp
    }


def test_missing_elemental_reference_fails_when_the_flow_is_built() -> None:
    phases = _alloys()
    with pytest.raises(MissingReferenceError, match=r"Au.*CIF"):
        StabilityMaker(potential="emt").make(phases["Cu3Au"], competing=[phases["Cu"]])


def _relaxed(structure: Structure) -> dict:
    from sse_flows.makers.relax import RelaxMaker

    maker = RelaxMaker(potential="emt")
    return maker.make.original(maker, structure).model_dump()  # type: ignore[attr-defined]


def test_failed_competing_relaxation_is_reported() -> None:
    """A failed relax job reaches the analysis as None (OnMissing.NONE)."""
    phases = _alloys()
    target = _relaxed(phases["Cu3Au"])
    competing = [None, _relaxed(phases["Cu"]), _relaxed(phases["Au"])]
    meta = [{"label": "Cu3Au", "formula": "Cu3Au", "source": "target", "job_uuid": "t"}]
    meta += [
        {"label": k, "formula": k, "source": "user", "job_uuid": f"uuid-{k}"}
        for k in ("CuAu", "Cu", "Au")
    ]
    strict = StabilityAnalysisMaker()
    with pytest.raises(IncompleteHullError, match=r"CuAu.*allow_incomplete"):
        strict.make.original(strict, target, competing, meta)  # type: ignore[attr-defined]
    lenient = StabilityAnalysisMaker(allow_incomplete=True)
    out = lenient.make.original(lenient, target, competing, meta)  # type: ignore[attr-defined]
    assert not out.complete
    assert [(f.label, f.job_uuid) for f in out.failed_phases] == [("CuAu", "uuid-CuAu")]
    assert any("lower bound" in n for n in out.notes)
    with pytest.raises(StabilityError, match=r"elemental reference.*Au"):
        strict.make.original(strict, target, [*competing[:2], None], meta)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ LiCl window, CHGNet
def test_licl_window_with_chgnet_matches_analytic_limits() -> None:
    """Cl reference: solid Cl2 derived from the shipped I2 (Cmca) cell, relaxed by CHGNet.

    Li and Cl2 are the only other phases, so the window must be [0, -E_f(LiCl)/e per
    formula unit] exactly: LiCl is stable against Li metal, and above the oxidation
    limit LiCl -> Li + 1/2 Cl2.
    """
    flow = StabilityMaker(potential="chgnet").make(load_prototype("LiCl"))
    responses = run_locally(flow, store=get_job_store(), ensure_success=True)
    out = responses[flow.output.uuid][1].output
    energies = {e.label: e.energy_per_atom_eV for e in out.entries}
    assert {e.label: e.source for e in out.entries} == {
        "LiCl": "target", "Li": "prototype", "Cl2": "derived"}  # fmt: skip
    e_form_fu = 2 * energies["LiCl"] - energies["Li"] - energies["Cl2"]
    assert out.e_form_eV_atom == pytest.approx(e_form_fu / 2, abs=1e-9)
    assert out.e_form_eV_atom < -1.5  # strongly bound (DFT about -1.9 to -2.1)
    assert out.window_V == pytest.approx([0.0, -e_form_fu], abs=1e-9)
    assert out.window is not None and out.window.mu_ref_eV == pytest.approx(energies["Li"])
    assert [r.li_uptake for r in out.window.ranges] == pytest.approx([0.0, -1.0], abs=1e-9)
    assert out.window.oxidation_products == ["Cl2"]
    assert out.window.plot and Path(out.window.plot).is_file()
    # CHGNet learned MP2020-corrected energies: by default nothing is added, so E_f
    # above equals the uncorrected value, and the document says why
    corrections = out.corrections
    assert (corrections.requested, corrections.scheme) == ("auto", "none")
    assert corrections.energy_reference == "mp2020-corrected"
    assert "MP2020-corrected" in corrections.reason
    assert all(e.correction_eV_atom == 0.0 for e in out.entries)


def test_raw_pbe_model_gets_the_anion_correction_once() -> None:
    """SevenNet-0 learned raw MPtrj energies: auto applies the yaml's Cl value to LiCl."""
    import pymatgen.analysis.compatibility as compat

    cl = yaml.safe_load(
        (Path(compat.__file__).parent / "MP2020Compatibility.yaml").read_text()
    )["Corrections"]["CompositionCorrections"]["Cl"]
    flow = StabilityMaker(potential="sevennet").make(load_prototype("LiCl"))
    responses = run_locally(flow, store=get_job_store(), ensure_success=True)
    out = responses[flow.output.uuid][1].output
    energies = {e.label: e.energy_per_atom_eV for e in out.entries}
    uncorrected = (2 * energies["LiCl"] - energies["Li"] - energies["Cl2"]) / 2
    assert out.corrections.energy_reference == "raw-pbe"
    assert (out.corrections.requested, out.corrections.scheme) == ("auto", "mp2020_anion")
    assert out.e_form_eV_atom == pytest.approx(uncorrected + cl / 2, abs=1e-9)
    assert {e.label: e.correction_eV_atom for e in out.entries} == pytest.approx(
        {"LiCl": cl / 2, "Li": 0.0, "Cl2": 0.0}
    )


def test_the_corrections_decision_and_a_forced_choice() -> None:
    assert decide_corrections("auto", "mp2020-corrected")[0] == "none"
    assert decide_corrections("auto", "raw-pbe")[0] == "mp2020_anion"
    for reference in ("raw-r2scan", "raw-pbe-omat24", "raw-pbe-no-u", "unknown", None):
        scheme, reason = decide_corrections("auto", reference)
        assert scheme == "none" and reason.startswith("auto")
    forced, why = decide_corrections("mp2020_anion", "mp2020-corrected")
    assert forced == "mp2020_anion" and "counted twice" in why
    assert decide_corrections("none", "raw-pbe") == ("none", "asked for: no corrections")
    with pytest.raises(StabilityError, match="Use one of: auto, none, mp2020_anion"):
        decide_corrections("mp2021", "raw-pbe")
    entries = [make_entry("LiCl", -7.0, "LiCl", "t"), make_entry("Li", -2.0, "Li", "t")]
    corrected, record = apply_corrections(entries, "auto", energy_reference="raw-pbe")
    assert corrected[0].correction == pytest.approx(-0.614)
    assert record.requested == "auto" and record.scheme == "mp2020_anion"


# ----------------------------------------------------------------------- corrections
def test_mp2020_anion_corrections_are_the_yaml_values() -> None:
    import pymatgen.analysis.compatibility as compat

    table = yaml.safe_load(
        (Path(compat.__file__).parent / "MP2020Compatibility.yaml").read_text()
    )["Corrections"]["CompositionCorrections"]
    assert (table["Cl"], table["Br"], table["S"]) == (-0.614, -0.534, -0.503)
    formulas = ["LiCl", "LiBr", "Li2S", "Li6PS5Cl", "YCl3", "Li", "Cl2", "S8"]
    entries = [make_entry(f, -10.0, f, "test") for f in formulas]
    corrected, record = apply_corrections(entries, "mp2020_anion")
    got = {e.data["label"]: e.correction for e in corrected}
    expected = {
        "LiCl": table["Cl"], "LiBr": table["Br"], "Li2S": table["S"],
        "Li6PS5Cl": 5 * table["S"] + table["Cl"], "YCl3": 3 * table["Cl"],
        "Li": 0.0, "Cl2": 0.0, "S8": 0.0,
    }  # fmt: skip
    assert got == pytest.approx(expected, abs=1e-12)
    assert all(e.uncorrected_energy == -10.0 for e in corrected)
    assert record.pymatgen_version == version("pymatgen")
    assert record.values_eV_atom["Cl"] == table["Cl"]
    assert {c.label for c in record.entries} == {"LiCl", "LiBr", "Li2S", "Li6PS5Cl", "YCl3"}
    none, none_record = apply_corrections(entries, "none")
    assert all(e.correction == 0 for e in none) and none_record.scheme == "none"


def test_corrections_agree_with_pymatgen_compatibility_when_it_applies_them() -> None:
    """MP2020Compatibility on entries built so it can apply them gives the same numbers."""
    from pymatgen.analysis.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    compat = MaterialsProject2020Compatibility(check_potcar=False)
    for name in ("LiCl", "LiBr", "Li2S"):
        structure = load_prototype(name)
        entry = ComputedStructureEntry(
            structure, -10.0, parameters={"run_type": "GGA", "software": "uMLIP"}
        )
        theirs = compat.get_adjustments(entry)
        mine, _ = apply_corrections([make_entry(structure.composition, -10.0, name, "t")],
                                    "mp2020_anion")  # fmt: skip
        assert sum(a.value for a in theirs) == pytest.approx(mine[0].correction, abs=1e-12)


# ------------------------------------------------------------------------------- CLI
def test_cli_json_keys(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from sse_flows.cli.stability import stability

    app = typer.Typer()
    app.command()(stability)
    app.command("noop")(lambda: None)  # keep subcommand mode with one real command
    phases = _alloys()
    target = tmp_path / "Cu3Au.cif"
    phases.pop("Cu3Au").to(filename=str(target))
    folder = tmp_path / "competing"
    folder.mkdir()
    for name, structure in phases.items():
        structure.to(filename=str(folder / f"{name}.cif"))
    result = CliRunner().invoke(
        app,
        ["stability", str(target), "--potential", "emt", "--competing", str(folder),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{") :])
    assert {"e_form_eV_atom", "e_hull_eV_atom", "decomposition", "window_V"} <= set(doc)
    assert doc["window_V"] is None and doc["e_hull_eV_atom"] == pytest.approx(0.0)
    assert np.isfinite(doc["e_form_eV_atom"]) and doc["corrections"]["scheme"] == "none"
    bad = CliRunner().invoke(
        app, ["stability", str(target), "--potential", "emt", "--no-prototypes"]
    )
    assert bad.exit_code == 2 and "No elemental reference for Au, Cu" in bad.output
