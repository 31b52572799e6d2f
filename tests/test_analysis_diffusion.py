"""Transport analysis against random walks with known answers."""

from dataclasses import replace

import numpy as np
import pytest

from sse_flows.analysis import load_md
from sse_flows.analysis.arrhenius import KB_EV, fit_arrhenius
from sse_flows.analysis.diffusion import analyze_diffusion, nernst_einstein
from sse_flows.analysis.msd import msd_fft
from sse_flows.analysis.synthetic import random_walk
from sse_flows.errors import SSEFlowsError


def test_fft_msd_equals_the_double_loop():
    x = np.cumsum(np.random.default_rng(0).normal(size=(60, 4)), axis=0)
    brute = np.array(
        [[np.mean((x[m:, i] - x[: 60 - m, i]) ** 2) for i in range(4)] for m in range(60)]
    )
    np.testing.assert_allclose(msd_fft(x), brute, atol=1e-9)


def test_isotropic_d_is_recovered_inside_its_ci_despite_cell_drift():
    true = 1e-5
    data = random_walk(true, n_mobile=64, n_frames=1500, seed=7, drift_per_frame=0.02)
    result = analyze_diffusion(data, ["Li"], temperature=600)
    assert result.D_ci95[0] <= true <= result.D_ci95[1]
    assert pytest.approx(true, rel=0.15) == result.D
    assert result.diffusive and result.error_method.startswith("10 independent groups")
    assert result.fit_window_ps == pytest.approx((1.5, 8.98), abs=0.03)  # 5-30 % of 30 ps
    # without drift removal the common drift (0.02 A per 20 fs) would dominate
    assert 2 * true > result.D


def test_anisotropic_d_per_direction_and_plane():
    data = random_walk((2e-5, 2e-5, 2e-6), n_mobile=256, n_frames=1500, seed=2)
    result = analyze_diffusion(data, ["Li"], temperature=600)
    assert result.D_xyz["x"] == pytest.approx(2e-5, rel=0.15)
    assert result.D_xyz["y"] == pytest.approx(2e-5, rel=0.15)
    assert result.D_xyz["z"] == pytest.approx(2e-6, rel=0.3)
    assert result.D_planes["ab"] == pytest.approx(2e-5, rel=0.15)
    assert result.D_planes["bc"] == pytest.approx(1.1e-5, rel=0.15)
    assert pytest.approx(4.2e-5 / 3, rel=0.15) == result.D


def test_ci_coverage_is_calibrated_over_many_seeds():
    true, hits, n = 1e-5, 0, 200
    values, errors = [], []
    for seed in range(n):
        data = random_walk(true, n_mobile=40, n_frames=600, seed=1000 + seed)
        result = analyze_diffusion(data, ["Li"], temperature=600)
        hits += result.D_ci95[0] <= true <= result.D_ci95[1]
        values.append(result.D)
        errors.append(result.D_std)
    coverage = hits / n
    assert 0.88 <= coverage <= 0.99, coverage  # 95 % nominal; binomial sd ~1.5 %
    assert np.mean(values) == pytest.approx(true, rel=0.03)  # unbiased
    assert 0.75 < np.mean(errors) / np.std(values) < 1.3  # error bars match the spread


def test_few_ions_use_time_blocks():
    data = random_walk(1e-5, n_mobile=2, n_framework=30, n_frames=3000, seed=4)
    result = analyze_diffusion(data, ["Li"], temperature=600)
    assert "time blocks" in result.error_method
    assert result.D_ci95[0] < result.D < result.D_ci95[1]


def test_not_diffusive_runs_are_flagged():
    data = random_walk(1e-9, n_mobile=32, n_frames=500, seed=1)
    result = analyze_diffusion(data, ["Li"], temperature=300)
    assert not result.diffusive
    assert any("not diffusive" in w for w in result.warnings)
    assert any("too few hops" in w for w in result.warnings)


def test_collective_motion_gives_a_haven_ratio():
    frames, n = 40000, 20
    base = random_walk(
        1e-5, n_mobile=1, n_framework=16, n_frames=frames, seed=5, rattle=0.0
    )
    rng = np.random.default_rng(6)
    shared = base.positions[:, :1] - base.positions[0, :1]
    noise = rng.normal(scale=0.05, size=(frames, n, 3))
    mobile = rng.uniform(0, 15, (1, n, 3)) + shared + noise
    framework = base.positions[:, 1:]
    data = replace(
        base,
        positions=np.concatenate([mobile, framework], axis=1),
        numbers=np.array([3] * n + [16] * 16),
    )
    result = analyze_diffusion(data, ["Li"], temperature=600, fit_window=(0.001, 0.01))
    # ions moving in lockstep: the charge moves n times faster than one ion
    assert result.haven_ratio == pytest.approx(1 / n, rel=0.5)
    assert result.D_sigma == pytest.approx(n * result.D, rel=0.5)


def test_mixed_species_are_analysed_together():
    li = random_walk(1e-5, n_mobile=32, n_framework=32, n_frames=800, seed=8, mobile="Li")
    data = replace(li, numbers=np.array([3] * 16 + [11] * 16 + [16] * 32))
    both = analyze_diffusion(data, ["Li", "Na"], temperature=600)
    assert both.n_mobile == 32
    assert pytest.approx(1e-5, rel=0.2) == both.D
    with pytest.raises(SSEFlowsError, match="not in the trajectory"):
        analyze_diffusion(data, ["K"], temperature=600)


def test_nernst_einstein_units():
    # 1 ion in 1000 A^3 (1e27 m^-3), D = 1e-5 cm^2/s, 300 K:
    # n q^2 D / kT = 1e27 * (1.602e-19)^2 * 1e-9 / (1.381e-23 * 300) = 6.197 S/m
    assert nernst_einstein(1e-5, 1, 1000.0, 300.0, 1.0) == pytest.approx(61.97, rel=1e-3)


def test_arrhenius_recovers_the_activation_energy():
    temperatures = [500.0, 600.0, 800.0, 1000.0]
    ea, d0 = 0.3, 1e-2
    exact = [d0 * np.exp(-ea / (KB_EV * t)) for t in temperatures]
    fit = fit_arrhenius(
        temperatures, exact, [0.05 * d for d in exact], n_ions=64, volume=3375
    )
    assert fit.Ea_eV == pytest.approx(ea, abs=1e-9)
    assert fit.Ea_ci95[0] < ea < fit.Ea_ci95[1]
    assert pytest.approx(d0 * np.exp(-ea / (KB_EV * 300)), rel=1e-9) == fit.D_300K
    assert fit.sigma_300K_ci95[0] < fit.sigma_300K < fit.sigma_300K_ci95[1]
    # from walks at each temperature, through the whole analysis
    values, errors = [], []
    for i, (t, d) in enumerate(zip(temperatures, exact, strict=True)):
        result = analyze_diffusion(
            random_walk(d, n_mobile=64, n_frames=1000, seed=20 + i), ["Li"], temperature=t
        )
        values.append(result.D)
        errors.append(result.D_std)
    walk_fit = fit_arrhenius(temperatures, values, errors)
    assert walk_fit.Ea_ci95[0] < ea < walk_fit.Ea_ci95[1]
    assert walk_fit.Ea_eV == pytest.approx(ea, abs=0.04)
    with pytest.raises(SSEFlowsError, match="at least two"):
        fit_arrhenius([600.0], [1e-5], [1e-6])


def test_ase_readable_wrapped_file_gives_the_same_d(tmp_path):
    from ase import Atoms
    from ase.io import write

    data = random_walk(2e-5, n_mobile=32, n_framework=16, n_frames=300, seed=9)
    frames = []
    for positions, cell in zip(data.positions, data.cells, strict=True):
        atoms = Atoms(numbers=data.numbers, positions=positions, cell=cell, pbc=True)
        atoms.wrap()
        frames.append(atoms)
    path = tmp_path / "walk.extxyz"
    write(path, frames)
    with pytest.raises(SSEFlowsError, match="--timestep-fs"):
        load_md(path)
    loaded = load_md(path, timestep_fs=2.0, stride=10)
    direct = analyze_diffusion(data, ["Li"], temperature=600)
    from_file = analyze_diffusion(loaded, ["Li"], temperature=600)
    assert pytest.approx(direct.D, rel=1e-6) == from_file.D


def test_pymatgen_analysis_diffusion_agrees():
    pytest.importorskip("pymatgen.analysis.diffusion.analyzer")
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    data = random_walk(
        1e-5, n_mobile=200, n_framework=32, n_frames=2000, seed=11, rattle=0.0
    )
    structure = Structure(
        Lattice(data.cells[0]),
        [("Li" if z == 3 else "S") for z in data.numbers],
        data.positions[0],
        coords_are_cartesian=True,
    )
    displacements = (data.positions - data.positions[0]).transpose(1, 0, 2)  # Cartesian
    pmg = DiffusionAnalyzer(structure, displacements, "Li", 600, time_step=2, step_skip=10)
    ours = analyze_diffusion(data, ["Li"], temperature=600)
    assert pytest.approx(pmg.diffusivity, rel=0.05) == ours.D
    assert ours.D_ci95[0] < pmg.diffusivity < ours.D_ci95[1]
