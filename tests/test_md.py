import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.core import Structure

import sse_flows.md.engine as engine
from sse_flows.errors import CheckpointMismatchError, MDInstabilityError
from sse_flows.makers import MDMaker
from sse_flows.md.engine import CHECKPOINT_FILE, FAILURE_FILE, run_md
from sse_flows.md.protocol import MDProtocol
from sse_flows.md.trajectory import read_trajectory


def _run(job):
    store = JobStore(MemoryStore())
    responses = run_locally(job, store=store, ensure_success=True)
    store.connect()
    return responses[job.uuid][1].output, store.query_one({"uuid": job.uuid})


def test_nve_conserves_energy_with_chgnet(li2s: Structure, tmp_path: Path):
    maker = MDMaker(
        potential="chgnet",
        ensemble="nve",
        temperature=600,
        timestep_fs=1.0,
        production_steps=300,
        sample_interval=5,
        run_dir=str(tmp_path / "nve"),
    )
    out, doc = _run(maker.make(li2s))
    traj = read_trajectory(out.trajectory.path)
    total = (traj.potential_energy + traj.kinetic_energy) / len(li2s)
    assert len(traj) == 60
    assert np.ptp(total) < 2e-3  # eV/atom over 0.3 ps
    assert abs(out.statistics.total_energy_drift) < 2e-3  # eV/atom/ps
    assert np.ptp(traj.kinetic_energy) > 10 * np.ptp(
        total * len(li2s)
    )  # energy really flows
    # the document references the trajectory, it does not hold it
    assert len(json.dumps(doc["output"], default=str)) < 30_000
    assert "positions" not in json.dumps(doc["output"]["trajectory"])


@pytest.mark.extended  # thermostats are tested with EMT; CHGNet MD in NVE and resume tests
def test_nvt_holds_the_target_temperature_with_chgnet(li2s: Structure, tmp_path: Path):
    maker = MDMaker(
        potential="chgnet",
        ensemble="nvt",
        thermostat="langevin",
        friction_per_fs=0.02,
        temperature=600,
        timestep_fs=2.0,
        equilibration_steps=100,
        production_steps=400,
        sample_interval=5,
        run_dir=str(tmp_path / "nvt"),
    )
    out, _ = _run(maker.make(li2s * (2, 1, 1)))
    assert out.statistics.temperature_mean == pytest.approx(600, rel=0.10)
    assert out.equilibration["samples"] == 20
    assert out.trajectory.n_frames == 80
    assert out.potential.name == "chgnet"
    assert out.protocol["thermostat"] == "langevin"


def test_sevennet_md_runs_and_is_recorded(li2s: Structure, tmp_path: Path):
    maker = MDMaker(
        potential="sevennet",
        temperature=300,
        production_steps=40,
        sample_interval=10,
        run_dir=str(tmp_path / "7net"),
    )
    out, _ = _run(maker.make(li2s))
    assert out.trajectory.n_frames == 4
    assert out.potential.checkpoint == "7net-0"
    assert 100 < out.statistics.temperature_mean < 600


@pytest.mark.parametrize("thermostat", ["langevin", "berendsen", "nose_hoover", "bussi"])
def test_every_thermostat_reaches_its_target(thermostat: str, tmp_path: Path):
    # 32 atoms: the mean of 300 frames is within ~2 % of the target (instantaneous
    # spread ~14 %), well inside the 8 % asserted; 108 atoms took 3.4x longer
    atoms = bulk("Cu", cubic=True).repeat(2)
    protocol = MDProtocol(
        ensemble="nvt",
        thermostat=thermostat,
        temperature=500,
        timestep_fs=5.0,
        taut_fs=50.0,
        friction_per_fs=0.05,
        equilibration_steps=300,
        production_steps=1500,
        sample_interval=5,
    )
    result = run_md(atoms, EMT(), protocol, tmp_path, progress=False)
    temperature = read_trajectory(result.trajectory_path).temperature
    assert temperature.mean() == pytest.approx(500, rel=0.08)


def test_npt_responds_to_pressure(tmp_path: Path):
    atoms = bulk("Cu", cubic=True).repeat(2)
    volumes = {}
    for barostat in ("berendsen", "mtk"):
        for pressure in (0.0, 10.0):
            protocol = MDProtocol(
                ensemble="npt",
                thermostat=barostat,
                temperature=300,
                pressure_gpa=pressure,
                bulk_modulus_gpa=140.0,
                timestep_fs=2.0,
                taup_fs=200.0,
                equilibration_steps=300,
                production_steps=300,
                sample_interval=10,
            )
            result = run_md(
                atoms, EMT(), protocol, tmp_path / f"{barostat}{pressure}", progress=False
            )
            volumes[barostat, pressure] = np.abs(
                np.linalg.det(read_trajectory(result.trajectory_path).cells)
            ).mean()
    for barostat in ("berendsen", "mtk"):
        strain = volumes[barostat, 10.0] / volumes[barostat, 0.0] - 1
        # EMT Cu bulk modulus ~ 134 GPa: 10 GPa compresses the volume by ~7 %
        assert -0.10 < strain < -0.04, (barostat, strain)


class _KilledError(Exception):
    pass


@pytest.mark.parametrize(
    ("ensemble", "thermostat"),
    [
        ("nve", None),
        ("nvt", "langevin"),
        ("nvt", "berendsen"),
        ("nvt", "nose_hoover"),
        ("nvt", "bussi"),
        ("npt", "berendsen"),
        ("npt", "mtk"),
    ],
)
def test_resume_equals_uninterrupted_for_every_integrator(
    ensemble, thermostat, tmp_path, monkeypatch
):
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    protocol = MDProtocol(
        ensemble=ensemble,
        thermostat=thermostat,
        temperature=600,
        equilibration_steps=20,
        production_steps=100,
        sample_interval=5,
        checkpoint_interval=30,
    )
    whole = run_md(atoms, EMT(), protocol, tmp_path / "whole", progress=False)

    original = engine.check_energy

    def die_at_step_75(energy, step, prot):
        if step == 75:
            raise _KilledError
        original(energy, step, prot)

    monkeypatch.setattr(engine, "check_energy", die_at_step_75)
    with pytest.raises(_KilledError):
        run_md(atoms, EMT(), protocol, tmp_path / "split", progress=False)
    monkeypatch.setattr(engine, "check_energy", original)
    resumed = run_md(atoms, EMT(), protocol, tmp_path / "split", progress=False)

    assert resumed.resumed_from_step == 60
    a, b = read_trajectory(whole.trajectory_path), read_trajectory(resumed.trajectory_path)
    assert len(a) == len(b) == 20
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-5)  # float32 file
    np.testing.assert_allclose(whole.atoms.positions, resumed.atoms.positions, atol=1e-10)
    np.testing.assert_allclose(
        whole.atoms.get_momenta(), resumed.atoms.get_momenta(), atol=1e-10
    )
    np.testing.assert_allclose(whole.atoms.cell.array, resumed.atoms.cell.array, atol=1e-10)


KILL_SCRIPT = """
import sys
import torch
torch.set_num_threads(1)
from pymatgen.core import Structure
from jobflow import JobStore
from maggma.stores import MemoryStore
from sse_flows.makers import MDMaker
s = Structure.from_file(sys.argv[1])
maker = MDMaker(potential="chgnet", thermostat="langevin", temperature=800,
                production_steps=120, sample_interval=4, checkpoint_interval=20,
                seed=3, run_dir=sys.argv[2])
store = JobStore(MemoryStore())
store.connect()
out = maker.make(s).run(store)
print("finished", out.output.resumed_from_step)
"""


def test_killed_chgnet_job_resumes_to_the_same_result(li2s: Structure, tmp_path: Path):
    structure_file = tmp_path / "Li2S.cif"
    li2s.to(filename=str(structure_file))
    script = tmp_path / "md.py"
    script.write_text(KILL_SCRIPT)
    split, whole = tmp_path / "split", tmp_path / "whole"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    proc = subprocess.Popen(
        [sys.executable, str(script), str(structure_file), str(split)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = split / CHECKPOINT_FILE
    deadline = time.time() + 300
    while time.time() < deadline:
        if checkpoint.exists() and pickle.loads(checkpoint.read_bytes()).step >= 40:
            break
        assert proc.poll() is None, "the MD finished before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = pickle.loads(checkpoint.read_bytes()).step
    assert 40 <= killed_at < 120

    resumed = subprocess.run(
        [sys.executable, str(script), str(structure_file), str(split)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"finished {killed_at}" in resumed.stdout
    subprocess.run(
        [sys.executable, str(script), str(structure_file), str(whole)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    a = read_trajectory(whole / "trajectory.h5")
    b = read_trajectory(split / "trajectory.h5")
    assert len(a) == len(b) == 30
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-4)
    np.testing.assert_allclose(a.potential_energy, b.potential_energy, atol=1e-5)


def test_exploding_run_is_stopped_and_marked_failed(li2s: Structure, tmp_path: Path):
    maker = MDMaker(
        potential="chgnet",
        ensemble="nvt",
        thermostat="berendsen",
        temperature=1000,
        timestep_fs=25.0,
        production_steps=200,
        sample_interval=1,
        run_dir=str(tmp_path / "boom"),
    )
    job = maker.make(li2s)
    with pytest.raises(MDInstabilityError, match=r"ran away|apart|non-finite"):
        job.run(JobStore(MemoryStore()))
    failure = json.loads((tmp_path / "boom" / FAILURE_FILE).read_text())
    assert failure["step"] < 200
    # through jobflow: the job fails and nothing is stored as a success
    store = JobStore(MemoryStore())
    job2 = maker.make(li2s)
    job2.maker.run_dir = str(tmp_path / "boom2")
    responses = run_locally(job2, store=store)
    assert job2.uuid not in responses
    store.connect()
    assert store.count({"uuid": job2.uuid}) == 0


def test_overlapping_atoms_are_caught(tmp_path: Path):
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    protocol = MDProtocol(
        ensemble="nve",
        temperature=10,
        timestep_fs=0.1,
        production_steps=10,
        sample_interval=1,
        max_temperature_factor=1e9,
    )
    with pytest.raises(MDInstabilityError, match="apart"):
        run_md(atoms, EMT(), protocol, tmp_path, progress=False)


def test_checkpoint_of_other_settings_is_refused(tmp_path: Path):
    atoms = bulk("Cu", cubic=True).repeat(2)
    first = MDProtocol(temperature=300, production_steps=20, checkpoint_interval=10)
    run_md(atoms, EMT(), first, tmp_path, progress=False)
    with pytest.raises(CheckpointMismatchError, match="other settings"):
        run_md(
            atoms,
            EMT(),
            MDProtocol(temperature=400, production_steps=20),
            tmp_path,
            progress=False,
        )
    # a checkpoint whose trajectory vanished is not silently restarted
    (tmp_path / "trajectory.h5").rename(tmp_path / "moved.h5")
    with pytest.raises(CheckpointMismatchError, match="missing"):
        run_md(atoms, EMT(), first, tmp_path, progress=False)
    (tmp_path / "moved.h5").rename(tmp_path / "trajectory.h5")
    # a finished run asked again returns its result without stepping
    again = run_md(atoms, EMT(), first, tmp_path, progress=False)
    assert again.resumed_from_step == 20
    assert again.n_frames == 2


def test_positions_are_unwrapped_for_diffusion(tmp_path: Path):
    atoms = bulk("Cu", cubic=True).repeat(2)
    momenta = np.zeros((len(atoms), 3))
    momenta[:, 0] = 2.0 * atoms.get_masses()  # every atom drifts along x, ~0.2 A/fs
    atoms.set_momenta(momenta)
    protocol = MDProtocol(
        ensemble="nve",
        temperature=0,
        production_steps=50,
        sample_interval=5,
        initialize_velocities=False,
        fix_com=False,
        max_temperature_factor=1e12,
    )
    result = run_md(atoms, EMT(), protocol, tmp_path, progress=False)
    traj = read_trajectory(result.trajectory_path)
    displacement = traj.positions[-1, :, 0] - traj.positions[0, :, 0]
    assert displacement.min() > traj.cells[0, 0, 0]  # moved more than a box length, no wrap


def test_equilibration_only_run_has_no_statistics(cu_cell):
    maker = MDMaker(
        potential="emt", temperature=300, equilibration_steps=20, production_steps=0
    )
    out, _ = _run(maker.make(cu_cell))
    assert out.statistics is None
    assert out.trajectory.n_frames == 0
    assert out.equilibration["samples"] == 2
    assert out.structure != cu_cell  # the atoms moved


def test_invalid_protocols_are_refused():
    with pytest.raises(ValueError, match="does not fit"):
        MDProtocol(ensemble="nve", thermostat="langevin")
    with pytest.raises(ValueError, match="timestep_fs"):
        MDProtocol(timestep_fs=0)
    assert MDProtocol(ensemble="npt").thermostat == "berendsen"
