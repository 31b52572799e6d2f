"""Shared fixtures: a clean settings environment per test and small real structures."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CP2K_DATA = Path(__file__).parent / "data" / "dft"
TEST_PRESET = str(CP2K_DATA / "cp2k-test.yaml")
HAS_CP2K = shutil.which("cp2k.psmp") is not None and shutil.which("mpirun") is not None


@pytest.fixture
def cp2k_installed() -> None:
    """Skip (or fail, where CP2K is required) without cp2k.psmp and mpirun."""
    if not HAS_CP2K:
        message = "CP2K (cp2k.psmp, mpirun) not installed: bash scripts/setup_system.sh"
        if os.environ.get("SSE_FLOWS_REQUIRE_CP2K") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own embedded store, work dir and no user config file."""
    home = tmp_path / "sse_home"
    monkeypatch.setenv("SSE_FLOWS_DB", str(home / "db"))
    monkeypatch.setenv("SSE_FLOWS_WORK_DIR", str(home / "runs"))
    monkeypatch.setenv("SSE_FLOWS_WEIGHTS_DIR", str(home / "weights"))
    # no model environments unless a test asks for the machine's (test_environments)
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(home / "envs"))
    monkeypatch.setenv("SSE_FLOWS_CONFIG_FILE", str(home / "absent.yaml"))
    monkeypatch.setenv("SSE_FLOWS_PROGRESS", "false")
    monkeypatch.setenv("SSE_FLOWS_DEVICE", "cpu")
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Two busy-waiting OpenMP threads were several times slower than one here."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def li2s() -> Structure:
    """Antifluorite Li2S, conventional cell, 12 atoms."""
    return Structure.from_file(EXAMPLES / "structures" / "Li2S.cif")


@pytest.fixture
def cu_cell() -> Structure:
    """fcc Cu, 2x2x2 conventional supercell, 32 atoms (for the fast EMT potential)."""
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    return cu * (2, 2, 2)


def cli_env(home: Path) -> dict[str, str]:
    """Environment for a subprocess that must see the same store as the test."""
    env = dict(os.environ)
    env.update(
        {
            "SSE_FLOWS_DB": str(home / "db"),
            "SSE_FLOWS_WORK_DIR": str(home / "runs"),
            "SSE_FLOWS_PROGRESS": "false",
            "SSE_FLOWS_CONFIG_FILE": str(home / "absent.yaml"),
            "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


SSE_FLOWS = [sys.executable, "-m", "sse_flows"]
