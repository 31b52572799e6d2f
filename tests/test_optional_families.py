"""Families whose weights are not shipped: real loading code on small random models.

These run where the family's package is installed (``.[all]``); CI installs only the
families that ship weights, so there they are skipped.
"""

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure

from sse_flows.errors import UnsupportedElementError
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.structures import to_atoms


def _energy_and_stress(potential, structure: Structure):
    atoms = to_atoms(structure)
    atoms.calc = potential.calculator
    return atoms.get_potential_energy(), atoms.get_stress()


def test_m3gnet_from_a_local_model_directory(isolated_settings: Path, li2s: Structure):
    pytest.importorskip("matgl")
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    target = isolated_settings / "weights" / "m3gnet" / "M3GNet-MP-2021.2.8-PES"
    target.mkdir(parents=True)
    Potential(model=M3GNet(element_types=("Li", "S"), is_intensive=False)).save(str(target))
    loaded = load_potential(PotentialSpec.parse("m3gnet"), elements=["Li", "S"])
    assert loaded.elements == {"Li", "S"}
    assert loaded.provenance.checkpoint_path == str(target)
    energy, stress = _energy_and_stress(loaded, li2s)
    assert np.isfinite(energy)
    assert np.abs(stress).max() < 0.1  # eV/A^3, not GPa
    with pytest.raises(UnsupportedElementError, match="Cl"):
        load_potential(PotentialSpec.parse("m3gnet"), elements=["Li", "Cl"])


def test_orb_from_a_local_checkpoint(isolated_settings: Path, li2s: Structure):
    pytest.importorskip("orb_models")
    import torch
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    model = pretrained.orb_v3_conservative_architecture(
        device="cpu", system_config=SystemConfig(radius=6.0, max_num_neighbors=120)
    )
    folder = isolated_settings / "weights" / "orb"
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "orb-v3-conservative-inf-mpa-test.ckpt")
    dtype = torch.get_default_dtype()
    loaded = load_potential(PotentialSpec.parse("orb"), elements=["Li", "S"])
    assert torch.get_default_dtype() == dtype  # ORB's global dtype change is undone
    assert loaded.provenance.checkpoint == "orb-v3-conservative-inf-mpa"
    energy, _ = _energy_and_stress(loaded, li2s)
    assert np.isfinite(energy)
