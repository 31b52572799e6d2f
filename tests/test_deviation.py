"""Committee deviation: hand-computed values, deepmd-kit's own functions, dpgen's selection.

The deepmd-kit check runs ``calc_model_devi_f/e/v`` and ``write_model_devi_out`` in the
deepmd environment's python on the same arrays; the dpgen check runs dpgen 0.14.0's
``_select_by_model_devi_standard`` and ``_select_by_model_devi_adaptive_trust_low``
(installed in the main venv by scripts/setup.sh) on the model_devi.out we write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from sse_flows.training.deviation import (
    ClassCounts,
    DeviationInputError,
    ModelDeviation,
    TrustLevels,
    adaptive_trust_lo,
    classify,
    committee_predictions,
    force_deviation,
    read_model_devi,
    write_model_devi,
)
from tests.tiny_models import MACHINE_ENVS_DIR, cu_frames, needs_environment


# ------------------------------------------------------------------ hand-built values
def _two_models() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two models, one frame of two atoms; model 1 = model 0 + a known difference."""
    rng = np.random.default_rng(0)
    f0 = rng.normal(size=(1, 2, 3))
    d = np.array([[[0.2, 0.0, 0.0], [0.0, 0.3, 0.4]]])  # |d| = 0.2 and 0.5
    forces = np.stack([f0, f0 + d])
    energies = np.array([[10.0], [10.4]])  # per atom 5.0 and 5.2
    virials = np.zeros((2, 1, 3, 3))
    virials[1, 0, 0, 0] = 0.6  # per atom 0 and 0.3
    return energies, forces, virials


def test_two_models_differing_by_a_known_vector() -> None:
    energies, forces, virials = _two_models()
    # each model is |d|/2 from the mean
    assert force_deviation(forces) == pytest.approx(np.array([[0.1, 0.25]]), abs=1e-15)
    devi = ModelDeviation.from_predictions([7], energies, forces, virials, natoms=2)
    assert devi.steps.tolist() == [7]
    assert devi.max_devi_f[0] == pytest.approx(0.25)
    assert devi.min_devi_f[0] == pytest.approx(0.1)
    assert devi.avg_devi_f[0] == pytest.approx(0.175)
    assert devi.devi_e[0] == pytest.approx(0.1)  # std of 5.0 and 5.2
    assert devi.max_devi_v[0] == pytest.approx(0.15)  # std of 0 and 0.3
    assert devi.min_devi_v[0] == 0.0
    assert devi.avg_devi_v[0] == pytest.approx(0.05)  # norm of the 9 stds / 3
    assert devi.as_array().shape == (1, 8)


def test_three_models_and_missing_virials() -> None:
    forces = np.zeros((3, 2, 1, 3))
    forces[:, 0, 0, 0] = [0.0, 0.3, 0.6]  # std sqrt(0.06)
    forces[:, 1, 0, 2] = [1.0, 1.0, 1.0]  # agree
    devi = ModelDeviation.from_predictions([0, 10], np.zeros((3, 2)), forces, None)
    assert devi.max_devi_f == pytest.approx([np.sqrt(0.06), 0.0])
    assert devi.devi_e.tolist() == [0.0, 0.0]
    for column in (devi.max_devi_v, devi.min_devi_v, devi.avg_devi_v):
        assert np.isnan(column).all()


def test_bad_arrays_are_refused() -> None:
    energies, forces, virials = _two_models()
    with pytest.raises(DeviationInputError, match="at least 2 models, got 1"):
        force_deviation(forces[:1])
    with pytest.raises(DeviationInputError, match="natoms=3 but the forces hold 2"):
        ModelDeviation.from_predictions([0], energies, forces, virials, natoms=3)
    with pytest.raises(DeviationInputError, match="2 steps for 1 frames"):
        ModelDeviation.from_predictions([0, 1], energies, forces, virials)
    with pytest.raises(DeviationInputError, match=r"virials must be \(models"):
        ModelDeviation.from_predictions([0], energies, forces, virials[:, :, :2])


# ------------------------------------------------------------------ classification
def test_classify_boundaries_and_non_finite() -> None:
    trust = TrustLevels(lo=0.1, hi=0.2)
    f = np.array([0.0999, 0.1, 0.15, 0.2, 0.25, np.nan, np.inf])
    labels = classify(f, trust)
    assert labels.tolist() == [
        "accurate",  # f < lo
        "candidate",  # f == lo is a candidate (dpgen: lo <= f)
        "candidate",
        "failed",  # f == hi is failed (dpgen: f >= hi)
        "failed",
        "failed",  # NaN: an exploded run
        "failed",
    ]
    counts = ClassCounts.from_labels(labels)
    assert (counts.accurate, counts.candidate, counts.failed, counts.total) == (1, 2, 4, 7)
    assert counts.accurate_ratio == pytest.approx(1 / 7)
    assert counts.candidate_ratio == pytest.approx(2 / 7)
    assert counts.failed_ratio == pytest.approx(4 / 7)
    assert np.isnan(ClassCounts.from_labels([]).accurate_ratio)
    assert TrustLevels() == TrustLevels(0.12, 0.25)  # papers 000 and 004


def test_trust_levels_refused() -> None:
    with pytest.raises(DeviationInputError, match=r"lo \(0.3 eV/A\) must be below hi"):
        TrustLevels(lo=0.3, hi=0.25)
    with pytest.raises(DeviationInputError, match="must be below hi"):
        TrustLevels(lo=0.25, hi=0.25)
    with pytest.raises(DeviationInputError, match="finite deviation >= 0"):
        TrustLevels(lo=-0.1, hi=0.25)
    with pytest.raises(DeviationInputError, match="unknown label"):
        ClassCounts.from_labels(["accurate", "fine"])


def test_adaptive_trust_lo() -> None:
    f = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.3, np.nan])
    # 5 frames not failed; the 2 largest become candidates: lo is the smaller one
    assert adaptive_trust_lo(f, hi=0.25, numb_candi=2) == 0.04
    assert adaptive_trust_lo(f, hi=0.25, numb_candi=0, perc_candi=60.0) == 0.03
    assert adaptive_trust_lo(f, hi=0.25, numb_candi=10) == 0.01  # all 5
    assert adaptive_trust_lo(f, hi=0.25, numb_candi=0) == 0.25  # none: lo = hi


# ------------------------------------------------------------------ model_devi.out
def _random_deviation(n: int, seed: int, scale: float = 0.1) -> ModelDeviation:
    """Four models that disagree by a different amount on each frame (0.1-3 x scale)."""
    rng = np.random.default_rng(seed)
    models, atoms = 4, 5
    spread = scale * np.geomspace(0.1, 3.0, n)[rng.permutation(n)]
    return ModelDeviation.from_predictions(
        np.arange(n) * 10,
        rng.normal(-3.0 * atoms, 1, (models, n)) * spread,
        rng.normal(0, 1, (1, n, atoms, 3))
        + rng.normal(0, 1, (models, n, atoms, 3)) * spread[:, None, None],
        rng.normal(0, atoms, (models, n, 3, 3)) * spread[:, None, None],
        natoms=atoms,
    )


def test_write_read_round_trip(tmp_path: Path) -> None:
    devi = _random_deviation(6, seed=1)
    path = write_model_devi(tmp_path / "model_devi.out", devi)
    lines = path.read_text().splitlines()
    assert lines[0] == "# "
    assert lines[1].split() == [
        "#",
        "step",
        *(f"{a}_devi_{b}" for b in "vf" for a in ("max", "min", "avg")),
        "devi_e",
    ]
    assert len(lines) == 8 and len(lines[2]) == 12 + 7 * 19
    back = read_model_devi(path)
    assert back.steps.tolist() == [0, 10, 20, 30, 40, 50]
    np.testing.assert_allclose(back.as_array(), devi.as_array(), rtol=1e-6, atol=0)
    write_model_devi(path, back)  # overwrites, unlike deepmd-kit's append
    assert len(path.read_text().splitlines()) == 8


def test_read_seven_columns(tmp_path: Path) -> None:
    """Older dp and LAMMPS write 7 columns (no devi_e); LAMMPS's header is one line."""
    lammps = tmp_path / "lammps.out"
    lammps.write_text(
        "#       step         max_devi_v         min_devi_v         avg_devi_v"
        "         max_devi_f         min_devi_f         avg_devi_f\n"
        "           0       1.000000e-02       2.000000e-03       5.000000e-03"
        "       1.300000e-01       1.000000e-02       5.000000e-02\n"
        "          50       2.000000e-02       3.000000e-03       6.000000e-03"
        "       2.600000e-01       2.000000e-02       6.000000e-02\n"
    )
    devi = read_model_devi(lammps)
    assert devi.steps.tolist() == [0, 50]
    assert devi.max_devi_f.tolist() == [0.13, 0.26]
    assert devi.avg_devi_v.tolist() == [0.005, 0.006]
    assert np.isnan(devi.devi_e).all()
    assert classify(devi.max_devi_f, TrustLevels()).tolist() == ["candidate", "failed"]
    bare = tmp_path / "bare.out"
    bare.write_text("0 0.1 0.0 0.05 0.2 0.01 0.1\n")  # one row, no header
    assert read_model_devi(bare).min_devi_f.tolist() == [0.01]
    bad = tmp_path / "bad.out"
    bad.write_text("0 0.1 0.2\n")
    with pytest.raises(DeviationInputError, match="has 3 columns"):
        read_model_devi(bad)


def test_dpgen_safe_writing(tmp_path: Path) -> None:
    devi = _random_deviation(3, seed=2)
    devi.max_devi_f[1] = np.nan  # an exploded frame
    devi.max_devi_v[:] = devi.min_devi_v[:] = devi.avg_devi_v[:] = np.nan
    safe = read_model_devi(write_model_devi(tmp_path / "safe.out", devi))
    assert safe.max_devi_f[1] == np.inf and (safe.max_devi_v == 0).all()
    raw = read_model_devi(write_model_devi(tmp_path / "raw.out", devi, dpgen_safe=False))
    assert np.isnan(raw.max_devi_f[1]) and np.isnan(raw.avg_devi_v).all()
    trust = TrustLevels()
    assert (
        classify(safe.max_devi_f, trust).tolist()
        == classify(raw.max_devi_f, trust).tolist()
    )


# ------------------------------------------------------------------ deepmd-kit
DEEPMD_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from deepmd.infer.model_devi import (
        calc_model_devi_e, calc_model_devi_f, calc_model_devi_v, write_model_devi_out,
    )
    d = Path(sys.argv[1])
    e, f, v = (np.load(d / f"{k}.npy") for k in ("energies", "forces", "virials"))
    steps = np.load(d / "steps.npy")
    m, n, natoms = f.shape[:3]
    # as calc_model_devi assembles dp.eval's results (energy, virial per atom)
    devi = [steps]
    devi += list(calc_model_devi_v(v.reshape(m, n, 9) / natoms))
    devi_f = list(calc_model_devi_f(f, atomic=True))
    devi += devi_f[:3]
    devi.append(calc_model_devi_e(e[..., None] / natoms))
    devi = np.vstack(devi).T
    write_model_devi_out(devi, str(d / "dp.out"))
    np.save(d / "devi.npy", devi)
    np.save(d / "atomic.npy", devi_f[3])
    """
)


@needs_environment("deepmd")
def test_matches_deepmd_kit(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    models, frames, atoms = 4, 9, 6
    arrays = {
        "energies": rng.normal(-20, 0.5, (models, frames)),
        "forces": rng.normal(0, 1, (models, frames, atoms, 3)),
        "virials": rng.normal(0, 2, (models, frames, 3, 3)),
        "steps": np.arange(frames, dtype=np.int64) * 20,
    }
    for name, value in arrays.items():
        np.save(tmp_path / f"{name}.npy", value)
    python = MACHINE_ENVS_DIR / "deepmd" / "bin" / "python"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(python), "-c", DEEPMD_SCRIPT, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ours = ModelDeviation.from_predictions(
        arrays["steps"], arrays["energies"], arrays["forces"], arrays["virials"], atoms
    )
    theirs = np.load(tmp_path / "devi.npy")
    assert theirs.shape == (frames, 8)
    np.testing.assert_allclose(ours.as_array(), theirs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        force_deviation(arrays["forces"]), np.load(tmp_path / "atomic.npy"), atol=1e-10
    )
    # the same file, byte for byte, and it reads back as the same table
    path = write_model_devi(tmp_path / "ours.out", ours)
    assert path.read_bytes() == (tmp_path / "dp.out").read_bytes()
    np.testing.assert_array_equal(
        read_model_devi(tmp_path / "dp.out").as_array(), read_model_devi(path).as_array()
    )


# ------------------------------------------------------------------ dpgen
DPGEN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from dpgen.generator.run import (
        _select_by_model_devi_adaptive_trust_low, _select_by_model_devi_standard,
    )
    args = json.loads(sys.argv[1])
    out = {}
    lo, hi = args["lo"], args["hi"]
    for task in args["standard"]:
        try:
            *_, counter = _select_by_model_devi_standard(
                [task], lo, hi, 1e10, 1e10, None, "lammps", 0
            )  # v trust 1e10: dpgen's defaults when model_devi_v_trust_* are unset
            out[task] = dict(counter)
        except RuntimeError as exc:
            out[task] = {"error": str(exc)}
    task = args["adaptive"]
    *_, counter, f_lo, _v_lo = _select_by_model_devi_adaptive_trust_low(
        [task], hi, args["numb_candi"], args["perc_candi"], 1e10, 0, 0.0
    )
    out["adaptive"] = {**dict(counter), "f_trust_lo": f_lo}
    print(json.dumps(out))
    """
)


def _dpgen_counts(counts: ClassCounts) -> dict[str, int]:
    return {
        "accurate": counts.accurate,
        "candidate": counts.candidate,
        "failed": counts.failed,
    }


def test_classification_matches_dpgen(tmp_path: Path) -> None:
    if importlib.util.find_spec("dpgen") is None:
        pytest.fail("dpgen is not installed in this venv: run bash scripts/setup.sh")
    trust = TrustLevels(0.12, 0.25)
    devi = _random_deviation(40, seed=3, scale=0.06)
    assert devi.max_devi_f.min() < trust.lo and devi.max_devi_f.max() > trust.hi
    # exactly at each level (%19.6e writes 0.12 and 0.25 exactly), and an exploded frame
    devi.max_devi_f[[3, 4, 5]] = [trust.lo, trust.hi, np.nan]
    tasks = {name: tmp_path / f"task.000.00000{i}" for i, name in enumerate("abcd")}
    for folder in tasks.values():
        folder.mkdir()
    write_model_devi(tasks["a"] / "model_devi.out", devi)
    # a member without stress: NaN virial columns, which dpgen cannot sort unless safe
    no_virial = _random_deviation(12, seed=4, scale=0.06)
    for column in (no_virial.max_devi_v, no_virial.min_devi_v, no_virial.avg_devi_v):
        column[:] = np.nan
    write_model_devi(tasks["b"] / "model_devi.out", no_virial)
    write_model_devi(tasks["c"] / "model_devi.out", no_virial, dpgen_safe=False)
    adaptive = _random_deviation(30, seed=5, scale=0.06)  # no value exactly at hi
    write_model_devi(tasks["d"] / "model_devi.out", adaptive)
    numb_candi, perc_candi = 3, 20.0
    args = {
        "lo": trust.lo,
        "hi": trust.hi,
        "standard": [str(tasks[k]) for k in "abc"],
        "adaptive": str(tasks["d"]),
        "numb_candi": numb_candi,
        "perc_candi": perc_candi,
    }
    done = subprocess.run(
        [sys.executable, "-c", DPGEN_SCRIPT, json.dumps(args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    dpgen = json.loads(done.stdout.splitlines()[-1])

    ours_a = ClassCounts.from_labels(
        classify(read_model_devi(tasks["a"] / "model_devi.out").max_devi_f, trust)
    )
    assert dpgen[str(tasks["a"])] == _dpgen_counts(ours_a)
    assert ours_a.accurate > 0 and ours_a.candidate > 2 and ours_a.failed > 2
    ours_b = ClassCounts.from_labels(classify(no_virial.max_devi_f, trust))
    assert dpgen[str(tasks["b"])] == _dpgen_counts(ours_b)
    assert "does not belong to either" in dpgen[str(tasks["c"])]["error"]

    f_adaptive = read_model_devi(tasks["d"] / "model_devi.out").max_devi_f
    lo = adaptive_trust_lo(f_adaptive, trust.hi, numb_candi, perc_candi)
    assert dpgen["adaptive"].pop("f_trust_lo") == lo
    ours_d = ClassCounts.from_labels(classify(f_adaptive, TrustLevels(lo, trust.hi)))
    assert dpgen["adaptive"] == _dpgen_counts(ours_d)
    assert ours_d.candidate == max(numb_candi, int(0.2 * (30 - ours_d.failed)))
    print(f"dpgen standard {dpgen[str(tasks['a'])]}, adaptive {dpgen['adaptive']} lo {lo}")


# ------------------------------------------------------------------ committee
class NoStress(Calculator):
    """A real ASE calculator that gives energy and forces only (pair springs)."""

    implemented_properties = ["energy", "forces"]

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        displacement = self.atoms.positions - self.atoms.positions.mean(axis=0)
        self.results = {
            "energy": 0.5 * float((displacement**2).sum()),
            "forces": -displacement,
        }


def test_committee_one_by_one_and_known(tmp_path: Path) -> None:
    frames = cu_frames(3, seed=11)
    drive = EMT()
    other = EMT(asap_cutoff=True)  # a second, different EMT: a real committee
    result = committee_predictions(frames, [drive, other])
    assert result.path == ["one-by-one", "one-by-one"]
    assert result.forces.shape == (2, 3, 32, 3) and result.virials is not None
    for i, atoms in enumerate(frames):
        atoms = atoms.copy()
        atoms.calc = EMT()
        assert result.energies[0, i] == pytest.approx(atoms.get_potential_energy())
        np.testing.assert_allclose(result.forces[0, i], atoms.get_forces())
        virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
        np.testing.assert_allclose(result.virials[0, i], virial, atol=1e-12)
    devi = ModelDeviation.from_predictions(range(3), *result[:3], natoms=32)
    assert (devi.max_devi_f > 0).all() and np.isfinite(devi.max_devi_v).all()
    # the driving model's own numbers are taken, not recomputed
    known = {0: (result.energies[0], result.forces[0], result.virials[0])}
    again = committee_predictions(frames, [None, other], known=known)
    assert again.path == ["known", "one-by-one"]
    np.testing.assert_array_equal(again.forces, result.forces)
    np.testing.assert_array_equal(again.virials, result.virials)

    # no stress from a member, or a non-periodic frame: no virials
    assert committee_predictions(frames, [drive, NoStress()]).virials is None
    assert committee_predictions(frames, [drive, other], with_virials=False).virials is None
    cluster = bulk("Cu", "fcc", a=3.61, cubic=True)
    cluster.pbc = False
    cluster.center(vacuum=4.0)
    assert committee_predictions([cluster], [drive, other]).virials is None

    with pytest.raises(DeviationInputError, match="at least 2 members"):
        committee_predictions(frames, [drive])
    with pytest.raises(DeviationInputError, match="do not have the 32 atoms"):
        committee_predictions([frames[0], cluster], [drive, other])
    with pytest.raises(DeviationInputError, match="member 0 has no calculator"):
        committee_predictions(frames, [None, other])


def test_committee_batched_chgnet_matches_its_calculator() -> None:
    from sse_flows.potentials import PotentialSpec, load_potential

    chgnet = load_potential(PotentialSpec.parse("chgnet")).calculator
    frames = cu_frames(3, seed=12)
    result = committee_predictions(frames, [chgnet, EMT()], batch_size=2)
    assert result.path == ["batched:chgnet", "one-by-one"]
    assert result.virials is not None
    for i, atoms in enumerate(frames):
        atoms = atoms.copy()
        atoms.calc = chgnet
        assert result.energies[0, i] == pytest.approx(
            atoms.get_potential_energy(), abs=1e-4
        )
        np.testing.assert_allclose(result.forces[0, i], atoms.get_forces(), atol=1e-5)
        virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
        np.testing.assert_allclose(result.virials[0, i], virial, atol=1e-4)
