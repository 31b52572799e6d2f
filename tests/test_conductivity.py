"""The conductivity flow: presets, supercells, and a real CHGNet run end to end."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from sse_flows.errors import SpecError
from sse_flows.flows.conductivity import ConductivityMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.presets import preset_names
from sse_flows.records import get_output
from sse_flows.runner import run_flow
from sse_flows.structures.supercell import choose_supercell, perpendicular_widths
from tests.conftest import SSE_FLOWS, cli_env


def test_presets_carry_the_papers_protocols():
    assert set(preset_names("conductivity")) >= {
        "paper000",
        "paper001",
        "paper002",
        "quick",
    }
    p000 = ConductivityMaker.from_preset("paper000")
    assert p000.supercell == [3, 3, 3]
    assert p000.nvt_maker.thermostat == "berendsen" and p000.nvt_maker.taut_fs == 200
    assert p000.nvt_maker.timestep_fs == 2.0
    assert p000.npt_maker.taup_fs == 2000 and p000.npt_maker.npt_cell == "anisotropic"
    assert min(p000.temperatures) == 300 and max(p000.temperatures) == 1100
    p001 = ConductivityMaker.from_preset("paper001")
    above, below = p001.nvt_for(900), p001.nvt_for(700)
    ps = p001.nvt_maker.timestep_fs / 1000
    assert (above.equilibration_steps * ps, above.production_steps * ps) == (100, 400)
    assert (below.equilibration_steps * ps, below.production_steps * ps) == (200, 800)
    assert above.temperature == 900 and above.name == "nvt 900 K"
    p002 = ConductivityMaker.from_preset("paper002")
    assert p002.npt_equilibration and p002.nvt_maker.thermostat == "nose_hoover"
    assert p002.npt_maker.production_steps * p002.npt_maker.timestep_fs / 1000 == 112
    with pytest.raises(SpecError, match=r"shipped: .*quick"):
        ConductivityMaker.from_preset("paper999")
    with pytest.raises(SpecError, match="thermostat"):
        ConductivityMaker.from_preset("quick", nvt={"thermostat": "mtk"})


def test_supercell_from_minimum_atoms_or_length(li2s: Structure):
    assert choose_supercell(li2s, min_atoms=40) == (1, 2, 2)  # 48 atoms, the fewest >= 40
    assert choose_supercell(li2s, min_atoms=24) == (1, 1, 2)
    repeat = choose_supercell(li2s, min_length=10.0)
    assert repeat == (2, 2, 2)
    hexagonal = Structure(Lattice.hexagonal(3.65, 3.87), ["N"], [[0, 0, 0]])
    widths = perpendicular_widths(hexagonal.lattice.matrix) * choose_supercell(
        hexagonal, min_length=12.0
    )
    assert widths.min() >= 12.0 and widths.min() < 12.0 + 3.87


def test_chgnet_conductivity_flow_runs_and_is_stored(isolated_settings: Path):
    """Li3N (a fast Li conductor), 16 atoms, two high temperatures, short NVT runs."""
    li3n = Structure(
        Lattice.hexagonal(3.65, 3.87),
        ["N", "Li", "Li", "Li"],
        [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
    )
    maker = ConductivityMaker.from_preset(
        "quick",
        temperatures=[1100.0, 1400.0],
        min_atoms=None,
        supercell=[2, 2, 1],
        nvt={
            "equilibration_steps": 30,
            "production_steps": 250,
            "checkpoint_interval": 125,
        },
    )
    flow = maker.make(li3n)
    record = run_flow(flow)
    assert record.state == "COMPLETED", [j.error for j in record.jobs]
    doc = get_output(record.flow_uuid)["output"]
    assert doc["task_type"] == "conductivity" and doc["preset"] == "quick"
    assert [p["temperature"] for p in doc["points"]] == [1100.0, 1400.0]
    for point in doc["points"]:
        assert point["D_ci95"][0] < point["D"] < point["D_ci95"][1]
        assert (point["sigma"] > 0) == (point["D"] > 0) and len(point["msd"]) > 10
        assert point["diffusive"] == (
            not any("not diffusive" in w for w in point["warnings"])
        )
    assert doc["potential"]["name"] == "chgnet" and doc["potential"]["checkpoint_sha256"]
    assert Path(doc["plots"]["msd"]).stat().st_size > 5000
    if doc["arrhenius"] is None:  # too short to be diffusive: said, not hidden
        assert any("no Arrhenius fit" in w for w in doc["warnings"])
    # every temperature's analysis is stored, with the density file beside the trajectory
    store_docs = [get_output(j.uuid) for j in record.jobs if j.name.startswith("diffusion")]
    assert all(Path(d["output"]["density_file"]).is_file() for d in store_docs)
    nvt_uuids = {j.uuid for j in record.jobs if j.name.startswith("nvt")}
    assert {d["output"]["md_job"] for d in store_docs} == nvt_uuids
    for analysis in store_docs:
        sites, vh = analysis["output"]["sites"], analysis["output"]["van_hove"]
        assert sites["n_sites"] >= 1 and 0 < sites["assigned_fraction"] <= 1
        r = np.array(vh["r"])
        for g_self in vh["self"]:  # each lag's G_s integrates to 1 (displacements < 8 A)
            assert np.sum(g_self) * (r[1] - r[0]) == pytest.approx(1.0, abs=0.02)

    # the stored trajectory through the CLI gives the stored D
    trajectory = store_docs[0]["output"]["trajectory_path"]
    out = subprocess.run(
        [*SSE_FLOWS, "analyze", trajectory, "--json"],
        capture_output=True,
        text=True,
        env=cli_env(isolated_settings),
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["trajectories"][0]["D"] == pytest.approx(doc["points"][0]["D"], rel=1e-9)
    assert report["trajectories"][0]["temperature"] == 1100.0


def test_npt_equilibration_sets_the_nvt_cell(isolated_settings: Path, cu_cell: Structure):
    """EMT Cu: NPT at 5 GPa compresses the cell, and the NVT run uses the mean cell."""
    maker = ConductivityMaker(
        potential="emt",
        temperatures=[600.0],
        species=["Cu"],
        npt_equilibration=True,
        write_density=False,
    )
    maker.npt_maker.pressure_gpa = 5.0
    maker.npt_maker.bulk_modulus_gpa = 140.0
    maker.npt_maker.equilibration_steps = 300
    maker.npt_maker.production_steps = 300
    maker.nvt_maker.production_steps = 200
    flow = maker.make(cu_cell)
    record = run_flow(flow)
    assert record.state == "COMPLETED", [j.error for j in record.jobs]
    npt_uuid = next(j.uuid for j in record.jobs if j.name.startswith("npt"))
    nvt_uuid = next(j.uuid for j in record.jobs if j.name.startswith("nvt"))
    npt = get_output(npt_uuid)["output"]
    nvt = get_output(nvt_uuid)["output"]
    mean_volume = npt["statistics"]["volume_mean"]
    assert (
        mean_volume < cu_cell.volume * 0.995
    )  # compressed by 5 GPa (thermal expansion aside)
    assert nvt["statistics"]["volume_mean"] == pytest.approx(mean_volume, rel=1e-6)


def test_spec_file_builds_the_conductivity_flow():
    from sse_flows.spec import FlowSpec

    spec = FlowSpec.from_file(
        Path(__file__).parents[1] / "examples" / "conductivity_quick.yaml"
    )
    flow = spec.build()
    names = [job.name for job in flow.jobs]
    assert names == [
        "nvt 900 K",
        "diffusion 900 K",
        "nvt 1200 K",
        "diffusion 1200 K",
        "arrhenius",
    ]
    nvt = flow.jobs[0]
    assert nvt.maker.production_steps == 1500 and nvt.maker.thermostat == "berendsen"
    assert len(nvt.function_args[0]) == 24  # the quick preset's supercell of Li2S
    assert nvt.function_kwargs["potential"] == PotentialSpec(name="chgnet")


def test_mixed_li_na_gets_per_species_results(tmp_path: Path):
    """Li and Na with different D: analysed together and each alone (paper 000 Table 3)."""
    from ase import Atoms
    from ase.io import write
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    from sse_flows.analysis.synthetic import random_walk
    from sse_flows.makers.transport import DiffusionMaker

    li = random_walk(2e-5, n_mobile=48, n_framework=32, n_frames=600, seed=1, mobile="Li")
    na = random_walk(5e-6, n_mobile=48, n_framework=0, n_frames=600, seed=2, mobile="Na")
    positions = np.concatenate([li.positions, na.positions], axis=1)
    numbers = np.concatenate([li.numbers, na.numbers])
    frames = []
    for frame, cell in zip(positions, li.cells, strict=True):
        atoms = Atoms(numbers=numbers, positions=frame, cell=cell, pbc=True)
        atoms.info.update(timestep_fs=2.0, sample_interval=10)
        frames.append(atoms)
    path = tmp_path / "mixed.extxyz"
    write(path, frames)
    structure = Structure(
        Lattice(li.cells[0]),
        [str(s) for s in frames[0].get_chemical_symbols()],
        positions[0],
        coords_are_cartesian=True,
    )
    potential = {"name": "test", "package": "none", "device": "cpu"}
    store = JobStore(MemoryStore())
    store.connect()
    job = DiffusionMaker(species=["Li", "Na"], write_density=True).make(
        str(path), structure.as_dict(), 600.0, potential=potential
    )
    out = job.run(store).output
    assert set(out.per_species) == {"Li", "Na"}
    assert out.per_species["Li"].D == pytest.approx(2e-5, rel=0.2)
    assert out.per_species["Na"].D == pytest.approx(5e-6, rel=0.2)
    assert out.result.D == pytest.approx(1.25e-5, rel=0.2)  # both together
    assert out.result.n_mobile == 96


def test_the_estimator_is_a_flow_setting_and_a_wrong_one_is_refused():
    maker = ConductivityMaker.from_preset("quick", estimator="ols")
    assert maker.diffusion_maker("d").estimator == "ols"
    assert maker.diffusion_maker("d").fit_window is None  # the estimator's default
    assert ConductivityMaker.from_preset("quick").diffusion_maker("d").estimator == "gls"
    with pytest.raises(SpecError, match="unknown estimator 'mle'"):
        ConductivityMaker.from_preset("quick", estimator="mle")
