"""Multi-model benchmark (issue 20): errors, properties, diffusion, leaderboard.

EMT labels the frames, so EMT's errors must vanish; a potential without weights gets
a row that says so; the properties and D(T) go against given values and a reference
model. The CHGNet-against-SevenNet benchmark on CP2K labels runs at the end of
tests/test_dft_cp2k.py (beside the labelling it needs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jobflow import Flow
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from sse_flows.calc.evaluate import MissingLabelsError
from sse_flows.cli.main import app
from sse_flows.errors import SpecError
from sse_flows.flows.benchmark import BenchmarkMaker
from sse_flows.flows.conductivity import ConductivityMaker
from sse_flows.makers.evaluate import EvaluateMaker
from sse_flows.makers.mechanics import ElasticMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.records import get_output
from sse_flows.runner import run_flow
from sse_flows.tables.leaderboard import render_leaderboard
from tests.tiny_models import write_extxyz

pytestmark = pytest.mark.usefixtures("isolated_settings")


def _frames(tmp_path: Path) -> Path:
    """Four near-equilibrium (0.01 A rattle) and four heated (0.2 A) EMT Cu frames."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    frames = []
    for i in range(8):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        atoms.rattle(0.01 if i < 4 else 0.2, seed=i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        atoms.get_stress()
        frames.append(atoms)
    return write_extxyz(frames, tmp_path / "cu.extxyz")


def test_benchmark_gives_the_labelling_potential_zero_error_and_a_row_to_the_missing(
    tmp_path: Path,
):
    data = _frames(tmp_path)
    result = CliRunner().invoke(
        app,
        ["benchmark", str(data), "--potential", "emt,mattersim", "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    emt, mattersim = out["rows"]
    assert emt["potential"] == "emt" and emt["available"]
    assert emt["n_frames"] == 8
    for key in ("energy_mae_meV_atom", "force_mae_meV_A", "force_rmse_meV_A"):
        assert emt[key] < 1e-3, key  # extxyz rounding only
    assert emt["stress_mae_GPa"] < 1e-6
    # subsets by RMS label force: the lightly rattled frames near equilibrium
    assert {k: v["n_frames"] for k, v in emt["subsets"].items()} == {
        "near_equilibrium": 4,
        "heated": 4,
    }
    assert emt["by_formula"]["Cu"]["n_frames"] == 8
    assert emt["inference_path"] == "one-by-one"
    assert not mattersim["available"]
    assert "weights not on this machine" in mattersim["reason"]
    assert mattersim["force_mae_meV_A"] is None

    # the stored flow prints the same leaderboard through the table command
    table = CliRunner().invoke(app, ["table", out["flow_uuid"], "--format", "csv"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.strip().splitlines()
    assert lines[0].startswith("rank,potential,E MAE (meV/atom)")
    assert lines[1].startswith("1,emt,") and lines[2].startswith("2,mattersim,")
    assert "weights not on this machine" in lines[2]
    tex = CliRunner().invoke(app, ["table", out["flow_uuid"], "--format", "tex"])
    assert "\\toprule" in tex.stdout and "F MAE heated (meV/A)" in tex.stdout


def test_evaluate_writes_subsets_parity_plots_and_the_path(tmp_path: Path):
    data = _frames(tmp_path)
    job = EvaluateMaker(potential=PotentialSpec.parse("emt"), subset_key=None).make(
        str(data)
    )
    record = run_flow(Flow([job]))
    assert record.state == "COMPLETED"
    doc = get_output(job.uuid)["output"]
    assert doc["energy_mae_meV_atom"] < 1e-3
    assert doc["subset_rule"].startswith("RMS label force <= 0.15")
    assert set(doc["parity_plots"]) == {"energy", "forces", "stress"}
    assert all(Path(p).stat().st_size > 1000 for p in doc["parity_plots"].values())
    assert doc["inference_path"] == "one-by-one"


def test_benchmark_properties_and_diffusion_against_values_and_a_reference(
    tmp_path: Path,
):
    """Elastic moduli against given values, D(T) and Ea against a reference model."""
    data = _frames(tmp_path)
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    cu_vacancy = cu * (2, 2, 2)
    cu_vacancy.remove_sites([0])
    cu_vacancy.scale_lattice(cu_vacancy.volume * 1.25)  # expanded: melts, D in ps
    conductivity = ConductivityMaker(
        temperatures=[2200.0, 2700.0, 3200.0], species=["Cu"], write_density=False
    )
    conductivity.nvt_maker.equilibration_steps = 50
    conductivity.nvt_maker.production_steps = 2500
    maker = BenchmarkMaker(
        potentials=[PotentialSpec.parse("emt")],
        properties=["errors", "elastic", "diffusion"],
        reference_potential=PotentialSpec.parse("emt"),
        reference_values={"Cu31": {"K_VRH_GPa": 140.0}},
        elastic=ElasticMaker(ion_relax_maker=None),
        conductivity=conductivity,
    )
    flow = maker.make(str(data), {"Cu31": cu_vacancy})
    record = run_flow(flow)
    assert record.state == "COMPLETED", [j.error for j in record.jobs if j.error]
    doc = get_output(flow.output.uuid)["output"]
    (row,) = doc["rows"]
    assert row["failed"] == []
    props = row["properties"]["Cu31"]
    assert props["K_VRH_GPa"] > 50 and props["G_VRH_GPa"] > 10
    # given values win over the reference model; the rest come from the reference
    assert doc["reference"] == "values + emt"
    assert doc["reference_properties"]["Cu31"]["K_VRH_GPa"] == 140.0
    assert row["property_errors"]["K_VRH_GPa"] == pytest.approx(
        abs(props["K_VRH_GPa"] - 140.0)
    )
    assert row["property_errors"]["G_VRH_GPa"] == 0.0  # the row is the reference
    curve = row["diffusion"]["Cu31"]
    assert curve["temperatures_K"] == [2200.0, 2700.0, 3200.0]
    assert all(np.isfinite(curve["D_cm2_s"]))
    assert row["log10_D_mae"] == 0.0
    assert doc["reference_diffusion"]["Cu31"]["D_cm2_s"] == curve["D_cm2_s"]
    assert Path(doc["plots"]["diffusion Cu31"]).stat().st_size > 1000
    assert props["Ea_eV"] is not None and curve["Ea_eV"] == props["Ea_eV"]
    assert row["property_errors"]["Ea_eV"] == 0.0
    header = render_leaderboard(doc, "md").splitlines()[2]
    assert "| dK (GPa) | dG (GPa) | dEa (eV) | log10 D MAE |" in header


def test_bad_benchmark_input_is_refused_before_any_job(tmp_path: Path):
    from ase.build import bulk
    from ase.io import write

    unlabelled = tmp_path / "bare.extxyz"
    write(str(unlabelled), [bulk("Cu", cubic=True)])
    emt = [PotentialSpec.parse("emt")]
    with pytest.raises(MissingLabelsError, match="no 'energy' label"):
        BenchmarkMaker(potentials=emt).make(str(unlabelled))
    with pytest.raises(SpecError, match="needs labelled frames"):
        BenchmarkMaker(potentials=emt).make(None)
    with pytest.raises(SpecError, match="need named structures"):
        BenchmarkMaker(potentials=emt, properties=["elastic"]).make(None)
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    with pytest.raises(SpecError, match="not among the structures"):
        BenchmarkMaker(
            potentials=emt,
            properties=["elastic"],
            reference_values={"LiCl": {"K_VRH_GPa": 30.0}},
        ).make(None, {"Cu": cu})
    disordered = cu.copy()
    disordered.replace_species({"Cu": {"Cu": 0.5, "Au": 0.5}})
    with pytest.raises(SpecError, match="partial occupancies"):
        BenchmarkMaker(potentials=emt, properties=["elastic"]).make(
            None, {"CuAu": disordered}
        )
    result = CliRunner().invoke(
        app, ["benchmark", str(unlabelled), "--potential", "emt", "--json"]
    )
    assert result.exit_code == 2
    assert "no 'energy' label" in result.output


def test_benchmark_stability_column_with_chgnet(tmp_path: Path):
    """E_f and E_hull of LiCl from the stability flow, against a given E_f."""
    from sse_flows.structures.prototypes import load_prototype

    folder = tmp_path / "structures"
    folder.mkdir()
    load_prototype("LiCl").to(filename=str(folder / "LiCl.cif"))
    # Materials Project's LiCl (mp-22905): about -2.07 eV/atom
    (tmp_path / "ref.yaml").write_text("LiCl:\n  e_form_eV_atom: -2.07\n")
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "none",
            "--potential",
            "chgnet",
            "--structures",
            str(folder),
            "--properties",
            "stability",
            "--reference-values",
            str(tmp_path / "ref.yaml"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    props = row["properties"]["LiCl"]
    assert props["e_form_eV_atom"] == pytest.approx(-2.07, abs=0.1)
    assert props["e_hull_eV_atom"] == pytest.approx(0.0, abs=1e-6)  # LiCl is stable
    assert row["property_errors"]["e_form_eV_atom"] == pytest.approx(
        abs(props["e_form_eV_atom"] + 2.07)
    )
    assert row["n_frames"] is None  # no errors column asked for
