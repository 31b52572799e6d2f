"""DeePMD training through ``train_model``: from scratch, fine-tuning, resuming a kill.

Everything runs ``dp --pt train / freeze / compress`` for real in the DeePMD
environment (built by ``sse-flows env create deepmd``; these tests skip when it is
not). Data: Cu-Au cells (8 atoms) from tests/tiny_models.alloy_frames. Task A is EMT;
task B is EMT with the pair-potential strength V0 of both elements doubled (another
"reference method" for the same cells, as in tests/test_training_mace.py).

The parent of the fine-tuning tests is the model trained here from scratch on task A;
it is fine-tuned on task B labels of the same structures (same split).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from sse_flows.calc.evaluate import read_labeled_frames
from sse_flows.documents.training import TrainedModel
from sse_flows.training.data import TrainingDataError, split_by_group
from sse_flows.training.deepmd import (
    DeepMDTrainer,
    _nonfinite_step,
    input_config,
    latest_checkpoint,
    learning_curve,
    parse_lcurve,
    scratch_model,
)
from sse_flows.training.run import train_model
from sse_flows.training.settings import TrainSettings
from sse_flows.training.trainer import (
    TrainingDivergedError,
    TrainingFailedError,
    TrainingRun,
)
from tests.tiny_models import (
    MACHINE_ENVS_DIR,
    TaskBEMT,
    alloy_frames,
    needs_environment,
    relabel,
    write_extxyz,
)

ENVS_DIR = MACHINE_ENVS_DIR
needs_env = needs_environment("deepmd")

#: 96 frames: 12 structures x 8; split 64 / 16 / 16 frames -> 16 steps per epoch
SPLIT = {"valid_fraction": 0.1, "test_fraction": 0.1, "seed": 0, "batch_size": 4}
#: lr 2e-2 for 45 epochs (720 steps) reached ~1/8 of the RMS force in trials here
SCRATCH = {"from_scratch": True, "epochs": 45, "learning_rate": 0.02, **SPLIT}


def _task_a() -> list[Atoms]:
    return alloy_frames(12, 8, seed=0)


def _isolate(patch: pytest.MonkeyPatch, root: Path) -> None:
    """What conftest does per test, for the module's fixture; plus the shared envs."""
    home = root / "sse_home"
    for name, value in {
        "SSE_FLOWS_DB": home / "db",
        "SSE_FLOWS_WORK_DIR": home / "runs",
        "SSE_FLOWS_WEIGHTS_DIR": home / "weights",
        "SSE_FLOWS_CONFIG_FILE": home / "absent.yaml",
        "SSE_FLOWS_ENVS_DIR": ENVS_DIR,
    }.items():
        patch.setenv(name, str(value))
    patch.setenv("SSE_FLOWS_PROGRESS", "false")
    patch.setenv("SSE_FLOWS_DEVICE", "cpu")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedModel, float]:
    """A se_e2_a trained from scratch on task A (also the fine-tuning parent)."""
    root = tmp_path_factory.mktemp("deepmd-scratch")
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, root)
        data = write_extxyz(_task_a(), root / "task_a.extxyz")
        start = time.perf_counter()
        doc = train_model(
            data,
            "deepmd",
            TrainSettings(**SCRATCH),  # type: ignore[arg-type]
            root / "scratch",
        )
        seconds = time.perf_counter() - start
    print(f"from scratch: {seconds:.0f} s")
    return doc, seconds


@pytest.fixture
def shared_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the machine's built environments (conftest isolates everything else)."""
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(ENVS_DIR))


def _rms_force_mev(frames_file: Path) -> float:
    held = read_labeled_frames(frames_file)
    forces = np.concatenate([np.asarray(f.forces).reshape(-1) for f in held])
    return float(np.sqrt(np.mean(forces**2))) * 1e3


# ------------------------------------------------------------------ no dp needed
def _run(tmp_path: Path, frames: list[Atoms], **settings: object) -> TrainingRun:
    data = write_extxyz(frames, tmp_path / "frames.extxyz")
    labelled = read_labeled_frames(data)
    s = TrainSettings(**settings)  # type: ignore[arg-type]
    splits = split_by_group(labelled, s.valid_fraction, s.test_fraction, s.seed)
    return TrainingRun(splits=splits, settings=s, workdir=tmp_path / "w", device="cpu")


def test_epochs_become_steps(tmp_path: Path) -> None:
    run = _run(tmp_path, _task_a(), epochs=45, learning_rate=0.02, **SPLIT)
    assert run.n_train == 64 and len(run.splits.frames["valid"]) == 16
    assert run.steps_per_epoch() == 16  # ceil(64 / 4)
    model = scratch_model(["Cu", "Au"], 0, {"descriptor": {"neuron": [4, 8]}})
    config = input_config(run, model, [Path("t")], [Path("v")], 0.02)
    training = config["training"]
    assert training["numb_steps"] == 720  # 45 epochs x 16 batches
    assert training["disp_freq"] == training["save_freq"] == 16
    assert config["validating"]["validation_freq"] == 16
    assert training["validation_data"]["numb_btch"] == 4  # all 16 valid frames
    assert training["seed"] == 0 and training["training_data"]["batch_size"] == 4
    lr = config["learning_rate"]
    assert lr["start_lr"] == 0.02 and lr["stop_lr"] == pytest.approx(2e-4)
    assert lr["decay_steps"] == 36  # 20 stairs over 720 steps
    assert config["loss"] == {
        "type": "ener",
        "start_pref_e": 0.02,
        "limit_pref_e": 1.0,
        "start_pref_f": 1000.0,
        "limit_pref_f": 10.0,
        "start_pref_v": pytest.approx(0.002),
        "limit_pref_v": 0.1,
    }
    # settings.model merges into the small default; another descriptor type replaces it
    assert config["model"]["descriptor"]["neuron"] == [4, 8]
    assert config["model"]["descriptor"]["axis_neuron"] == 4
    other = scratch_model(["Cu"], 0, {"descriptor": {"type": "se_e2_r", "sel": [40]}})
    assert other["descriptor"] == {"type": "se_e2_r", "sel": [40]}
    # 65 frames: a last, partial batch still counts as a step
    odd = _run(
        tmp_path,
        _task_a()[:81],
        epochs=3,
        batch_size=4,
        valid_fraction=0.1,
        test_fraction=0.1,
    )
    assert odd.steps_per_epoch() == math.ceil(odd.n_train / 4)
    assert input_config(odd, model, [], [], 1e-3)["training"]["numb_steps"] == (
        3 * math.ceil(odd.n_train / 4)
    )


LCURVE = """# step  rmse_val  rmse_trn  rmse_e_val  rmse_e_trn  rmse_f_val  rmse_f_trn  lr
# If there is no available reference data, rmse_*_{val,trn} will print nan
  1  4.17e+01  4.30e+01  4.55e-01  4.81e-01  1.32e+00  1.36e+00  1.0e-02
  16  5.17e+00  5.22e+00  1.98e-01  1.34e-01  2.58e-01  2.61e-01  4.0e-03
  32  2.27e+00  2.13e+00  6.84e-02  4.75e-02  2.01e-01  1.88e-01  1.3e-03
# step  rmse_val  rmse_trn  rmse_e_val  rmse_e_trn  rmse_f_val  rmse_f_trn  lr
  32  2.20e+00  2.10e+00  6.84e-02  4.75e-02  2.01e-01  1.88e-01  1.3e-03
  48  nan  nan  nan  nan  nan  nan  4.0e-04
  64  2.1
"""


def test_lcurve_is_read_by_column_name(tmp_path: Path) -> None:
    (tmp_path / "lcurve.out").write_text(LCURVE)
    (tmp_path / "val.log").write_text(
        "# step E_MAE(meV/atom) E_RMSE(meV/atom) F_MAE(meV/Å) F_RMSE(meV/Å)\n"
        "   16      358.22    490.21    778.28    1097.1\n"
        "# saved best checkpoint: best.ckpt-16.t-1.pt (F:MAE = 778.28 meV/Å)\n"
        "   32      477.10    498.18    714.43    995.25\n"
    )
    rows = parse_lcurve(tmp_path / "lcurve.out")
    # the rerun after a restart wins; the half-written last line is skipped
    assert [r["step"] for r in rows] == [1, 16, 32, 48]
    assert rows[2]["rmse_val"] == 2.20 and rows[2]["rmse_f_trn"] == 0.188
    assert _nonfinite_step(rows) == 48
    curve = learning_curve(tmp_path, per_epoch=16, last_step=32)
    assert [p.epoch for p in curve] == [1, 2]
    assert curve[1].train_loss == 2.10 and curve[1].valid_loss == 2.20
    assert curve[0].valid_force_mae_meV_A == 778.28
    assert curve[1].valid_energy_mae_meV_atom == 477.10
    for name in ("model.ckpt-16.pt", "model.ckpt-32.pt", "model.ckpt-128.pt"):
        (tmp_path / name).write_bytes(b"")
    assert latest_checkpoint(tmp_path) == tmp_path / "model.ckpt-128.pt"
    (tmp_path / "checkpoint").write_text("model.ckpt-32.pt")  # dp's pointer wins
    assert latest_checkpoint(tmp_path) == (tmp_path / "model.ckpt-32.pt").resolve()


# ------------------------------------------------------------------ from scratch
@needs_env
@pytest.mark.slow
def test_from_scratch_learns_the_forces(scratch: tuple[TrainedModel, float]) -> None:
    doc, seconds = scratch
    assert doc.family == "deepmd" and doc.parent is None and doc.epochs_run == 45
    rms = _rms_force_mev(Path(doc.dataset.split_files["test"]))
    mae = doc.metrics["test"].force_mae_meV_A
    print(
        f"from scratch: held-out force MAE {mae:.0f} meV/A, label RMS {rms:.0f}, "
        f"energy MAE {doc.metrics['test'].energy_mae_meV_atom:.0f} meV/atom, "
        f"{seconds:.0f} s"
    )
    assert mae is not None and mae < 0.2 * rms
    assert "change_bias_after_training" in doc.energy_reference.method
    curve = doc.learning_curve
    assert [p["epoch"] for p in curve] == list(range(1, 46))
    assert curve[-1]["valid_force_mae_meV_A"] < 0.5 * curve[0]["valid_force_mae_meV_A"]
    assert all(np.isfinite(p["train_loss"]) for p in curve)
    # dp ran the steps the epochs asked for, one checkpoint per epoch
    workdir = Path(doc.workdir)
    used = json.loads((workdir / "out.json").read_text())
    assert used["training"]["numb_steps"] == 45 * 16
    assert latest_checkpoint(workdir) == workdir / "model.ckpt-720.pt"
    # the compressed model is returned: it loads and predicts like the frozen one
    assert doc.checkpoint.endswith("model.pth")
    assert any("returned the compressed model" in n for n in doc.notes), doc.notes
    assert (workdir / "compressed.pth").read_bytes() == Path(doc.checkpoint).read_bytes()
    assert (workdir / "frozen.pth").stat().st_size < Path(doc.checkpoint).stat().st_size


# ------------------------------------------------------------------ fine-tuning
@needs_env
@pytest.mark.slow
def test_fine_tuning_the_scratch_model_on_new_labels(
    scratch: tuple[TrainedModel, float], shared_envs: None, tmp_path: Path
) -> None:
    parent_doc, _ = scratch
    data = write_extxyz(relabel(_task_a(), TaskBEMT), tmp_path / "task_b.extxyz")
    start = time.perf_counter()
    doc = train_model(
        data,
        f"deepmd:{parent_doc.checkpoint}",
        TrainSettings(epochs=12, **SPLIT),  # type: ignore[arg-type]
        tmp_path / "finetune",
    )
    seconds = time.perf_counter() - start
    parent_mae = doc.parent_metrics["test"].force_mae_meV_A
    mae = doc.metrics["test"].force_mae_meV_A
    parent_e = doc.parent_metrics["test"].energy_mae_meV_atom
    energy = doc.metrics["test"].energy_mae_meV_atom
    print(
        f"fine-tune: held-out force MAE parent {parent_mae:.0f} -> {mae:.0f} meV/A, "
        f"energy MAE {parent_e:.0f} -> {energy:.0f} meV/atom, {seconds:.0f} s"
    )
    assert parent_mae is not None and mae is not None and mae < parent_mae
    assert energy is not None and parent_e is not None and energy < parent_e
    assert doc.parent is not None and doc.parent.checkpoint_path == parent_doc.checkpoint
    assert doc.parent.artifact == parent_doc.artifact_uuid
    assert "refitted the parent's per-element output bias" in doc.energy_reference.method
    # the compressed parent was fine-tuned from the checkpoint it was frozen from
    origin = Path(parent_doc.workdir) / "model.ckpt-720.pt"
    assert any(f"training checkpoint it was frozen from ({origin})" in n for n in doc.notes)
    assert any(n.startswith("dp: Change output bias of ['Cu', 'Au']") for n in doc.notes)
    log = (Path(doc.workdir) / "deepmd.log").read_text()
    assert f"--finetune {origin} --use-pretrain-script" in log
    assert [p["epoch"] for p in doc.learning_curve] == list(range(1, 13))


@needs_env
@pytest.mark.extended
@pytest.mark.slow
def test_a_frozen_parent_starts_from_its_weights(
    scratch: tuple[TrainedModel, float], shared_envs: None, tmp_path: Path
) -> None:
    """A frozen .pth of unknown origin: dp change-bias, then --init-frz-model."""
    parent_doc, _ = scratch
    frozen = tmp_path / "parent" / "frozen.pth"
    frozen.parent.mkdir()
    shutil.copyfile(Path(parent_doc.workdir) / "frozen.pth", frozen)
    data = write_extxyz(relabel(_task_a(), TaskBEMT), tmp_path / "task_b.extxyz")
    start = time.perf_counter()
    doc = train_model(
        data,
        f"deepmd:{frozen}",
        TrainSettings(epochs=4, **SPLIT),  # type: ignore[arg-type]
        tmp_path / "from_frozen",
    )
    parent_mae = doc.parent_metrics["test"].force_mae_meV_A
    mae = doc.metrics["test"].force_mae_meV_A
    print(
        f"from a frozen parent: force MAE {parent_mae:.0f} -> {mae:.0f} meV/A, "
        f"{time.perf_counter() - start:.0f} s"
    )
    assert parent_mae is not None and mae is not None and mae < parent_mae
    assert "dp change-bias refitted the frozen parent's" in doc.energy_reference.method
    log = (Path(doc.workdir) / "deepmd.log").read_text()
    assert "change-bias" in log and "--init-frz-model" in log
    assert "Change output bias of ['Cu', 'Au']" in log


@needs_env
@pytest.mark.slow
def test_unusable_parents_are_refused(
    scratch: tuple[TrainedModel, float], shared_envs: None, tmp_path: Path
) -> None:
    parent_doc, _ = scratch
    trainer = DeepMDTrainer()
    # a compressed model of unknown origin cannot be trained further
    compressed = tmp_path / "elsewhere" / "model.pth"
    compressed.parent.mkdir()
    shutil.copyfile(parent_doc.checkpoint, compressed)
    run = _run(tmp_path, _task_a(), epochs=1, **SPLIT)
    run.parent_path = compressed
    with pytest.raises(TrainingFailedError, match="compressed DeePMD model") as info:
        trainer.train(run)
    assert "training checkpoint (.pt)" in str(info.value)
    # a parent whose type map lacks an element of the data
    ag = bulk("Ag", "fcc", a=4.09, cubic=True)
    ag.calc = EMT()
    ag.get_potential_energy()
    ag.get_stress()
    run = _run(tmp_path, [*_task_a()[:40], ag], epochs=1, **SPLIT)
    run.workdir = tmp_path / "w2"
    run.parent_path = Path(parent_doc.workdir) / "model.ckpt-720.pt"
    with pytest.raises(TrainingDataError, match="knows Cu, Au but the data also holds Ag"):
        trainer.train(run)


# ------------------------------------------------------------------ resume
RESUME_SCRIPT = """
import sys
from sse_flows.training.run import train_model
from sse_flows.training.settings import TrainSettings
settings = TrainSettings.model_validate_json(sys.argv[3])
train_model(sys.argv[1], "deepmd", settings, sys.argv[2])
"""


@needs_env
@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(
    shared_envs: None, tmp_path: Path
) -> None:
    data = write_extxyz(alloy_frames(6, 8, seed=3), tmp_path / "small.extxyz")
    settings = TrainSettings(
        from_scratch=True,
        epochs=30,
        valid_fraction=0.15,
        test_fraction=0.15,
        batch_size=4,
        seed=0,
    )
    out = tmp_path / "run"
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RESUME_SCRIPT,
            str(data),
            str(out),
            settings.model_dump_json(),
        ],
        start_new_session=True,  # its own process group: dp dies with it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    workdir = out / "train"
    try:
        while not (workdir / "checkpoint").exists():  # dp's pointer: a complete save
            assert process.poll() is None, process.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.perf_counter() - start < 600, "no checkpoint after 10 minutes"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = latest_checkpoint(workdir)
    assert killed_at is not None
    assert not (out / "model.json").exists() and not (workdir / "frozen.pth").exists()
    doc = train_model(data, "deepmd", settings, out)
    per_epoch = math.ceil(doc.dataset.split_sizes["train"] / 4)
    step = int(killed_at.name.split("-")[1].split(".")[0])
    print(
        f"resume: killed after the checkpoint of step {step} (epoch {step // per_epoch}), "
        f"{time.perf_counter() - start:.0f} s in all"
    )
    assert doc.resumed_from_epoch is not None and doc.resumed_from_epoch >= 1
    assert doc.resumed_from_epoch == step // per_epoch
    assert doc.epochs_run == 30 and [p["epoch"] for p in doc.learning_curve] == list(
        range(1, 31)
    )
    assert Path(doc.checkpoint).exists() and doc.metrics["test"].force_mae_meV_A
    log = (workdir / "deepmd.log").read_text()
    assert f"--restart {killed_at}" in log
    assert latest_checkpoint(workdir) == workdir / f"model.ckpt-{30 * per_epoch}.pt"
    again = train_model(data, "deepmd", settings, out)  # finished: the same document
    assert again.sha256 == doc.sha256


# ------------------------------------------------------------------ divergence
def _huge_energies(frames: list[Atoms]) -> list[Atoms]:
    """Every fifth energy 1e200 eV: no bias absorbs it, its squared error overflows."""
    out = []
    for i, labelled in enumerate(frames):
        atoms = labelled.copy()
        energy = 1e200 if i % 5 == 0 else labelled.get_potential_energy()
        atoms.calc = SinglePointCalculator(
            atoms, energy=energy, forces=labelled.get_forces(), stress=labelled.get_stress()
        )
        out.append(atoms)
    return out


@needs_env
@pytest.mark.slow
def test_a_loss_that_is_not_finite_stops_dp(shared_envs: None, tmp_path: Path) -> None:
    data = write_extxyz(_huge_energies(alloy_frames(6, 8, seed=3)), tmp_path / "bad.extxyz")
    start = time.perf_counter()
    with pytest.raises(TrainingDivergedError, match="non-finite at step 1 ") as info:
        train_model(
            data,
            "deepmd",
            TrainSettings(
                from_scratch=True, epochs=50, valid_fraction=0.15, test_fraction=0.15
            ),
            tmp_path / "run",
        )
    print(
        f"divergence from the first step: stopped after {time.perf_counter() - start:.0f} s"
    )
    assert "The last good checkpoint is kept: none" in str(info.value)
    rows = parse_lcurve(tmp_path / "run" / "train" / "lcurve.out")
    assert rows[-1]["step"] < 50 * 8  # stopped long before the last of 400 steps
    assert not (tmp_path / "run" / "train" / "dp_train.pid").exists()


@needs_env
@pytest.mark.extended
@pytest.mark.slow
def test_divergence_names_the_last_good_checkpoint(
    scratch: tuple[TrainedModel, float], shared_envs: None, tmp_path: Path
) -> None:
    """Restart the scratch model's last checkpoint on overflowing labels (real dp)."""
    parent_doc, _ = scratch
    run = _run(tmp_path, _huge_energies(_task_a()), epochs=46, **SPLIT)  # 736 steps
    run.workdir.mkdir(parents=True)
    source = Path(parent_doc.workdir)
    for name in ("model.ckpt-720.pt", "out.json", "checkpoint"):
        shutil.copyfile(source / name, run.workdir / name)
    (run.workdir / "checkpoint").write_text("model.ckpt-720.pt")
    with pytest.raises(TrainingDivergedError) as info:
        DeepMDTrainer().train(run)
    message = str(info.value)
    print(message)
    # dp's first row after a restart is the restart step itself, on the new labels
    assert "non-finite at step 720 (epoch 45)" in message
    assert (
        f"The last good checkpoint is kept: {run.workdir / 'model.ckpt-720.pt'}" in message
    )
    assert "--restart" in (run.workdir / "deepmd.log").read_text()


# ------------------------------------------------------------------ patience
@needs_env
@pytest.mark.extended
@pytest.mark.slow
def test_patience_stops_dp_and_keeps_the_best_checkpoint(
    shared_envs: None, tmp_path: Path
) -> None:
    data = write_extxyz(alloy_frames(6, 8, seed=3), tmp_path / "small.extxyz")
    start = time.perf_counter()
    doc = train_model(
        data,
        "deepmd",
        TrainSettings(
            from_scratch=True,
            epochs=200,
            patience=2,
            valid_fraction=0.15,
            test_fraction=0.15,
        ),
        tmp_path / "run",
    )
    curve = [p["valid_force_mae_meV_A"] for p in doc.learning_curve]
    best = int(np.argmin(curve)) + 1
    print(
        f"patience 2: stopped after {doc.epochs_run} of 200 epochs, best epoch {best}, "
        f"{time.perf_counter() - start:.0f} s"
    )
    assert doc.epochs_run < 200 and doc.epochs_run >= best + 2
    note = next(n for n in doc.notes if n.startswith("stopped early"))
    # the model is dp's best-validation checkpoint, energy bias refitted
    assert f"best.ckpt-{best * 8}." in note and note.endswith(".bias.pt")
    workdir = Path(doc.workdir)
    assert (workdir / f"best.ckpt-{best * 8}.t-1.bias.pt").exists()
    assert "change-bias" in (workdir / "deepmd.log").read_text()
