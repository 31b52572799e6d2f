"""Active learning (issue 19): committee MD, selection, the loop, DP-GEN's param.json.

The toy problem of the issue: EMT is the oracle for a 32-atom fcc Cu cell, and the
committee is two tiny MACE models trained from scratch here (MACE runs in its own
environment, through the worker). The loop test also kills the run in its second
iteration and resumes it; the DP-GEN test runs a param.json with a committee of two
families (MACE and DeePMD).
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from jobflow import run_locally
from pymatgen.io.ase import AseAtomsAdaptor

from sse_flows.documents import ActiveLearning, as_document
from sse_flows.documents.active_learning import Exploration
from sse_flows.errors import SpecError
from sse_flows.flows.active_learning import ActiveLearningMaker
from sse_flows.makers.active_learning import _check_crashes
from sse_flows.makers.explore import ExploreMaker
from sse_flows.records import get_output, list_runs
from sse_flows.runner import resume_flow, run_flow
from sse_flows.settings import get_settings
from sse_flows.spec import FlowSpec
from sse_flows.training.active import (
    ActiveLearningError,
    CandidatePool,
    ExplorationStage,
    label_failures,
    next_step,
    select_candidates,
)
from sse_flows.training.deviation import read_model_devi
from tests.conftest import EXAMPLES, SSE_FLOWS, cli_env
from tests.tiny_models import MACHINE_ENVS_DIR, needs_environment


def _label(atoms: Atoms) -> Atoms:
    atoms.calc = EMT()
    results = {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces(),
        "stress": atoms.get_stress(),
    }
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _cu32() -> Atoms:
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)


def _toy_files(folder: Path) -> dict[str, Path]:
    """Write the cell, thin initial data (8 rattled cells) and heated test frames."""
    rng = np.random.default_rng(0)
    base = _cu32()
    files = {
        "cell": folder / "Cu32.cif",
        "init": folder / "init.extxyz",
        "heated": folder / "heated.extxyz",
    }
    AseAtomsAdaptor.get_structure(base).to(filename=str(files["cell"]))
    frames = []
    for index in range(8):
        atoms = base.copy()
        atoms.set_cell(atoms.cell * (1 + rng.uniform(-0.01, 0.01)), scale_atoms=True)
        atoms.positions += rng.normal(0, 0.04, atoms.positions.shape)
        atoms.info["group"] = f"init-{index}"
        frames.append(_label(atoms))
    write(str(files["init"]), frames, format="extxyz")
    # held out: EMT MD at 900 K, hotter than anything the loop explores
    atoms = base.copy()
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=900, rng=np.random.default_rng(1))
    dynamics = Langevin(
        atoms, 2 * units.fs, temperature_K=900, friction=0.02, rng=np.random.default_rng(2)
    )
    heated = []
    for index in range(12):
        dynamics.run(25)
        frame = atoms.copy()
        frame.info["group"] = f"heated-{index}"
        heated.append(_label(frame))
    write(str(files["heated"]), heated, format="extxyz")
    return files


TOY_TRAIN = {
    "from_scratch": True,
    "epochs": 20,
    "batch_size": 4,
    "valid_fraction": 0.25,
    "test_fraction": 0.0,
}
TOY_STAGES = [
    {"temperatures": [300], "steps": 150, "timestep_fs": 2.0, "sample_interval": 5},
    {"temperatures": [600], "steps": 150, "timestep_fs": 2.0, "sample_interval": 5},
]


# ----------------------------------------------------------------- fast: selection
def test_selection_spreads_picks_and_keeps_frames_of_a_run_apart():
    """FPS on a line of frames: far ends first, no two picks within min_gap."""
    positions = np.zeros((20, 2, 3))
    positions[:, 0, 0] = np.linspace(0.0, 1.9, 20)  # frame f displaced 0.1 f
    pool = CandidatePool(
        positions=[positions],
        cells=[np.broadcast_to(np.eye(3) * 50.0, (20, 3, 3))],
        frames=[np.arange(20)],
        pbc=np.array([True, True, True]),
    )
    start = np.zeros((2, 3))
    picked = select_candidates(pool, start, 3, min_gap=1)
    assert [f for _, f in picked] == [19, 10, 5]  # farthest, then halving the gaps
    gapped = select_candidates(pool, start, 20, min_gap=4)
    frames = sorted(f for _, f in gapped)
    assert min(np.diff(frames)) >= 4 and len(frames) == 5  # 19, 15, 11, 7, 3 style
    only = CandidatePool(
        positions=[positions],
        cells=pool.cells,
        frames=[np.array([2, 3])],
        pbc=pool.pbc,
    )
    assert [f for _, f in select_candidates(only, start, 5, min_gap=1)] == [3, 2]


def test_exploration_stage_refuses_what_cannot_run():
    with pytest.raises(ValueError, match="npt needs pressures_GPa"):
        ExplorationStage(temperatures=[300], ensemble="npt")
    with pytest.raises(ValueError, match="use npt"):
        ExplorationStage(temperatures=[300], pressures_GPa=[1.0])
    with pytest.raises(ValueError, match="score no frame"):
        ExplorationStage(temperatures=[300], steps=5, sample_interval=10)
    stage = ExplorationStage(temperatures=[300, 600], pressures_GPa=[0, 1], ensemble="npt")
    assert stage.runs(2)[:3] == [(0, 300, 0), (0, 300, 1), (0, 600, 0)]
    assert len(stage.runs(2)) == 8


def test_what_follows_an_iteration():
    """dpgen2's rules: converged after `patience` in a row, fail at max, dead ends."""
    rules = {"target": 0.9, "patience": 2, "max_iterations": 5}
    assert next_step(0.95, 3, 1, 2, **rules) == ("converged", 2)
    assert next_step(0.95, 3, 0, 2, **rules) == ("label", 1)
    assert next_step(0.95, 0, 0, 2, **rules) == ("explore_again", 1)
    assert next_step(0.5, 0, 1, 2, **rules) == ("no_candidates", 0)
    assert next_step(0.5, 4, 1, 5, **rules) == ("max_iterations", 0)
    assert next_step(0.9, 4, 1, 5, **rules) == ("converged", 2)  # >= target counts


def test_failed_labels_are_tolerated_up_to_the_limit():
    assert label_failures(0, 10, 0.2, 1) == []
    assert label_failures(2, 10, 0.2, 3) == ["the oracle failed on 2 of 10 frames"]
    with pytest.raises(ActiveLearningError, match="Iteration 3: the oracle failed on 3"):
        label_failures(3, 10, 0.2, 3)


def _run(system: int, *, crashed: str | None = None, exploded: str | None = None):
    return Exploration(
        system=system, formula="Cu", temperature_K=300.0, ensemble="nvt",
        steps_planned=100, steps_run=0 if crashed else 100, sample_interval=10,
        frames=0 if crashed else 10, accurate=0 if crashed else 10, candidate=0,
        failed=10 if crashed else 0, crashed=crashed, exploded=exploded, run_dir=".",
    )  # fmt: skip


def test_crashed_runs_are_tolerated_up_to_the_limit():
    runs = [_run(0), _run(1), _run(2), _run(3, crashed="RuntimeError: worker died")]
    (note,) = _check_crashes(runs, 0.25)
    assert "3@300K crashed: RuntimeError: worker died" in note
    with pytest.raises(ActiveLearningError, match="2 of 4 exploration runs crashed"):
        _check_crashes([*runs[:2], _run(2, crashed="x"), runs[3]], 0.25)
    with pytest.raises(ActiveLearningError, match="1 of 1"):
        _check_crashes([_run(0, crashed="x")], 1.0)  # all crashed: nothing to learn


# ------------------------------------------------------------ fast: bad input
def test_bad_loop_settings_are_refused_before_anything_runs(tmp_path: Path):
    files = _toy_files(tmp_path)
    structure = AseAtomsAdaptor.get_structure(_cu32())
    common: dict[str, Any] = {
        "committee": ["mace"],
        "initial_data": str(files["init"]),
        "oracle": "emt",
    }
    with pytest.raises(ValueError, match="must be below hi"):
        ActiveLearningMaker(**common, trust_lo=0.3, trust_hi=0.2)
    with pytest.raises(ValueError, match="at least 2 models"):
        ActiveLearningMaker(**common, committee_size=1)
    # the oracle lacks an element of the structures (EMT has no Li; CHGNet has)
    lithium = structure.copy()
    lithium.replace(0, "Li")
    with pytest.raises(Exception, match="Li"):
        ActiveLearningMaker(**{**common, "committee": ["chgnet"]}).make([lithium])
    # a committee trained from scratch on data without that element
    from sse_flows.makers.training import TrainMaker
    from sse_flows.training.settings import TrainSettings

    scratch = TrainMaker(settings=TrainSettings(from_scratch=True))
    with pytest.raises(ValueError, match=r"initial data .* lacks"):
        ActiveLearningMaker(**{**common, "oracle": None}, train=scratch).make([lithium])
    with pytest.raises(ValueError, match="is not a file"):
        ActiveLearningMaker(**{**common, "initial_data": "absent.extxyz"}).make([structure])
    assert list_runs() == []


def test_an_exploding_run_counts_as_failed_and_says_why(tmp_path: Path):
    """A 20 fs step at 3000 K blows the MD up; the frames it never reached fail."""
    explorer = ExploreMaker(
        temperature=3000.0,
        timestep_fs=20.0,
        production_steps=200,
        sample_interval=5,
        checkpoint_interval=100,
        run_dir=str(tmp_path / "run"),
    )
    structure = AseAtomsAdaptor.get_structure(_cu32())
    job = explorer.make(structure, ["emt", "emt"])
    responses = run_locally(job, store=None, ensure_success=True, log=False)
    output = responses[job.uuid][1].output
    assert output.exploded is not None and "MD stopped at step" in output.exploded
    assert output.crashed is None
    assert output.steps_run < 200
    assert output.accurate == output.frames  # two identical models never disagree
    assert output.failed == 200 // 5 - output.frames > 0
    deviation = read_model_devi(output.model_devi)
    # the driver's forces are stored as float32 beside float32 positions: ~1e-6 eV/A
    assert len(deviation) == output.frames and np.all(deviation.max_devi_f < 1e-4)
    assert output.scoring == ["driver", "one-by-one"]


def test_a_run_that_cannot_start_is_reported_as_crashed(tmp_path: Path):
    explorer = ExploreMaker(production_steps=10, sample_interval=5, run_dir=str(tmp_path))
    structure = AseAtomsAdaptor.get_structure(_cu32())
    job = explorer.make(structure, ["emt", "chgnet:/absent/model.pth.tar"])
    responses = run_locally(job, store=None, ensure_success=True, log=False)
    output = responses[job.uuid][1].output
    assert output.crashed is not None and "absent" in output.crashed
    assert output.failed == 2 and output.frames == 0
    assert (tmp_path / "crash.txt").exists()


# ------------------------------------------------------------ fast: presets, DP-GEN
def test_paper_presets_hold_the_papers_settings(tmp_path: Path):
    files = _toy_files(tmp_path)
    for preset, temperatures, pressures in (
        ("paper000", [300, 600, 900, 1200], [0.0]),
        ("paper004", [100, 300, 600, 900, 1200], [0.0, 1.0, 2.0]),
    ):
        spec = FlowSpec.from_data(
            {
                "flow": "active_learning",
                "preset": preset,
                "structures": [files["cell"].name],
                "initial_data": files["init"].name,
                "committee": {"size": 2},  # updates the preset's section
            },
            tmp_path,
        )
        maker = spec.maker()  # type: ignore[attr-defined]
        assert (maker.trust_lo, maker.trust_hi) == (0.12, 0.25)
        assert maker.committee_size == 2 and maker.committee[0].name == "deepmd"
        assert maker.accurate_ratio == 0.9 and maker.max_iterations == 10
        stage = maker.stages()[0]
        assert stage.ensemble == "npt" and stage.temperatures == temperatures
        assert stage.pressures_GPa == pressures and stage.timestep_fs == 2.0
        assert maker.labeler() == f"dft:vasp-{preset}"
        assert maker.train.settings.model["descriptor"]["neuron"] == [25, 50, 100]
    assert maker.train.settings.model["fitting_net"]["neuron"] == [240, 240, 240]


def _deepmd_npy(frames: list[Atoms], folder: Path, type_map: list[str]) -> None:
    import dpdata

    systems = dpdata.MultiSystems(type_map=type_map)
    for atoms in frames:
        systems.append(dpdata.LabeledSystem(atoms, fmt="ase/structure"))
    (system,) = systems.systems.values()
    system.to("deepmd/npy", str(folder))


def _dpgen_param(folder: Path, files: dict[str, Path]) -> dict[str, Any]:
    """A DP-GEN param.json for the toy (POSCAR, deepmd/npy init data, one job)."""
    write(str(folder / "POSCAR"), _cu32(), format="vasp")
    (folder / "INCAR").write_text("ENCUT = 600\nISMEAR = 0\nSIGMA = 0.05\nEDIFF = 1E-6\n")
    _deepmd_npy(list(read(files["init"], index=":")), folder / "init", ["Cu"])
    return {
        "type_map": ["Cu"],
        "mass_map": [63.546],
        "init_data_prefix": str(folder),
        "init_data_sys": ["init"],
        "sys_configs_prefix": str(folder),
        "sys_configs": [["POSCAR"]],
        "numb_models": 2,
        "default_training_param": {
            "model": {
                "descriptor": {
                    "type": "se_e2_a",
                    "rcut": 4.5,
                    "rcut_smth": 0.5,
                    "sel": [60],
                    "neuron": [8, 16],
                    "axis_neuron": 4,
                },
                "fitting_net": {"neuron": [16, 16]},
            },
            "learning_rate": {"start_lr": 0.01},
            "training": {"numb_steps": 40},
        },
        "model_devi_dt": 0.002,
        "model_devi_skip": 0,
        "model_devi_f_trust_lo": 0.12,
        "model_devi_f_trust_hi": 0.25,
        "model_devi_clean_traj": True,
        "model_devi_jobs": [
            {
                "_idx": "00",
                "sys_idx": [0],
                "temps": [300],
                "press": [1.0],
                "trj_freq": 5,
                "nsteps": 100,
                "ensemble": "nvt",
            }
        ],
        "fp_style": "vasp",
        "fp_pp_path": str(folder),
        "fp_pp_files": ["POTCAR.Cu"],
        "fp_incar": str(folder / "INCAR"),
        "fp_task_max": 4,
        "fp_task_min": 1,
    }


def test_dpgen_param_is_read_and_unsupported_keys_are_refused(tmp_path: Path):
    files = _toy_files(tmp_path)
    param = _dpgen_param(tmp_path, files)
    param["model_devi_jobs"].append(
        {"sys_idx": [0], "temps": [600, 900], "press": [1e4, 2e4], "trj_freq": 10,
         "nsteps": 500, "ensemble": "npt"}
    )  # fmt: skip
    spec = FlowSpec.from_data(param, tmp_path)
    maker = spec.maker()  # type: ignore[attr-defined]
    assert maker.committee_size == 2 and maker.committee[0].name == "deepmd"
    assert maker.max_candidates == 4 and maker.max_iterations == 2
    assert (maker.trust_lo, maker.trust_hi) == (0.12, 0.25)
    assert maker.labeler() == "dft:dpgen-fp_incar" and not maker.fatal_at_max
    from sse_flows.makers.labeling import resolve_preset

    incar = resolve_preset(maker.labeling.preset, "vasp").settings["incar"]
    assert incar["ENCUT"] == 600 and incar["EDIFF"] == 1e-6
    first, second = maker.stages()
    assert (first.timestep_fs, first.sample_interval, first.steps) == (2.0, 5, 100)
    assert second.ensemble == "npt" and second.pressures_GPa == [1.0, 2.0]  # bar -> GPa
    assert second.temperatures == [600, 900]
    # 40 steps of batch 4 over 8 initial frames: 20 passes
    assert maker.train.settings.epochs == 20 and maker.train.settings.learning_rate == 0.01
    assert maker.family_models["deepmd"]["descriptor"]["neuron"] == [8, 16]
    assert maker.member_settings(1, 2).model == maker.family_models["deepmd"]
    assert maker.member_settings(1, 2).seed == 1 + 2000
    assert len(read(maker.initial_data, index=":")) == 8

    for key, value, message in (
        ("model_devi_plumed", True, "not supported by sse-flows: model_devi_plumed"),
        ("model_devi_f_trust_lo", [0.1, 0.2], "must be one number"),
        ("mass_map", [12.0], "standard one is 63.546"),
        ("model_devi_skip", 10, "model_devi_skip other than 0"),
    ):
        with pytest.raises(SpecError, match=message):
            FlowSpec.from_data({**param, key: value}, tmp_path)
    anisotropic = [{**param["model_devi_jobs"][0], "ensemble": "npt-a"}]
    with pytest.raises(SpecError, match="ensemble 'npt-a'"):
        FlowSpec.from_data({**param, "model_devi_jobs": anisotropic}, tmp_path)
    with pytest.raises(SpecError, match="DP-GEN's own checks"):
        FlowSpec.from_data({**param, "numb_models": "four"}, tmp_path)


# ------------------------------------------------------------- slow: the loop
@pytest.fixture
def shared_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the machine's built environments (conftest isolates everything else)."""
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(MACHINE_ENVS_DIR))


@needs_environment("mace")
def test_toy_loop_converges_and_a_killed_loop_resumes(
    shared_envs: None, isolated_settings: Path, tmp_path: Path
):
    """EMT oracle, committee of 2 tiny MACE: killed in iteration 2, resumed, converged."""
    files = _toy_files(tmp_path)
    spec = tmp_path / "toy.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "flow": "active_learning",
                "name": "toy",
                "structures": [files["cell"].name],
                "initial_data": files["init"].name,
                "test_data": files["heated"].name,
                "committee": {"potential": "mace", "size": 2, "train": TOY_TRAIN},
                "oracle": {"potential": "emt"},
                "exploration": TOY_STAGES,
                "max_candidates": 6,
                "max_iterations": 6,
            }
        )
    )
    env = {**cli_env(isolated_settings), "SSE_FLOWS_ENVS_DIR": str(MACHINE_ENVS_DIR)}
    proc = subprocess.Popen(
        [*SSE_FLOWS, "run", str(spec)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = get_settings().work_dir / "active_learning"
    deadline = time.time() + 600
    started: list[Path] = []
    while time.time() < deadline and not started:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.5)
        started = list(root.glob("*/iter002/model0/run.json"))
    assert started, "the second iteration never started training"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    folder = started[0].parents[2]
    first_model = folder / "iter001" / "model0" / "model.json"
    first_labels = folder / "iter001" / "oracle_labels.extxyz"
    first_run = folder / "iter001" / "explore" / "0@300K" / "exploration.json"
    stamps = {p: p.stat().st_mtime_ns for p in (first_model, first_labels, first_run)}

    (run,) = list_runs()
    assert run.state == "KILLED"
    resumed = resume_flow(run.flow_uuid)
    assert resumed.state == "COMPLETED", [(j.name, j.error) for j in resumed.jobs]
    assert "toy iteration 1 (resumed)" in {j.name for j in resumed.jobs}
    # the first iteration's model, scored run and labels were reused, not redone
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    stored = get_output(str(resumed.output_job))
    assert stored is not None
    document = as_document(stored["output"])
    assert isinstance(document, ActiveLearning)
    assert document.folder == str(folder)

    iterations = document.iterations
    assert document.converged and document.stop_reason == "converged"
    assert 2 <= len(iterations) <= 6
    assert iterations[-1].accurate_ratio >= 0.9 > iterations[0].accurate_ratio
    first, last = iterations[0], iterations[-1]
    # the dataset grows by what was labelled; each iteration's counts add up
    for before, after in itertools.pairwise(iterations):
        assert after.n_train + after.n_valid == (
            before.n_train + before.n_valid + before.n_labeled
        )
    for it in iterations:
        counts = sum(sum(c.values()) for c in it.counts.values())
        assert counts == sum(e.frames for e in it.explorations) == 30
        assert it.histogram.plot and Path(it.histogram.plot).exists()
        assert sum(it.histogram.counts) == counts
        assert all(Path(e.model_devi or "").exists() for e in it.explorations)
    assert first.n_labeled == first.n_selected <= 6 and first.n_labeled > 0
    # the final committee beats the first on held-out 900 K frames (EMT labels)
    first_error = np.mean([m.test.force_mae_meV_A for m in first.committee if m.test])
    last_error = np.mean([m.test.force_mae_meV_A for m in last.committee if m.test])
    assert last_error < first_error, (first_error, last_error)
    assert document.final_potentials == last.potentials
    assert all(p.startswith("mace:") for p in last.potentials)
    assert json.loads(Path(folder / "active_learning.json").read_text())["converged"]


@needs_environment("mace")
@needs_environment("deepmd")
def test_dpgen_param_runs_with_a_committee_of_two_families(
    shared_envs: None, tmp_path: Path
):
    """A DP-GEN param.json (one model_devi job) with a MACE + DeePMD committee."""
    files = _toy_files(tmp_path)
    param = _dpgen_param(tmp_path, files)
    # a second system whose MD explodes: two atoms 0.3 A apart trip the MD guard
    crushed = _cu32()
    crushed.positions[1] = crushed.positions[0] + [0.3, 0.0, 0.0]
    write(str(tmp_path / "POSCAR_crushed"), crushed, format="vasp")
    param["sys_configs"].append(["POSCAR_crushed"])
    param["model_devi_jobs"][0].update(sys_idx=[0, 1], nsteps=50)  # 10 frames a run
    param["sse_flows"] = {
        "committee": {"potential": ["mace", "deepmd"]},
        "train": {"epochs": 4, "valid_fraction": 0.25, "test_fraction": 0.0},
        "oracle": {"potential": "emt"},
    }
    path = tmp_path / "param.json"
    path.write_text(json.dumps(param))
    spec = FlowSpec.from_file(path)
    record = run_flow(spec.build())
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs]
    stored = get_output(str(record.output_job))
    assert stored is not None
    document = as_document(stored["output"])
    assert isinstance(document, ActiveLearning)
    (iteration,) = document.iterations
    assert [p.split(":")[0] for p in iteration.potentials] == ["mace", "deepmd"]
    exploration, exploded = iteration.explorations
    # the DeePMD member scores in its worker (no batched path for DeePMD)
    assert exploration.frames == 10
    assert exploration.scoring == ["driver", "worker:one-by-one"]
    # the exploded run: its unreached frames failed, the loop went on and says so
    assert exploded.system == 1 and exploded.exploded is not None
    assert exploded.steps_run < 50 and exploded.failed >= 10 - exploded.frames
    assert any("exploded" in note for note in iteration.notes)
    assert iteration.counts["1@300K"]["failed"] == exploded.failed
    lines = Path(str(exploration.model_devi)).read_text().splitlines()
    assert lines[1].split()[1:] == [
        "step", "max_devi_v", "min_devi_v", "avg_devi_v",
        "max_devi_f", "min_devi_f", "avg_devi_f", "devi_e",
    ]  # fmt: skip
    assert len(lines) == 2 + 10
    if document.converged:
        assert iteration.accurate_ratio >= 0.9
    else:
        assert document.stop_reason == "max_iterations"


def test_example_spec_builds_the_toy_loop():
    spec = FlowSpec.from_file(EXAMPLES / "active_learning_toy.yaml")
    flow = spec.build()
    assert [job.name for job in flow.jobs] == [
        "toy active learning iteration 1",
        "toy active learning document",
    ]
    maker = spec.maker()  # type: ignore[attr-defined]
    assert maker.committee_size == 2 and maker.oracle.name == "emt"
    assert len(read(maker.initial_data, index=":")) == 8
