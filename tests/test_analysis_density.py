"""Density grids and site analysis on lattice-gas walks whose every hop is known."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sse_flows.analysis.data import MDData
from sse_flows.analysis.density import (
    assign_sites,
    density_peaks,
    mobile_density,
    site_analysis,
    write_chgcar,
    write_cube,
    write_density,
)

NEIGHBOURS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


def site_grid(reps: int) -> np.ndarray:
    """Integer coordinates of the sites of a reps^3 simple-cubic lattice."""
    grid = np.arange(reps)
    return np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)


def lattice_gas(
    n_ions: int,
    frames: int,
    hop_prob: float,
    vibration: float,
    a: float = 2.5,
    reps: int = 4,
    exclusion: bool = True,
    dt_fs: float = 10.0,
    seed: int = 0,
) -> tuple[MDData, np.ndarray, np.ndarray]:
    """Li ions hopping between simple-cubic sites, plus static S at cube centres.

    Each frame every ion tries, with ``hop_prob``, a hop to a random neighbour site
    (refused if occupied when ``exclusion``), and sits at its site plus Gaussian
    vibration. Returns the data, the true site of each ion per frame, and the true
    jumps (ion, frame, from, to).
    """
    rng = np.random.default_rng(seed)
    sites = site_grid(reps)
    n_sites = len(sites)
    weights = np.array([reps * reps, reps, 1])
    coords = np.zeros((frames, n_ions, 3), dtype=int)  # unwrapped lattice coordinates
    coords[0] = sites[rng.choice(n_sites, n_ions, replace=False)]
    if exclusion:
        occupied = np.zeros(n_sites, dtype=bool)
        occupied[(coords[0] % reps) @ weights] = True
        current = coords[0].copy()
        for t in range(1, frames):
            for i in rng.permutation(n_ions):
                if rng.random() < hop_prob:
                    target = current[i] + NEIGHBOURS[rng.integers(6)]
                    site = (target % reps) @ weights
                    if not occupied[site]:
                        occupied[(current[i] % reps) @ weights] = False
                        occupied[site] = True
                        current[i] = target
            coords[t] = current
    else:
        hops = rng.random((frames - 1, n_ions)) < hop_prob
        steps = NEIGHBOURS[rng.integers(6, size=(frames - 1, n_ions))] * hops[..., None]
        coords = coords[0] + np.concatenate(
            [np.zeros((1, n_ions, 3), int), steps.cumsum(0)]
        )
    true_sites = (coords % reps) @ weights
    mobile = coords * a + vibration * rng.normal(size=coords.shape)
    framework = (sites[::9] + 0.5) * a  # a few S at cube centres, 2.17 A from sites
    positions = np.concatenate(
        [mobile, np.broadcast_to(framework, (frames, len(framework), 3))], axis=1
    )
    step, ion = np.nonzero(true_sites[1:] != true_sites[:-1])
    jumps = np.column_stack(
        [ion, step + 1, true_sites[step, ion], true_sites[step + 1, ion]]
    )
    jumps = jumps[np.lexsort((jumps[:, 0], jumps[:, 1]))]
    data = MDData(
        positions=positions,
        cells=np.tile(np.eye(3) * a * reps, (frames, 1, 1)),
        numbers=np.array([3] * n_ions + [16] * len(framework)),
        time_fs=np.arange(frames) * dt_fs,
    )
    return data, true_sites, jumps


def parity_labels(reps: int) -> list[str]:
    return ["even" if s % 2 == 0 else "odd" for s in site_grid(reps).sum(axis=1)]


def true_occupancy(true_sites: np.ndarray, n_sites: int) -> np.ndarray:
    occupied = np.zeros((len(true_sites), n_sites), dtype=bool)
    occupied[np.arange(len(true_sites))[:, None], true_sites] = True
    return occupied.mean(axis=0)


@pytest.fixture(scope="module")
def gas() -> tuple[MDData, np.ndarray, np.ndarray]:
    return lattice_gas(n_ions=24, frames=1500, hop_prob=0.02, vibration=0.15)


def test_sites_occupancy_and_jumps_are_recovered_exactly(gas):
    data, true_sites, true_jumps = gas
    sites = site_grid(4) / 4.0
    result = site_analysis(data, sites, radius=0.8, site_labels=parity_labels(4))
    assert result.assigned_fraction == 1.0
    np.testing.assert_array_equal(result.states, true_sites)
    assert result.n_jumps == len(true_jumps) > 400
    np.testing.assert_array_equal(result.jumps, true_jumps)
    np.testing.assert_allclose(result.occupancy, true_occupancy(true_sites, 64), atol=1e-12)
    assert result.occupancy.mean() == pytest.approx(24 / 64)
    # nearest-neighbour hops on a cubic lattice always change parity
    assert set(result.jump_counts) == {"even->odd", "odd->even"}
    assert sum(result.jump_counts.values()) == len(true_jumps)
    duration = (data.n_frames - 1) * data.dt_fs / 1000.0
    for key, count in result.jump_counts.items():
        assert result.jump_rates_per_ps[key] == pytest.approx(count / duration)
    # residence: ion-time on sites / departures
    assert result.mean_residence_time_ps == pytest.approx(
        24 * duration / len(true_jumps), rel=1e-9
    )
    by_label = result.occupancy_by_label()
    assert by_label["even"] + by_label["odd"] == pytest.approx(2 * 24 / 64)


def test_jumps_survive_frames_off_site():
    """With wide vibration many frames are off-site; an excursion is no jump."""
    data, true_sites, true_jumps = lattice_gas(
        n_ions=24, frames=1500, hop_prob=0.02, vibration=0.35, seed=1
    )
    result = site_analysis(data, site_grid(4) / 4.0, radius=0.7)
    # P(|x| < 2 sigma) for a 3-D Gaussian is 0.739
    assert result.assigned_fraction == pytest.approx(0.739, abs=0.01)
    on_site = result.states >= 0
    np.testing.assert_array_equal(result.states[on_site], true_sites[on_site])
    # a stay is missed only if the ion is off-site for all of it: then A->B->C
    # counts as one jump A->C
    assert len(true_jumps) * 0.97 <= result.n_jumps <= len(true_jumps)
    counted = {(ion, src, dst) for ion, _, src, dst in result.jumps.tolist()}
    real = {(ion, src, dst) for ion, _, src, dst in true_jumps.tolist()}
    assert len(counted - real) <= 0.02 * len(real)
    # and a detected jump never precedes the real one
    first_real = {}
    for ion, frame, src, dst in true_jumps.tolist():
        first_real.setdefault((ion, src, dst), frame)
    for ion, frame, src, dst in result.jumps.tolist():
        if (ion, src, dst) in first_real:
            assert frame >= first_real[(ion, src, dst)]
    # occupancy now means "an ion within the radius"
    assert result.occupancy.mean() == pytest.approx(24 / 64 * 0.739, rel=0.03)


def test_residence_time_and_rate_of_independent_hoppers():
    p, dt = 0.02, 10.0
    data, _, true_jumps = lattice_gas(
        n_ions=64, frames=4000, hop_prob=p, vibration=0.1, exclusion=False, seed=2
    )
    result = site_analysis(data, site_grid(4) / 4.0, radius=0.8)
    assert result.n_jumps == len(true_jumps)
    # ~5,100 jumps: 1.4 % statistical error
    assert result.mean_residence_time_ps == pytest.approx(dt / p / 1000.0, rel=0.05)
    rate = sum(result.jump_rates_per_ps.values())
    assert rate == pytest.approx(64 * p / (dt / 1000.0), rel=0.05)


def test_assign_sites_in_skewed_cell_uses_minimum_image():
    cell = np.array([[6.0, 0.0, 0.0], [3.0, 5.5, 0.0], [1.0, 1.0, 7.0]])
    sites = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    # 0.3 A from the site at the origin, on the far side of a periodic boundary
    offset = np.array([-0.3, 0.0, 0.0]) @ np.linalg.inv(cell)
    frac = np.array([offset, offset + 0.5, [0.25, 0.25, 0.25]])
    np.testing.assert_array_equal(assign_sites(frac, cell, sites, 0.5), [0, 1, -1])
    with pytest.raises(ValueError, match="radius"):
        assign_sites(frac, cell, sites, 4.0)


def test_density_integrates_to_one_and_peaks_at_sites(gas, tmp_path):
    from ase.io.cube import read_cube_data
    from pymatgen.io.vasp.outputs import Chgcar

    data, true_sites, _ = gas
    density = mobile_density(data, shape=(40, 40, 40))  # 0.25 A; sites every 10 points
    assert density.probability.sum() * density.voxel_volume == pytest.approx(1.0)
    assert density.number_density.sum() * density.voxel_volume == pytest.approx(24.0)
    p = density.probability
    on_sites = p[::10, ::10, ::10]
    assert on_sites.min() > 100 * p[5::10, 5::10, 5::10].max()
    # the density within 1 A of a site holds its occupancy (x N ions)
    grid = np.stack(np.meshgrid(*[np.arange(40) / 40] * 3, indexing="ij"), -1)
    occupancy = true_occupancy(true_sites, 64)
    for s, site in enumerate(site_grid(4)[[0, 21, 42, 63]]):
        diff = grid - site / 4.0
        diff -= np.rint(diff)
        near = np.linalg.norm(diff @ density.cell, axis=-1) < 1.0
        mass = density.number_density[near].sum() * density.voxel_volume
        assert mass == pytest.approx(occupancy[[0, 21, 42, 63][s]], abs=0.01)
    assert on_sites.min() < 0.05 * p.max()  # the least visited site: 2.4 % of the time
    peaks = density_peaks(density, min_fraction=0.01, min_distance=1.0)
    found = {tuple(x) for x in np.rint(peaks * 4).astype(int) % 4}
    assert len(peaks) == 64
    assert found == {tuple(x) for x in site_grid(4)}
    offset = (peaks * 4 - np.rint(peaks * 4)) * 2.5  # A from the nearest site
    assert np.abs(offset).max() <= 0.125 + 1e-9  # half a grid spacing

    chgcar = Chgcar.from_file(write_chgcar(density, tmp_path / "CHGCAR"))
    values = chgcar.data["total"]
    assert values.shape == (40, 40, 40)
    assert values.sum() / values.size == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(values / density.volume, p, rtol=1e-8, atol=1e-12)
    assert len(chgcar.structure) == len(data.numbers)
    assert (
        chgcar.structure.composition.reduced_formula
        == density.structure().composition.reduced_formula
    )

    cube, atoms = read_cube_data(str(write_cube(density, tmp_path / "li.cube")))
    assert cube.shape == (40, 40, 40)
    assert cube.sum() * atoms.cell.volume / cube.size == pytest.approx(1.0, rel=1e-4)
    assert np.unravel_index(np.argmax(cube), cube.shape) in {
        tuple(x) for x in site_grid(4) * 10
    }
    np.testing.assert_allclose(atoms.cell.array, density.cell, atol=1e-5)


def test_site_analysis_and_density_of_200_ions_5000_frames_in_seconds():
    rng = np.random.default_rng(3)
    n, frames, reps, a = 200, 5000, 8, 2.5
    sites = site_grid(reps)
    start = sites[rng.choice(len(sites), n, replace=False)] * a
    positions = start + rng.normal(scale=0.3, size=(frames, n, 3))
    data = MDData(
        positions=positions,
        cells=np.tile(np.eye(3) * a * reps, (frames, 1, 1)),
        numbers=np.full(n, 3),
        time_fs=np.arange(frames) * 10.0,
    )
    begin = time.perf_counter()
    result = site_analysis(data, sites / reps, radius=1.0)
    density = mobile_density(data, spacing=0.2)
    elapsed = time.perf_counter() - begin
    assert result.states.shape == (frames, n)
    assert density.probability.shape == (100, 100, 100)
    assert elapsed < 20.0, f"{elapsed:.1f} s"


def test_write_density_picks_format_by_name(gas, tmp_path):
    from ase.io.cube import read_cube_data
    from pymatgen.io.vasp.outputs import Chgcar

    data, _, _ = gas
    chgcar = write_density(data, ["Li"], tmp_path / "density_CHGCAR", shape=(20, 20, 20))
    values = Chgcar.from_file(chgcar).data["total"]
    assert values.shape == (20, 20, 20)
    assert values.sum() / values.size == pytest.approx(1.0, rel=1e-6)
    cube_path = write_density(data, ["Li"], tmp_path / "li.cube", spacing=0.3)
    cube, atoms = read_cube_data(str(cube_path))
    assert cube.shape == (34, 34, 34)  # ceil(10 A / 0.3 A)
    assert cube.sum() * atoms.cell.volume / cube.size == pytest.approx(1.0, rel=1e-4)
