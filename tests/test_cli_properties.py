"""The stability, elastic and eos commands as users run them (registered CLI, stored)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from tests.conftest import SSE_FLOWS, cli_env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SSE_FLOWS, *args], capture_output=True, text=True, env=cli_env(home), check=False
    )


def test_elastic_and_eos_commands_store_and_show(tmp_path: Path, isolated_settings: Path):
    cif = tmp_path / "Cu.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]]).to(
        filename=str(cif)
    )
    done = _cli(isolated_settings, "elastic", str(cif), "--potential", "emt", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    c = out["C_ij_GPa"]
    assert out["K_VRH_GPa"] == pytest.approx((c[0][0] + 2 * c[0][1]) / 3, rel=1e-6)
    assert out["born_stable"] is True
    done = _cli(isolated_settings, "eos", str(cif), "--potential", "emt", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["B0_GPa"] == pytest.approx(out["K_VRH_GPa"], rel=0.03)
    shown = _cli(isolated_settings, "show", json.loads(done.stdout)["flow_uuid"])
    assert "B0" in shown.stdout


def test_stability_command_for_licl(tmp_path: Path, isolated_settings: Path):
    from sse_flows.structures.prototypes import write_prototype

    cif = write_prototype("LiCl", tmp_path / "LiCl.cif")
    done = _cli(isolated_settings, "stability", str(cif), "--potential", "chgnet", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["e_hull_eV_atom"] == pytest.approx(0.0, abs=1e-6)
    low, high = out["window_V"]
    assert low == pytest.approx(0.0, abs=1e-6)
    # oxidation limit: -E_f per LiCl formula unit (2 atoms) per Li
    assert high == pytest.approx(-2 * out["e_form_eV_atom"], rel=1e-6)
