"""Batched inference (issue 20): same numbers as the calculators, same relaxations.

The speed of batching is measured in benchmarks/bench_batched.py, not here.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from pymatgen.core import Lattice, Structure

from sse_flows.calc.relax import RelaxSettings, relax
from sse_flows.calc.relax_batch import relax_many
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.potentials.batch import OneByOne
from sse_flows.potentials.registry import batch_predictor
from sse_flows.structures.io import to_atoms


def _mixed_frames() -> list[Atoms]:
    """Li-Cl-S cells of 2, 3 and 8 atoms, displaced: one batch of different sizes."""
    licl = bulk("LiCl", "rocksalt", a=5.13)
    li2s = Atoms(
        "SLi2",
        scaled_positions=[[0, 0, 0], [0.25] * 3, [0.75] * 3],
        cell=bulk("Cu", "fcc", a=5.7).cell,
        pbc=True,
    )
    cubic = bulk("LiCl", "rocksalt", a=5.13, cubic=True)
    frames = [licl, li2s, cubic]
    for seed, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=seed)
    return frames


@pytest.mark.parametrize("family", ["chgnet", "sevennet"])
def test_batched_predictions_equal_the_calculator(family: str):
    frames = _mixed_frames()
    loaded = load_potential(PotentialSpec.parse(family), elements=["Li", "Cl", "S"])
    reference = OneByOne(loaded.calculator).predict(frames)
    for size in (1, 3):
        predictor = batch_predictor(loaded.calculator, size)
        assert predictor.path == f"batched:{family}"
        for ours, theirs in zip(predictor.predict(frames), reference, strict=True):
            assert ours.energy == pytest.approx(theirs.energy, abs=1e-4)
            np.testing.assert_allclose(ours.forces, theirs.forces, atol=1e-5)
            np.testing.assert_allclose(ours.stress, theirs.stress, atol=1e-7)
    no_stress = batch_predictor(loaded.calculator, 3).predict(frames, stress=False)
    assert all(r.stress is None for r in no_stress)


def test_other_calculators_run_one_by_one():
    assert batch_predictor(EMT(), 8).path == "one-by-one"


@pytest.mark.parametrize("relax_cell", [False, True])
def test_lockstep_relaxation_follows_each_structure_s_own_path(relax_cell: bool):
    frames = []
    for seed in range(3):
        atoms = bulk("Cu", cubic=True).repeat(2)
        atoms.rattle(0.1, seed=seed)
        atoms.set_cell(atoms.cell * (1.01 + 0.01 * seed), scale_atoms=True)
        frames.append(atoms)
    settings = RelaxSettings(fmax=0.01, relax_cell=relax_cell)
    together = relax_many(frames, OneByOne(EMT()), settings)
    for atoms, ours in zip(frames, together, strict=True):
        alone = relax(atoms.copy(), EMT(), settings)
        assert ours.converged and ours.n_steps == alone.n_steps > 10
        assert ours.final.energy == pytest.approx(alone.final.energy, abs=1e-10)
        assert ours.structure.lattice.volume == pytest.approx(
            alone.structure.lattice.volume, rel=1e-10
        )
    short = relax_many(frames, OneByOne(EMT()), RelaxSettings(fmax=0.01, max_steps=3))
    assert [(r.converged, r.n_steps) for r in short] == [(False, 3)] * 3


def test_ordering_screen_relaxes_in_batches_and_records_the_path():
    from sse_flows.documents import OrderingDocument
    from sse_flows.makers.ordering import EnumerateOrderingsMaker, ScreenOrderingsMaker

    parent = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.4), [{"Li": 0.5, "Na": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    enumerated = EnumerateOrderingsMaker(supercell=[2, 1, 1], keep=4).make.original(
        EnumerateOrderingsMaker(supercell=[2, 1, 1], keep=4), parent
    )
    screen = ScreenOrderingsMaker(
        potential=PotentialSpec.parse("chgnet"),
        method="relax",
        relax_fmax=0.05,
        batch_size=4,
    )
    doc = OrderingDocument.model_validate(
        screen.make.original(screen, enumerated).model_dump()
    )
    assert doc.screen_method == "relax" and doc.ranked_by == "potential_screen_relax"
    assert doc.inference_path == "batched:chgnet" and doc.screen_batch_size == 4
    energies = [c.screen_energy_eV_atom for c in doc.candidates]
    assert energies == sorted(energies)
    loaded = load_potential(PotentialSpec.parse("chgnet"), elements=["Li", "Na", "Cl"])
    settings = RelaxSettings(fmax=0.05, max_steps=200, relax_cell=False)
    for structure, energy in zip(doc.structures, energies, strict=True):
        # the screened cell is relaxed: relaxing it alone barely moves it
        alone = relax(to_atoms(structure), loaded.calculator, settings)
        assert alone.final.energy / len(structure) == pytest.approx(energy, abs=2e-4)


@pytest.mark.usefixtures("isolated_settings")
def test_energies_of_many_structures_in_one_job_equal_one_job_each():
    """The training set's batched energies: the same documents as a job per cell."""
    from jobflow import Flow

    from sse_flows.flows.training_set import TrainingSetMaker
    from sse_flows.makers.relax import RelaxMaker
    from sse_flows.makers.static import EnergiesMaker, StaticMaker
    from sse_flows.records import get_output
    from sse_flows.runner import run_flow

    cells = []
    for seed, a in enumerate((3.55, 3.61, 3.70)):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.rattle(0.05, seed=seed)
        cells.append(Structure.from_ase_atoms(atoms))
    emt = PotentialSpec.parse("emt")
    relax_maker = RelaxMaker(fmax=0.01, relax_cell=False)
    together = EnergiesMaker(potential=emt).make(cells)
    relaxed = EnergiesMaker(potential=emt, relax_maker=relax_maker).make(cells)
    single = [StaticMaker(potential=emt).make(c) for c in cells]
    each = [RelaxMaker(potential=emt, fmax=0.01, relax_cell=False).make(c) for c in cells]
    flow = Flow([together, relaxed, *single, *each])
    assert run_flow(flow).state == "COMPLETED"
    for i in range(3):
        static_doc = get_output(single[i].uuid)["output"]
        relax_doc = get_output(each[i].uuid)["output"]
        batch_static = get_output(together.uuid)["output"][i]
        batch_relax = get_output(relaxed.uuid)["output"][i]
        assert batch_static["energy"] == pytest.approx(static_doc["energy"], abs=1e-10)
        np.testing.assert_allclose(batch_static["stress"], static_doc["stress"], atol=1e-9)
        assert batch_relax["energy"] == pytest.approx(relax_doc["energy"], abs=1e-10)
        assert batch_relax["n_steps"] == relax_doc["n_steps"]

    maker = TrainingSetMaker(potential=emt, n_structures=1, batched_energies=True)
    names = [j.name for j, _ in maker.make(cells).iterflow()]
    assert names.count("candidate energy (all)") == 1
    assert not any(n.startswith("candidate energy c") for n in names)


def test_order_spec_carries_the_screen_method_and_batch(tmp_path):
    from sse_flows.spec import FlowSpec

    parent = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.4), [{"Li": 0.5, "Na": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    parent.to(filename=str(tmp_path / "lina.cif"))
    spec = FlowSpec.from_data(
        {
            "flow": "order",
            "structure": "lina.cif",
            "potential": "chgnet",
            "order": {
                "screen_method": "relax",
                "screen_batch_size": 4,
                "supercell": [2, 1, 1],
                "keep": 4,
            },
        },
        tmp_path,
    )
    jobs = {job.name: job for job, _ in spec.build().iterflow()}
    screen = jobs["screen orderings"].maker
    assert (screen.method, screen.batch_size) == ("relax", 4)
    assert jobs["enumerate orderings"].maker.keep == 4
