"""Training: data checks, splits, energy offsets, CHGNet fine-tuning, the CLI and specs.

The MACE, DeePMD and SevenNet trainers have their own test modules; this one holds what
is shared by all families and CHGNet (whose weights ship, so it runs everywhere).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from sse_flows.calc.evaluate import read_labeled_frames
from sse_flows.errors import PotentialError
from sse_flows.training.data import (
    TrainingDataError,
    read_training_frames,
    split_by_group,
)
from sse_flows.training.reference import fit_offsets
from sse_flows.training.run import TrainingSetupError, train_model
from sse_flows.training.settings import TrainSettings
from sse_flows.training.trainer import NoTrainerError, TrainingDivergedError
from tests.tiny_models import alloy_frames, write_extxyz

#: CHGNet fine-tuning on EMT Cu-Au labels (tuned so the acceptance bound holds)
CHGNET_SETTINGS = {"epochs": 6, "batch_size": 4, "learning_rate": 2e-3, "seed": 0}


@pytest.fixture(scope="module")
def alloy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 EMT-labelled Cu-Au frames in 10 structure groups."""
    folder = tmp_path_factory.mktemp("alloy")
    return write_extxyz(alloy_frames(10, 10, 0), folder / "alloy.extxyz")


@pytest.fixture(scope="module")
def chgnet_model(alloy_data: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """CHGNet 0.3.0 fine-tuned on the alloy frames (one run shared by the tests)."""
    out = tmp_path_factory.mktemp("chgnet_ft")
    return train_model(alloy_data, "chgnet", TrainSettings(**CHGNET_SETTINGS), out)


# --- data ------------------------------------------------------------------------


def test_frames_without_forces_are_named(tmp_path: Path) -> None:
    frames = alloy_frames(2, 3, 1)
    frames[4].calc.results.pop("forces")
    path = write_extxyz(frames, tmp_path / "f.extxyz")
    with pytest.raises(TrainingDataError, match=r"frames 4 have no 'forces'"):
        read_training_frames(path)


def test_non_finite_labels_are_named(tmp_path: Path) -> None:
    frames = alloy_frames(2, 3, 1)
    frames[2].calc.results["energy"] = float("nan")
    frames[5].calc.results["forces"][0, 1] = np.inf
    path = write_extxyz(frames, tmp_path / "f.extxyz")
    with pytest.raises(TrainingDataError) as info:
        read_training_frames(path)
    assert "energy in frames 2" in str(info.value)
    assert "forces in frames 5" in str(info.value)


def test_split_keeps_each_structure_in_one_split(tmp_path: Path) -> None:
    path = write_extxyz(alloy_frames(10, 5, 2), tmp_path / "f.extxyz")
    splits = split_by_group(read_training_frames(path), 0.2, 0.2, seed=3)
    sizes = splits.sizes()
    assert sum(sizes.values()) == 50
    assert sizes["valid"] == 10 and sizes["test"] == 10  # 2 groups of 5 each
    seen = [set(groups) for groups in splits.groups.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    for name, frames in splits.frames.items():
        assert {f.atoms.info["group"] for f in frames} == set(splits.groups[name])
    again = split_by_group(read_training_frames(path), 0.2, 0.2, seed=3)
    assert again.groups == splits.groups  # seeded


def test_too_few_structures_is_an_empty_split_error(tmp_path: Path) -> None:
    path = write_extxyz(alloy_frames(2, 5, 2), tmp_path / "f.extxyz")
    with pytest.raises(TrainingDataError, match="at least 3"):
        split_by_group(read_training_frames(path), 0.1, 0.1, seed=0)


def test_offsets_recover_known_per_element_shifts(tmp_path: Path) -> None:
    """Labels = parent + 0.7 eV per Cu - 1.3 eV per Au: the fit finds both."""
    frames = read_labeled_frames(write_extxyz(alloy_frames(6, 2, 4), tmp_path / "f.xyz"))
    parent = []
    rng = np.random.default_rng(0)
    for f in frames:
        symbols = f.atoms.get_chemical_symbols()
        shift = 0.7 * symbols.count("Cu") - 1.3 * symbols.count("Au")
        parent.append(float(f.energy) - shift + rng.normal(0, 1e-4))
    offsets = fit_offsets(frames, parent)
    assert offsets.offsets_eV["Cu"] == pytest.approx(0.7, abs=1e-3)
    assert offsets.offsets_eV["Au"] == pytest.approx(-1.3, abs=1e-3)
    assert offsets.rms_before_meV_atom > 300
    assert offsets.rms_after_meV_atom < 0.1


# --- bad input -------------------------------------------------------------------


def test_family_without_trainer(alloy_data: Path, tmp_path: Path) -> None:
    with pytest.raises(NoTrainerError, match=r"emt.*no trainer.*chgnet"):
        train_model(alloy_data, "emt", TrainSettings(), tmp_path / "out")


def test_parent_of_another_family(alloy_data: Path, tmp_path: Path) -> None:
    from sse_flows.potentials import PotentialSpec
    from sse_flows.potentials.registry import resolve_checkpoint

    _, sevennet_file = resolve_checkpoint(PotentialSpec.parse("sevennet"))
    with pytest.raises(PotentialError, match="looks like a sevennet model"):
        train_model(alloy_data, f"chgnet:{sevennet_file}", TrainSettings(), tmp_path / "o")
    mace_file = tmp_path / "foundation.model"
    mace_file.write_bytes(b"x")
    with pytest.raises(PotentialError, match="not a chgnet model file"):
        train_model(alloy_data, f"chgnet:{mace_file}", TrainSettings(), tmp_path / "p")


def test_from_scratch_with_a_parent_is_refused(alloy_data: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingSetupError, match="--from-scratch and a parent"):
        train_model(
            alloy_data, "chgnet:0.3.0", TrainSettings(from_scratch=True), tmp_path / "o"
        )


def test_folder_of_another_run_is_refused(alloy_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"data_sha256": "x"}))
    with pytest.raises(TrainingSetupError, match="holds a training run of other inputs"):
        train_model(alloy_data, "chgnet", TrainSettings(epochs=1), out)


def test_diverging_loss_fails_and_keeps_last_good_checkpoint(
    alloy_data: Path, tmp_path: Path
) -> None:
    """A learning rate of 1e4 blows CHGNet's loss up; the error names what is kept."""
    small = write_extxyz(
        [a for i, a in enumerate(read(str(alloy_data), ":")) if i % 4 == 0],
        tmp_path / "small.extxyz",
    )
    settings = TrainSettings(epochs=4, learning_rate=1e4, batch_size=5)
    with pytest.raises(TrainingDivergedError, match=r"non-finite.*last good checkpoint"):
        train_model(small, "chgnet", settings, tmp_path / "o")
    assert not (tmp_path / "o" / "model.json").exists()  # nothing stored as success


# --- CHGNet fine-tuning ------------------------------------------------------------


def test_chgnet_fine_tune_halves_the_held_out_force_error(chgnet_model) -> None:  # type: ignore[no-untyped-def]
    doc = chgnet_model
    parent = doc.parent_metrics["test"].force_mae_meV_A
    tuned = doc.metrics["test"].force_mae_meV_A
    assert tuned < 0.5 * parent, (parent, tuned)
    assert doc.metrics["test"].energy_mae_meV_atom < 0.1 * (
        doc.parent_metrics["test"].energy_mae_meV_atom
    )
    assert doc.parent is not None and doc.parent.potential == "chgnet:0.3.0"
    assert doc.parent.sha256 and len(doc.sha256) == 64
    assert set(doc.energy_reference.offsets_eV) == {"Au", "Cu"}
    assert (
        doc.energy_reference.rms_after_meV_atom < doc.energy_reference.rms_before_meV_atom
    )
    assert len(doc.learning_curve) == doc.epochs_run == CHGNET_SETTINGS["epochs"]
    for png in doc.plots.values():
        assert Path(png).read_bytes()[:4] == b"\x89PNG"
    assert set(doc.plots) >= {"parity_energy", "parity_forces", "learning_curve"}


def test_trained_model_is_a_potential_everywhere(chgnet_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """By path and as artifact:<model.json>: the same model, same predictions."""
    from sse_flows.potentials import PotentialSpec, load_potential

    by_path = PotentialSpec.parse(chgnet_model.potential)
    by_artifact = PotentialSpec.parse(f"artifact:{Path(chgnet_model.checkpoint).parent}")
    assert by_path == by_artifact
    atoms = read(chgnet_model.dataset.split_files["test"], 0)
    atoms.calc = load_potential(by_artifact).calculator
    assert np.isfinite(atoms.get_potential_energy())


def test_changed_artifact_is_refused(chgnet_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sse_flows.potentials import PotentialSpec

    record = json.loads((Path(chgnet_model.checkpoint).parent / "model.json").read_text())
    record["sha256"] = "0" * 64
    fake = tmp_path / "model.json"
    fake.write_text(json.dumps(record))
    with pytest.raises(PotentialError, match="changed since it was trained"):
        PotentialSpec.parse(f"artifact:{fake}")


def test_rerun_returns_the_finished_model(chgnet_model, alloy_data: Path) -> None:  # type: ignore[no-untyped-def]
    out = Path(chgnet_model.checkpoint).parent
    start = time.perf_counter()
    again = train_model(alloy_data, "chgnet", TrainSettings(**CHGNET_SETTINGS), out)
    assert again.sha256 == chgnet_model.sha256
    assert time.perf_counter() - start < 30  # no training, only reading


# --- CLI, spec and resume ----------------------------------------------------------


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sse_flows", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_train_resumes_after_kill_and_prints_json(
    alloy_data: Path, tmp_path: Path, isolated_settings: Path
) -> None:
    """Kill `sse-flows train` after its first epoch; the same command resumes."""
    from tests.conftest import cli_env

    small = write_extxyz(
        [a for i, a in enumerate(read(str(alloy_data), ":")) if i % 3 == 0],
        tmp_path / "small.extxyz",
    )
    env = cli_env(isolated_settings)
    out = tmp_path / "model"
    args = [
        "train",
        str(small),
        "--potential",
        "chgnet",
        "--out",
        str(out),
        "--epochs",
        "3",
    ]
    args += ["--seed", "1", "--valid-fraction", "0.2", "--json"]
    first = _cli(args, env)
    deadline = time.time() + 600
    while not list((out / "train" / "checkpoints").glob("bestF_*.pth.tar")):
        assert first.poll() is None, first.communicate()
        assert time.time() < deadline
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = _cli(args, env)
    stdout, stderr = second.communicate(timeout=900)
    assert second.returncode == 0, stderr
    result = json.loads(stdout)
    assert result["resumed_from_epoch"] >= 1
    assert result["epochs_run"] == 3
    assert result["potential"] == f"chgnet:{out / 'model.pth.tar'}"
    assert result["parent"] == "chgnet:0.3.0"
    for split in ("train", "valid"):
        assert result["metrics"][split]["force_mae_meV_A"] > 0
        assert result["metrics"][split]["energy_mae_meV_atom"] >= 0
    assert len(result["sha256"]) == 64
    # the printed potential string is accepted by another command
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sse_flows",
            "evaluate",
            str(small),
            "--potential",
            result["artifact"],
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["results"]
    assert rows[0]["potential"] == result["potential"]


def test_train_spec_kind_refuses_family_without_trainer(alloy_data: Path) -> None:
    from sse_flows.spec import FlowSpec

    spec = FlowSpec.from_data(
        {"flow": "train", "data": str(alloy_data), "potential": "emt"}, Path.cwd()
    )
    with pytest.raises(NoTrainerError):
        spec.preflight()
    ok = FlowSpec.from_data(
        {
            "flow": "train",
            "data": str(alloy_data),
            "potential": "chgnet",
            "train": {"settings": {"epochs": 3, "seed": 2}},
        },
        Path.cwd(),
    )
    assert ok.train.settings.epochs == 3  # type: ignore[attr-defined]
    job = ok.build_one()
    assert job.maker.potential.name == "chgnet"
