"""The training set flow of paper 001: hull window, Boltzmann draw, strain, end to end.

Unit tests check the numbers of each step on hand-made energies; the flow test runs
the whole recipe on 4-atom Li halide cells with CHGNet (energies, MD) and CP2K labels
(``tests/data/dft/cp2k-test.yaml``; ~13 s of CPU per 4-atom frame, 4 frames).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure

from sse_flows.cluster.routing import JobRole, job_role
from sse_flows.documents import TrainingDatasetDoc, TrainingFrames, TrainingSelection
from sse_flows.errors import SpecError
from sse_flows.flows import TrainingSetMaker
from sse_flows.records import RunRecord
from sse_flows.runner import renewed_flow, resume_flow, run_flow
from sse_flows.stores import get_job_store
from sse_flows.training.sampling import (
    KB_EV_K,
    apply_strain,
    draw_candidates,
    draw_indices,
    energies_above_ground,
    hull_energies,
    pick_frames,
    random_strain,
)
from tests.conftest import EXAMPLES, TEST_PRESET


def rocksalt(a: float, anion: str = "Cl") -> Structure:
    """Li halide in rock salt, primitive (2 atoms)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", anion], [[0, 0, 0], [0.5] * 3]
    ).get_primitive_structure()


def zincblende(a: float) -> Structure:
    """LiCl in zinc blende, primitive (2 atoms)."""
    return Structure.from_spacegroup(
        "F-43m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.25] * 3]
    ).get_primitive_structure()


def cesium_chloride(a: float) -> Structure:
    """LiCl in the CsCl structure (2 atoms)."""
    return Structure(Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3])


# ------------------------------------------------------------------ hull and window
def test_window_keeps_candidates_within_its_mev_of_their_composition_lowest():
    comps = [Composition("LiCl")] * 4
    energies = [-4.000, -3.990, -3.900, -3.949]  # eV/atom
    above, ground = energies_above_ground(comps, energies)
    np.testing.assert_allclose(above * 1000, [0.0, 10.0, 100.0, 51.0], atol=1e-9)
    assert ground.tolist() == [True, False, False, False]
    result = draw_candidates(
        comps, energies, [2] * 4, n_structures=1, temperature=800, window_meV_atom=50
    )
    assert result.kept.tolist() == [True, True, False, False]
    # one composition: the hull is its lowest candidate
    np.testing.assert_allclose(result.e_hull, above, atol=1e-12)
    # a failed energy (None) is neither kept nor drawn
    with_failed = draw_candidates(
        comps, [-4.0, None, -3.99, -3.9], [2] * 4, n_structures=4, temperature=800
    )
    assert with_failed.kept.tolist() == [True, False, True, True]
    assert math.isnan(with_failed.e_hull[1])
    assert 1 not in [i for i, _ in with_failed.slots]


def test_hull_over_several_compositions_matches_pymatgen_phase_diagram():
    comps = [Composition(f) for f in ("LiCl", "LiCl", "LiBr", "Li2ClBr", "Li2ClBr")]
    energies = [-4.00, -3.95, -3.60, -3.81, -3.79]  # eV/atom
    hull = hull_energies(comps, energies)
    # LiCl and LiBr are the ends; their mixture at Li2ClBr would be -3.80 eV/atom, the
    # better ordering (-3.81) lies below it, so the hull there is -3.81
    np.testing.assert_allclose(hull, [-4.00, -4.00, -3.60, -3.81, -3.81], atol=1e-9)
    result = draw_candidates(
        comps,
        energies,
        [2, 2, 2, 4, 4],
        n_structures=3,
        temperature=800,
        window_meV_atom=30,
    )
    np.testing.assert_allclose(result.e_hull * 1000, [0, 50, 0, 0, 20], atol=1e-6)
    assert result.kept.tolist() == [True, False, True, True, True]
    assert result.ground.tolist() == [True, False, True, True, False]
    # the same candidates with elemental references (high in energy) in pymatgen
    entries = [PDEntry(c, e * c.num_atoms) for c, e in zip(comps, energies, strict=True)]
    elements = [PDEntry(Composition(el), 0.0) for el in ("Li", "Cl", "Br")]
    diagram = PhaseDiagram(entries + elements)
    pymatgen_hull = [diagram.get_e_above_hull(e) for e in entries]
    np.testing.assert_allclose(result.e_hull, pymatgen_hull, atol=1e-9)


# ------------------------------------------------------------------ Boltzmann draw
def test_boltzmann_probabilities_are_per_formula_unit_at_800_kelvin():
    comps = [Composition("Li3YCl6")] * 4  # 10 atoms per formula unit
    energies = [-4.000, -3.999, -3.995, -3.990]
    result = draw_candidates(
        comps,
        energies,
        [40] * 4,
        n_structures=1,
        temperature=800,
        include_ground_states=False,
    )
    kt = KB_EV_K * 800
    weights = np.exp(-np.array([0.0, 0.001, 0.005, 0.010]) * 10 / kt)
    np.testing.assert_allclose(result.probability, weights / weights.sum(), rtol=1e-12)
    assert result.probability[1] == pytest.approx(0.3348, abs=1e-4)  # 0.86497 / 2.58361
    per_atom = draw_candidates(
        comps,
        energies,
        [40] * 4,
        n_structures=1,
        temperature=800,
        include_ground_states=False,
        energy_per="atom",
    )
    weights = np.exp(-np.array([0.0, 0.001, 0.005, 0.010]) / kt)
    np.testing.assert_allclose(per_atom.probability, weights / weights.sum(), rtol=1e-12)
    # with ground states taken outright, the draw is among the others only
    forced = draw_candidates(comps, energies, [40] * 4, n_structures=2, temperature=800)
    assert forced.slots[0] == (0, "ground state")
    assert forced.probability[0] == 0.0
    np.testing.assert_allclose(np.nansum(forced.probability[1:]), 1.0)


def test_boltzmann_draw_frequencies_match_the_weights():
    comps = [Composition("LiCl")] * 4
    energies = [-4.000, -3.990, -3.975, -3.950]
    many = 20000
    with_replacement = draw_candidates(
        comps,
        energies,
        [2] * 4,
        n_structures=many,
        temperature=800,
        include_ground_states=False,
        replace=True,
        seed=7,
    )
    p = with_replacement.probability
    counts = Counter(i for i, _ in with_replacement.slots)
    frequency = np.array([counts[i] for i in range(4)]) / many
    sigma = np.sqrt(p * (1 - p) / many)
    assert np.all(np.abs(frequency - p) < 4 * sigma), (frequency, p)
    assert sum(reason == "boltzmann" for _, reason in with_replacement.slots) == many
    # the same seed draws the same structures
    again = draw_candidates(
        comps,
        energies,
        [2] * 4,
        n_structures=many,
        temperature=800,
        include_ground_states=False,
        replace=True,
        seed=7,
    )
    assert again.slots == with_replacement.slots
    # without replacement: the first draw follows the weights over many seeds ...
    trials = 6000
    first = Counter(draw_indices(p, 1, seed, replace=False)[0] for seed in range(trials))
    frequency = np.array([first[i] for i in range(4)]) / trials
    assert np.all(np.abs(frequency - p) < 4 * np.sqrt(p * (1 - p) / trials))
    # ... and two draws include i with p_i + sum_j p_j p_i / (1 - p_j)
    pairs = [draw_indices(p, 2, seed, replace=False) for seed in range(trials)]
    assert all(len(set(pair)) == 2 for pair in pairs)
    included = np.array([sum(i in pair for pair in pairs) for i in range(4)]) / trials
    expected = np.array(
        [p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(4) if j != i) for i in range(4)]
    )
    assert np.all(
        np.abs(included - expected) < 4 * np.sqrt(expected * (1 - expected) / trials)
    )
    # asking for more than the pool without replacement takes the whole pool once
    all_of_them = draw_candidates(
        comps,
        energies,
        [2] * 4,
        n_structures=10,
        temperature=800,
        include_ground_states=False,
    )
    assert sorted(i for i, _ in all_of_them.slots) == [0, 1, 2, 3]
    assert "all of them were taken" in all_of_them.notes[0]


# ------------------------------------------------------------------ frames and strain
def test_frames_are_evenly_spaced_or_random_without_repeats():
    rng = np.random.default_rng(0)
    even = pick_frames(100, 30, "even", rng)
    assert len(even) == 30 and even[0] == 2 and even[-1] == 99
    assert set(np.diff(even)) <= {3, 4}
    chosen = pick_frames(100, 30, "random", rng)
    assert len(set(chosen)) == 30 and chosen == sorted(chosen) and max(chosen) < 100
    assert pick_frames(5, 30, "even", rng) == [0, 1, 2, 3, 4]


def test_random_strains_stay_within_bounds_and_change_the_volume_by_their_determinant():
    rng = np.random.default_rng(3)
    strains = np.array([random_strain(rng, 0.03) for _ in range(2000)])
    assert np.abs(strains).max() <= 0.03
    assert np.abs(strains).max() > 0.0299  # the bounds are reached, not a narrower range
    np.testing.assert_array_equal(strains, strains.transpose(0, 2, 1))  # symmetric
    assert abs(strains.mean()) < 1e-3  # centred
    cell = rocksalt(5.13).copy()
    cell.perturb(0.1)
    for strain in strains[:50]:
        strained = apply_strain(cell, strain)
        ratio = strained.volume / cell.volume
        assert ratio == pytest.approx(np.linalg.det(np.eye(3) + strain), rel=1e-12)
        assert 0.97**3 - 1e-9 < ratio < 1.03**3 + 1e-9 + 0.01  # shear adds at most O(e^2)
        np.testing.assert_allclose(strained.frac_coords, cell.frac_coords, atol=1e-12)
    # a diagonal strain scales the cubic axes by exactly 1 + e
    cube = cesium_chloride(3.2)
    stretched = apply_strain(cube, np.diag([0.03, -0.02, 0.01]))
    np.testing.assert_allclose(stretched.lattice.abc, [3.296, 3.136, 3.232], rtol=1e-12)
    assert stretched.volume / cube.volume == pytest.approx(1.03 * 0.98 * 1.01, rel=1e-12)


# ------------------------------------------------------------------ presets and flow
def test_presets_hold_the_papers_numbers_and_a_quick_cpu_run():
    paper = TrainingSetMaker.from_preset("paper001")
    md = paper.md_for_run()
    assert (paper.boltzmann_temperature, paper.md_temperature, md.temperature) == (
        800,
        800,
        800,
    )
    assert (md.timestep_fs, md.equilibration_steps, md.production_steps) == (
        1.0,
        5000,
        10000,
    )
    assert md.ensemble == "nvt"
    assert (paper.frames_per_structure, paper.strain, paper.frame_selection) == (
        30,
        0.03,
        "random",
    )
    assert paper.boltzmann_energy == "formula_unit" and paper.include_ground_states
    assert paper.hull_window_meV_atom is None and paper.relax_maker is not None
    assert paper.n_structures * paper.frames_per_structure == pytest.approx(2500, rel=0.01)
    quick = TrainingSetMaker.from_preset("quick", n_structures=3, md={"sample_interval": 2})
    qmd = quick.md_for_run()
    assert (quick.n_structures, quick.frames_per_structure) == (3, 3)
    assert (qmd.equilibration_steps, qmd.production_steps, qmd.sample_interval) == (
        20,
        80,
        2,
    )
    assert quick.relax_maker is None and quick.preset == "quick"
    with pytest.raises(SpecError, match="set md_temperature"):
        TrainingSetMaker.from_preset("quick", md={"temperature": 600})
    with pytest.raises(SpecError, match="No training_set preset 'paper099'"):
        TrainingSetMaker.from_preset("paper099")


def test_flow_has_one_md_per_slot_and_dft_batches_on_the_dft_worker():
    candidates = [
        rocksalt(5.13),
        zincblende(5.6),
        cesium_chloride(3.25),
        rocksalt(5.5, "Br"),
    ]
    maker = TrainingSetMaker.from_preset(
        "quick", potential="emt", n_structures=1, labeling={"preset": TEST_PRESET}
    )
    # two compositions: each lowest is run, so 2 slots even for n_structures=1
    assert maker.n_slots(candidates) == 2
    flow = maker.make(candidates, ids=["rs", "zb", "cscl", "br"])
    names = {j.name for j, _ in flow.iterflow()}
    assert {f"candidate energy {i}" for i in ("rs", "zb", "cscl", "br")} <= names
    assert "select candidates" in names
    assert sorted(n for n in names if n.startswith("training md")) == [
        "training md 0",
        "training md 1",
    ]
    jobs = {j.name: j for j, _ in flow.iterflow()}
    assert job_role(jobs["training md 0"]) == JobRole.POTENTIAL
    assert job_role(jobs["dft label batch 1/1"]) == JobRole.DFT
    assert job_role(jobs["training set dataset"]) == JobRole.CPU
    # the stored flow (what resume and rerun read) keeps every maker's settings
    stored = renewed_flow(RunRecord.for_flow(flow, "RUNNING").flow)
    back = {j.name: j for j, _ in stored.iterflow()}
    md_maker = back["training md 1"].maker.md_maker
    assert (md_maker.temperature, md_maker.production_steps) == (800.0, 80)
    assert back["dft label batch 1/1"].maker.batch_maker.preset["name"] == "cp2k-test"
    assert back["training frames 0"].maker.strain == 0.03
    assert back["select candidates"].maker.hull_window_meV_atom == 100
    with pytest.raises(ValueError, match="unique"):
        maker.make(candidates[:2], ids=["a", "a"])
    disordered = Structure(Lattice.cubic(4.0), [{"Li": 0.5, "Na": 0.5}], [[0, 0, 0]])
    with pytest.raises(Exception, match="candidate x"):
        maker.make([disordered], ids=["x"])


def test_spec_builds_from_files_and_from_a_stored_ordering_run(tmp_path):
    from sse_flows.flows import OrderingMaker
    from sse_flows.makers.ordering import EnumerateOrderingsMaker
    from sse_flows.spec import FlowSpec

    folder = tmp_path / "cands"
    folder.mkdir()
    rocksalt(5.13).to(filename=str(folder / "LiCl_rs.cif"))
    zincblende(5.6).to(filename=str(folder / "LiCl_zb.cif"))
    (tmp_path / "spec.yaml").write_text(
        "flow: training_set\nname: tiny set\npotential: emt\ncandidates: [cands]\n"
        "training_set: {preset: quick, n_structures: 2}\n"
        "label: {preset: cp2k-pbe-small, frames_per_job: 3}\n"
    )
    spec = FlowSpec.from_file(tmp_path / "spec.yaml")
    flow = spec.build()
    names = [j.name for j, _ in flow.iterflow()]
    assert "candidate energy LiCl_rs" in names and "candidate energy LiCl_zb" in names
    assert "dft label batch 1/2" in names  # 3 frames per batch job: one MD run each
    batch = next(j for j, _ in flow.iterflow() if j.name == "dft label batch 1/2")
    assert batch.maker.batch_maker.preset["name"] == "cp2k-pbe-small"

    # the ordered cells of a stored (Ewald-only) ordering run, best first
    parent = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), [{"Li": 0.5}, {"Cl": 0.5}], [[0, 0, 0], [0.5] * 3]
    )
    ordering = OrderingMaker(
        potential=None, enumerate_maker=EnumerateOrderingsMaker(supercell=[1, 1, 1], keep=3)
    ).make(parent)
    assert run_flow(ordering).state == "COMPLETED"
    (tmp_path / "stored.yaml").write_text(
        f"flow: training_set\npotential: emt\ncandidates: ['stored:{ordering.uuid}']\n"
        "per_ordering: 2\ntraining_set: {preset: quick}\n"
    )
    stored = FlowSpec.from_file(tmp_path / "stored.yaml")
    structures, ids, sources = stored.load_candidates()
    assert ids == ["LiCl-r0", "LiCl-r1"]
    assert all(s.composition.reduced_formula == "LiCl" for s in structures)
    assert "ordering job" in sources[0]


def test_example_spec_builds_the_quick_training_set():
    """examples/training_set_quick.yaml: valid, and the flow it describes (not run)."""
    from sse_flows.kinds.training_set import TrainingSetSpec
    from sse_flows.spec import FlowSpec

    spec = FlowSpec.from_file(EXAMPLES / "training_set_quick.yaml")
    assert isinstance(spec, TrainingSetSpec)
    maker = spec.maker()
    assert (maker.preset, maker.n_structures, maker.frames_per_structure) == ("quick", 1, 3)
    assert maker.hull_window_meV_atom == 100 and maker.potential.name == "chgnet"
    assert maker.md_for_run().production_steps == 80
    structures, ids, _ = spec.load_candidates()
    assert ids == ["Li2S"] and len(structures[0]) == 12
    names = [j.name for j, _ in spec.build().iterflow()]
    assert names[:3] == ["candidate energy Li2S", "select candidates", "training md 0"]
    assert "dft label batch 1/1" in names
    batch = next(j for j, _ in spec.build().iterflow() if j.name == "dft label batch 1/1")
    assert batch.maker.batch_maker.preset["name"] == "cp2k-pbe-small"


# ------------------------------------------------------------------ end to end
@pytest.mark.usefixtures("cp2k_installed")
def test_training_set_flow_end_to_end_with_chgnet_md_and_cp2k_labels():
    from sse_flows.training.data import read_training_frames, split_by_group

    # 4-atom cells: a 2-atom cell at 800 K ran past the MD runaway guard (5 x T), and
    # CP2K needs fewer k-point images for them (half the CPU time of 2 atoms here)
    cells = [rocksalt(5.13), zincblende(5.58), cesium_chloride(3.25), rocksalt(5.5, "Br")]
    candidates = [cell * (2, 1, 1) for cell in cells]
    ids = ["LiCl-rs", "LiCl-zb", "LiCl-cscl", "LiBr-rs"]
    maker = TrainingSetMaker.from_preset(
        "quick",
        name="tiny li halides",
        potential="chgnet",
        n_structures=2,
        frames_per_structure=2,
        seed=3,
        labeling={"preset": TEST_PRESET},
    )
    flow = maker.make(candidates, ids=ids)
    record = run_flow(flow)
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs]
    store = get_job_store()
    store.connect()
    doc = TrainingDatasetDoc.model_validate(store.get_output(flow.output.uuid, load=True))
    selection = TrainingSelection.model_validate(
        store.get_output(flow.jobs[4].uuid, load=True)
    )
    frame_sets = [
        TrainingFrames.model_validate(store.get_output(j.uuid, load=True))
        for j, _ in flow.iterflow()
        if j.name.startswith("training frames")
    ]

    # energies, window, draw: CsCl-type LiCl is ~0.24 eV/atom up (CHGNet), out of the
    # 100 meV window; zinc blende ~2 meV up, kept but not drawn: both lowest were run
    by_id = {c.id: c for c in doc.candidates}
    assert by_id["LiCl-cscl"].kept is False and "100" in by_id["LiCl-cscl"].excluded
    assert by_id["LiCl-cscl"].e_above_ground_eV_atom > 0.1
    assert 0 <= by_id["LiCl-zb"].e_above_ground_eV_atom < 0.02
    assert by_id["LiCl-zb"].kept and by_id["LiCl-zb"].times_drawn == 0
    assert by_id["LiCl-zb"].probability == pytest.approx(1.0)
    assert [(d.candidate, d.reason) for d in selection.drawn] == [
        ("LiCl-rs", "ground state"),
        ("LiBr-rs", "ground state"),
    ]
    assert by_id["LiBr-rs"].e_hull_eV_atom == pytest.approx(0.0, abs=1e-9)
    assert by_id["LiCl-rs"].e_hull_eV_atom == pytest.approx(0.0, abs=1e-9)

    # frames: 2 per run from the production part, strained within +-3 %
    assert [len(s.frames) for s in frame_sets] == [2, 2]
    for s in frame_sets:
        assert s.temperature == 800.0 and s.n_trajectory_frames == 16  # 80 steps / 5
        assert s.trajectory_indices == [7, 15]
        for strain, ratio in zip(s.strains, s.volume_ratios, strict=True):
            assert np.abs(strain).max() <= 0.03
            assert ratio == pytest.approx(np.linalg.det(np.eye(3) + np.array(strain)))

    # the dataset document and its file
    assert doc.n_frames == 4 and doc.n_structures == 2 and doc.n_md_runs == 2
    assert doc.composition_coverage == {"LiBr": 2, "LiCl": 2}
    assert doc.temperature_coverage == {"800": 4}
    assert doc.groups == {"LiBr-rs": 2, "LiCl-rs": 2}
    assert doc.dft["code"] == "cp2k" and doc.dft["preset"] == "cp2k-test"
    assert doc.labeling_dataset_uuid == flow.jobs[-2].jobs[-1].uuid
    assert doc.strain_max_abs <= 0.03
    stats = doc.label_statistics
    assert stats["energy_per_atom_min_eV"] < stats["energy_per_atom_max_eV"] < -250
    assert 0 < stats["force_rms_eV_A"] < 10
    from sse_flows.provenance import sha256_of

    assert sha256_of(doc.path) == doc.sha256
    summary = "\n".join(doc.summary_lines())
    assert "tiny li halides: 4 frames from 2 structures" in summary
    assert "LiBr 2, LiCl 2" in summary
    assert doc.settings["preset"] == "quick" and doc.settings["strain"] == 0.03
    frames = read_training_frames(doc.path)
    assert len(frames) == 4 and all(f.stress is not None for f in frames)
    assert Counter(f.atoms.info["group"] for f in frames) == {"LiCl-rs": 2, "LiBr-rs": 2}
    for frame in frames:
        index = int(frame.atoms.info["frame_index"])
        source = next(s for s in frame_sets if index in s.indices)
        k = source.indices.index(index)
        np.testing.assert_allclose(
            frame.atoms.cell.array, source.frames[k].lattice.matrix, atol=1e-6
        )
        assert frame.atoms.info["md_temperature"] == 800.0
    for seed in range(5):
        splits = split_by_group(frames, valid_fraction=0.3, test_fraction=0.0, seed=seed)
        where = {
            group: {name for name, gs in splits.groups.items() if group in gs}
            for group in ("LiCl-rs", "LiBr-rs")
        }
        assert all(len(places) == 1 for places in where.values()), where
        for name, split_frames in splits.frames.items():
            assert {f.atoms.info["group"] for f in split_frames} == set(splits.groups[name])

    # a run killed after DFT finished but before the dataset was written: the rerun
    # does not run MD or CP2K again
    labels_flow = flow.jobs[-2]
    batch_uuid = labels_flow.jobs[0].uuid
    md_uuid = next(j.uuid for j, _ in flow.iterflow() if j.name == "training md 0")
    md_done = store.query_one({"uuid": md_uuid})["completed_at"]
    calc_dirs = [
        Path(f["calc_dir"]) for f in store.get_output(batch_uuid, load=True)["frames"]
    ]
    stamps = [(d / "cp2k.out.gz").stat().st_mtime_ns for d in calc_dirs]
    for uuid in (batch_uuid, labels_flow.jobs[-1].uuid, flow.output.uuid):
        store.docs_store.remove_docs({"uuid": uuid})
    store.close()
    again = resume_flow(record.flow_uuid)  # the flow as stored, read back
    assert again.state == "COMPLETED"
    assert [(d / "cp2k.out.gz").stat().st_mtime_ns for d in calc_dirs] == stamps
    store.connect()
    assert store.query_one({"uuid": md_uuid})["completed_at"] == md_done
    redone = TrainingDatasetDoc.model_validate(
        store.get_output(flow.output.uuid, load=True)
    )
    assert redone.sha256 == doc.sha256
    store.close()
