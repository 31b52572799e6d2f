"""MACE training through ``train_model``: from scratch, fine-tuning, resuming a kill.

Everything runs ``mace_run_train`` for real in the MACE environment (built by
``sse-flows env create mace``; these tests skip when it is not). Data: Cu-Au cells
(8 atoms) from tests/tiny_models.alloy_frames. Task A is EMT; task B is EMT with the
pair-potential strength V0 of both elements doubled, whose forces differ from
task A's by ~380 meV/A (mean absolute), several times a tiny model's error.

The stand-in foundation is a tiny MACE trained here from scratch on task A; it is
fine-tuned on task B labels of the same structures (same split), so the foundation's
held-out task-A error is its own test metric.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from sse_flows.calc.evaluate import evaluate_frames, read_labeled_frames
from sse_flows.documents.training import TrainedModel
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.training.mace import (
    check_divergence,
    checkpoints,
    learning_curve,
    read_results,
    results_file,
)
from sse_flows.training.run import train_model
from sse_flows.training.settings import TrainSettings
from sse_flows.training.trainer import TrainingDivergedError
from tests.tiny_models import (
    MACHINE_ENVS_DIR,
    TaskBEMT,
    alloy_frames,
    needs_environment,
    relabel,
    write_extxyz,
)

ENVS_DIR = MACHINE_ENVS_DIR
needs_mace = needs_environment("mace")


#: 36 frames in 12 structures: 24 train, 6 valid, 6 test (two structures each)
SPLIT = {"valid_fraction": 0.15, "test_fraction": 0.15, "seed": 0}


def _task_a() -> list[Atoms]:
    return alloy_frames(12, 3, seed=0)


@pytest.fixture(scope="module")
def foundation(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedModel, Path]:
    """A tiny MACE trained from scratch on task A: the stand-in foundation."""
    root = tmp_path_factory.mktemp("mace-foundation")
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, root)
        data = write_extxyz(_task_a(), root / "task_a.extxyz")
        start = time.perf_counter()
        doc = train_model(
            data,
            "mace",
            TrainSettings(from_scratch=True, epochs=16, **SPLIT),  # type: ignore[arg-type]
            root / "foundation",
        )
        print(f"foundation (from scratch): {time.perf_counter() - start:.0f} s")
    return doc, root


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


@pytest.fixture
def shared_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the machine's built environments (conftest isolates everything else)."""
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(ENVS_DIR))


def _force_mae(model: str, frames_file: Path, options: dict[str, str]) -> float:
    """Force MAE (meV/A) of a model file through the registry (a MACE worker)."""
    frames = read_labeled_frames(frames_file)
    spec = PotentialSpec(name="mace", checkpoint=model, options=options)
    with load_potential(spec) as loaded:
        result = evaluate_frames(frames, loaded.calculator, ["forces"])
    assert result.force_mae_meV_A is not None
    return result.force_mae_meV_A


E0_SCRIPT = """
import json, sys
import mace, torch
from ase.data import chemical_symbols
out = {}
for path in sys.argv[1:]:
    model = torch.load(path, map_location="cpu")
    e0 = model.atomic_energies_fn.atomic_energies.reshape(len(model.heads), -1)
    names = [chemical_symbols[int(z)] for z in model.atomic_numbers]
    out[path] = {h: dict(zip(names, row.tolist())) for h, row in zip(model.heads, e0)}
print(json.dumps(out))
"""


def _read_e0s(models: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """E0s (eV) per head and element of saved MACE models, read by mace itself."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(ENVS_DIR / "mace" / "bin" / "python"), "-c", E0_SCRIPT, *models],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------ from scratch
@pytest.mark.slow
@needs_mace
def test_from_scratch_learns_the_forces(foundation: tuple[TrainedModel, Path]) -> None:
    doc, _ = foundation
    assert doc.family == "mace" and doc.parent is None and doc.epochs_run == 16
    held = read_labeled_frames(Path(doc.dataset.split_files["test"]))
    forces = np.concatenate([np.asarray(f.forces).reshape(-1) for f in held])
    rms = float(np.sqrt(np.mean(forces**2))) * 1e3
    mae = doc.metrics["test"].force_mae_meV_A
    print(f"from scratch: held-out force MAE {mae:.0f} meV/A, label RMS {rms:.0f}")
    assert mae is not None and mae < 0.2 * rms
    assert "E0s fitted by least squares" in doc.energy_reference.method
    curve = doc.learning_curve
    assert [p["epoch"] for p in curve] == list(range(1, 17))
    assert curve[-1]["valid_force_mae_meV_A"] < curve[0]["valid_force_mae_meV_A"]
    assert all(np.isfinite(p["train_loss"]) for p in curve)


# ------------------------------------------------------------------ fine-tuning
@pytest.mark.slow
@needs_mace
def test_multihead_fine_tuning_keeps_the_old_task(
    foundation: tuple[TrainedModel, Path], shared_envs: None, tmp_path: Path
) -> None:
    found_doc, _ = foundation
    data = write_extxyz(relabel(_task_a(), TaskBEMT), tmp_path / "task_b.extxyz")
    # the foundation's own held-out frames carry task A labels
    old_task = Path(found_doc.dataset.split_files["test"])
    found_old = found_doc.metrics["test"].force_mae_meV_A
    assert found_old is not None
    docs, seconds = {}, {}
    for mode in ("multihead", "naive"):
        start = time.perf_counter()
        docs[mode] = train_model(
            data,
            f"mace:{found_doc.checkpoint}",
            TrainSettings(epochs=5, multihead=mode == "multihead", **SPLIT),  # type: ignore[arg-type]
            tmp_path / mode,
        )
        seconds[mode] = time.perf_counter() - start
    mh, naive = docs["multihead"], docs["naive"]
    for doc in (mh, naive):  # the same structures in the same held-out split
        held = read_labeled_frames(Path(doc.dataset.split_files["test"]))
        assert [f.atoms.positions.tolist() for f in held] == [
            f.atoms.positions.tolist() for f in read_labeled_frames(old_task)
        ]
    parent_new = mh.parent_metrics["test"].force_mae_meV_A
    assert parent_new is not None
    new = {m: d.metrics["test"].force_mae_meV_A for m, d in docs.items()}
    old = {
        # the saved model keeps both heads; the replay head is asked for by name
        "multihead": _force_mae(mh.checkpoint, old_task, {"head": "pt_head"}),
        "naive": _force_mae(naive.checkpoint, old_task, {}),
    }
    energies = {m: d.metrics["test"].energy_mae_meV_atom for m, d in docs.items()}
    print(
        f"energy MAE (meV/atom): parent {mh.parent_metrics['test'].energy_mae_meV_atom:.0f}"
        f", after {json.dumps({k: round(v or 0) for k, v in energies.items()})}"
    )
    print(
        f"foundation: old task {found_old:.0f}, new task {parent_new:.0f} meV/A; "
        f"new task after: {json.dumps({k: round(v or 0) for k, v in new.items()})}; "
        f"old task after: {json.dumps({k: round(v) for k, v in old.items()})}; "
        f"seconds {json.dumps({k: round(v) for k, v in seconds.items()})}"
    )
    assert parent_new > 1.5 * found_old  # the tasks differ clearly
    e0s = _read_e0s([found_doc.checkpoint, mh.checkpoint, naive.checkpoint])
    found_e0 = e0s[found_doc.checkpoint]["Default"]
    for mode, doc in docs.items():
        # evaluated without options (train_model, registry): the default head is the
        # new task's, else the error would stay near the parent's
        assert new[mode] is not None and new[mode] < 0.6 * parent_new, mode
        assert doc.metrics["test"].energy_mae_meV_atom is not None
        assert "plus per-element offsets" in doc.energy_reference.method
        # the new head starts from the parent's E0s plus the label offsets
        offsets = doc.energy_reference.offsets_eV
        assert offsets.keys() == {"Au", "Cu"}
        expected = {el: found_e0[el] + offsets[el] for el in offsets}
        assert e0s[doc.checkpoint]["Default"] == pytest.approx(expected, abs=1e-9)
    assert e0s[mh.checkpoint]["pt_head"] == pytest.approx(found_e0, abs=1e-9)
    assert list(e0s[mh.checkpoint]) == ["pt_head", "Default"]
    assert old["multihead"] <= 1.2 * found_old  # the replay head keeps task A
    assert old["naive"] > 1.2 * found_old  # naive fine-tuning forgets it
    assert any("replay head 'pt_head'" in note for note in mh.notes)
    assert "written into a copy of the parent" in naive.energy_reference.method


# ------------------------------------------------------------------ resume
RESUME_SCRIPT = """
import sys
from sse_flows.training.run import train_model
from sse_flows.training.settings import TrainSettings
settings = TrainSettings.model_validate_json(sys.argv[3])
train_model(sys.argv[1], "mace", settings, sys.argv[2])
"""


@pytest.mark.slow
@needs_mace
def test_a_killed_run_resumes_from_its_last_checkpoint(
    shared_envs: None, tmp_path: Path
) -> None:
    data = write_extxyz(_task_a(), tmp_path / "task_a.extxyz")
    settings = TrainSettings(from_scratch=True, epochs=6, **SPLIT)  # type: ignore[arg-type]
    out = tmp_path / "run"
    start = time.perf_counter()
    errors = (tmp_path / "stderr.txt").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RESUME_SCRIPT,
            str(data),
            str(out),
            settings.model_dump_json(),
        ],
        start_new_session=True,  # its own process group: mace_run_train dies with it
        stdout=subprocess.DEVNULL,
        stderr=errors,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    folder = out / "train" / "checkpoints"
    results = results_file(out / "train", settings.seed)
    try:
        while True:  # the epoch-0 checkpoint is complete once epoch 1 trains
            assert process.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
            trained = [
                json.loads(line)["epoch"]
                for line in (results.read_text().splitlines() if results.exists() else [])
                if '"mode": "opt"' in line
            ]
            if checkpoints(folder) and trained and max(trained) >= 1:
                break
            assert time.perf_counter() - start < 600, "no checkpoint after 10 minutes"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        errors.close()
    killed_at = max(checkpoints(folder))
    assert (
        not (out / "model.json").exists() and not (out / "train" / "model.model").exists()
    )
    doc = train_model(data, "mace", settings, out)
    print(
        f"resume: killed after checkpoint of epoch {killed_at + 1}, "
        f"{time.perf_counter() - start:.0f} s in all"
    )
    assert doc.resumed_from_epoch is not None and doc.resumed_from_epoch >= 1
    assert doc.resumed_from_epoch == killed_at + 1
    assert doc.epochs_run == 6 and [p["epoch"] for p in doc.learning_curve][-1] == 6
    assert Path(doc.checkpoint).exists() and doc.metrics["test"].force_mae_meV_A
    log = (out / "train" / "mace_run_train.log").read_text()
    resumed = log.split("$ ")[-1]  # the second mace_run_train restored the state first
    restored = f"Loading checkpoint: {folder / f'model_run-0_epoch-{killed_at}.pt'}"
    assert restored in resumed.split("===========TRAINING===========")[0]
    assert len(checkpoints(folder)) == 1  # superseded checkpoints were pruned
    again = train_model(data, "mace", settings, out)  # finished: the same document
    assert again.sha256 == doc.sha256


# ------------------------------------------------------------------ divergence
def test_a_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    """The files MACE leaves when its loss blows up (lr 30 on these frames: NaN at epoch 3).

    MACE counts a NaN validation loss as an improvement and saves it; the last finite
    checkpoint must survive, the NaN ones and the final model must go.
    """
    workdir = tmp_path / "train"
    folder = workdir / "checkpoints"
    folder.mkdir(parents=True)
    for epoch in (0, 1, 2, 3):
        (folder / f"model_run-0_epoch-{epoch}.pt").write_bytes(b"state")
    for model in (workdir / "model.model", folder / "model_run-0.model"):
        model.write_bytes(b"nan weights")
    lines = [{"mode": "eval", "epoch": None, "loss": 1.7, "head": "Default"}]
    losses = {
        0: (6.6, 0.9),
        1: (0.8, 0.5),
        2: (math.inf, math.nan),
        3: (math.nan, math.nan),
    }
    for epoch, (train, valid) in losses.items():
        lines += [{"mode": "opt", "epoch": epoch, "loss": train}] * 2
        lines.append(
            {
                "mode": "eval",
                "epoch": epoch,
                "loss": valid,
                "head": "Default",
                "mae_e_per_atom": 0.01,
                "mae_f": 0.2,
            }
        )
    results = results_file(workdir, 0)
    results.parent.mkdir()
    results.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    curve = read_results(results)
    points = learning_curve(curve)
    assert [p.epoch for p in points] == [1, 2, 3, 4]
    assert points[1].valid_force_mae_meV_A == pytest.approx(200.0)
    assert [p.finite() for p in points] == [True, True, False, False]
    with pytest.raises(TrainingDivergedError) as info:
        check_divergence(curve, folder, workdir / "model.model")
    kept = folder / "model_run-0_epoch-1.pt"
    assert "non-finite in epoch 3" in str(info.value)
    assert f"last good checkpoint is kept: {kept}" in str(info.value)
    assert list(checkpoints(folder).values()) == [folder / "model_run-0_epoch-0.pt", kept]
    assert not list(workdir.glob("*.model")) and not list(folder.glob("*.model"))
