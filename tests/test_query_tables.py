"""Queries over the JobStore and paper tables rebuilt from it.

Real documents come from cheap EMT flows on Cu. Conductivity and stability rows for the
paper materials would need hours of MD or a full hull, so those documents are built from
the real output models (ConductivityOutput, StabilityOutput) with chosen numbers and
stored through the JobStore, marked ``metadata.test_data``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
import yaml
from jobflow import Flow
from monty.json import jsanitize
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from sse_flows.analysis.arrhenius import ArrheniusResult
from sse_flows.cli.query import query
from sse_flows.cli.table import table
from sse_flows.documents import (
    ConductivityOutput,
    StabilityOutput,
    StructureSummary,
    TemperaturePoint,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.makers.mechanics import ElasticMaker
from sse_flows.provenance import PotentialProvenance, RunProvenance
from sse_flows.query import PRESET_KEY, formula_key, query_outputs, results_frame
from sse_flows.runner import run_flow
from sse_flows.stores import get_job_store
from sse_flows.tables import (
    NOT_COMPUTED,
    build_table,
    fill_table,
    load_table,
    render,
    table_names,
)
from sse_flows.thermo.corrections import CorrectionsRecord

NAMES = [
    "paper000-table1",
    "paper000-table2",
    "paper000-table3",
    "paper003-tableS3",
    "paper003-tableS5",
]


def _cu() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])


def _fake_cell(species: list[str]) -> Structure:
    """A cell with the right composition only (test data: its geometry means nothing)."""
    n = len(species)
    coords = [[(i + 0.5) / n, (3 * i % n) / n, (7 * i % n) / n] for i in range(n)]
    return Structure(Lattice.cubic(12.0), species, coords)


def _potential(name: str, checkpoint: str | None = None) -> PotentialProvenance:
    return PotentialProvenance(name=name, checkpoint=checkpoint, package=name, device="cpu")


def _store_test_doc(
    output: Any,
    name: str,
    completed_at: datetime | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Insert a job document holding ``output`` the way jobflow stores it (test data)."""
    doc_uuid = str(uuid.uuid4())
    doc = {
        "uuid": doc_uuid,
        "index": 1,
        "name": name,
        "output": jsanitize(output, strict=True, enum_values=True, allow_bson=True),
        "metadata": {"test_data": True, **(metadata or {})},
        "hosts": [],
        "completed_at": (completed_at or datetime.now()).isoformat(),
    }
    store = get_job_store()
    store.connect()
    try:
        store.update(doc, key=["uuid", "index"])
    finally:
        store.close()
    return doc_uuid


def _stability_doc(
    formula_species: list[str], potential: str, e_form: float, e_hull: float
):
    cell = _fake_cell(formula_species)
    summary = StructureSummary.of(cell)
    return StabilityOutput(
        summary=summary,
        chemsys=summary.chemsys,
        e_form_eV_atom=e_form,
        e_hull_eV_atom=e_hull,
        stable=e_hull == 0,
        decomposition=[],
        window_V=[0.6, 4.2],
        entries=[],
        complete=True,
        corrections=CorrectionsRecord(
            scheme="none", pymatgen_version=None, rule="none (test data)"
        ),
        pymatgen_version=None,
        potential=_potential(potential, "0.3.0"),
        provenance=RunProvenance.start({"test_data": True}).finish(),
    )


def _point(temperature: float, D: float, d_ab: float, d_ac: float) -> TemperaturePoint:
    return TemperaturePoint(
        temperature=temperature,
        D=D,
        D_ci95=(0.9 * D, 1.1 * D),
        sigma=None,
        sigma_ci95=None,
        D_xyz={"x": D, "y": D, "z": D},
        D_planes={"ab": d_ab, "ac": d_ac, "bc": D},
        haven_ratio=None,
        diffusive=True,
        warnings=[],
        volume=1000.0,
        fit_window_ps=(1.0, 5.0),
        msd_time_ps=[0.0, 1.0],
        msd=[0.0, 1.0],
    )


def _conductivity_doc(
    species_list: list[str],
    potential: str,
    sigma: float,
    Ea: float,
    D300: float,
    mobile: str = "Li",
    points: list[TemperaturePoint] | None = None,
) -> ConductivityOutput:
    arrhenius = ArrheniusResult(
        temperatures=[600.0, 800.0],
        D=[1e-6, 1e-5],
        D_std=[1e-7, 1e-6],
        Ea_eV=Ea,
        Ea_std=0.01,
        Ea_ci95=(Ea - 0.02, Ea + 0.02),
        D0=1e-3,
        D0_ci95=(1e-4, 1e-2),
        D_300K=D300,
        D_300K_ci95=(0.5 * D300, 2 * D300),
        sigma_300K=sigma,
        sigma_300K_ci95=(0.5 * sigma, 2 * sigma),
        reduced_chi2=1.0,
    )
    return ConductivityOutput(
        summary=StructureSummary.of(_fake_cell(species_list)),
        species=[mobile],
        potential=_potential(potential, "0.3.0"),
        preset="test-data",
        points=points or [],
        arrhenius=arrhenius,
        Ea_eV=Ea,
        sigma_300K=sigma,
        provenance=RunProvenance.start({"test_data": True}).finish(),
    )


LI3YCL6 = ["Li"] * 3 + ["Y"] + ["Cl"] * 6


@pytest.fixture
def emt_elastic_cu() -> str:
    """Run a real elastic flow (EMT, fcc Cu) into the test's store; return the flow name."""
    record = run_flow(Flow([ElasticMaker(potential="emt").make(_cu())], name="cu-elastic"))
    assert record.state == "COMPLETED"
    return record.name


# ---------------------------------------------------------------- queries


def test_formula_and_date_helpers():
    assert formula_key("Li6Y2Cl12") == formula_key("Li3YCl6")
    assert formula_key("Na0.5Li2.5YCl6") == formula_key("NaLi5Y2Cl12")
    assert formula_key("Li3YCl6") != formula_key("Li3YBr6")
    with pytest.raises(SSEFlowsError):
        formula_key("not a formula 123")
    with pytest.raises(SSEFlowsError, match="property"):
        query_outputs(prop="colour")
    with pytest.raises(SSEFlowsError, match="ISO date"):
        query_outputs(since="yesterday")


def test_query_filters_on_real_and_test_documents(emt_elastic_cu: str):
    _store_test_doc(_stability_doc(LI3YCL6, "chgnet", -2.30, 0.035), "stability")
    old = datetime.now() - timedelta(days=400)
    _store_test_doc(
        _conductivity_doc(LI3YCL6, "chgnet", 5.0, 0.30, 1e-7), "conductivity", old
    )

    everything = query_outputs()
    assert {d["output"]["task_type"] for d in everything} >= {
        "elastic",
        "stability",
        "conductivity",
    }
    cu = query_outputs(formula="Cu")
    assert cu and all(d["output"]["summary"]["formula_pretty"] == "Cu" for d in cu)
    assert {d["output"]["task_type"] for d in cu} == {"elastic"}
    assert {d["output"]["task_type"] for d in query_outputs(formula="Li6Y2Cl12")} == {
        "stability",
        "conductivity",
    }
    assert len(query_outputs(chemsys="Y-Cl-Li")) == 2
    assert all(
        d["output"]["potential"]["name"] == "emt" for d in query_outputs(potential="emt")
    )
    assert len(query_outputs(potential="chgnet:0.3.0")) == 2
    assert query_outputs(potential="chgnet:other") == []
    assert [d["output"]["task_type"] for d in query_outputs(prop="e_hull")] == ["stability"]
    assert [d["output"]["task_type"] for d in query_outputs(prop="K")] == ["elastic"]
    assert {d["name"] for d in query_outputs(flow="cu-elastic")} == {"elastic"}
    recent = query_outputs(since=(datetime.now() - timedelta(days=1)).date().isoformat())
    assert "conductivity" not in {d["output"]["task_type"] for d in recent}
    assert [d["output"]["task_type"] for d in query_outputs(until=old.date())] == [
        "conductivity"
    ]

    frame = results_frame()
    assert len(frame) == 2
    cu_row = frame[frame.formula == "Cu"].iloc[0]
    assert cu_row.potential == "emt"
    assert 100 < cu_row.K_VRH_GPa < 200 and 30 < cu_row.G_VRH_GPa < 90
    assert cu_row.elastic_uuid == cu[0]["uuid"]
    li_row = frame[frame.formula == "Li3YCl6"].iloc[0]
    assert li_row.e_hull_eV_atom == pytest.approx(0.035)
    assert li_row.e_form_eV_atom == pytest.approx(-2.30)
    assert li_row.sigma_300K_mS_cm == pytest.approx(5.0)
    assert li_row.sigma_300K_mS_cm_Li == pytest.approx(5.0)
    assert li_row.D_300K_cm2_s == pytest.approx(1e-7)
    assert li_row.window_low_V == pytest.approx(0.6)
    assert li_row.checkpoint == "0.3.0"
    assert results_frame(potential="nothing").empty


def test_query_command_prints_table_csv_json(emt_elastic_cu: str):
    app = typer.Typer()
    app.command()(query)
    runner = CliRunner()

    result = runner.invoke(app, ["--formula", "Cu"])
    assert result.exit_code == 0, result.output
    assert "K_VRH_GPa" in result.output and "emt" in result.output

    result = runner.invoke(app, ["--property", "elastic", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 1 and rows[0]["formula"] == "Cu" and rows[0]["potential"] == "emt"
    assert float(rows[0]["K_VRH_GPa"]) > 100

    result = runner.invoke(app, ["--flow", "cu-elastic", "--format", "json"])
    records = json.loads(result.output)
    assert records[0]["task_type"] == "elastic"

    result = runner.invoke(app, ["--until", "2000-01-01"])
    assert result.exit_code == 0 and "no stored result" in result.output
    assert runner.invoke(app, ["--property", "colour"]).exit_code == 2
    assert runner.invoke(app, ["--format", "xml"]).exit_code == 2


# ---------------------------------------------------------------- tables


def _md_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


@pytest.mark.parametrize("name", NAMES)
def test_every_table_renders_paper_values_with_an_empty_store(name: str):
    assert name in table_names()
    spec = load_table(name)
    assert spec.rows and spec.columns
    for column in spec.columns:
        assert (
            column.unit
            and column.field
            and column.deviation
            in (
                "difference",
                "log10_ratio",
            )
        )

    md = build_table(name, "md")
    rows = _md_rows(md)
    header, body = rows[0], rows[2:]
    assert len(body) == len(spec.rows)
    assert all(len(r) == len(header) for r in body)
    assert all(r[-1].startswith(NOT_COMPUTED) for r in body)
    first = spec.rows[0]
    for value in first.values.values():
        assert str(value) in md

    parsed = list(csv.DictReader(io.StringIO(build_table(name, "csv"))))
    assert len(parsed) == len(spec.rows)
    for row, line in zip(spec.rows, parsed, strict=True):
        assert line["row"] == row.label and line["potential"] == row.potential
        for key, value in row.values.items():
            assert line[f"{key}_paper"] == str(value)
            assert line[f"{key}_ours"] == NOT_COMPUTED

    tex = build_table(name, "tex")
    assert tex.startswith("\\begin{table}") and tex.rstrip().endswith("\\end{table}")
    body_lines = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body_lines) == len(spec.rows)
    n_columns = tex.split("\\begin{tabular}{")[1].split("}")[0].count("l")
    assert all(line.count(" & ") == n_columns - 1 for line in body_lines)
    assert "_" not in tex.replace("\\_", "")  # escaped


def test_transcribed_values_spot_checks():
    t1 = {r.label: r for r in load_table("paper000-table1").rows}
    assert t1["mattersim"].values["sigma_300K"] == 0.4553
    assert t1["DFT/Deepmd"].values["K"] == 37.289 and t1["DFT/Deepmd"].reference
    t2 = {r.label: r for r in load_table("paper000-table2").rows}
    assert t2["ORB"].values["G"] == 0.54 and t2["CHGNET"].values["sigma_300K"] == 54.0978
    t3 = load_table("paper000-table3")
    assert len(t3.rows) == 17
    assert t3.rows[13].values["energy"] == -168.1178 and t3.rows[13].rank == 2
    assert next(c for c in t3.columns if c.key == "D_Li").unit == "m^2/s"
    s3 = {r.label: r for r in load_table("paper003-tableS3").rows}
    assert s3["(0.75,0.25) Li3In0.75Y0.25Br2Cl4"].values == {"e_hull": 3, "Ea": 0.32}
    assert s3["(1,1) Li3InBr6"].values["e_hull"] == "stable"
    s5 = {r.label: r for r in load_table("paper003-tableS5").rows}
    assert s5["(0,1) Li3YBr6"].values["D_ac"] == 2.42e-05
    assert s5["(0,1) Li3YBr6"].uncertainties["Ea_ac"] == 0.081


def test_table1_row_shows_ours_and_deviation_from_stored_documents():
    _store_test_doc(_stability_doc(LI3YCL6, "chgnet", -2.300, 0.0508), "stability")
    _store_test_doc(_conductivity_doc(LI3YCL6, "chgnet", 1.8245, 0.3, 1e-7), "conductivity")
    spec = load_table("paper000-table1")
    filled = {f.row.label: f for f in fill_table(spec)}
    chgnet = filled["CHGNET"]
    assert chgnet.status == "partly computed" and chgnet.checkpoint == "0.3.0"
    e_hull = chgnet.cells["e_hull"]
    assert e_hull.ours == pytest.approx(0.0508)
    assert e_hull.deviation == pytest.approx(0.0100)
    assert e_hull.relative == pytest.approx(0.0100 / 0.0408)
    assert chgnet.cells["e_form"].deviation == pytest.approx(0.038)
    sigma = chgnet.cells["sigma_300K"]
    assert sigma.deviation == pytest.approx(-1.0) and sigma.relative == pytest.approx(0.1)
    assert chgnet.cells["K"].ours is None
    assert filled["M3GNET"].status == "not computed; m3gnet: weights not on this machine"

    parsed = list(csv.DictReader(io.StringIO(render(spec, list(filled.values()), "csv"))))
    line = next(r for r in parsed if r["row"] == "CHGNET")
    assert float(line["e_hull_ours"]) == pytest.approx(0.0508)
    assert float(line["e_hull_dev"]) == pytest.approx(0.01)
    assert float(line["sigma_300K_log10_ratio"]) == pytest.approx(-1.0)
    assert line["K_ours"] == NOT_COMPUTED
    md = build_table("paper000-table1", "md")
    assert "log10 -1.00" in md and "+0.01 (+24.5%)" in md


def test_table_takes_the_results_of_its_preset_and_marks_bounds():
    """Results of another preset are never mixed in, even when newer."""
    paper = _stability_doc(LI3YCL6, "chgnet", -2.330, 0.0300).model_copy(
        update={"e_hull_lower_bound": "no structure of known phases Li7PS6"}
    )
    _store_test_doc(
        paper, "stability", datetime(2026, 1, 1), metadata={PRESET_KEY: "paper"}
    )
    _store_test_doc(
        _stability_doc(LI3YCL6, "chgnet", -2.100, 0.0700),
        "stability",
        datetime(2026, 6, 1),
        metadata={PRESET_KEY: "small"},
    )
    spec = load_table("paper000-table1")

    def chgnet(preset: str | None) -> Any:
        return next(f for f in fill_table(spec, preset=preset) if f.row.label == "CHGNET")

    row = chgnet("paper")
    assert row.cells["e_hull"].ours == pytest.approx(0.03)
    assert row.cells["e_form"].ours == pytest.approx(-2.33)
    assert row.cells["e_hull"].bound == "no structure of known phases Li7PS6"
    assert "E_hull is a lower bound (no structure of known phases Li7PS6)" in row.status
    assert chgnet("small").cells["e_hull"].ours == pytest.approx(0.07)
    assert chgnet(None).cells["e_hull"].ours == pytest.approx(0.07)  # newest of any
    assert chgnet("paper-relaxed-ions").cells["e_hull"].ours is None
    md = build_table("paper000-table1", "md", preset="paper")
    line = next(r for r in md.splitlines() if r.startswith("| CHGNET"))
    assert ">= 0.03" in line and "0.07" not in line
    frame = results_frame(preset="small")
    assert list(frame.preset) == ["small"] and list(frame.e_hull_eV_atom) == [0.07]


def test_table3_energy_is_per_four_formula_units():
    """Paper 000 Table 3 prints ~-171.4 eV at x = 0.5: 40 atoms, not one f.u."""
    frame = pd.DataFrame(
        [
            {
                "formula": "Na0.5Li2.5YCl6",
                "potential": "mattersim",
                "checkpoint": "",
                "ordering_energy_eV_atom": -4.2857,
            }
        ]
    )
    first = fill_table(load_table("paper000-table3"), frame=frame)[0]
    assert first.cells["energy"].ours == pytest.approx(-4.2857 * 40)
    assert first.cells["energy"].deviation == pytest.approx(0.0, abs=1e-3)


def test_tables_s3_s5_and_table3_fill_from_stored_documents():
    species = ["Li"] * 3 + ["In"] + ["Br"] * 6
    _store_test_doc(_stability_doc(species, "mace", -1.5, 0.0), "stability")
    points = [_point(600.0, 1e-6, 1e-6, 2e-6), _point(800.0, 1e-5, 1e-5, 1.5e-5)]
    _store_test_doc(
        _conductivity_doc(species, "mace", 1.0, 0.30, 1e-8, points=points), "conductivity"
    )
    s3 = {f.row.label: f for f in fill_table(load_table("paper003-tableS3"))}
    row = s3["(1,1) Li3InBr6"]
    assert row.status == "computed"
    assert row.cells["e_hull"].ours == 0.0 and row.cells["e_hull"].deviation == 0.0
    assert row.cells["Ea"].deviation == pytest.approx(-0.03)

    s5 = {f.row.label: f for f in fill_table(load_table("paper003-tableS5"))}
    cells = s5["(1,1) Li3InBr6"].cells
    assert cells["D_ab"].ours == pytest.approx(1e-5)
    assert cells["D_ab"].deviation == pytest.approx(math.log10(1e-5 / 1.41e-05))
    k = 8.617333262e-5
    expected = math.log(10) / (1 / (k * 600) - 1 / (k * 800))
    assert cells["Ea_ab"].ours == pytest.approx(expected, rel=1e-6)

    # Table 3: the lowest-energy Na0.5Li2.5YCl6 arrangement, Li and Na transport
    na_cell = ["Na"] + ["Li"] * 5 + ["Y"] * 2 + ["Cl"] * 12
    _store_test_doc(_conductivity_doc(na_cell, "mattersim", 8.988, 0.2, 1.36e-7), "cond")
    _store_test_doc(
        _conductivity_doc(na_cell, "mattersim", 0.078, 0.4, 5.92e-9, mobile="Na"), "cond"
    )
    t3 = fill_table(load_table("paper000-table3"))
    first = t3[0]
    assert first.cells["sigma_Li"].deviation == pytest.approx(0.0)
    assert first.cells["D_Li"].ours == pytest.approx(1.36e-11)  # cm^2/s -> m^2/s
    assert first.cells["D_Na"].deviation == pytest.approx(0.0, abs=1e-12)
    assert first.cells["energy"].ours is None and first.status.startswith("partly")
    assert t3[1].cells["sigma_Li"].ours is None
    assert "lowest-energy arrangement" in t3[1].status


def test_custom_spec_with_a_real_emt_elastic_output(emt_elastic_cu: str, tmp_path: Path):
    spec = {
        "name": "cu-test",
        "paper": {"id": "test"},
        "table": "Test table (test data)",
        "caption": "fcc Cu with EMT",
        "columns": [
            {
                "key": "K",
                "label": "K",
                "unit": "GPa",
                "meaning": "bulk modulus",
                "field": "K_VRH_GPa",
            }
        ],
        "rows": [
            {"label": "Cu", "formula": "Cu4", "potential": "emt", "values": {"K": 140}}
        ],
    }
    path = tmp_path / "cu-test.yaml"
    path.write_text(yaml.safe_dump(spec))
    filled = fill_table(load_table(str(path)))
    assert filled[0].status == "computed"
    assert filled[0].cells["K"].deviation == pytest.approx(filled[0].cells["K"].ours - 140)


def test_table_command_formats_and_unknown_name():
    app = typer.Typer()
    app.command()(table)
    runner = CliRunner()
    result = runner.invoke(app, ["paper000-table2", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(io.StringIO(result.output)))) == 7
    result = runner.invoke(app, ["paper003-tableS5"])
    assert result.exit_code == 0 and "| (1,1) Li3InBr6 | mace |" in result.output
    result = runner.invoke(app, ["paper000-table9"])
    assert result.exit_code == 2
    assert "paper000-table1" in result.output and "unknown table" in result.output
    assert runner.invoke(app, ["paper000-table1", "--format", "pdf"]).exit_code == 2
