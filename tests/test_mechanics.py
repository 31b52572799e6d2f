"""Elastic tensor and equation of state: EMT against finite differences, CHGNet for real."""

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from ase import units
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from sse_flows.calc.elastic import ElasticFitError, check_born_stability, elastic_strains
from sse_flows.calc.eos import EOSFitError
from sse_flows.documents import ElasticOutput, EOSOutput
from sse_flows.errors import DisorderedStructureError
from sse_flows.makers import ElasticMaker, EOSMaker
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.stores import get_job_store
from sse_flows.structures import to_atoms
from sse_flows.structures.prototypes import load_prototype


def _run(job):
    responses = run_locally(job, store=get_job_store(), ensure_success=True, log=False)
    return responses[job.uuid][1].output


def _cu() -> Structure:
    """fcc Cu, conventional cubic cell (4 atoms), a little off the EMT lattice constant."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])


def _assert_cubic(c: np.ndarray, tol: float) -> None:
    for group in ([0, 1, 2], [3, 4, 5]):
        assert np.ptp(c[group, group]) < tol
    assert np.ptp([c[0, 1], c[0, 2], c[1, 2]]) < tol
    off = c.copy()
    off[:3, :3] = 0
    off[[3, 4, 5], [3, 4, 5]] = 0
    assert np.abs(off).max() < tol


def _finite_difference_cubic(structure: Structure, delta: float = 1e-3) -> dict:
    """C11, C12, C44 from central differences of ASE stresses, independent of the maker.

    Cauchy stress, linear strain, symmetric deformation: to first order in delta
    these are the elastic constants of the cubic axes. fcc Cu with one atom per
    primitive cell has no internal relaxation.
    """
    calc = load_potential(PotentialSpec.parse("emt")).calculator

    def stress(deformation: np.ndarray) -> np.ndarray:
        atoms = to_atoms(structure)
        atoms.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
        atoms.calc = calc
        return atoms.get_stress(voigt=False) / units.GPa

    uniaxial = np.diag([delta, 0.0, 0.0])
    shear = np.zeros((3, 3))
    shear[1, 2] = shear[2, 1] = delta / 2  # engineering gamma_yz = delta
    eye = np.eye(3)
    d_uni = stress(eye + uniaxial) - stress(eye - uniaxial)
    d_shear = stress(eye + shear) - stress(eye - shear)
    return {
        "C11": d_uni[0, 0] / (2 * delta),
        "C12": d_uni[1, 1] / (2 * delta),
        "C44": d_shear[1, 2] / (2 * delta),
    }


@pytest.fixture
def emt_elastic() -> ElasticOutput:
    return _run(ElasticMaker(potential="emt").make(_cu()))


def test_emt_elastic_matches_finite_differences(emt_elastic: ElasticOutput):
    out = emt_elastic
    c = np.array(out.C_ij_GPa)
    assert out.relax is not None and out.relax.converged
    assert np.abs(out.reference_stress_GPa).max() < 0.1  # fit is about a relaxed cell
    fd = _finite_difference_cubic(out.structure)
    c11, c12, c44 = c[0, 0], c[0, 1], c[3, 3]
    assert c11 == pytest.approx(fd["C11"], rel=0.02)
    assert c12 == pytest.approx(fd["C12"], rel=0.02)
    assert c44 == pytest.approx(fd["C44"], rel=0.02)
    _assert_cubic(c, tol=1e-3 * c11)
    # cubic: K_Voigt = K_Reuss = (C11 + 2 C12) / 3
    assert out.K_VRH_GPa == pytest.approx((c11 + 2 * c12) / 3, rel=1e-9)
    assert out.G_Voigt_GPa == pytest.approx((c11 - c12 + 3 * c44) / 5, rel=1e-9)
    k, g = out.K_VRH_GPa, out.G_VRH_GPa
    assert out.E_GPa == pytest.approx(9 * k * g / (3 * k + g))
    assert out.poisson == pytest.approx((3 * k - 2 * g) / (6 * k + 2 * g))
    assert out.born_stable and not out.born_failed
    assert min(out.eigenvalues_GPa) > 0
    assert out.fit_residual_GPa < 0.2
    assert len(out.strains_voigt) == 24 == len(out.stresses_voigt_GPa)
    assert out.normal_strains == [-0.01, -0.005, 0.005, 0.01]
    assert out.potential.name == "emt" and out.provenance.ended_at is not None
    assert out.warnings == []


def test_emt_eos_agrees_with_the_elastic_bulk_modulus(emt_elastic: ElasticOutput):
    out = _run(EOSMaker(potential="emt").make(_cu()))
    assert isinstance(out, EOSOutput)
    assert out.eos_name == "birch_murnaghan"
    assert out.B0_GPa == pytest.approx(emt_elastic.K_VRH_GPa, rel=0.03)
    relaxed = emt_elastic.structure.volume / len(emt_elastic.structure)
    assert out.V0_A3_per_atom == pytest.approx(relaxed, rel=0.005)
    assert out.V0_A3_per_atom == pytest.approx(out.reference_volume_A3_per_atom, rel=0.005)
    assert len(out.volumes_A3_per_atom) == 7 == len(out.energies_eV_atom)
    assert out.fit_residual_eV_atom < 1e-4
    assert 3 < out.B1 < 7
    # pressure from the stress and -dE/dV of the fit agree (stress sign is right)
    i = len(out.volumes_A3_per_atom) // 2
    assert abs(out.pressures_GPa[i]) < 0.2
    assert out.pressures_GPa[0] > 1.0 > -1.0 > out.pressures_GPa[-1]
    assert out.plot is not None and Path(out.plot).stat().st_size > 1000


def test_chgnet_licl_rock_salt_is_cubic_and_stable():
    structure = load_prototype("LiCl")
    assert len(structure) == 8
    out = _run(ElasticMaker(potential="chgnet").make(structure))
    c = np.array(out.C_ij_GPa)
    print(
        f"CHGNet LiCl: C11 {c[0, 0]:.1f} C12 {c[0, 1]:.1f} C44 {c[3, 3]:.1f} "
        f"K {out.K_VRH_GPa:.1f} G {out.G_VRH_GPa:.1f} E {out.E_GPa:.1f} "
        f"nu {out.poisson:.3f} a {out.structure.lattice.a:.3f}"
    )
    assert np.isfinite(c).all()
    assert 15 < out.K_VRH_GPa < 60  # experiment ~32 GPa; CHGNet ~46 at +-1 % strain
    assert 0 < out.G_VRH_GPa < 40
    assert out.born_stable
    _assert_cubic(c, tol=0.5)
    assert out.K_VRH_GPa == pytest.approx((c[0, 0] + 2 * c[0, 1]) / 3, rel=1e-3)
    assert out.ions_relaxed and out.potential.name == "chgnet"
    assert out.relax is not None and out.relax.spacegroup_final == "Fm-3m"


def test_disordered_structure_is_refused():
    alloy = Structure(Lattice.cubic(3.8), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    job = ElasticMaker(potential="emt").make(alloy)
    with pytest.raises(DisorderedStructureError, match="needs an ordered cell"):
        job.run(JobStore(MemoryStore()))
    with pytest.raises(DisorderedStructureError, match="needs an ordered cell"):
        EOSMaker(potential="emt").make(alloy).run(JobStore(MemoryStore()))


def test_born_check_names_the_failed_criterion():
    def cubic(c11: float, c12: float, c44: float) -> np.ndarray:
        c = np.zeros((6, 6))
        c[:3, :3] = c12
        c[[0, 1, 2], [0, 1, 2]] = c11
        c[[3, 4, 5], [3, 4, 5]] = c44
        return c

    assert check_born_stability(cubic(170, 120, 75)).stable
    shear = check_born_stability(cubic(100, 120, 50))  # C11 < C12: tetragonal shear
    assert not shear.stable
    assert any("C11 - C12" in f for f in shear.failed)
    assert not any("C44" in f for f in shear.failed)
    assert shear.eigenvalues_GPa[0] == pytest.approx(-20.0)
    c44 = check_born_stability(cubic(100, 50, -5))
    assert not c44.stable and any("C44 = -5" in f for f in c44.failed)
    # no cubic form: the eigenvalue criterion names the soft strain mode
    c = np.diag([100.0, 80.0, 60.0, 30.0, 20.0, 10.0])
    c[3, 4] = c[4, 3] = 40.0
    other = check_born_stability(c)
    assert not other.stable and len(other.failed) == 1
    assert "eigenvalue" in other.failed[0] and "e_yz" in other.failed[0]


def test_unstable_crystal_is_a_result_not_an_error():
    """bcc Cu with EMT is mechanically unstable (C11 < C12) yet gives a full document."""
    bcc = Structure(Lattice.cubic(2.87), ["Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    out = _run(ElasticMaker(potential="emt", relax_maker=None).make(bcc))
    assert out.born_stable is False
    assert any("C11 - C12" in f for f in out.born_failed)
    assert any("mechanically unstable" in w for w in out.warnings)


def test_bad_settings_fail_with_advice():
    with pytest.raises(ElasticFitError, match="shear"):
        elastic_strains([-0.01, 0.01], [0.0])
    with pytest.raises(ElasticFitError, match="linear"):
        elastic_strains([-0.2, 0.2], [0.01])
    # a scan entirely above the minimum has no inner minimum to fit
    job = EOSMaker(potential="emt", volume_factors=[1.04, 1.06, 1.08, 1.1, 1.12]).make(
        _cu()
    )
    with pytest.raises(EOSFitError, match="outside the scanned range"):
        job.run(JobStore(MemoryStore()))


def test_cli_json(tmp_path: Path):
    from sse_flows.cli.elastic import elastic, eos

    app = typer.Typer()
    app.command()(elastic)
    app.command()(eos)
    cif = tmp_path / "Cu.cif"
    _cu().to(filename=str(cif))
    runner = CliRunner()
    result = runner.invoke(app, ["elastic", str(cif), "--potential", "emt", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("K_VRH_GPa", "G_VRH_GPa", "C_ij_GPa", "E_GPa", "poisson", "born_stable"):
        assert key in data
    assert np.array(data["C_ij_GPa"]).shape == (6, 6) and data["born_stable"] is True
    result = runner.invoke(
        app, ["eos", str(cif), "--potential", "emt", "--no-relax-ions", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["B0_GPa"] > 100 and data["V0_A3_per_atom"] == pytest.approx(11.6, rel=0.02)
    readable = runner.invoke(app, ["elastic", str(cif), "--potential", "emt"])
    assert "K_VRH" in readable.stdout and "Born stable: True" in readable.stdout
    bad = runner.invoke(
        app, ["elastic", str(cif), "--potential", "emt", "--shear-strains", "0"]
    )
    assert bad.exit_code == 2 and "shear" in bad.output


# ---------------------------------------------------------------- matcalc (paper 000)
MATCALC_NORMAL = [-0.01, -0.005, 0.005, 0.01]
MATCALC_SHEAR = [-0.06, -0.03, 0.03, 0.06]


def test_paper_method_reproduces_matcalc_elasticitycalc():
    """engine=matcalc with matcalc's defaults: matcalc's own numbers, through our job."""
    from matcalc import ElasticityCalc

    from sse_flows.makers import RelaxMaker
    from sse_flows.query import query_columns

    structure = load_prototype("Li3PS4")  # gamma, 16 atoms, orthorhombic
    out = _run(
        ElasticMaker(
            potential="chgnet",
            engine="matcalc",
            normal_strains=MATCALC_NORMAL,
            shear_strains=MATCALC_SHEAR,
            relax_maker=RelaxMaker(fmax=0.1, max_steps=500, fix_symmetry=False),
            ion_relax_maker=None,
        ).make(structure)
    )
    calculator = load_potential(PotentialSpec.parse("chgnet")).calculator
    reference = ElasticityCalc(calculator, units_GPa=True).calc(structure)
    print(
        f"CHGNet gamma-Li3PS4, clamped ions: ours K {out.K_VRH_GPa:.2f} G "
        f"{out.G_VRH_GPa:.2f}; matcalc K {reference['bulk_modulus_vrh']:.2f} G "
        f"{reference['shear_modulus_vrh']:.2f}"
    )
    # the same engine; the reference cells differ only in how FIRE stopped at 0.1 eV/A
    assert out.K_VRH_GPa == pytest.approx(reference["bulk_modulus_vrh"], rel=0.02)
    assert out.G_VRH_GPa == pytest.approx(reference["shear_modulus_vrh"], rel=0.02)
    assert "matcalc ElasticityCalc" in out.fitting_method and not out.ions_relaxed
    assert query_columns(out.model_dump())["elastic_ions"] == "clamped"


def test_own_engine_agrees_with_matcalc_at_small_strains():
    """Same cell, clamped ions: the two strain conventions meet as strains shrink."""
    from matcalc import ElasticityCalc

    from sse_flows.calc.elastic import ElasticSettings, elastic_tensor
    from sse_flows.calc.relax import RelaxSettings, relax

    calculator = load_potential(PotentialSpec.parse("chgnet")).calculator
    cell = relax(
        to_atoms(load_prototype("Li3PS4")),
        calculator,
        RelaxSettings(fmax=0.005, max_steps=1000),
    ).structure
    small = [-0.01, -0.005, 0.005, 0.01]
    theirs = ElasticityCalc(
        calculator, relax_structure=False, units_GPa=True, shear_strains=small
    ).calc(cell)
    ours = elastic_tensor(
        to_atoms(cell),
        calculator,
        ElasticSettings(
            normal_strains=small, shear_strains=small, reference_relax=None, ion_relax=None
        ),
    )
    assert ours.moduli["K_VRH_GPa"] == pytest.approx(theirs["bulk_modulus_vrh"], rel=0.005)
    assert ours.moduli["G_VRH_GPa"] == pytest.approx(theirs["shear_modulus_vrh"], rel=0.01)
