"""DFT labeling with real CP2K: custodian, parsing, units, failed frames, exports.

CP2K 2023.1 (Debian) runs here; the cells are 2-3 atoms with the test preset
(``tests/data/dft/cp2k-test.yaml``: the shipped cp2k-pbe-small with fewer k-points),
about 10-30 s per frame on one core. The CP2K tests skip when CP2K is not installed,
unless SSE_FLOWS_REQUIRE_CP2K=1 (set by scripts/test.sh) turns the skip into a failure.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from ase.units import GPa
from pymatgen.core import Lattice, Structure

from sse_flows.cluster.routing import JobRole, job_role
from sse_flows.constants import HARTREE_PER_BOHR_IN_EV_PER_A
from sse_flows.dft.backends import get_backend
from sse_flows.dft.cp2k import Cp2kNotAvailableError
from sse_flows.dft.cp2k_output import parse_output, scf_steps
from sse_flows.dft.labels import LabeledFrame
from sse_flows.dft.presets import DftPresetError, available_presets, load_dft_preset
from sse_flows.dft.validation import frame_problem
from sse_flows.errors import DisorderedStructureError
from sse_flows.flows import LabelingMaker
from sse_flows.makers.labeling import (
    LabelBatchMaker,
    LabelingThresholdError,
    build_dataset,
)
from sse_flows.runner import run_flow
from sse_flows.stores import get_job_store
from tests.conftest import CP2K_DATA as DATA
from tests.conftest import TEST_PRESET

needs_cp2k = pytest.mark.usefixtures("cp2k_installed")


def _licl(a: float = 5.13) -> Structure:
    rocksalt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return rocksalt.get_primitive_structure()


def _li2s(a: float = 5.70) -> Structure:
    antifluorite = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["S", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    return antifluorite.get_primitive_structure()


def _outputs(name_part: str) -> list[dict]:
    store = get_job_store()
    store.connect()
    try:
        return [
            d["output"]
            for d in store.query({"name": {"$regex": name_part}}, load=True)
            if d.get("output") is not None
        ]
    finally:
        store.close()


# ------------------------------------------------------------------ no CP2K needed
def test_shipped_presets_load_and_a_wrong_code_or_file_is_refused(tmp_path):
    assert {"cp2k-pbe-small"} <= set(available_presets())
    small = load_dft_preset("cp2k-pbe-small")
    assert small.code == "cp2k" and small.functional == "PBE"
    with pytest.raises(DftPresetError, match="shipped presets are"):
        load_dft_preset("no-such-preset")
    broken = tmp_path / "broken.yaml"
    broken.write_text("code: abinit\nfunctional: PBE\n")
    with pytest.raises(DftPresetError, match="malformed"):
        load_dft_preset(broken)
    with pytest.raises(DftPresetError, match="is for cp2k, not vasp"):
        LabelingMaker(preset="cp2k-pbe-small", code="vasp").make([_licl()])


def test_disordered_frames_are_refused_before_anything_runs():
    disordered = Structure(Lattice.cubic(4.0), [{"Li": 0.5, "Na": 0.5}], [[0, 0, 0]])
    with pytest.raises(DisorderedStructureError, match="frame 1"):
        LabelingMaker(preset=TEST_PRESET).make([_licl(), disordered])


def test_batches_go_to_the_dft_worker_and_sizes_follow_the_settings():
    frames = [_licl()] * 7
    flow = LabelingMaker(preset=TEST_PRESET, frames_per_job=3).make(frames)
    batches = [j for j in flow.jobs if j.name.startswith("dft label batch")]
    assert [len(j.function_args[0]) for j in batches] == [3, 3, 1]
    assert [j.function_args[1] for j in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert all(job_role(j) == JobRole.DFT for j in batches)
    assert job_role(flow.jobs[-1]) == JobRole.CPU  # the dataset is written beside them
    capped = LabelingMaker(preset=TEST_PRESET, frames_per_job=1, max_jobs=2)
    assert capped.batch_size(1000) == 500


def test_missing_cp2k_and_missing_basis_say_what_to_do(monkeypatch, tmp_path):
    preset = load_dft_preset(TEST_PRESET)
    backend = get_backend("cp2k")
    monkeypatch.setenv("SSE_FLOWS_CP2K_CMD", "mpirun -np 1 cp2k-not-installed.psmp")
    with pytest.raises(Cp2kNotAvailableError, match="apt install cp2k"):
        backend.check_ready(preset, ["Li", "Cl"])
    monkeypatch.delenv("SSE_FLOWS_CP2K_CMD")
    monkeypatch.setenv("SSE_FLOWS_CP2K_DATA_DIR", str(tmp_path))
    with pytest.raises(Cp2kNotAvailableError, match="cp2k-data"):
        backend.check_ready(preset, ["Li"])


@needs_cp2k
def test_an_element_without_the_basis_is_named():
    preset = load_dft_preset(TEST_PRESET)
    with pytest.raises(Cp2kNotAvailableError, match=r"for Pu in .*BASIS_MOLOPT"):
        get_backend("cp2k").settings_record(preset, ["Li", "Pu"])


def _cell_and_coords(inp: str) -> tuple[Lattice, list[tuple[str, list[float]]]]:
    lines = [line.split() for line in inp.splitlines()]
    cell = [[float(x) for x in w[1:4]] for w in lines if w[:1] in (["A"], ["B"], ["C"])]
    start = next(i for i, w in enumerate(lines) if w == ["&COORD"])
    atoms = []
    for words in lines[start + 1 :]:
        if words[:1] == ["&END"]:
            break
        atoms.append((words[0].split("_")[0], [float(x) for x in words[1:4]]))
    return Lattice(cell), atoms


def test_a_stored_cp2k_output_is_read_in_ev_per_angstrom_and_tensile_positive(tmp_path):
    (tmp_path / "cp2k.out").write_bytes(
        gzip.decompress((DATA / "licl_cp2k.out.gz").read_bytes())
    )
    shutil.copy(DATA / "licl_cp2k.inp", tmp_path / "cp2k.inp")
    lattice, atoms = _cell_and_coords((tmp_path / "cp2k.inp").read_text())
    assert [a[0] for a in atoms] == ["Li", "Cl"]
    # the frame lists Cl first: CP2K's order (grouped by kind) is not the frame's
    frame = Structure(
        lattice,
        [atoms[1][0], atoms[0][0]],
        [atoms[1][1], atoms[0][1]],
        coords_are_cartesian=True,
    )
    parsed = parse_output(tmp_path, frame)
    text = (tmp_path / "cp2k.out").read_text()
    # the raw numbers CP2K printed, in Hartree, Hartree/bohr and GPa (compressive +)
    energy_ha = float(text.split("Total FORCE_EVAL ( QS ) energy [a.u.]:")[1].split()[0])
    rows = text.split("ATOMIC FORCES in [a.u.]")[1].splitlines()[3:5]
    forces_au = np.array([[float(x) for x in row.split()[3:6]] for row in rows])
    stress_block = text.split("STRESS| Analytical stress tensor [GPa]")[1].splitlines()
    stress_cp2k = np.array(
        [[float(x) for x in stress_block[i].split()[2:5]] for i in (2, 3, 4)]
    )
    assert parsed["energy_eV"] == pytest.approx(energy_ha * 27.211386245988, rel=1e-12)
    assert HARTREE_PER_BOHR_IN_EV_PER_A == pytest.approx(27.211386245988 / 0.529177210903)
    np.testing.assert_allclose(
        parsed["forces_eV_A"], forces_au[[1, 0]] * HARTREE_PER_BOHR_IN_EV_PER_A
    )
    np.testing.assert_allclose(parsed["stress_GPa"], -stress_cp2k)
    assert parsed["scf_converged"] is True
    assert parsed["n_scf_steps"] == scf_steps(tmp_path / "cp2k.out") == 15
    assert parsed["code_version"] == "2023.1"


def test_validation_rejects_unusable_labels():
    good = LabeledFrame(
        index=0,
        status="success",
        structure=_licl().as_dict(),
        formula="Li1 Cl1",
        energy_eV=-614.3,
        forces_eV_A=[[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]],
        stress_GPa=np.eye(3).tolist(),
        scf_converged=True,
    )
    assert frame_problem(good) is None
    unconverged = good.model_copy(update={"scf_converged": False, "n_scf_steps": 100})
    assert frame_problem(unconverged) == "SCF did not converge after 100 steps"
    blown = good.model_copy(update={"forces_eV_A": [[80.0, 0, 0], [-80.0, 0, 0]]})
    assert "max |force| 80.0" in (frame_problem(blown) or "")
    nan = good.model_copy(update={"energy_eV": float("nan")})
    assert frame_problem(nan) == "non-finite energy, force or stress"
    short = good.model_copy(update={"forces_eV_A": [[0.0, 0.0, 0.0]]})
    assert "expected (2, 3)" in (frame_problem(short) or "")
    no_stress = good.model_copy(update={"stress_GPa": None})
    assert frame_problem(no_stress) == "no stress in the output"


# ------------------------------------------------------------------ real CP2K
@needs_cp2k
def test_cp2k_labels_frames_through_the_flow_and_exports_them(tmp_path):
    import dpdata

    compressed = _licl(a=4.95)  # smaller than CP2K's LiCl: the cell pushes outwards
    (li,) = [i for i, site in enumerate(compressed) if site.specie.symbol == "Li"]
    compressed.translate_sites([li], [0.08, -0.05, 0.03], frac_coords=False)
    stretched = _li2s(a=6.05)  # larger than Li2S: the cell pulls inwards
    odd = _licl()
    odd.append("Li", [0.25, 0.25, 0.25])  # 13 electrons: closed-shell DFT cannot run
    flow = LabelingMaker(
        name="licl li2s labels",
        preset=TEST_PRESET,
        frames_per_job=2,
        min_success_fraction=0.6,
    ).make([compressed, stretched, odd])
    record = run_flow(flow)
    assert record.state == "COMPLETED", [j.error for j in record.jobs]

    (dataset,) = _outputs("licl li2s labels dataset")
    assert (dataset["n_frames"], dataset["n_success"], dataset["n_failed"]) == (3, 2, 1)
    (failed,) = dataset["failed"]
    assert failed["index"] == 2
    assert "odd number of electrons" in failed["reason"]
    assert dataset["dft"]["code"] == "cp2k" and dataset["dft"]["functional"] == "PBE"
    resolved = dataset["dft"]["settings"]["resolved"]
    assert resolved["Li"]["potential"]["name"] == "GTH-PBE-q3"
    assert resolved["S"]["basis"]["file"] == "BASIS_MOLOPT"
    assert len(resolved["Cl"]["potential"]["pymatgen_hash"]) == 32
    assert dataset["dft"]["code_version"] == "2023.1"
    assert (dataset["stress_unit"], dataset["force_unit"]) == ("GPa", "eV/A")

    batches = _outputs("dft label batch")
    frames = {f["index"]: f for b in batches for f in b["frames"]}
    licl, li2s = frames[0], frames[1]
    # one sign: compressed cell -> negative (compressive) stress, stretched -> positive
    assert np.trace(licl["stress_GPa"]) / 3 < -1.0
    assert np.trace(li2s["stress_GPa"]) / 3 > 0.3
    # forces sum to ~zero and the displaced Li is pushed back
    forces = np.asarray(licl["forces_eV_A"])
    assert np.abs(forces.sum(axis=0)).max() < 0.01
    assert forces[li] @ np.array([0.08, -0.05, 0.03]) < 0
    assert licl["scf_converged"] and licl["n_scf_steps"] > 3
    assert Path(licl["calc_dir"], "label.json").is_file()  # a rerun skips this frame

    images = read(dataset["files"]["extxyz"], index=":")
    assert len(images) == 2
    for atoms, frame in zip(images, (licl, li2s), strict=True):
        assert atoms.get_potential_energy() == pytest.approx(frame["energy_eV"])
        assert atoms.info["REF_energy"] == pytest.approx(frame["energy_eV"])
        np.testing.assert_allclose(atoms.arrays["REF_forces"], frame["forces_eV_A"])
        np.testing.assert_allclose(
            atoms.get_stress(voigt=False), np.asarray(frame["stress_GPa"]) * GPa, atol=1e-12
        )
    systems = dpdata.MultiSystems()
    systems.from_deepmd_npy(dataset["files"]["deepmd"], labeled=True)
    assert systems.get_nframes() == 2
    for system in systems.systems.values():
        frame = licl if sum(system["atom_numbs"]) == 2 else li2s
        volume = abs(np.linalg.det(system["cells"][0]))
        virial = -np.asarray(frame["stress_GPa"]) * GPa * volume
        np.testing.assert_allclose(system["virials"][0], virial, atol=1e-8)
        assert system["energies"][0] == pytest.approx(frame["energy_eV"])

    # the same frames against a stricter threshold: the dataset job refuses, loses nothing
    with pytest.raises(LabelingThresholdError, match="Only 2 of 3 frames"):
        build_dataset(batches, "strict", 0.9)
    kept = json.loads(Path(dataset["files"]["frames_json"]).read_text())
    assert [f["status"] for f in kept] == ["success", "success", "failed"]

    # issue 20: CHGNet against SevenNet on these CP2K labels, end to end (the stored
    # dataset's uuid is the data argument, as a user would give it)
    from typer.testing import CliRunner

    from sse_flows.cli.main import app

    (dataset_job,) = [j for j in record.jobs if j.name == "licl li2s labels dataset"]
    result = CliRunner().invoke(
        app,
        ["benchmark", dataset_job.uuid, "--potential", "chgnet,sevennet", "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = {row["potential"]: row for row in json.loads(result.stdout)["rows"]}
    assert set(rows) == {"chgnet", "sevennet"}
    for name, row in rows.items():
        assert row["inference_path"] == f"batched:{name}"
        assert row["n_frames"] == 2 and set(row["by_formula"]) == {"LiCl", "Li2S"}
        # CP2K's GTH total energies are not on the models' scale; forces and stress are
        assert row["energy_mae_meV_atom"] > 1e5
        assert 0 < row["force_mae_meV_A"] < 1000 and 0 < row["stress_mae_GPa"] < 20


@needs_cp2k
def test_cp2k_force_matches_a_finite_difference_of_its_energy(tmp_path):
    preset = load_dft_preset(TEST_PRESET)
    backend = get_backend("cp2k")
    base = _licl()
    (li,) = [i for i, site in enumerate(base) if site.specie.symbol == "Li"]
    assert li != 0  # the frame's order differs from CP2K's (Li first): mapped back
    base.translate_sites([li], [0.10, 0.0, 0.0], frac_coords=False)
    step = 0.01
    frames = []
    for sign in (+1, -1):
        moved = base.copy()
        moved.translate_sites([li], [sign * step, 0.0, 0.0], frac_coords=False)
        frame = backend.label(moved, 0, preset, tmp_path / f"fd{sign:+d}")
        assert frame.ok, frame.reason
        frames.append(frame)
    # two CP2K runs, not three: the central difference of the energies and the mean of
    # the analytic forces at +-step both give the force at the centre to O(step^2)
    finite_difference = -(frames[0].energy_eV - frames[1].energy_eV) / (2 * step)
    force_x = (frames[0].forces_eV_A[li][0] + frames[1].forces_eV_A[li][0]) / 2
    assert force_x < -0.05  # restoring: Li is pulled back to the octahedron centre
    assert force_x == pytest.approx(finite_difference, rel=0.02, abs=0.005)


@needs_cp2k
def test_a_frame_whose_scf_does_not_converge_is_excluded_and_the_flow_fails(tmp_path):
    preset = tmp_path / "no-scf.yaml"
    text = (DATA / "cp2k-test.yaml").read_text()
    preset.write_text(text.replace("max_scf: 25", "max_scf: 4"))
    flow = LabelingMaker(name="no scf", preset=str(preset), min_success_fraction=0.5)
    record = run_flow(flow.make([_licl()]))
    assert record.state == "FAILED"
    errors = {j.name: j.error for j in record.jobs}
    assert "Only 0 of 1 frames" in errors["no scf dataset"]
    (batch,) = _outputs("dft label batch")
    (frame,) = batch["frames"]
    assert frame["status"] == "failed"
    assert frame["reason"].startswith("SCF did not converge after 1 custodian correction")
    assert frame["energy_eV"] is None
    assert frame["corrections"][0]["handler"] == "UnconvergedScfErrorHandler"


@needs_cp2k
def test_a_rerun_batch_job_keeps_the_frames_it_already_labeled(tmp_path):
    """A killed batch job, rerun, finds each finished frame's label.json and skips it."""
    preset = tmp_path / "no-scf.yaml"
    preset.write_text(
        (DATA / "cp2k-test.yaml").read_text().replace("max_scf: 25", "max_scf: 4")
    )
    maker = LabelBatchMaker(preset=str(preset))
    first = maker.make.original(maker, [_licl()], [7], 0)
    (frame,) = first.frames
    output = Path(frame.calc_dir, "cp2k.out.gz")
    stamp = output.stat().st_mtime_ns
    # a half-finished frame (no label.json) is started again from scratch
    half = Path(frame.calc_dir).parent / "frame_000008"
    half.mkdir()
    (half / "cp2k.out").write_text("killed mid-run")
    again = maker.make.original(maker, [_licl(), _li2s()], [7, 8], 0)
    assert again.frames[0].model_dump(mode="json") == frame.model_dump(mode="json")
    assert output.stat().st_mtime_ns == stamp  # CP2K did not run for frame 7
    assert again.frames[1].index == 8 and again.frames[1].reason.startswith("SCF")
    assert not (half / "cp2k.out").exists()


# ------------------------------------------------------------------ command line
def test_frames_are_read_from_md_trajectories_extxyz_and_structure_files(cu_cell, tmp_path):
    from ase.io import write
    from jobflow import run_locally

    from sse_flows.dft.frames import read_frames
    from sse_flows.makers import MDMaker

    md = MDMaker(
        potential="emt",
        ensemble="nvt",
        temperature=300,
        production_steps=40,
        sample_interval=5,
        run_dir=str(tmp_path / "md"),
    ).make(cu_cell)
    run_locally(md, store=get_job_store(), ensure_success=True)
    frames = read_frames(tmp_path / "md" / "trajectory.h5", every=2)
    assert len(frames) == 4 and all(len(f) == len(cu_cell) for f in frames)
    assert all((f.frac_coords >= 0).all() and (f.frac_coords < 1).all() for f in frames)

    images = [_licl(a) for a in (5.0, 5.1, 5.2)]
    write(tmp_path / "frames.extxyz", [s.to_ase_atoms() for s in images])
    read_back = read_frames(tmp_path / "frames.extxyz", every=2)
    assert [round(f.lattice.a, 3) for f in read_back] == [
        round(images[0].lattice.a, 3),
        round(images[2].lattice.a, 3),
    ]
    _licl().to(filename=str(tmp_path / "LiCl.cif"))
    assert len(read_frames(tmp_path / "LiCl.cif")) == 1


@needs_cp2k
def test_label_command_reports_failed_frames_and_exits_nonzero(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sse_flows.cli.main import app

    preset = tmp_path / "no-scf.yaml"
    preset.write_text(
        (DATA / "cp2k-test.yaml").read_text().replace("max_scf: 25", "max_scf: 4")
    )
    _licl().to(filename=str(tmp_path / "LiCl.cif"))
    runner = CliRunner()
    result = runner.invoke(
        app, ["label", str(tmp_path / "LiCl.cif"), "--preset", str(preset)]
    )
    assert result.exit_code == 1
    assert "Only 0 of 1 frames" in result.output
    monkeypatch.setenv("SSE_FLOWS_CP2K_CMD", "cp2k-absent.psmp")
    result = runner.invoke(
        app, ["label", str(tmp_path / "LiCl.cif"), "--preset", str(preset)]
    )
    assert result.exit_code == 2 and "apt install cp2k" in result.output


def test_a_spec_file_builds_the_labeling_flow_for_run_and_submit(tmp_path, monkeypatch):
    from sse_flows.errors import SpecError
    from sse_flows.spec import FlowSpec

    example = Path(__file__).parents[1] / "examples" / "label_li2s_cp2k.yaml"
    flow = FlowSpec.from_file(example).build()
    assert flow.name == "li2s-cp2k-labels"
    (batch, dataset) = flow.jobs
    assert dataset.name == "li2s-cp2k-labels dataset"
    assert job_role(batch) == JobRole.DFT
    assert len(batch.function_args[0][0]) == 12  # the conventional Li2S cell
    # the batch job holds the resolved settings, not a name to look up where it runs
    assert batch.maker.preset == load_dft_preset("cp2k-pbe-small").model_dump()
    # a preset file and frames named relative to the spec, read from elsewhere
    spec_dir = tmp_path / "project"
    spec_dir.mkdir()
    (spec_dir / "mine.yaml").write_text((DATA / "cp2k-test.yaml").read_text())
    _licl().to(filename=str(spec_dir / "LiCl.cif"))
    (spec_dir / "spec.yaml").write_text(
        "name: own\nflow: label\nlabel: {frames: [LiCl.cif], preset: mine.yaml}\n"
    )
    monkeypatch.chdir(tmp_path)
    (own_batch, _) = FlowSpec.from_file(spec_dir / "spec.yaml").build().jobs
    assert own_batch.maker.preset["name"] == "cp2k-test"
    assert own_batch.maker.preset["settings"]["max_scf"] == 25
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: label\nlabel: {preset: cp2k-pbe-small}\n")
    with pytest.raises(SpecError, match="lists no frame files"):
        FlowSpec.from_file(bad).build()
    bad.write_text("flow: relax\n")
    with pytest.raises(SpecError, match="needs a 'structure'"):
        FlowSpec.from_file(bad).build()
