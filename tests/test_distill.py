"""Distillation (paper 004): a teacher labels frames, a DeePMD se_e2_a student learns.

Real code paths: dpdata perturbs, the teacher runs MD and labels through the registry,
``dp --pt train / freeze / compress`` trains the student in the DeePMD environment
(the flow tests skip when it is not built), the flows run through the repo's runner
on the test's own store. Cells: 32-atom fcc Cu-Au; a few dozen frames, few epochs.

EMT is faster than any DeePMD model, so "the student is faster than its teacher" is
checked with a slow teacher (CHGNet, in the main environment, weights in its wheel),
run through the ``flow: distill`` spec kind.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from sse_flows.calc.evaluate import LabeledFrame, read_labeled_frames
from sse_flows.documents import as_document
from sse_flows.documents.distillation import Distillation
from sse_flows.errors import SpecError, UnsupportedElementError
from sse_flows.flows import DistillMaker
from sse_flows.kinds.base import FlowSpec
from sse_flows.makers import MDMaker, TrainMaker
from sse_flows.records import get_output, list_runs
from sse_flows.runner import run_flow
from sse_flows.spec import run_spec
from sse_flows.training.distill import (
    DistillationError,
    force_cap_filter,
    perturb_atoms,
    split_valid,
)
from sse_flows.training.settings import TrainSettings
from tests.tiny_models import MACHINE_ENVS_DIR, needs_environment

needs_deepmd = needs_environment("deepmd")

#: a tiny se_e2_a (tests/tiny_models.train_deepmd's sizes) and a short schedule
TINY_STUDENT = {"descriptor": {"neuron": [4, 8]}, "fitting_net": {"neuron": [16, 16]}}


@pytest.fixture
def shared_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the machine's built environments (conftest isolates everything else)."""
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(MACHINE_ENVS_DIR))


def _atoms(au: int = 8, seed: int = 0) -> Atoms:
    """fcc Cu-Au, 2x2x2 conventional (32 atoms), ``au`` random sites Au."""
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))
    symbols = np.array(["Cu"] * len(atoms))
    symbols[np.random.default_rng(seed).permutation(len(atoms))[:au]] = "Au"
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def _structure(au: int = 8) -> Structure:
    return AseAtomsAdaptor.get_structure(_atoms(au))


def _md(steps: int, every: int, **kwargs: Any) -> MDMaker:
    return MDMaker(
        ensemble="nvt",
        thermostat="langevin",
        timestep_fs=2.0,
        production_steps=steps,
        sample_interval=every,
        checkpoint_interval=steps,
        **kwargs,
    )


def _student(epochs: int) -> TrainMaker:
    """The tiny student; no stress loss (the cell is off EMT's lattice constant, and
    its large stresses would compete with the forces in so few steps)."""
    return TrainMaker(
        potential="deepmd",
        settings=TrainSettings(
            from_scratch=True,
            epochs=epochs,
            batch_size=4,
            learning_rate=0.02,
            stress_weight=0.0,
            valid_fraction=0.15,
            model=TINY_STUDENT,
        ),
    )


def _document(flow_output_uuid: str) -> Distillation:
    stored = get_output(flow_output_uuid)
    assert stored is not None
    document = as_document(stored["output"])
    assert isinstance(document, Distillation)
    return document


# ---------------------------------------------------------------- pure functions


def _frame(max_force: float, source: str) -> LabeledFrame:
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], cell=[5, 5, 5], pbc=True)
    atoms.info["source"] = source
    forces = np.array([[max_force, 0.0, 0.0], [-0.3, 0.4, 0.0]])  # |F| of atom 1: 0.5
    return LabeledFrame(atoms=atoms, energy=-1.0, forces=forces, stress=None)


def test_force_cap_drops_and_counts_frames_over_the_cap():
    values = [0.2, 3.5, 2.0, 2.01, -7.0, 1.99]
    sources = ["perturbed", "perturbed", "md", "md", "md_perturbed", "md"]
    frames = [_frame(v, s) for v, s in zip(values, sources, strict=True)]
    frames.append(_frame(0.1, "md"))
    frames[-1].forces[0, 1] = np.nan  # a non-finite label is dropped too
    result = force_cap_filter(frames, 2.0)
    # |F| of atom 0 is |value| (atom 1 has 0.5): over 2.0 are 3.5, 2.01, 7.0, + the NaN
    assert result.dropped == [1, 3, 4, 6]
    assert result.dropped_by_source == {"perturbed": 1, "md": 2, "md_perturbed": 1}
    assert [f.forces[0, 0] for f in result.kept] == [0.2, 2.0, 1.99]
    assert result.max_force_eV_A[:6] == pytest.approx([0.5, 3.5, 2.0, 2.01, 7.0, 1.99])
    # the paper's cap keeps them all but the NaN
    assert force_cap_filter(frames, 10.0).dropped == [6]
    for cap in (0.0, -1.0):
        with pytest.raises(DistillationError, match="must be positive"):
            force_cap_filter(frames, cap)


def test_perturbations_are_dpdata_strains_and_displacements_seeded():
    atoms = _atoms()
    state = np.random.get_state()[1].copy()
    first = perturb_atoms(atoms, 6, 0.1, 0.03, seed=5)
    assert np.array_equal(np.random.get_state()[1], state)  # global generator restored
    again = perturb_atoms(atoms, 6, 0.1, 0.03, seed=5)
    other = perturb_atoms(atoms, 6, 0.1, 0.03, seed=6)
    assert len(first) == 6 and perturb_atoms(atoms, 0, 0.1, 0.03, seed=5) == []
    assert all(
        np.allclose(a.positions, b.positions) for a, b in zip(first, again, strict=True)
    )
    assert not np.allclose(first[0].positions, other[0].positions)
    v0 = atoms.get_volume()
    for copy in first:
        assert copy.get_chemical_symbols() == atoms.get_chemical_symbols()
        assert all(copy.pbc)
        # diagonal strains within +-3 %: the volume within (1 +- 0.03)^3, off-diagonal
        # terms aside (they change it at second order)
        assert 0.97**3 - 0.01 < copy.get_volume() / v0 < 1.03**3 + 0.01
    # without strain the cell is kept (up to dpdata's rotation to lower triangular)
    # and atoms move ~0.1 A on average ('normal': a chi distribution with that mean)
    unstrained = perturb_atoms(atoms, 20, 0.1, 0.0, seed=1)
    shifts = np.concatenate(
        [np.linalg.norm(c.positions - atoms.positions, axis=1) for c in unstrained]
    )
    assert 0.07 < shifts.mean() < 0.13 and shifts.max() < 0.5


def test_validation_frames_are_drawn_and_too_few_frames_refused():
    frames = [_frame(0.1 * i, "md") for i in range(10)]
    train, valid = split_valid(frames, 0.15, seed=0)
    assert (len(train), len(valid)) == (8, 2)  # ceil(1.5)
    assert {id(f) for f in train} | {id(f) for f in valid} == {id(f) for f in frames}
    with pytest.raises(DistillationError, match="too few to train"):
        split_valid(frames[:1], 0.15, seed=0)


def test_bad_input_is_refused_before_anything_runs(tmp_path: Path):
    with pytest.raises(ValueError, match="max_force_eV_A must be positive"):
        DistillMaker(teacher="emt", max_force_eV_A=0.0)
    with pytest.raises(ValueError, match="student is a DeePMD se_e2_a"):
        DistillMaker(teacher="emt", train=TrainMaker(potential="chgnet"))
    with pytest.raises(ValueError, match="trained from scratch"):
        DistillMaker(teacher="emt", train=TrainMaker(potential="deepmd"))
    attention = TrainSettings(from_scratch=True, model={"descriptor": {"type": "dpa1"}})
    with pytest.raises(ValueError, match="not 'dpa1'"):
        DistillMaker(
            teacher="emt", train=TrainMaker(potential="deepmd", settings=attention)
        )
    with pytest.raises(ValueError, match="name the teacher"):
        DistillMaker().make([_structure()])

    # EMT has no Li: refused when the flow is built, before any job (no run recorded)
    cell = _structure()
    cell.replace(0, "Li")
    with pytest.raises(UnsupportedElementError, match=r"teacher 'emt'.*not trained on Li"):
        DistillMaker(teacher="emt").make([cell])
    assert list_runs() == []

    # the spec: the same checks, as a SpecError naming the spec; keys the kind ignores
    (tmp_path / "cell.cif").write_text(cell.to(fmt="cif"))
    base = {"flow": "distill", "name": "d", "teacher": "emt", "structures": ["cell.cif"]}
    with pytest.raises(SpecError, match="max_force_eV_A must be positive"):
        FlowSpec.from_data({**base, "distill": {"max_force_eV_A": -1}}, tmp_path)
    with pytest.raises(SpecError, match="does not use 'potential'"):
        FlowSpec.from_data({**base, "potential": "chgnet"}, tmp_path)
    with pytest.raises(SpecError, match="teacher at the top level"):
        FlowSpec.from_data({**base, "distill": {"teacher": "emt"}}, tmp_path)
    spec = FlowSpec.from_data(base, tmp_path)
    # the student section defaults to a DeePMD model trained from scratch
    assert spec.distill.train.potential.name == "deepmd"  # type: ignore[attr-defined]
    assert spec.distill.train.settings.from_scratch  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedElementError, match="not trained on Li"):
        run_spec(spec)
    assert list_runs() == []


# ---------------------------------------------------------------- the flow


@pytest.mark.extended  # CI runs the CHGNet-teacher flow; the force cap is unit-tested
@needs_deepmd
def test_emt_teacher_distils_into_a_compressed_deepmd_student(shared_envs: None):
    cap = 3.0  # eV/A: lower than the paper's 10 so that some perturbed frames go
    maker = DistillMaker(
        teacher="emt",
        n_perturbed=24,
        displacement_A=0.1,
        strain_fraction=0.02,
        md_frame_perturbations=1,
        temperatures=[600.0],
        md=_md(40, 4),
        held_out_md=_md(40, 5, temperature=600.0, seed=7),
        max_force_eV_A=cap,
        train=_student(epochs=40),
        speed_steps=20,
        speed_warmup=3,
    )
    start = time.perf_counter()
    flow = maker.make([_structure()])
    record = run_flow(flow)
    seconds = time.perf_counter() - start
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs]
    doc = _document(flow.output.uuid)
    print(f"\nEMT distillation: {seconds:.0f} s;", *doc.summary_lines(), sep="\n")

    # counts: 24 perturbed, 10 MD frames (40 steps, one every 4), 10 perturbed copies
    frames = doc.frames
    assert (frames.perturbed, frames.md, frames.md_perturbed) == (24, 10, 10)
    assert frames.labelled == 44 and frames.held_out == 8
    # the cap: recount from the teacher's labels file, independently of the flow
    labelled = read_labeled_frames(doc.files["labels"])
    largest = [float(np.linalg.norm(f.forces, axis=1).max()) for f in labelled]
    over = [i for i, value in enumerate(largest) if value > cap]
    assert 0 < len(over) < len(labelled)
    assert frames.dropped_force_cap == len(over)
    by_source: dict[str, int] = {}
    for i in over:
        source = labelled[i].atoms.info["source"]
        by_source[source] = by_source.get(source, 0) + 1
    assert frames.dropped_by_source == by_source
    assert frames.train + frames.valid == len(labelled) - len(over)
    assert frames.valid == math.ceil(0.15 * (len(labelled) - len(over)))
    for name in ("train", "valid"):
        kept = read_labeled_frames(doc.files[name])
        assert max(float(np.linalg.norm(f.forces, axis=1).max()) for f in kept) <= cap
    # labels are EMT's: one frame relabelled here agrees
    check = labelled[0].atoms.copy()
    from ase.calculators.emt import EMT

    check.calc = EMT()
    assert np.allclose(check.get_forces(), labelled[0].forces, atol=1e-6)

    # the student: a compressed se_e2_a whose file is the one named
    assert doc.student_descriptor == "se_e2_a"
    assert doc.student_compressed
    model_file = Path(doc.student_potential.split(":", 1)[1])
    assert model_file.exists()
    from sse_flows.provenance import sha256_of

    assert sha256_of(model_file) == doc.student_sha256
    assert doc.teacher.potential == "emt" and doc.teacher.sha256 is None

    # errors against the teacher on the held-out teacher MD: finite, well under the
    # spread of the teacher's forces there (the student learnt something)
    held = read_labeled_frames(doc.files["held_out"])
    rms_force = float(np.sqrt(np.mean([np.mean(f.forces**2) for f in held]))) * 1e3
    errors = doc.held_out_errors
    assert errors.n_frames == 8
    for value in (
        errors.force_mae_meV_A,
        errors.force_rmse_meV_A,
        errors.energy_mae_meV_atom,
    ):
        assert value is not None and math.isfinite(value)
    assert errors.force_mae_meV_A < 0.5 * rms_force, (errors, rms_force)
    assert errors.energy_mae_meV_atom < 50

    # speeds: both measured on the same 32-atom cell
    for speed in (doc.speed_student, doc.speed_teacher):
        assert speed.n_atoms == 32 and speed.steps == 20 and speed.atom_steps_per_s > 0
    ratio = doc.speed_student.atom_steps_per_s / doc.speed_teacher.atom_steps_per_s
    assert doc.speed_ratio == pytest.approx(ratio)


@needs_deepmd
def test_student_is_faster_than_a_slow_teacher(shared_envs: None, tmp_path: Path):
    """CHGNet teaches through the ``flow: distill`` spec kind; few frames, few epochs."""
    (tmp_path / "cuau.cif").write_text(_structure(au=4).to(fmt="cif"))
    spec_file = tmp_path / "distill.yaml"
    md = {"ensemble": "nvt", "timestep_fs": 2.0, "checkpoint_interval": 12}
    # two epochs: the speed of a model does not depend on how well it was trained
    student = {"settings": {"epochs": 2, "batch_size": 4, "model": TINY_STUDENT}}
    spec_file.write_text(
        yaml.safe_dump(
            {
                "flow": "distill",
                "name": "chgnet to deepmd",
                "teacher": "chgnet",
                "structures": ["cuau.cif"],
                "distill": {
                    "n_perturbed": 10,
                    "displacement_A": 0.05,
                    "md_frame_perturbations": 1,
                    "temperatures": [600],
                    "md": {**md, "production_steps": 12, "sample_interval": 3},
                    "held_out_md": {
                        **md,
                        "temperature": 600,
                        "production_steps": 6,
                        "sample_interval": 3,
                        "seed": 9,
                    },
                    "train": student,
                    "speed_steps": 8,
                    "speed_warmup": 2,
                },
            }
        )
    )
    spec = FlowSpec.from_file(spec_file)
    start = time.perf_counter()
    record = run_spec(spec)
    seconds = time.perf_counter() - start
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs]
    assert record.output_job is not None
    doc = _document(record.output_job)
    print(f"\nCHGNet distillation: {seconds:.0f} s;", *doc.summary_lines(), sep="\n")
    assert doc.teacher.potential == "chgnet"
    assert doc.teacher.sha256 is not None  # CHGNet's weights file
    assert doc.frames.labelled == 10 + 4 + 4 and doc.frames.held_out == 2
    assert doc.frames.dropped_force_cap == 0  # the paper's 10 eV/A
    assert doc.held_out_errors.force_mae_meV_A is not None
    assert math.isfinite(doc.held_out_errors.force_mae_meV_A)
    assert doc.speed_teacher.atom_steps_per_s > 0
    # the point of distillation: the small student runs faster than its teacher
    assert doc.speed_student.atom_steps_per_s > doc.speed_teacher.atom_steps_per_s
    assert doc.speed_ratio > 1
