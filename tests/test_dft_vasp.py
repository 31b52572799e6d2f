"""DFT labeling with VASP, where only VASP's execution is replaced.

VASP is not on this machine. As atomate2's ``mock_vasp`` does, the tests write only
POTCAR.spec (POTCARs are licensed) and replace the VASP executable; everything else is
the production path: pymatgen's input sets for each preset, atomate2's ``run_vasp``
with custodian's handlers and validators, pymatgen's Vasprun, the labeling flow. The
stand-in executable (``tests/fake_vasp.py``) reads the inputs like VASP, labels the
POSCAR with a Lennard-Jones potential and writes vasprun.xml, OUTCAR and OSZICAR; a
plan makes chosen frames fail the ways VASP fails.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from ase.units import GPa
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from sse_flows.dft import vasp
from sse_flows.dft.backends import get_backend
from sse_flows.dft.presets import DftPresetError, load_dft_preset
from sse_flows.flows import LabelingMaker
from sse_flows.makers.labeling import LabelingThresholdError, build_dataset
from sse_flows.runner import run_flow
from sse_flows.stores import get_job_store
from tests.fake_vasp import labels

FAKE_VASP = Path(__file__).with_name("fake_vasp.py")


@pytest.fixture
def fake_vasp(monkeypatch, tmp_path) -> Path:
    """Put the stand-in VASP on the command line; return the path of its plan file."""
    monkeypatch.setattr(vasp, "POTCAR_SPEC_ONLY", True)
    monkeypatch.setenv("SSE_FLOWS_VASP_CMD", f"{sys.executable} {FAKE_VASP}")
    monkeypatch.setenv("SSE_FLOWS_CUSTODIAN_POLLING_S", "1")
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    monkeypatch.setenv("FAKE_VASP_PLAN", str(plan))
    return plan


def _licl(a: float = 5.13) -> Structure:
    rocksalt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return rocksalt.get_primitive_structure()


def _li_fe_oxide() -> Structure:
    """Ordered rock salt LiFeO2: O first, so the input set's sorting reorders it."""
    cations = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    anions = [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]]
    return Structure(
        Lattice.cubic(4.16), ["O"] * 4 + ["Li", "Li", "Fe", "Fe"], anions + cations
    )


def _cl_li_li(a: float = 5.3) -> Structure:
    """Three atoms, Cl first and displaced: any mix-up of the atom order shows."""
    return Structure(
        Lattice.from_parameters(a, a * 1.05, a * 0.97, 88, 93, 91),
        ["Cl", "Li", "Li"],
        [[0.02, 0.01, 0.0], [0.5, 0.48, 0.53], [0.1, 0.55, 0.47]],
    )


def _incar(directory: Path) -> Incar:
    return Incar.from_file(directory / "INCAR")


def _same_sites(written: Structure, frame: Structure) -> bool:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    return written.lattice == frame.lattice and matcher.fit(written, frame)


# ------------------------------------------------------------------ inputs per preset
def test_mp_preset_writes_materials_project_pbe_u_inputs(fake_vasp, tmp_path):
    preset = load_dft_preset("vasp-mp-pbe")
    frame = _li_fe_oxide()
    result = get_backend("vasp").label(frame, 0, preset, tmp_path / "mp")
    assert result.ok, result.reason
    incar = _incar(tmp_path / "mp")
    assert (incar["ENCUT"], incar["ISMEAR"], incar["SIGMA"], incar["EDIFF"]) == (
        520,
        0,
        0.05,
        1e-5,
    )
    assert "GGA" not in incar and "METAGGA" not in incar  # PBE from the POTCARs
    assert (incar["NSW"], incar["IBRION"], incar["ISIF"]) == (0, -1, 2)
    assert incar["LWAVE"] is False and incar["LCHARG"] is False
    assert incar["ISPIN"] == 2 and incar["LDAU"] is True
    poscar = Poscar.from_file(tmp_path / "mp" / "POSCAR")
    assert poscar.site_symbols == ["Li", "Fe", "O"]  # sorted by electronegativity
    assert _same_sites(poscar.structure, frame)
    u_values = dict(zip(poscar.site_symbols, incar["LDAUU"], strict=True))
    assert u_values == {"Li": 0, "Fe": 5.3, "O": 0}  # MP's U for Fe in oxides
    magmom = dict(zip(poscar.structure.species, incar["MAGMOM"], strict=True))
    assert magmom[poscar.structure[2].specie] == 5.0  # MP's high-spin Fe start
    kpoints = Kpoints.from_file(tmp_path / "mp" / "KPOINTS")
    expected = Kpoints.automatic_density_by_vol(frame, 64)
    assert kpoints.kpts == expected.kpts  # style too follows MP (Monkhorst if even)
    assert kpoints.style == expected.style
    spec = (tmp_path / "mp" / "POTCAR.spec").read_text().split()
    assert spec == ["Li_sv", "Fe_pv", "O"]
    assert not (tmp_path / "mp" / "POTCAR").exists()


def test_paper000_preset_writes_600_ev_and_kspacing_0_3(fake_vasp, tmp_path):
    preset = load_dft_preset("vasp-paper000")
    result = get_backend("vasp").label(_licl(), 0, preset, tmp_path / "p0")
    assert result.ok, result.reason
    incar = _incar(tmp_path / "p0")
    assert (incar["ENCUT"], incar["KSPACING"], incar["KGAMMA"]) == (600, 0.3, True)
    assert incar["EDIFF"] == 1e-6 and incar["ISMEAR"] == 0
    assert (incar["NSW"], incar["IBRION"], incar["ISIF"]) == (0, -1, 2)
    assert not (tmp_path / "p0" / "KPOINTS").exists()  # KSPACING rules
    assert (tmp_path / "p0" / "POTCAR.spec").read_text().split() == ["Li_sv", "Cl"]


def test_paper001_preset_writes_scan_with_the_papers_potcars(fake_vasp, tmp_path):
    preset = load_dft_preset("vasp-paper001-scan")
    frame = Structure(
        Lattice.orthorhombic(6.2, 7.1, 6.6),
        ["Na", "Zr", "Si", "P", "O", "Li", "Ge", "S"],
        [
            *([0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0], [0.75, 0.25, 0.5]),
            *([0.25, 0.75, 0.5], [0.5, 0, 0.25], [0, 0.5, 0.75], [0.75, 0.75, 0]),
        ],
    )
    backend = get_backend("vasp")
    result = backend.label(frame, 0, preset, tmp_path / "p1")
    assert result.ok, result.reason
    incar = _incar(tmp_path / "p1")
    assert incar["METAGGA"].upper() == "SCAN" and "GGA" not in incar
    assert (incar["ENCUT"], incar["KSPACING"], incar["EDIFF"]) == (520, 0.2, 1e-5)
    assert incar["ISYM"] == 0 and incar["KGAMMA"] is True and incar["ALGO"] == "All"
    assert incar["ISPIN"] == 1 and "LDAU" not in incar and "MAGMOM" not in incar
    assert (incar["NSW"], incar["IBRION"], incar["ISIF"]) == (0, -1, 2)
    poscar = Poscar.from_file(tmp_path / "p1" / "POSCAR")
    symbols = (tmp_path / "p1" / "POTCAR.spec").read_text().split()
    spec = dict(zip(poscar.site_symbols, symbols, strict=True))
    assert spec == {
        "Na": "Na_pv",
        "Zr": "Zr_sv",
        "Si": "Si",
        "P": "P",
        "O": "O",
        "Li": "Li_sv",
        "Ge": "Ge_d",
        "S": "S",
    }
    record = backend.settings_record(preset, ["Li", "Y", "Cl"])
    assert record.functional == "SCAN"
    assert record.settings["potcar_functional"] == "PBE_54"
    potcars = record.settings["resolved"]["potcars"]
    assert {e: p["symbol"] for e, p in potcars.items()} == {
        "Cl": "Cl",
        "Li": "Li_sv",
        "Y": "Y_sv",
    }


def test_vasp_presets_refuse_settings_a_labeling_run_cannot_have(tmp_path):
    relax = tmp_path / "relax.yaml"
    relax.write_text("code: vasp\nfunctional: PBE\nsettings:\n  incar: {NSW: 99}\n")
    with pytest.raises(DftPresetError, match="single points"):
        vasp.vasp_settings(load_dft_preset(relax))
    both = tmp_path / "both.yaml"
    both.write_text(
        "code: vasp\nfunctional: PBE\nsettings:\n  reciprocal_density: 64\n"
        "  incar: {KSPACING: 0.3}\n"
    )
    with pytest.raises(DftPresetError, match="keep one"):
        vasp.vasp_settings(load_dft_preset(both))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("code: vasp\nfunctional: PBE\nsettings: {input_set: NoSuchSet}\n")
    with pytest.raises(DftPresetError, match="not a VASP input set"):
        vasp.input_generator(load_dft_preset(unknown))


def test_missing_vasp_and_missing_potcars_say_what_to_do(monkeypatch, tmp_path):
    preset = load_dft_preset("vasp-mp-pbe")
    backend = get_backend("vasp")
    monkeypatch.setenv("SSE_FLOWS_VASP_CMD", "srun vasp_std_not_here")
    with pytest.raises(vasp.VaspNotAvailableError, match="SSE_FLOWS_VASP_CMD"):
        backend.check_ready(preset, ["Li", "Cl"])
    monkeypatch.setenv("SSE_FLOWS_VASP_CMD", f"{sys.executable} {FAKE_VASP}")
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(tmp_path))
    with pytest.raises(vasp.VaspNotAvailableError, match="PMG_VASP_PSP_DIR"):
        backend.check_ready(preset, ["Li", "Cl"])


# ------------------------------------------------------------------ parsing
def test_vasp_labels_come_back_in_frame_order_in_ev_per_a_and_tensile_positive(
    fake_vasp, tmp_path
):
    frame = _cl_li_li()
    result = get_backend("vasp").label(
        frame, 3, load_dft_preset("vasp-mp-pbe"), tmp_path / "f"
    )
    assert result.ok, result.reason
    # the same potential on the frame itself, in the frame's order
    energy, forces, stress_kbar = labels(Poscar(frame))
    assert result.energy_eV == pytest.approx(energy)
    np.testing.assert_allclose(result.forces_eV_A, forces, atol=1e-7)
    assert np.abs(np.asarray(forces)[0] - np.asarray(forces)[1]).max() > 0.01
    atoms = frame.to_ase_atoms()
    from ase.calculators.lj import LennardJones

    atoms.calc = LennardJones(sigma=2.0, epsilon=0.05, rc=6.0, smooth=True)
    np.testing.assert_allclose(
        result.stress_GPa, atoms.get_stress(voigt=False) / GPa, atol=1e-7
    )
    np.testing.assert_allclose(result.stress_GPa, -0.1 * stress_kbar, atol=1e-7)
    # ASE's own reader of vasprun.xml agrees on the sign and the units
    xml = tmp_path / "vasprun.xml"
    xml.write_bytes(gzip.decompress((tmp_path / "f" / "vasprun.xml.gz").read_bytes()))
    ase_atoms = read(xml, format="vasp-xml")
    np.testing.assert_allclose(
        result.stress_GPa, ase_atoms.get_stress(voigt=False) / GPa, atol=1e-6
    )
    assert result.scf_converged and result.n_scf_steps == 12
    assert result.code_version == "6.4.2"
    assert not (tmp_path / "f" / "vasprun.xml").exists()  # gzipped


# ------------------------------------------------------------------ custodian + flow
def test_vasp_flow_custodian_fixes_one_scf_gives_up_on_another_and_catches_a_crash(
    fake_vasp, tmp_path
):
    import dpdata

    frames = [_licl(5.13), _licl(5.00), _licl(4.90), _cl_li_li(5.3)]
    fake_vasp.write_text(
        json.dumps(
            {
                f"{frames[1].volume:.2f}": "converges_on_retry",
                f"{frames[2].volume:.2f}": "never_converges",
                f"{frames[3].volume:.2f}": "crash",
            }
        )
    )
    preset = tmp_path / "vasp-test.yaml"
    text = (
        Path(vasp.__file__).parents[1] / "data" / "presets" / "dft" / "vasp-mp-pbe.yaml"
    ).read_text()
    preset.write_text(text.replace("max_errors: 5", "max_errors: 2"))
    flow = LabelingMaker(
        name="vasp labels",
        preset=str(preset),
        code="vasp",
        frames_per_job=3,
        min_success_fraction=0.5,
    ).make(frames)
    preset.unlink()  # the jobs carry the settings: the file need not exist where they run
    record = run_flow(flow)
    assert record.state == "COMPLETED", [j.error for j in record.jobs]

    store = get_job_store()
    store.connect()
    (dataset,) = [
        d["output"] for d in store.query({"name": "vasp labels dataset"}, load=True)
    ]
    batches = [
        d["output"] for d in store.query({"name": {"$regex": "dft label batch"}}, load=True)
    ]
    store.close()
    frames_out = {f["index"]: f for b in batches for f in b["frames"]}
    assert (dataset["n_success"], dataset["n_failed"]) == (2, 2)
    assert dataset["dft"]["code"] == "vasp"
    assert dataset["dft"]["settings"]["incar"]["ENCUT"] == 520

    fixed = frames_out[1]
    assert fixed["status"] == "success" and fixed["scf_converged"]
    (correction,) = fixed["corrections"]
    assert correction["handler"] == "UnconvergedErrorHandler"
    assert correction["actions"][0]["action"]["_set"]["ALGO"] == "Normal"
    assert _incar(Path(fixed["calc_dir"]))["ALGO"] == "Normal"  # custodian's change

    gave_up = frames_out[2]
    assert gave_up["status"] == "failed"
    assert gave_up["reason"].startswith("SCF did not converge after 2 custodian")
    assert [c["handler"] for c in gave_up["corrections"]] == ["UnconvergedErrorHandler"] * 2
    crashed = frames_out[3]
    assert crashed["status"] == "failed"
    assert "failed custodian's validation" in crashed["reason"]
    assert {f["index"] for f in dataset["failed"]} == {2, 3}
    assert dataset["corrections"]["UnconvergedErrorHandler"] == 3

    images = read(dataset["files"]["extxyz"], index=":")
    assert [a.info["REF_energy"] for a in images] == pytest.approx(
        [frames_out[0]["energy_eV"], frames_out[1]["energy_eV"]]
    )
    systems = dpdata.MultiSystems()
    systems.from_deepmd_npy(dataset["files"]["deepmd"], labeled=True)
    assert systems.get_nframes() == 2

    with pytest.raises(LabelingThresholdError, match="Only 2 of 4 frames"):
        build_dataset(batches, "strict", 0.75)


def test_label_command_runs_a_vasp_preset_and_refuses_without_vasp(
    fake_vasp, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from sse_flows.cli.main import app

    _licl().to(filename=str(tmp_path / "LiCl.cif"))
    runner = CliRunner()
    args = ["label", str(tmp_path / "LiCl.cif"), "--preset", "vasp-paper000", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    dataset, _ = json.JSONDecoder().raw_decode(result.output[result.output.index("{") :])
    assert (dataset["n_success"], dataset["dft"]["preset"]) == (1, "vasp-paper000")
    assert dataset["dft"]["settings"]["incar"]["KSPACING"] == 0.3
    by_code = runner.invoke(app, [*args[:2], "--code", "vasp", "--json"])
    assert by_code.exit_code == 0, by_code.output
    assert '"preset": "vasp-mp-pbe"' in by_code.output  # the code's default preset
    monkeypatch.setenv("SSE_FLOWS_VASP_CMD", "srun vasp_std_not_here")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "VASP is not installed here" in result.output
