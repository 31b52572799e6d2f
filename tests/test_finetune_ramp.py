"""Paper 002's temperature-ramp fine-tuning and paper 001's dataset-size convergence.

Real code paths throughout: CHGNet runs the MD and is fine-tuned (one epoch), EMT is
the reference labeler standing in for DFT, the flows run through the repo's runner
on the test's own store. Cells are 8-atom Cu-Au fcc; MD is 30 steps.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read
from jobflow import Flow
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.vasp import Poscar

from sse_flows.calc.evaluate import read_labeled_frames
from sse_flows.dft import vasp
from sse_flows.documents import as_document
from sse_flows.documents.dataset_size import DatasetSizeConvergence
from sse_flows.documents.finetune_ramp import FineTuneRamp
from sse_flows.flows import (
    DatasetSizeConvergenceMaker,
    IterativeFineTuneMaker,
    LabelingMaker,
)
from sse_flows.kinds.base import FlowSpec
from sse_flows.kinds.finetune_ramp import FineTuneRampSpec
from sse_flows.makers import MDMaker, TrainMaker
from sse_flows.records import RunRecord, get_output, list_runs
from sse_flows.runner import renewed_flow, resume_flow, run_flow
from sse_flows.settings import get_settings
from sse_flows.training.data import TrainingDataError, held_out_splits
from sse_flows.training.dataset_size import nested_group_subsets
from sse_flows.training.selection import farthest_point_sampling, position_msd
from sse_flows.training.settings import TrainSettings
from tests.conftest import EXAMPLES, SSE_FLOWS, cli_env
from tests.fake_vasp import labels as fake_vasp_labels
from tests.tiny_models import alloy_frames, write_extxyz

MD_STEPS = 30
FAKE_VASP = Path(__file__).with_name("fake_vasp.py")


# ---------------------------------------------------------------- frame selection


def _line_frames(xs: list[float]) -> np.ndarray:
    """Frames of one atom at (x, 0, 0)."""
    positions = np.zeros((len(xs), 1, 3))
    positions[:, 0, 0] = xs
    return positions


def test_fps_picks_the_most_distant_frames():
    frames = _line_frames([0.0, 1.0, 2.0, 10.0, 11.0])
    cell = np.eye(3) * 100.0  # large: no periodic image is nearer
    # no reference: frame 0 first; then x=11 (MSD 121 from x=0); then x=2, whose
    # distance to the set {0, 11} is min(4, 81) = 4, ahead of x=10 (min(100, 1) = 1)
    picked = farthest_point_sampling(frames, cell, 3)
    assert picked.indices == [0, 4, 2]
    assert picked.distances == [None, pytest.approx(121.0), pytest.approx(4.0)]
    # a reference at x=5 counts as picked: first x=11 (36), then x=0 (25), then x=2
    picked = farthest_point_sampling(frames, cell, 3, reference=np.array([[5.0, 0, 0]]))
    assert picked.indices == [4, 0, 2]
    assert picked.distances == pytest.approx([36.0, 25.0, 4.0])
    with pytest.raises(ValueError, match="cannot pick 6 of 5"):
        farthest_point_sampling(frames, cell, 6)


def test_position_msd_is_a_mean_over_atoms_with_minimum_image():
    cell = np.eye(3) * 10.0
    reference = np.array([[0.0, 0, 0], [5.0, 5, 5]])
    # atom 0 moves 9 A along x = 1 A the other way through the boundary; atom 1 is still
    moved = np.array([[9.0, 0, 0], [5.0, 5, 5]])
    assert position_msd(moved, reference, cell) == pytest.approx(0.5)
    # without periodicity along x the full 9 A counts
    assert position_msd(moved, reference, cell, pbc=(False, True, True)) == 40.5
    with pytest.raises(ValueError, match="same atoms in the same order"):
        position_msd(moved[:1], reference, cell)


# ---------------------------------------------------------------- the ramp


def _alloy(symbols: list[str]) -> Structure:
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 1, 1))
    atoms.set_chemical_symbols(symbols)
    return AseAtomsAdaptor.get_structure(atoms)


CELLS = [
    _alloy(["Cu", "Au", "Cu", "Cu", "Au", "Cu", "Cu", "Cu"]),
    _alloy(["Au", "Cu", "Au", "Cu", "Cu", "Au", "Cu", "Cu"]),
]


def _ramp(**kwargs: Any) -> IterativeFineTuneMaker:
    md = MDMaker(
        ensemble="nvt",
        thermostat="langevin",
        timestep_fs=2.0,
        production_steps=MD_STEPS,
        sample_interval=3,
        checkpoint_interval=MD_STEPS,
    )
    settings = TrainSettings(
        epochs=1, batch_size=2, valid_fraction=0.25, test_fraction=0.25, seed=1
    )
    options: dict[str, Any] = {"reference": "emt", **kwargs}
    return IterativeFineTuneMaker(
        potential="chgnet",
        t_start=200,
        t_step=200,
        md=md,
        train=TrainMaker(settings=settings),
        **options,
    )


def _ramp_document(flow: Flow) -> FineTuneRamp:
    stored = get_output(flow.output.uuid)
    assert stored is not None
    document = as_document(stored["output"])
    assert isinstance(document, FineTuneRamp)
    return document


def test_ramp_runs_two_steps_and_a_failed_step_resumes():
    maker = _ramp(t_max=400, frames_per_step=4)
    assert maker.temperatures() == [200.0, 400.0]
    flow = maker.make(CELLS)
    # a real failure in step 2: its training folder holds a run of other inputs
    ramp_id = flow.jobs[0].function_kwargs["ramp"]["uuid"]
    folder = get_settings().work_dir / "finetune_ramp" / ramp_id
    blocker = folder / "step02_400K" / "train" / "run.json"
    blocker.parent.mkdir(parents=True)
    blocker.write_text(json.dumps({"data_sha256": "another run"}))

    record = run_flow(flow)
    assert record.state == "FAILED"
    failed = {j.name: j.error or "" for j in record.jobs if j.state == "FAILED"}
    assert "holds a training run of other inputs" in failed["finetune ramp train 400 K"]
    assert "The ramp did not finish" in failed["finetune ramp document"]
    first_model = folder / "step01_200K" / "train" / "model.pth.tar"
    first_mtime = first_model.stat().st_mtime_ns

    blocker.unlink()
    resumed = resume_flow(record.flow_uuid)
    assert resumed.state == "COMPLETED", [(j.name, j.error) for j in resumed.jobs]
    document = _ramp_document(flow)

    # step 1 was not redone: its model file is untouched, its MD resumed at the end
    assert first_model.stat().st_mtime_ns == first_mtime
    for picked in document.steps[0].picked:
        assert picked.md_job is not None
        md = get_output(picked.md_job)
        assert md is not None and md["output"]["resumed_from_step"] == MD_STEPS

    assert document.stop_reason == "t_max_reached"
    assert [s.temperature_K for s in document.steps] == [200.0, 400.0]
    first, second = document.steps
    # 10 stored MD frames per structure, 2 picked from each, the farthest first
    for step in document.steps:
        assert step.frames_added == 4
        assert [p.candidates for p in step.picked] == [10, 10]
        for p in step.picked:
            assert len(p.picked) == 2 and p.distances_A2[0] >= p.distances_A2[1] > 0
    # the model that explored step 2 is the one trained in step 1
    assert first.exploring_potential == "chgnet"
    assert first.trained is not None and second.trained is not None
    assert second.exploring_potential == first.trained.potential
    assert document.final_potential == second.trained.potential
    assert document.final_sha256 == second.trained.sha256
    # errors of the current model on new frames, before training on them: CHGNet's
    # energies are on another scale than EMT's (eV per atom off); after one step the
    # fitted energy offsets bring that down by an order of magnitude at least
    assert first.error_before.energy_mae_meV_atom > 1000
    assert (
        second.error_before.energy_mae_meV_atom < first.error_before.energy_mae_meV_atom / 5
    )
    for step in document.steps:
        assert 5 < step.error_before.force_mae_meV_A < 1000
        assert step.trained is not None
        assert step.trained.held_out_split == "test"
        assert step.trained.metrics.force_mae_meV_A is not None
    # the data set grows: 2 train + 1 valid + 1 test per step, never reshuffled
    assert first.trained.split_sizes == {"train": 2, "valid": 1, "test": 1}
    assert second.trained.split_sizes == {"train": 4, "valid": 2, "test": 2}
    groups = {
        split: [a.info["group"] for a in read(path, index=":")]
        for split, path in document.data_files.items()
    }
    assert {k: len(v) for k, v in groups.items()} == {"train": 4, "valid": 2, "test": 2}
    assert not set(groups["train"]) & (set(groups["valid"]) | set(groups["test"]))
    labels = read(second.labels_file, index=":")
    assert {a.info["temperature_K"] for a in labels} == {400.0}
    assert (Path(document.folder) / "finetune_ramp.json").exists()
    assert any("step 2 at 400 K" in line for line in document.summary_lines())


def test_a_killed_ramp_resumes_where_it_stopped(isolated_settings: Path):
    """SIGKILL during the first training: the runner never learnt of the chain."""
    CELLS[0].to(filename=str(isolated_settings.parent / "cell.cif"))
    spec = isolated_settings.parent / "ramp.yaml"
    spec.write_text(
        json.dumps(
            {
                "flow": "finetune_ramp",
                "name": "killed ramp",
                "potential": "chgnet",
                "structures": ["cell.cif"],
                "ramp": {
                    "t_max": 200,
                    "frames_per_step": 4,
                    "reference": "emt",
                    "md": {
                        "production_steps": MD_STEPS,
                        "sample_interval": 3,
                        "checkpoint_interval": MD_STEPS,
                    },
                    "train": {
                        "settings": {
                            "epochs": 3,
                            "batch_size": 2,
                            "valid_fraction": 0.25,
                            "test_fraction": 0.25,
                        }
                    },
                },
            }
        )
    )
    proc = subprocess.Popen(
        [*SSE_FLOWS, "run", str(spec)],
        env=cli_env(isolated_settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = get_settings().work_dir / "finetune_ramp"
    deadline = time.time() + 300
    started: list[Path] = []
    while time.time() < deadline and not started:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.3)
        started = list(root.glob("*/step01_200K/train/run.json"))
    assert started, "training never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    folder = started[0].parents[2]
    assert not (folder / "finetune_ramp.json").exists()
    labels = folder / "step01_200K" / "reference_labels.extxyz"
    labels_mtime = labels.stat().st_mtime_ns

    (run,) = list_runs()
    assert run.state == "KILLED"
    resumed = resume_flow(run.flow_uuid)
    assert resumed.state == "COMPLETED", [(j.name, j.error) for j in resumed.jobs]
    # only the document job was pending; finding no document, it took the chain up
    assert "killed ramp 200 K (resumed)" in {j.name for j in resumed.jobs}
    stored = get_output(str(resumed.output_job))
    assert stored is not None
    document = as_document(stored["output"])
    assert isinstance(document, FineTuneRamp)
    assert document.folder == str(folder)
    (step,) = document.steps
    assert step.trained is not None and step.trained.epochs_run == 3
    assert document.stop_reason == "t_max_reached"
    # the MD and the labels of the killed run were reused, not redone
    assert labels.stat().st_mtime_ns == labels_mtime
    md = get_output(str(step.picked[0].md_job))
    assert md is not None and md["output"]["resumed_from_step"] == MD_STEPS


def test_ramp_stops_when_the_model_already_knows_the_frames():
    maker = _ramp(t_max=800, frames_per_step=3, stop_force_mae_meV_A=1e6)
    flow = maker.make(CELLS[:1])
    record = run_flow(flow)
    assert record.state == "COMPLETED"
    document = _ramp_document(flow)
    assert document.stop_reason == "force_mae_below_threshold"
    assert "under 1e+06 meV/A" in document.stop_detail
    (step,) = document.steps
    assert step.frames_added == 3 and step.trained is None
    assert step.error_before.force_mae_meV_A < 1e6
    assert document.final_potential == "chgnet"
    assert document.final_sha256 is None
    assert not [j for j in record.jobs if "train" in j.name]


def test_ramp_labels_with_dft_through_the_labeling_flow(monkeypatch, tmp_path: Path):
    """The DFT branch: LabelingMaker's batches inside the ramp, VASP stood in for."""
    monkeypatch.setattr(vasp, "POTCAR_SPEC_ONLY", True)
    monkeypatch.setenv("SSE_FLOWS_VASP_CMD", f"{sys.executable} {FAKE_VASP}")
    monkeypatch.setenv("SSE_FLOWS_CUSTODIAN_POLLING_S", "1")
    maker = _ramp(
        t_max=400,
        frames_per_step=2,
        stop_force_mae_meV_A=1e6,
        reference=None,
        labeling=LabelingMaker(preset="vasp-mp-pbe", frames_per_job=1),
    )
    flow = maker.make(CELLS[:1])
    record = run_flow(flow)
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs]
    assert sum("dft label batch" in j.name for j in record.jobs) == 2
    document = _ramp_document(flow)
    assert document.labeler == "dft:vasp-mp-pbe"
    (step,) = document.steps
    assert step.frames_added == 2 and step.frames_labelled_failed == 0
    # the labels are the stand-in's, for the picked MD frames, in the picking order
    picked = read(Path(step.labels_file).with_name("picked.extxyz"), index=":")
    for frame, atoms in zip(read(step.labels_file, index=":"), picked, strict=True):
        assert frame.info["md_frame"] == atoms.info["md_frame"]
        assert frame.info["group"] == atoms.info["group"]
        energy, forces, _ = fake_vasp_labels(Poscar(AseAtomsAdaptor.get_structure(atoms)))
        assert frame.get_potential_energy() == pytest.approx(energy, abs=1e-5)
        np.testing.assert_allclose(frame.get_forces(), forces, atol=1e-5)


def test_ramp_spec_builds_the_flow(tmp_path: Path):
    CELLS[0].to(filename=str(tmp_path / "a.cif"))
    spec = FlowSpec.from_data(
        {
            "flow": "finetune_ramp",
            "name": "ramp spec",
            "potential": "chgnet",
            "structures": ["a.cif"],
            "ramp": {
                "t_max": 600,
                "frames_per_step": 2,
                "reference": "emt",
                "train": {"settings": {"epochs": 2}},
            },
        },
        tmp_path,
    )
    assert [p.name for p in spec.used_potentials()] == ["chgnet", "emt"]
    assert isinstance(spec, FineTuneRampSpec)
    maker = spec.maker()
    assert maker.name == "ramp spec" and maker.temperatures() == [200, 400, 600]
    assert maker.labeler() == "reference:emt"
    flow = spec.build()
    assert [j.name for j in flow.jobs] == ["ramp spec 200 K", "ramp spec document"]
    assert flow.output.uuid == flow.jobs[1].uuid
    # a rerun of the stored flow is a new ramp: new id (folder, job uuids), same maker
    ramp_id = flow.jobs[0].function_kwargs["ramp"]["uuid"]
    again = renewed_flow(RunRecord.for_flow(flow, "COMPLETED").flow)
    assert again.jobs[0].function_kwargs["ramp"]["uuid"] != ramp_id
    assert again.jobs[1].function_args[0] == again.jobs[0].function_kwargs["ramp"]
    assert again.output.uuid == again.jobs[1].uuid
    with pytest.raises(ValueError, match="t_step must be positive"):
        IterativeFineTuneMaker(t_step=0)


def test_example_spec_builds_the_tiny_ramp():
    """examples/finetune_ramp_tiny.yaml: valid, and the flow it describes (not run)."""
    spec = FlowSpec.from_file(EXAMPLES / "finetune_ramp_tiny.yaml")
    assert isinstance(spec, FineTuneRampSpec)
    maker = spec.maker()
    assert maker.temperatures() == [300.0, 600.0]
    assert maker.labeler() == "dft:cp2k-pbe-small" and maker.reference is None
    assert (maker.md.thermostat, maker.md.timestep_fs, maker.md.production_steps) == (
        "nose_hoover",
        1.0,
        400,
    )
    assert maker.train.settings.epochs == 5 and maker.frames_per_step == 4
    assert [len(s) for s in spec.load_structures()] == [12]
    flow = spec.build()
    assert [j.name for j in flow.jobs] == [
        "li2s-finetune-ramp-tiny 300 K",
        "li2s-finetune-ramp-tiny document",
    ]


# ---------------------------------------------------------------- dataset size


def test_nested_subsets_and_fixed_held_out_split(tmp_path: Path):
    groups = [f"g{i}" for i in range(8)]
    quarter, half, whole = nested_group_subsets(groups, [0.25, 0.5, 1.0], seed=3)
    assert (len(quarter), len(half), len(whole)) == (2, 4, 8)
    assert half[:2] == quarter and whole[:4] == half and sorted(whole) == groups
    with pytest.raises(ValueError, match="both give 1 of the 3"):
        nested_group_subsets(groups[:3], [0.2, 0.3], seed=0)

    frames = alloy_frames(3, 2, seed=5)
    valid = write_extxyz(frames[4:], tmp_path / "valid.extxyz")
    train = read_labeled_frames(write_extxyz(frames[:4], tmp_path / "train.extxyz"))
    splits = held_out_splits(train, {"valid": valid})
    assert splits.sizes() == {"train": 4, "valid": 2, "test": 0}
    leaky = write_extxyz(frames[2:], tmp_path / "leaky.extxyz")
    with pytest.raises(TrainingDataError, match="s5-1"):
        held_out_splits(train, {"valid": leaky})


def test_dataset_size_convergence_stores_the_curve(tmp_path: Path):
    data = write_extxyz(alloy_frames(8, 2, seed=2), tmp_path / "alloy.extxyz")
    settings = TrainSettings(
        epochs=1, batch_size=4, valid_fraction=0.15, test_fraction=0.15, seed=0
    )
    maker = DatasetSizeConvergenceMaker(
        potential="chgnet", fractions=[0.5, 1.0], train=TrainMaker(settings=settings)
    )
    flow = maker.make(str(data))
    record = run_flow(flow)
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs]
    stored = get_output(flow.jobs[-1].uuid)
    assert stored is not None
    document = as_document(stored["output"])
    assert isinstance(document, DatasetSizeConvergence)
    # 16 frames in 8 groups: 2 groups (4 frames) each to test and valid, 4 to train
    assert document.held_out_sizes == {"valid": 4, "test": 4}
    assert [p.n_frames for p in document.points] == [4, 8]
    assert [p.n_groups for p in document.points] == [2, 4]
    for point in document.points:
        assert point.metrics["valid"].n_frames == 4
        assert point.metrics["test"].n_frames == 4
        assert point.metrics["test"].force_rmse_meV_A > 0
    # nested: the small set's groups are all in the large one
    groups = {
        p.fraction: {a.info["group"] for a in read(p.train_file, index=":")}
        for p in document.points
    }
    assert groups[0.5] < groups[1.0]
    held = {a.info["group"] for f in document.held_out_files.values() for a in read(f, ":")}
    assert not held & groups[1.0]
    # both models were measured on the very same held-out frames
    tests = {
        get_output(str(p.artifact_uuid))["output"]["dataset"]["split_sha256"]["test"]
        for p in document.points
    }
    assert len(tests) == 1
    assert document.plot is not None
    assert Path(document.plot).read_bytes()[:4] == b"\x89PNG"
    assert len(document.summary_lines()) == 4
