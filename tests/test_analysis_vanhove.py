"""Van Hove functions against analytic results: Gaussian walkers and a cubic lattice."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sse_flows.analysis.data import MDData
from sse_flows.analysis.vanhove import van_hove


def gaussian_walk(
    D_a2_fs: float, n: int, frames: int, dt_fs: float, box: float, seed: int = 0
) -> MDData:
    """Independent Li walkers: per-axis step variance 2 D dt, unwrapped, cubic box."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(frames - 1, n, 3)) * np.sqrt(2.0 * D_a2_fs * dt_fs)
    start = rng.uniform(0.0, box, size=(1, n, 3))
    positions = start + np.concatenate([np.zeros((1, n, 3)), np.cumsum(steps, axis=0)])
    return MDData(
        positions=positions,
        cells=np.tile(np.eye(3) * box, (frames, 1, 1)),
        numbers=np.full(n, 3),
        time_fs=np.arange(frames) * dt_fs,
    )


def cubic_lattice(a: float, reps: int, frames: int, rattle: float, seed: int = 0) -> MDData:
    """Simple-cubic Li lattice, optionally with independent Gaussian rattle per frame."""
    grid = np.arange(reps) * a
    sites = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    positions = sites[None] + rattle * rng.normal(size=(frames, len(sites), 3))
    return MDData(
        positions=positions,
        cells=np.tile(np.eye(3) * a * reps, (frames, 1, 1)),
        numbers=np.full(len(sites), 3),
        time_fs=np.arange(frames) * 10.0,
    )


def analytic_gs(r: np.ndarray, D: float, t: float) -> np.ndarray:
    return 4 * np.pi * r**2 * (4 * np.pi * D * t) ** -1.5 * np.exp(-(r**2) / (4 * D * t))


def test_self_part_matches_gaussian_propagator():
    D = 1e-3  # A^2/fs, i.e. 1e-4 cm^2/s
    # many ions so that bin noise stays ~1 % (self part only: G_d would cost N^2)
    data = gaussian_walk(D, n=3000, frames=1000, dt_fs=10.0, box=20.0)
    vh = van_hove(data, lag_ps=[0.0, 0.5, 1.0, 2.0], r_max=12.0, n_bins=60, distinct=False)
    assert vh.distinct_part is None
    dr = vh.r_edges[1] - vh.r_edges[0]
    np.testing.assert_allclose(vh.lag_ps, [0.0, 0.5, 1.0, 2.0])
    assert vh.n_origins.tolist() == [200, 200, 200, 200]
    # lag 0: every ion at r = 0
    assert vh.self_part[0, 0] * dr == pytest.approx(1.0)
    assert vh.self_part[0, 1:].sum() == 0.0
    for k, t_ps in enumerate(vh.lag_ps[1:], start=1):
        t = t_ps * 1000.0
        gs = vh.self_part[k]
        assert gs.sum() * dr == pytest.approx(1.0, abs=1e-3)
        msd = (gs * vh.r**2).sum() * dr
        assert msd == pytest.approx(6 * D * t, rel=0.02)
        # bin averages of the analytic density, from its integral on a fine grid
        fine = np.linspace(0.0, vh.r_edges[-1], 60 * 200 + 1)
        cdf = np.concatenate([[0.0], np.cumsum(analytic_gs(fine[1:], D, t))]) * fine[1]
        expected = np.diff(cdf[::200]) / dr
        assert np.abs(gs - expected).max() < 0.03 * expected.max()
        # peak of 4 pi r^2 G at r = sqrt(4 D t)
        assert vh.r[np.argmax(gs)] == pytest.approx(np.sqrt(4 * D * t), abs=dr)


def test_distinct_part_of_independent_walkers_is_flat():
    data = gaussian_walk(1e-3, n=150, frames=400, dt_fs=10.0, box=16.0, seed=1)
    vh = van_hove(data, lag_ps=[0.0, 1.0], r_max=8.0, n_bins=40)
    assert vh.r_max_distinct == pytest.approx(8.0)
    for k in range(2):
        gd = vh.distinct_part[k]
        assert np.all(np.isfinite(gd))
        # shells beyond 2 A hold enough pairs for a few-% check
        assert np.abs(gd[vh.r > 2.0] - 1.0).max() < 0.15
        assert gd[vh.r > 3.0].mean() == pytest.approx(1.0, abs=0.03)


def test_distinct_part_of_static_lattice_counts_neighbour_shells():
    a = 3.0
    data = cubic_lattice(a, reps=5, frames=3, rattle=0.0)
    vh = van_hove(data, lag_ps=[0.0], r_max=10.0, n_bins=197)  # no bin edge on a shell
    gd = vh.distinct_part[0]
    edges = vh.r_edges
    # NaN beyond half the box width (7.5 A), where minimum image is ambiguous
    assert np.isnan(gd[edges[1:] > 7.5]).all()
    assert np.isfinite(gd[edges[1:] <= 7.5]).all()
    rho = (len(data.numbers) - 1) / data.volume()
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    neighbours = np.nan_to_num(gd) * shell * rho  # neighbours per ion in each bin
    expected = {a: 6, a * np.sqrt(2): 12, a * np.sqrt(3): 8, 2 * a: 6, a * np.sqrt(5): 24}
    for distance, count in expected.items():
        k = int(distance / (edges[1] - edges[0]))
        assert neighbours[k] == pytest.approx(count, rel=1e-6)
    # nothing else below 7 A
    others = np.ones(len(gd), dtype=bool)
    others[[int(d / (edges[1] - edges[0])) for d in expected]] = False
    assert neighbours[others & (edges[1:] < 7.0)].sum() == pytest.approx(0.0, abs=1e-9)


def test_distinct_part_of_rattling_lattice_tends_to_one():
    data = cubic_lattice(3.0, reps=8, frames=12, rattle=0.25, seed=2)
    vh = van_hove(data, lag_ps=[0.0, 0.05], r_max=12.0, n_bins=120)
    gd = vh.distinct_part[0]
    first = vh.r < 3.6  # the 4.24 A shell peaks as high: 12 / 4.24^2 = 6 / 3^2
    assert vh.r[first][np.argmax(gd[first])] == pytest.approx(3.0, abs=0.2)
    assert gd[vh.r < 1.5].max() == 0.0
    # long-range order keeps g oscillating, but about 1
    far = (vh.r > 6.0) & (vh.r < 12.0)
    assert gd[far].mean() == pytest.approx(1.0, abs=0.03)
    assert np.abs(gd[far] - 1.0).max() < 0.7
    assert gd.max() > 1.5  # 6 neighbours at 3 A, spread by sqrt(2) x 0.25 A
    # lag 50 fs of uncorrelated rattle: same structure
    np.testing.assert_allclose(vh.distinct_part[1], gd, atol=0.35)


def test_refuses_bad_lags():
    data = gaussian_walk(1e-3, n=10, frames=50, dt_fs=10.0, box=10.0)
    with pytest.raises(ValueError, match="exceeds"):
        van_hove(data, lag_ps=[1.0])
    with pytest.raises(ValueError):
        van_hove(data, lag_ps=[-0.1])


def test_200_ions_5000_frames_in_seconds():
    data = gaussian_walk(1e-4, n=200, frames=5000, dt_fs=20.0, box=15.0, seed=3)
    start = time.perf_counter()
    vh = van_hove(data, lag_ps=[0.0, 1.0, 10.0, 50.0], r_max=7.0, n_bins=140)
    elapsed = time.perf_counter() - start
    assert vh.n_origins.tolist() == [200] * 4
    assert elapsed < 15.0, f"{elapsed:.1f} s"


def test_distinct_part_in_skewed_cell_matches_ase_minimum_image():
    from ase.geometry import get_distances

    rng = np.random.default_rng(4)
    cell = np.array([[9.0, 0.0, 0.0], [3.5, 8.5, 0.0], [-2.0, 2.5, 10.0]])
    n = 40
    first = rng.uniform(size=(n, 3)) @ cell
    later = first + rng.normal(scale=1.5, size=(n, 3))  # unwrapped, some leave the cell
    data = MDData(
        positions=np.stack([first, later]),
        cells=np.stack([cell, cell]),
        numbers=np.full(n, 3),
        time_fs=np.array([0.0, 100.0]),
    )
    vh = van_hove(data, lag_ps=[0.1], r_max=6.0, n_bins=37, drift_correction=False)
    assert vh.distinct_part is not None
    _, dist = get_distances(first, later, cell=cell, pbc=True)
    dist = dist[~np.eye(n, dtype=bool)]
    valid = vh.r_edges[1:] <= vh.r_max_distinct
    assert valid.sum() > 10
    expected, _ = np.histogram(dist, bins=vh.r_edges)
    shell = 4.0 / 3.0 * np.pi * np.diff(vh.r_edges**3)
    counts = vh.distinct_part[0] * n * shell * (n - 1) / data.volume()
    np.testing.assert_allclose(counts[valid], expected[valid], atol=1e-6)
    # self part: plain unwrapped displacements, no minimum image
    own, _ = np.histogram(np.linalg.norm(later - first, axis=1), bins=vh.r_edges)
    np.testing.assert_allclose(vh.self_part[0] * n * (vh.r_edges[1] - vh.r_edges[0]), own)
