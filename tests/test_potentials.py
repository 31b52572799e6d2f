import hashlib
import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure

from sse_flows.errors import (
    CheckpointNotFoundError,
    PotentialError,
    PotentialNotInstalledError,
    UnknownPotentialError,
    UnsupportedElementError,
)
from sse_flows.potentials import PotentialSpec, availability, load_potential
from tests.conftest import SSE_FLOWS, cli_env


def test_shorthand_and_dict_specs_parse():
    assert PotentialSpec.parse("sevennet:7net-l3i5") == PotentialSpec(
        name="sevennet", checkpoint="7net-l3i5"
    )
    spec = PotentialSpec.parse({"name": "chgnet", "device": "cpu"})
    assert spec.device == "cpu"
    assert spec.checkpoint is None


def test_availability_reports_shipped_weights():
    rows = {row.name: row for row in availability()}
    assert set(rows) >= {
        "chgnet",
        "sevennet",
        "mattersim",
        "mace",
        "m3gnet",
        "orb",
        "deepmd",
    }
    assert rows["chgnet"].installed and rows["chgnet"].checkpoints["0.3.0"]
    assert (
        rows["sevennet"].checkpoints["7net-0"] and rows["sevennet"].checkpoints["7net-l3i5"]
    )
    assert rows["sevennet"].checkpoints["7net-omat"] is False  # downloads only


@pytest.mark.parametrize(
    ("name", "checkpoint"), [("chgnet", "0.3.0"), ("sevennet", "7net-0")]
)
def test_provenance_identifies_the_weights(name, checkpoint, li2s: Structure):
    loaded = load_potential(PotentialSpec.parse(name), elements=["Li", "S"])
    prov = loaded.provenance
    assert prov.checkpoint == checkpoint
    digest = hashlib.sha256(Path(prov.checkpoint_path).read_bytes()).hexdigest()
    assert prov.checkpoint_sha256 == digest
    assert prov.package_version and prov.torch_version.startswith("2.")
    assert prov.device == "cpu"
    # the calculator is real: Li2S has a finite, negative energy and ~zero forces
    from sse_flows.structures import to_atoms

    atoms = to_atoms(li2s)
    atoms.calc = loaded.calculator
    assert -6.0 < atoms.get_potential_energy() / len(atoms) < -2.0
    assert np.abs(atoms.get_forces()).max() < 1e-3


def test_unsupported_elements_are_named():
    with pytest.raises(UnsupportedElementError, match="Am"):
        load_potential(PotentialSpec.parse("chgnet"), elements=["Li", "Am"])
    with pytest.raises(UnsupportedElementError, match="Po"):
        load_potential(PotentialSpec.parse("sevennet"), elements=["Po", "S"])


def test_missing_checkpoint_says_where_it_looked(isolated_settings: Path):
    with pytest.raises(CheckpointNotFoundError, match=r"7net-omat.*weights") as info:
        load_potential(PotentialSpec.parse("sevennet:7net-omat"))
    assert str(isolated_settings / "weights") in str(info.value)
    with pytest.raises(CheckpointNotFoundError, match=r"not found: .*nowhere\.pth\.tar"):
        load_potential(
            PotentialSpec.parse({"name": "chgnet", "checkpoint": "/tmp/nowhere.pth.tar"})
        )
    with pytest.raises(CheckpointNotFoundError, match="Known checkpoint names"):
        load_potential(PotentialSpec.parse("chgnet:9.9.9"))


def test_checkpoint_in_weights_dir_is_found(isolated_settings: Path):
    from sse_flows.potentials import resolve_checkpoint

    target = isolated_settings / "weights" / "mattersim" / "mattersim-v1.0.0-1M.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not really weights")
    label, path = resolve_checkpoint(PotentialSpec(name="mattersim"))
    assert label == "mattersim-v1.0.0-1M"
    assert path == target


def test_local_checkpoint_path_loads(tmp_path: Path):
    shipped = load_potential(PotentialSpec.parse("chgnet")).provenance.checkpoint_path
    copy = tmp_path / "my_model.pth.tar"
    copy.write_bytes(Path(shipped).read_bytes())
    loaded = load_potential(
        PotentialSpec.parse({"name": "chgnet", "checkpoint": str(copy)})
    )
    assert loaded.provenance.checkpoint_path == str(copy.resolve())
    assert (
        loaded.provenance.checkpoint_sha256
        == load_potential(PotentialSpec.parse("chgnet")).provenance.checkpoint_sha256
    )


@pytest.mark.skipif(importlib.util.find_spec("matgl") is not None, reason="matgl installed")
def test_missing_package_names_the_extra_or_the_environment(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
):
    with pytest.raises(PotentialNotInstalledError, match=r"sse-flows\[matgl\]"):
        load_potential(PotentialSpec.parse("m3gnet"))
    # a family with an environment of its own names that environment, and why
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(isolated_settings / "no-envs"))
    with pytest.raises(
        PotentialNotInstalledError, match=r"e3nn.*run: sse-flows env create mace"
    ):
        load_potential(PotentialSpec.parse("mace"))


def test_unknown_name_and_unavailable_device():
    with pytest.raises(UnknownPotentialError, match="chgnet"):
        load_potential(PotentialSpec.parse("chgnet-ultra"))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(PotentialError, match="cuda"):
            load_potential(PotentialSpec.parse({"name": "chgnet", "device": "cuda"}))


def test_multi_fidelity_checkpoint_needs_its_modal(li2s):
    with pytest.raises(PotentialError, match=r"modal.*R2SCAN.*options: \{modal"):
        load_potential(PotentialSpec.parse("sevennet:7net-mf-0"))
    loaded = load_potential(
        PotentialSpec.parse(
            {"name": "sevennet", "checkpoint": "7net-mf-0", "options": {"modal": "PBE"}}
        )
    )
    assert loaded.provenance.options == {"modal": "PBE"}
    from sse_flows.structures import to_atoms

    atoms = to_atoms(li2s)
    atoms.calc = loaded.calculator
    assert -6.0 < atoms.get_potential_energy() / len(atoms) < -2.0


def test_deepmd_needs_a_model_file():
    from sse_flows.potentials import resolve_checkpoint

    with pytest.raises(CheckpointNotFoundError, match="needs a model file"):
        resolve_checkpoint(PotentialSpec(name="deepmd"))


def test_cli_lists_the_registry(isolated_settings: Path):
    out = subprocess.run(
        [*SSE_FLOWS, "potentials", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=cli_env(isolated_settings),
    )
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["chgnet"]["installed"] is True
    assert rows["sevennet"]["checkpoints"]["7net-mf-0"] is True


@pytest.mark.parametrize("name", ["chgnet", "sevennet", "emt"])
def test_stress_is_the_strain_derivative_in_ase_units(name: str, li2s: Structure):
    """sigma_xx = (1/V) dE/d(eps_xx): checks units (eV/A^3) and sign (ASE) per family."""
    from ase.build import bulk

    from sse_flows.structures import to_atoms

    atoms = bulk("Cu", cubic=True) if name == "emt" else to_atoms(li2s)
    atoms.set_cell(atoms.cell * 1.03, scale_atoms=True)  # expanded: tensile stress
    atoms.calc = load_potential(PotentialSpec.parse(name)).calculator
    stress_xx = atoms.get_stress()[0]
    energies = []
    for eps in (-0.004, 0.004):
        strained = atoms.copy()
        strained.calc = atoms.calc
        strained.set_cell(atoms.cell.array @ np.diag([1 + eps, 1, 1]), scale_atoms=True)
        energies.append(strained.get_potential_energy())
    numeric = (energies[1] - energies[0]) / 0.008 / atoms.get_volume()
    assert stress_xx > 0
    assert stress_xx == pytest.approx(numeric, rel=0.05)
