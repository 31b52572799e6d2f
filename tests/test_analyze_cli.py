"""``sse-flows analyze``: the flow's own analysis path, and its temperature flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from typer.testing import CliRunner

from sse_flows.analysis.synthetic import random_walk
from sse_flows.analysis.transport import analyze_trajectory, arrhenius_of
from sse_flows.cli.main import app
from sse_flows.constants import KB_EV

TEMPERATURES = (600.0, 800.0, 1000.0)
EA = 0.3  # eV


def _walk_file(folder: Path, temperature: float, seed: int) -> Path:
    """A random walk with D(T) = 0.05 exp(-Ea / kT) cm^2/s, as extxyz without T."""
    d = 0.05 * np.exp(-EA / (KB_EV * temperature))
    walk = random_walk(d, n_mobile=48, n_framework=16, n_frames=400, seed=seed)
    frames = []
    for positions, cell in zip(walk.positions, walk.cells, strict=True):
        atoms = Atoms(numbers=walk.numbers, positions=positions, cell=cell, pbc=True)
        atoms.info.update(timestep_fs=2.0, sample_interval=10)
        frames.append(atoms)
    path = folder / f"walk_{temperature:.0f}.extxyz"
    write(path, frames)
    return path


@pytest.fixture(scope="module")
def walks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("walks")
    return [_walk_file(folder, t, seed) for seed, t in enumerate(TEMPERATURES)]


def test_temperatures_after_one_flag_or_repeated(walks: list[Path]):
    runner = CliRunner()
    spaced = runner.invoke(
        app, ["analyze", *map(str, walks), "--temperature", "600", "800", "1000", "--json"]
    )
    assert spaced.exit_code == 0, spaced.output
    repeated = runner.invoke(
        app,
        ["analyze", *map(str, walks), "--json"]
        + [arg for t in ("600", "800", "1000") for arg in ("--temperature", t)],
    )
    assert repeated.exit_code == 0, repeated.output
    assert json.loads(spaced.stdout) == json.loads(repeated.stdout)
    report = json.loads(spaced.stdout)
    assert [row["temperature"] for row in report["trajectories"]] == list(TEMPERATURES)
    assert report["Ea_eV"] == pytest.approx(EA, abs=0.05)
    # the same numbers as the conductivity flow's jobs compute (one analysis path)
    results = [
        analyze_trajectory(path, ["Li"], t).result
        for path, t in zip(walks, TEMPERATURES, strict=True)
    ]
    assert report["Ea_eV"] == pytest.approx(
        arrhenius_of(results).arrhenius.Ea_eV, rel=1e-12
    )


def test_a_wrong_number_of_temperatures_says_what_is_wrong(walks: list[Path]):
    result = CliRunner().invoke(app, ["analyze", *map(str, walks), "--temperature", "600"])
    assert result.exit_code == 2
    assert "1 temperature(s) for 3 trajectories" in result.stderr
    missing = CliRunner().invoke(app, ["analyze", str(walks[0])])
    assert missing.exit_code == 2 and "no temperature recorded" in missing.stderr


def test_estimator_option_and_fields(walks: list[Path]):
    gls = CliRunner().invoke(
        app, ["analyze", str(walks[2]), "--temperature", "1000", "--json"]
    )
    ols = CliRunner().invoke(
        app,
        ["analyze", str(walks[2]), "--temperature", "1000", "--estimator", "ols", "--json"],
    )
    assert gls.exit_code == 0 and ols.exit_code == 0, (gls.output, ols.output)
    (g,) = json.loads(gls.stdout)["trajectories"]
    (o,) = json.loads(ols.stdout)["trajectories"]
    assert g["estimator"] == "gls" and o["estimator"] == "ols"
    assert g["fit_window_ps"][1] > o["fit_window_ps"][1]  # 50 % against 30 % of the run
    direct = analyze_trajectory(walks[2], ["Li"], 1000.0, estimator="ols").result
    assert o["D"] == pytest.approx(direct.D, rel=1e-12)
    assert {"D_std", "D_sigma", "collective_resolved", "haven_ratio_ci95"} <= set(g)
    wrong = CliRunner().invoke(
        app, ["analyze", str(walks[2]), "--temperature", "1000", "--estimator", "mle"]
    )
    assert wrong.exit_code != 0 and "unknown estimator 'mle'" in wrong.output
