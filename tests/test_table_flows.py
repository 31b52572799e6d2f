"""Flows that compute a paper table (``PaperTableMaker``) and ``sse-flows table --compute``.

Flow building is checked for every shipped table and both presets without running
anything. Runs: EMT on a Cu-Au alloy (the ordering -> properties path, in seconds) and
the real small preset of Table 2 (Li6PS5Cl) with CHGNet through the CLI (~2 min).
Li3YCl6 and the In compounds are not shipped; where a test needs a cell of that
composition it uses a stand-in built from the Li3YBr6 model (the geometry is not the
real compound's; only the flow is checked).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
import yaml
from jobflow import Flow, Job, OutputReference
from pymatgen.core import Composition, Lattice, Structure
from typer.testing import CliRunner

from sse_flows.cli.table import table
from sse_flows.errors import SpecError, StructureInputError, UnknownPotentialError
from sse_flows.flows.paper_tables import (
    MissingStructureError,
    PaperTableMaker,
    parse_structure_args,
    run_table_flow,
    table_preset,
    table_recipe,
)
from sse_flows.potentials import PotentialSpec
from sse_flows.query import results_frame
from sse_flows.structures import load_prototype, write_prototype
from sse_flows.tables import NO_WEIGHTS, NOT_COMPUTED, fill_table, load_table

TABLES = [
    "paper000-table1",
    "paper000-table2",
    "paper000-table3",
    "paper003-tableS3",
    "paper003-tableS5",
]


def _jobs(flow: Flow) -> dict[str, Job]:
    return {job.name: job for job, _ in flow.iterflow()}


def _maker(job: Job) -> Any:
    return job.function.__self__  # type: ignore[attr-defined]


def _standin(replace: dict[str, str], volume_scale: float) -> Structure:
    """A cell of another Li3MX6 composition from the Li3YBr6 model (not the real one)."""
    cell = load_prototype("Li3YBr6").copy()
    cell.replace_species(replace)
    cell.scale_lattice(cell.volume * volume_scale)
    return cell


# ------------------------------------------------------------------ recipes, presets
def test_every_table_has_a_recipe_and_both_presets():
    for name in TABLES:
        recipe = table_recipe(name)
        spec = load_table(name)
        assert recipe.table == name
        assert {r.formula for r in spec.rows} == set(recipe.structures)
        for preset in ("paper", "small"):
            settings = table_preset(name, preset)
            assert all(getattr(settings, p) is not None for p in recipe.compute)
    assert table_recipe("paper000-table3").species == [["Li"], ["Na"]]
    assert table_recipe("paper003-tableS3").hull_rows == ["Li3InCl6", "Li3InBr6", "Li3YBr6"]
    with pytest.raises(SpecError, match="unknown preset 'huge'"):
        table_preset("paper000-table2", "huge")
    with pytest.raises(SpecError, match="no flow recipe for table 'paper009-table1'"):
        table_recipe("paper009-table1")


def test_paper_presets_carry_the_papers_settings():
    p000 = table_preset("paper000-table2", "paper")
    assert p000.stability and p000.stability.relax.fmax == 0.05  # paper 000 L46
    assert p000.stability.corrections == "auto"  # MP2020 anion only where missing
    assert p000.conductivity and p000.conductivity.base == "paper000"
    assert p000.ordering and (p000.ordering.keep, p000.ordering.top) == (200, 5)
    p003 = table_preset("paper003-tableS3", "paper")
    assert p003.ordering and p003.ordering.supercell == [1, 2, 2]  # paper 001 L121
    assert (p003.ordering.keep, p003.ordering.screen) == (2000, "always")
    assert p003.stability and not p003.stability.use_prototypes  # vertex hull, L128
    assert p003.conductivity and p003.conductivity.base == "paper001"
    assert p003.conductivity.overrides["temperatures"] == [800, 900, 1000, 1100]


def test_table2_flow_has_the_jobs_of_each_preset():
    small = _jobs(PaperTableMaker(table="paper000-table2", preset="small").make())
    paper = _jobs(PaperTableMaker(table="paper000-table2", preset="paper").make())
    hull = {"relax phase target", "relax phase Li2S", "relax phase LiCl", "relax phase Cl2"}
    for jobs in (small, paper):
        assert hull <= set(jobs) and {"stability analysis", "elastic", "arrhenius"} <= set(
            jobs
        )
        assert len(jobs["relax phase target"].function_args[0]) == 52  # Li6PS5Cl-ordered
    assert sorted(n for n in small if n.startswith("nvt")) == ["nvt 1300 K", "nvt 1600 K"]
    nvt = _maker(small["nvt 1300 K"])
    assert (nvt.production_steps, nvt.timestep_fs, nvt.temperature) == (350, 2.0, 1300.0)
    assert len(small["nvt 1300 K"].function_args[0]) == 52  # no supercell
    assert _maker(small["elastic"]).normal_strains == [0.01]
    assert _maker(small["relax phase target"]).require_convergence is False

    temperatures = sorted(float(n.split()[1]) for n in paper if n.startswith("nvt"))
    assert temperatures == [300.0, 400.0, 500.0, 700.0, 900.0, 1100.0]
    nvt = _maker(paper["nvt 300 K"])
    assert (nvt.production_steps, nvt.taut_fs, nvt.thermostat) == (
        500000,
        200.0,
        "berendsen",
    )
    assert len(paper["nvt 300 K"].function_args[0]) == 52 * 27  # 3x3x3, > 1200 atoms
    elastic = _maker(paper["elastic"])  # L48: matcalc ElasticityCalc's defaults
    assert elastic.engine == "matcalc" and elastic.ion_relax_maker is None
    assert elastic.shear_strains == [-0.06, -0.03, 0.03, 0.06]
    assert elastic.normal_strains == [-0.01, -0.005, 0.005, 0.01]
    assert elastic.relax_maker.fmax == 0.1 and elastic.relax_maker.fix_symmetry is False
    relaxed = _jobs(
        PaperTableMaker(table="paper000-table2", preset="paper-relaxed-ions").make()
    )
    ions = _maker(relaxed["elastic"])
    assert ions.engine == "sse-flows" and ions.shear_strains == [-0.02, -0.01, 0.01, 0.02]
    assert ions.relax_maker.fmax == 0.002 and ions.ion_relax_maker.fmax == 0.005
    assert _maker(relaxed["relax phase target"]).fmax == 0.05  # the rest as `paper`
    analysis = _maker(paper["stability analysis"])
    assert analysis.corrections == "auto"
    assert _maker(paper["relax phase target"]).potential == PotentialSpec(name="chgnet")


# ------------------------------------------------------------------ structures
def test_properties_compute_a_subset_of_the_table():
    """Conductivity is days of GPU MD: `--properties stability,elastic` leaves it out."""
    maker = PaperTableMaker(
        table="paper000-table2", preset="paper", properties=["stability", "elastic"]
    )
    jobs = _jobs(maker.make())
    assert {"stability analysis", "elastic"} <= set(jobs)
    assert not [n for n in jobs if n.startswith(("nvt", "arrhenius", "diffusion"))]
    maker.table = "paper000-table1"  # ordered first: the properties job is dynamic
    properties = _jobs(maker.make())["properties Li3YCl6"].function_args[1]
    assert properties.conductivity_maker is None and properties.elastic_maker
    elastic_only = _jobs(
        PaperTableMaker(table="paper000-table2", properties=["elastic"]).make()
    )
    assert "elastic" in elastic_only and "stability analysis" not in elastic_only
    with pytest.raises(SpecError, match=r"phonons.*stability, elastic, conductivity"):
        PaperTableMaker(table="paper000-table2", properties=["phonons"]).make()
    with pytest.raises(SpecError, match="conductivity"):  # not in Table 3's recipe
        PaperTableMaker(table="paper000-table3", properties=["elastic"]).make()


def test_missing_structures_fail_with_how_to_give_them():
    with pytest.raises(MissingStructureError) as info:
        PaperTableMaker(table="paper003-tableS5").make()
    text = str(info.value)
    assert "Li3InCl6" in text and "--formula FORMULA" in text and "Li3YBr6:" not in text
    with pytest.raises(StructureInputError, match="is Li3YBr6, not Li3YCl6"):
        PaperTableMaker(table="paper000-table1").make(
            {"Li3YCl6": load_prototype("Li3YBr6")}
        )
    with pytest.raises(StructureInputError, match="no row or host with formula LiCl"):
        PaperTableMaker(table="paper000-table1").make({"LiCl": load_prototype("LiCl")})
    with pytest.raises(StructureInputError, match="no row with formula Li2S"):
        PaperTableMaker(table="paper000-table2", formulas=["Li2S"]).make()
    assert parse_structure_args(["Li3YCl6=a.cif", " Li3InCl6 = b.cif"]) == {
        "Li3YCl6": "a.cif",
        "Li3InCl6": "b.cif",
    }
    with pytest.raises(StructureInputError, match="FORMULA=FILE"):
        parse_structure_args(["Li3YCl6.cif"])


def test_disordered_structures_are_ordered_before_their_properties(tmp_path: Path):
    li3ycl6 = _standin({"Br": "Cl"}, 0.87)  # Li on 4g/4h partly occupied
    path = tmp_path / "Li3YCl6.cif"
    li3ycl6.to(filename=str(path))

    flow = PaperTableMaker(table="paper000-table3").make({"Li6Y2Cl12": str(path)})
    jobs = _jobs(flow)
    for x in ("0.5", "1.0", "1.5", "2.0"):
        formula = f"Na{x}Li{3 - float(x):.1f}YCl6"
        assert f"enumerate {formula}" in jobs and f"properties {formula}" in jobs
        dynamic = jobs[f"properties {formula}"]
        assert isinstance(dynamic.function_args[0], OutputReference)  # the ordering's
        maker = dynamic.function_args[1]
        assert maker.conductivity_maker.species == ["Li"]
        assert maker.extra_species == [["Na"]] and maker.elastic_maker is None
    member = jobs["enumerate Na0.5Li2.5YCl6"].function_args[0]
    assert member.composition.fractional_composition.almost_equals(
        Composition("Na0.5Li2.5YCl6").fractional_composition
    )
    assert flow.metadata["structures"]["Na0.5Li2.5YCl6"].startswith("Na for Li (x=0.5)")
    assert set(flow.metadata["dynamic_jobs"]) == set(
        table_recipe("paper000-table3").structures
    )

    # Table S3: a given (disordered) Li3InCl6 enters the hull of Li3YBr6 as a vertex
    li3incl6 = _standin({"Y": "In", "Br": "Cl"}, 0.85)
    flow = PaperTableMaker(table="paper003-tableS3", formulas=["Li3YBr6"]).make(
        {"Li3InCl6": li3incl6}
    )
    jobs = _jobs(flow)
    assert {"enumerate Li3YBr6", "enumerate Li3InCl6", "properties Li3YBr6"} <= set(jobs)
    assert "properties Li3InCl6" not in jobs  # a hull vertex, not a row asked for
    competing = jobs["properties Li3YBr6"].function_args[2]
    assert list(competing) == ["Li3InCl6"]
    maker = jobs["properties Li3YBr6"].function_args[1]
    assert maker.stability_maker.use_prototypes is False and maker.elastic_maker is None


# ------------------------------------------------------------------ no weights
def test_a_potential_without_weights_is_skipped_and_its_rows_say_so():
    flow = PaperTableMaker(table="paper000-table2", potential="mattersim").make()
    assert len(flow.jobs) == 0 and NO_WEIGHTS in flow.metadata["skipped"]
    run = run_table_flow(flow)
    assert run.state == "SKIPPED" and run.flow_uuid is None
    # missing structures are not even looked at for a potential that cannot run
    assert PaperTableMaker(table="paper000-table1", potential="orb").make().metadata
    with pytest.raises(UnknownPotentialError):
        PaperTableMaker(potential="not-a-model").make()

    t2 = {f.row.label: f for f in fill_table(load_table("paper000-table2"))}
    assert t2["mattersim"].status == f"not computed; mattersim: {NO_WEIGHTS}"
    assert t2["CHGNET"].status == NOT_COMPUTED
    t3 = fill_table(load_table("paper000-table3"), potentials=["mace"])
    mace = [f for f in t3 if f.row.potential == "mace"]
    assert [f.row.label for f in mace] == [
        "Na0.5Li2.5YCl6 #1 [mace]",
        "Na1.0Li2.0YCl6 #1 [mace]",
        "Na1.5Li1.5YCl6 #1 [mace]",
        "Na2.0Li1.0YCl6 #2 [mace]",
    ]
    assert all(f.status.endswith(f"mace: {NO_WEIGHTS}") for f in mace)
    assert mace[0].cells["sigma_Li"].paper == 8.988  # the paper's rank-0 values


def test_untabulated_potentials_with_results_get_rows():
    frame = pd.DataFrame(
        [
            {"formula": "Li3YBr6", "potential": "chgnet", "checkpoint": "0.3.0",
             "e_hull_eV_atom": 0.002, "Ea_eV": 0.35},
            {"formula": "Li3YBr6", "potential": "unknown", "checkpoint": "",
             "ordering_energy_eV": -80.0},
        ]
    )  # fmt: skip
    filled = fill_table(load_table("paper003-tableS3"), frame=frame)
    extra = [f for f in filled if f.row.compared_to]
    assert [f.row.label for f in extra] == ["(0,1) Li3YBr6 [chgnet]"]
    row = extra[0]
    assert row.status == "computed" and row.checkpoint == "0.3.0"
    assert row.cells["e_hull"].ours == pytest.approx(2.0)  # meV/atom vs "stable"
    assert row.cells["Ea"].deviation == pytest.approx(0.35 - 0.29)


# ------------------------------------------------------------------ runs (EMT)
EMT_RECIPE = {
    "presets": {
        "emt": {
            "tiny": {
                "description": "EMT test preset",
                "elastic": {
                    "normal_strains": [-0.01, 0.01],
                    "shear_strains": [-0.02, 0.02],
                    "reference_relax": {"fmax": 0.01, "max_steps": 300},
                    "ion_relax": None,
                },
                "ordering": {
                    "supercell": [1, 1, 1],
                    "keep": 5,
                    "screen": "always",
                    "top": 2,
                    "oxidation_states": {"Cu": 0, "Au": 0},
                },
            }
        }
    },
    "tables": {
        "cuau-test": {
            "presets": "emt",
            "compute": ["elastic"],
            "structures": {"CuAu": {"note": "give the disordered alloy"}, "Cu": {}},
        }
    },
}
EMT_TABLE = {
    "name": "cuau-test",
    "paper": {"id": "test"},
    "table": "Test table",
    "caption": "fcc Cu and CuAu with EMT (test data)",
    "columns": [
        {"key": "K", "label": "K", "unit": "GPa", "meaning": "bulk modulus",
         "field": "K_VRH_GPa"},
        {"key": "E", "label": "E", "unit": "eV", "meaning": "ordered cell energy",
         "field": "ordering_energy_eV"},
    ],
    "rows": [
        {"label": "CuAu", "formula": "CuAu", "potential": "emt",
         "values": {"K": 170, "E": 0.0}},
        {"label": "Cu", "formula": "Cu", "potential": "emt", "values": {"K": 140}},
    ],
}  # fmt: skip


def _alloy() -> tuple[Structure, Structure]:
    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    alloy = Structure(Lattice.cubic(3.85), [{"Cu": 0.5, "Au": 0.5}] * 4, fcc)
    copper = Structure(Lattice.cubic(3.61), ["Cu"] * 4, fcc)
    return alloy, copper


def test_emt_ordering_then_properties_are_stored_and_tabulated(tmp_path: Path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(EMT_RECIPE))
    spec = tmp_path / "cuau-test.yaml"
    spec.write_text(yaml.safe_dump(EMT_TABLE))
    alloy, copper = _alloy()
    maker = PaperTableMaker(
        table="cuau-test", preset="tiny", potential="emt", recipe_file=str(recipe)
    )
    flow = maker.make({"CuAu": alloy, "Cu": copper})
    assert set(flow.metadata["dynamic_jobs"]) == {"CuAu"}  # Cu is ordered: built now
    run = run_table_flow(flow, spec={"test": True})
    assert run.state == "COMPLETED", run.errors

    frame = results_frame(potential="emt")
    cuau = frame[frame.formula == "CuAu"].iloc[0]
    assert 100 < cuau.K_VRH_GPa < 250 and cuau.ordering_nsites == 4
    filled = {f.row.label: f for f in fill_table(load_table(str(spec)))}
    assert filled["CuAu"].status == "computed" and filled["Cu"].status == "partly computed"
    k = filled["Cu"].cells["K"]
    assert k.deviation == pytest.approx(k.ours - 140) and 100 < k.ours < 200
    energy = filled["CuAu"].cells["E"]
    assert energy.ours == pytest.approx(cuau.ordering_energy_eV)
    assert energy.deviation == pytest.approx(energy.ours)  # paper value 0.0
    assert abs(energy.ours) < 1.0  # EMT energies are near 0 for fcc Cu and Au


def test_a_failure_inside_the_property_flow_of_an_ordered_row_is_reported(tmp_path: Path):
    broken = yaml.safe_load(yaml.safe_dump(EMT_RECIPE))
    broken["presets"]["emt"]["tiny"]["elastic"]["normal_strains"] = [0.2]  # > 10 %
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(broken))
    maker = PaperTableMaker(
        table="cuau-test",
        preset="tiny",
        potential="emt",
        recipe_file=str(recipe),
        formulas=["CuAu"],
    )
    run = run_table_flow(maker.make({"CuAu": _alloy()[0]}))
    assert run.state == "FAILED"
    (elastic,) = [e for e in run.errors if "10 %" in e]
    assert "built by" in elastic and "CuAu" in elastic


# ------------------------------------------------------------------ CLI
def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(table)
    return app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["paper000-table2", "--properties", "elastic"], "only apply with --compute"),
        (["paper000-table2", "--compute", "--properties", "phonons"], "phonons"),
        (
            ["paper000-table1", "--compute", "--structure", "Li3YCl6=LiCl.cif"],
            "is LiCl, not Li3YCl6",
        ),
        (["paper000-table2", "--compute", "--structure", "x.cif"], "FORMULA=FILE"),
        (["paper000-table2", "--compute", "--potential", "foo"], "Unknown potential"),
        (["paper000-table2", "--compute", "--preset", "huge"], "unknown preset"),
        (["paper000-table1", "--compute", "--structure", "Li3YCl6=none.cif"], "not found"),
    ],
)
def test_cli_bad_input_exits_2(args: list[str], message: str, tmp_path: Path):
    write_prototype("LiCl", tmp_path / "LiCl.cif")
    args = [a.replace("LiCl.cif", str(tmp_path / "LiCl.cif")) for a in args]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stdout == ""


def test_cli_skips_potentials_without_weights():
    result = CliRunner().invoke(_app(), ["paper000-table3", "--compute"])
    assert result.exit_code == 0, result.output
    assert "no potential of paper000-table3 can run here" in result.stderr
    result = CliRunner().invoke(
        _app(), ["paper000-table3", "--compute", "--potential", "mace", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped mace: weights not on this machine" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    mace = [r for r in rows if r["potential"] == "mace"]
    assert len(rows) == 17 + 4 and len(mace) == 4
    assert all(r["status"] == f"not computed; mace: {NO_WEIGHTS}" for r in mace)


@pytest.mark.slow
def test_cli_computes_table2_with_chgnet_small_preset():
    """The quickstart's last step: Li6PS5Cl, CHGNet, small preset (~2 min on one core)."""
    result = CliRunner().invoke(
        _app(),
        [
            "paper000-table2",
            "--compute",
            "--potential",
            "chgnet,mattersim",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "skipped mattersim" in result.stderr and "COMPLETED" in result.stderr
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert len(rows) == 7
    chgnet = rows["CHGNET"]
    assert chgnet["potential"] == "chgnet" and chgnet["checkpoint"] == "0.3.0"
    e_form = float(chgnet["e_form_ours"])
    assert -2.5 < e_form < -1.0  # strongly bound (paper, CHGNet: -1.326)
    assert float(chgnet["e_form_dev"]) == pytest.approx(e_form - (-1.326))
    assert float(chgnet["e_hull_ours"]) >= 0.0
    assert "E_hull is a lower bound" in chgnet["status"]  # Li7PS6, P4S10 not shipped
    assert 10 < float(chgnet["K_ours"]) < 60 and 3 < float(chgnet["G_ours"]) < 40
    assert float(chgnet["K_dev"]) == pytest.approx(float(chgnet["K_ours"]) - 32.36)
    frame = results_frame(potential="chgnet")
    stored = frame[frame.formula == "Li6PS5Cl"].iloc[0]
    assert float(chgnet["K_ours"]) == pytest.approx(stored.K_VRH_GPa)
    if chgnet["sigma_300K_ours"] == NOT_COMPUTED:  # no two diffusive temperatures
        assert chgnet["status"] == "partly computed"
    else:
        sigma = float(chgnet["sigma_300K_ours"])
        assert sigma > 0 and chgnet["status"].startswith("computed")
        ratio = float(chgnet["sigma_300K_log10_ratio"])
        assert ratio == pytest.approx(math.log10(sigma / 54.0978))
    assert rows["mattersim"]["status"] == f"not computed; mattersim: {NO_WEIGHTS}"
