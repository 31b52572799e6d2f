"""Potentials as objects: one parse, aliases, relative paths, plug-ins, import paths."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from jobflow import JobStore
from maggma.stores import MemoryStore

from sse_flows.errors import PotentialError, UnknownPotentialError
from sse_flows.makers import StaticMaker
from sse_flows.potentials import (
    ENERGY_REFERENCES,
    PotentialSpec,
    families,
    get_family,
    load_potential,
    refresh_families,
)
from sse_flows.spec import FlowSpec
from sse_flows.structures import to_structure


def test_aliases_become_the_family_name_and_unknown_names_are_refused():
    assert PotentialSpec.parse("7net").name == "sevennet"
    assert PotentialSpec.parse("DP:model.pb").name == "deepmd"
    assert PotentialSpec.parse({"name": "matgl"}).name == "m3gnet"
    with pytest.raises(UnknownPotentialError, match=r"Known: .*chgnet"):
        PotentialSpec.parse("chgnett")


def test_relative_checkpoint_is_made_absolute_against_the_naming_place(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    here = PotentialSpec.parse("chgnet:models/mine.pth.tar")
    assert here.checkpoint == str(tmp_path / "models" / "mine.pth.tar")
    there = PotentialSpec.parse("deepmd:frozen.pth", base_dir=Path("/data/run"))
    assert there.checkpoint == "/data/run/frozen.pth"
    named = PotentialSpec.parse("sevennet:7net-l3i5")  # a name, not a path
    assert named.checkpoint == "7net-l3i5"
    # a spec file names it relative to itself, whatever the working directory
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / "s.yaml").write_text(
        "structure: x.cif\nflow: static\npotential: {name: deepmd, checkpoint: m.pth}\n"
    )
    spec = FlowSpec.from_file(spec_dir / "s.yaml")
    assert spec.potential.checkpoint == str(spec_dir / "m.pth")
    assert spec.static.potential == spec.potential  # the section inherits it


def test_makers_hold_specs_and_a_job_never_parses_again():
    maker = StaticMaker(potential="sevennet:7net-0")
    assert isinstance(maker.potential, PotentialSpec)
    assert maker.potential == PotentialSpec(name="sevennet", checkpoint="7net-0")
    job = maker.make(to_structure(bulk("Cu")))
    roundtrip = type(job).from_dict(job.as_dict())
    assert roundtrip.maker.potential == maker.potential
    # a name given to a job in Python is taken too (the job's own Python edge)
    store = JobStore(MemoryStore())
    store.connect()
    out = StaticMaker().make(to_structure(bulk("Cu")), potential="emt").run(store).output
    assert out.potential.name == "emt" and np.isfinite(out.energy)


def test_every_family_states_its_energy_scale():
    chgnet, sevennet = get_family("chgnet"), get_family("sevennet")
    assert chgnet.energy_reference("0.3.0", {}) == "mp2020-corrected"
    assert chgnet.energy_reference("r2scan", {}) == "raw-r2scan"
    assert sevennet.energy_reference("7net-0", {}) == "raw-pbe"
    assert sevennet.energy_reference("7net-mf-0", {"modal": "R2SCAN"}) == "raw-r2scan"
    assert sevennet.energy_reference("7net-omat", {}) == "raw-pbe-omat24"
    assert get_family("mace").energy_reference("mace-mp-0-medium", {}) == "raw-pbe"
    # a checkpoint file learned whatever it was trained on: unknown unless stated
    assert chgnet.energy_reference("/models/finetuned.pth.tar", {}) == "unknown"
    stated = PotentialSpec.parse(
        {"name": "chgnet", "checkpoint": "/m.pth.tar", "energy_reference": "raw-pbe"}
    )
    assert stated.resolved_energy_reference == "raw-pbe"
    for family in families().values():
        assert family.energy_reference(None, {}) in ENERGY_REFERENCES


def test_an_ase_calculator_by_import_path_with_provenance():
    spec = PotentialSpec.parse(
        {
            "name": "calculator",
            "checkpoint": "ase.calculators.lj.LennardJones",
            "options": {"sigma": 2.3, "epsilon": 0.01, "rc": 6.0},
        }
    )
    loaded = load_potential(spec, elements=["Cu"])
    atoms = bulk("Cu", cubic=True)
    atoms.calc = loaded.calculator
    assert np.isfinite(atoms.get_potential_energy())
    assert loaded.provenance.checkpoint == "ase.calculators.lj.LennardJones"
    assert loaded.provenance.package == "ase" and loaded.provenance.package_version
    assert loaded.provenance.options == {"sigma": 2.3, "epsilon": 0.01, "rc": 6.0}
    assert loaded.energy_reference == "unknown"
    with pytest.raises(PotentialError, match=r"calculator:ase\.calculators"):
        load_potential(PotentialSpec.parse("calculator"))
    with pytest.raises(PotentialError, match="No module named"):
        load_potential(PotentialSpec.parse("calculator:nowhere.Calc"))


PLUGIN = """
from sse_flows.potentials import PotentialFamily


class ToyFamily(PotentialFamily):
    name = "toy"
    package = "ase"
    module = "ase"
    extra = ""
    description = "a plug-in family for the test"
    needs_torch = False
    default_energy_reference = "raw-pbe"

    def needs_weights(self):
        return False

    def build(self, checkpoint, path, device, options):
        from ase.calculators.emt import EMT

        return EMT()


FAMILY = ToyFamily()
"""


def test_third_party_family_registers_through_an_entry_point(tmp_path, monkeypatch):
    """A distribution on the path declares [sse_flows.potentials]; no sse-flows edit."""
    (tmp_path / "toy_potential.py").write_text(PLUGIN)
    dist = tmp_path / "toy_potential-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-potential\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[sse_flows.potentials]\ntoy = toy_potential:FAMILY\nbroken = toy_potential:NOPE\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_families()
    try:
        assert "toy" in families()
        loaded = load_potential(PotentialSpec.parse("toy"), elements=["Cu"])
        atoms = bulk("Cu", cubic=True)
        atoms.calc = loaded.calculator
        assert np.isfinite(atoms.get_potential_energy())
        assert loaded.energy_reference == "raw-pbe"
        with pytest.raises(UnknownPotentialError, match="plug-in 'broken' failed to load"):
            PotentialSpec.parse("broken")
    finally:
        sys.modules.pop("toy_potential", None)
        monkeypatch.undo()
        refresh_families()
    assert "toy" not in families()
