"""Where the mobile ions spend their time: density grids, site occupancy and jumps.

The density is a histogram of the ions' wrapped fractional positions, written as a
CHGCAR (pymatgen) or Gaussian cube (ASE) for VESTA or OVITO isosurfaces, as in the
ion-density figures of MD papers. The site analysis assigns each ion in each frame to
the nearest of a list of given sites (e.g. the Li sites of the ideal structure) and
counts the jumps between them.

Written here rather than wrapping GEMDAT (1.8.1), which would do the site and jump
part: installing it downgrades matplotlib to < 3.11 and pulls in ~20 packages
(MDAnalysis, kinisi, scipp, statsmodels, dynesty, scikit-image...); its site
assignment refuses trajectories whose cell changes (NPT) and needs the sites as a
pymatgen Structure; and it took ~130 s for 600 atoms x 5,000 frames here. The
assignment below is one KD-tree query over all ion positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from pymatgen.core import Lattice, Structure
from scipy.spatial import cKDTree

from sse_flows.analysis.data import MDData, TrajectoryInputError, remove_drift
from sse_flows.structures.supercell import perpendicular_widths


@dataclass
class DensityGrid:
    """Time-averaged probability density of the mobile ions on a periodic grid.

    ``probability[i, j, k]`` (1/A^3) is the density around the grid point at
    fractional coordinates (i/n_a, j/n_b, k/n_c) of the mean cell (bins are centred on
    grid points, as CHGCAR and cube files expect). It integrates to 1 over the cell;
    ``number_density`` integrates to the number of mobile ions.
    """

    species: list[str]
    n_mobile: int
    n_frames: int
    cell: np.ndarray  # (3, 3) mean cell, A
    probability: np.ndarray  # (n_a, n_b, n_c), 1/A^3
    numbers: np.ndarray  # (atoms,) all atoms, for the structure in the files
    frac_coords: np.ndarray  # (atoms, 3) mean positions of all atoms, fractional

    @property
    def volume(self) -> float:
        """Volume of the mean cell in A^3."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def voxel_volume(self) -> float:
        """Volume per grid point in A^3."""
        return self.volume / self.probability.size

    @property
    def number_density(self) -> np.ndarray:
        """Mobile ions per A^3 (integrates to ``n_mobile``)."""
        return self.probability * self.n_mobile

    def structure(self) -> Structure:
        """Mean structure of all atoms (mobile ions at their mean unwrapped position)."""
        return Structure(Lattice(self.cell), self.numbers.tolist(), self.frac_coords)

    def atoms(self) -> Atoms:
        """Mean structure as ASE Atoms."""
        return Atoms(
            numbers=self.numbers,
            cell=self.cell,
            scaled_positions=self.frac_coords,
            pbc=True,
        )


def _fractional(data: MDData, mask: np.ndarray) -> np.ndarray:
    """Fractional coordinates (frames, ions, 3) of the masked atoms in their own frame."""
    inverse = np.linalg.inv(data.cells)
    return np.einsum("fni,fij->fnj", data.positions[:, mask], inverse)


def _half_width(cell: np.ndarray) -> float:
    """Half the smallest perpendicular width of a cell, A."""
    return float(perpendicular_widths(cell).min()) / 2.0


def mobile_density(
    data: MDData,
    species: Sequence[str] = ("Li",),
    shape: tuple[int, int, int] | None = None,
    spacing: float = 0.2,
    drift_correction: bool = True,
) -> DensityGrid:
    """Histogram the mobile ions' positions on an n_a x n_b x n_c grid of the cell.

    Without ``shape`` each axis gets ceil(length / ``spacing``) points. Positions are
    wrapped with each frame's own cell, so NPT runs work; the grid belongs to the mean
    cell. The framework's drift is removed first unless ``drift_correction`` is False.
    """
    mobile = data.mask(list(species))
    n = int(mobile.sum())
    if n == 0:
        raise TrajectoryInputError(f"no atoms of {list(species)} in the trajectory")
    if drift_correction:
        data = remove_drift(data, mobile)
    cell = np.asarray(data.cells, dtype=float).mean(axis=0)
    if shape is None:
        a, b, c = (
            max(1, math.ceil(float(x) / spacing)) for x in np.linalg.norm(cell, axis=1)
        )
        shape = (a, b, c)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive integers, got {shape}")
    grid = np.asarray(shape)
    index = np.rint(_fractional(data, mobile) * grid).astype(np.int64) % grid
    flat = np.ravel_multi_index((index[..., 0], index[..., 1], index[..., 2]), shape)
    counts = np.bincount(flat.ravel(), minlength=int(np.prod(grid))).reshape(shape)
    voxel = abs(np.linalg.det(cell)) / counts.size
    probability = counts / (counts.sum() * voxel)

    everyone = np.ones(len(data.numbers), dtype=bool)
    mean_frac = _fractional(data, everyone).mean(axis=0) % 1.0
    return DensityGrid(
        species=list(species),
        n_mobile=n,
        n_frames=data.n_frames,
        cell=cell,
        probability=probability,
        numbers=np.asarray(data.numbers).copy(),
        frac_coords=mean_frac,
    )


def write_chgcar(
    density: DensityGrid, path: str | Path, structure: Structure | None = None
) -> Path:
    """Write the probability density as a VASP CHGCAR (VESTA, OVITO, pymatgen).

    CHGCAR stores density x cell volume, so the file's values sum to the number of
    grid points and pymatgen integrates it to 1 (``Chgcar.from_file(path).data
    ["total"].sum() / n_points``). ``structure`` replaces the mean structure, e.g. with
    the ideal one, whose mean mobile-ion positions mean little once ions diffuse.
    """
    from pymatgen.io.vasp.outputs import Chgcar

    path = Path(path)
    chgcar = Chgcar(
        structure if structure is not None else density.structure(),
        {"total": density.probability * density.volume},
    )
    chgcar.write_file(path)
    return path


def write_cube(density: DensityGrid, path: str | Path, atoms: Atoms | None = None) -> Path:
    """Write the probability density as a Gaussian cube file via ASE.

    Values are in 1/A^3 (not the 1/bohr^3 of electron-density cubes), so the sum
    times the voxel volume is 1. ``atoms`` replaces the mean structure.
    """
    from ase.io.cube import write_cube as ase_write_cube

    path = Path(path)
    with path.open("w") as handle:
        ase_write_cube(
            handle,
            atoms if atoms is not None else density.atoms(),
            data=density.probability,
            comment=f"probability density of {' '.join(density.species)} in 1/A^3",
        )
    return path


def write_density(
    data: MDData,
    species: Sequence[str],
    path: str | Path,
    shape: tuple[int, int, int] | None = None,
    spacing: float = 0.2,
) -> Path:
    """Histogram the mobile ions and write the grid in one step.

    A name ending in ``.cube`` gives a Gaussian cube file, anything else a CHGCAR.
    """
    density = mobile_density(data, species, shape=shape, spacing=spacing)
    if Path(path).suffix.lower() == ".cube":
        return write_cube(density, path)
    return write_chgcar(density, path)


def density_peaks(
    density: DensityGrid,
    min_fraction: float = 0.05,
    min_distance: float = 1.0,
    smooth: float = 0.3,
) -> np.ndarray:
    """Fractional coordinates of the density maxima, highest first: candidate sites.

    The density is first smoothed with a periodic Gaussian of ``smooth`` A, so that
    single stray counts in the tails make no peaks. A grid point is a peak when it is
    the maximum of its periodic 3x3x3 neighbourhood and above ``min_fraction`` of the
    highest density; peaks closer than ``min_distance`` (A) to a higher one are
    dropped. Positions are on grid points, so accurate to half a grid spacing.
    """
    from scipy.ndimage import gaussian_filter, maximum_filter

    p = density.probability
    if smooth > 0:
        spacing = np.linalg.norm(density.cell, axis=1) / np.asarray(p.shape)
        p = gaussian_filter(p, sigma=smooth / spacing, mode="wrap")
    local = (p == maximum_filter(p, size=3, mode="wrap")) & (p > min_fraction * p.max())
    points = np.argwhere(local)
    order = np.argsort(-p[tuple(points.T)], kind="stable")
    frac = points[order] / np.asarray(p.shape)
    kept: list[np.ndarray] = []
    for candidate in frac:
        if kept:
            diff = np.asarray(kept) - candidate
            diff -= np.rint(diff)
            if np.linalg.norm(diff @ density.cell, axis=1).min() < min_distance:
                continue
        kept.append(candidate)
    return np.asarray(kept).reshape(-1, 3)


@dataclass
class SiteAnalysis:
    """Site occupancy and jumps of the mobile ions between given sites.

    ``states[t, i]`` is the site of mobile ion i at frame t, or -1 when it is not
    within ``radius`` of any. An ion jumps when the site it is at differs from the
    last site it was at; leaving a site and coming back is no jump. Jump rates are
    jumps per ps in the whole simulation cell. Residence times are time spent at a
    site (counted until the ion reaches the next site) per jump leaving it, which is
    the maximum-likelihood mean of exponential stays cut off by the trajectory's ends;
    they are ``inf`` when there were no jumps.
    """

    species: list[str]
    site_frac: np.ndarray  # (sites, 3)
    site_labels: list[str]
    radius: float
    duration_ps: float
    states: np.ndarray  # (frames, ions) int32
    occupancy: np.ndarray  # (sites,) fraction of frames with an ion at the site
    assigned_fraction: float  # fraction of ion-frames within radius of a site
    jumps: np.ndarray  # (n_jumps, 4): ion, frame of arrival, from site, to site
    jump_counts: dict[str, int]  # "A->B" by site label
    jump_rates_per_ps: dict[str, float]  # "A->B": jumps per ps in the cell
    residence_time_ps: dict[str, float]  # by site label
    mean_residence_time_ps: float

    @property
    def n_jumps(self) -> int:
        """Total number of jumps."""
        return len(self.jumps)

    def occupancy_by_label(self) -> dict[str, float]:
        """Mean occupancy of the sites of each label."""
        labels = np.asarray(self.site_labels)
        return {
            label: float(self.occupancy[labels == label].mean())
            for label in dict.fromkeys(self.site_labels)
        }


def assign_sites(
    frac: np.ndarray, cell: np.ndarray, site_frac: np.ndarray, radius: float
) -> np.ndarray:
    """Nearest site within ``radius`` (A) of each position, or -1; shape of frac[..., 0].

    ``frac`` are fractional positions (any shape ending in 3), measured in ``cell``.
    The sites and their 26 neighbouring images go into one KD-tree, queried once for
    all positions; this is exact for radius below half the narrowest cell width.
    """
    if radius <= 0 or radius >= _half_width(cell):
        raise ValueError(
            f"site radius must be in (0, {_half_width(cell):.2f}) A (half the narrowest "
            f"cell width), got {radius}"
        )
    sites = np.asarray(site_frac, dtype=float).reshape(-1, 3) % 1.0
    shifts = np.array(
        [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]
    )
    images = (shifts[:, None, :] + sites[None, :, :]).reshape(-1, 3) @ cell
    tree = cKDTree(images)
    points = (np.asarray(frac).reshape(-1, 3) % 1.0) @ cell
    _, nearest = tree.query(points, k=1, distance_upper_bound=radius)
    state = np.where(nearest < len(images), nearest % len(sites), -1)
    return state.reshape(np.shape(frac)[:-1]).astype(np.int32)


def _fill_forward(states: np.ndarray) -> np.ndarray:
    """Replace -1 by the last site each ion was at (-1 before its first site)."""
    frames = np.arange(states.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(states >= 0, frames, 0), axis=0)
    return np.take_along_axis(states, last, axis=0)


def site_analysis(
    data: MDData,
    site_frac: np.ndarray,
    species: Sequence[str] = ("Li",),
    radius: float = 1.0,
    site_labels: Sequence[str] | None = None,
    drift_correction: bool = True,
) -> SiteAnalysis:
    """Occupancy of the given sites and jumps between them.

    ``site_frac`` are fractional coordinates in the trajectory's cell (e.g. the Li
    sites of the ideal supercell); ``site_labels`` (e.g. Wyckoff labels) group them
    for jump types and residence times. Distances use the mean cell, which is exact
    for NVT and a good approximation for NPT.
    """
    sites = np.asarray(site_frac, dtype=float).reshape(-1, 3)
    if len(sites) == 0:
        raise ValueError("no sites given")
    labels = list(site_labels) if site_labels is not None else ["site"] * len(sites)
    if len(labels) != len(sites):
        raise ValueError(f"{len(labels)} site labels for {len(sites)} sites")
    mobile = data.mask(list(species))
    if not mobile.any():
        raise TrajectoryInputError(f"no atoms of {list(species)} in the trajectory")
    if drift_correction:
        data = remove_drift(data, mobile)
    cell = np.asarray(data.cells, dtype=float).mean(axis=0)
    states = assign_sites(_fractional(data, mobile), cell, sites, radius)
    frames = states.shape[0]
    dt_ps = data.dt_fs / 1000.0
    duration = (frames - 1) * dt_ps

    occupied = np.zeros((frames, len(sites)), dtype=bool)
    frame_index, ion_index = np.nonzero(states >= 0)
    occupied[frame_index, states[frame_index, ion_index]] = True

    filled = _fill_forward(states)
    before, after = filled[:-1], filled[1:]
    moved = (before >= 0) & (after != before)
    step, ion = np.nonzero(moved)
    jumps = np.column_stack([ion, step + 1, before[step, ion], after[step, ion]])
    order = np.lexsort((jumps[:, 0], jumps[:, 1]))  # by frame, then ion
    jumps = jumps[order].astype(np.int64)

    label_array = np.asarray(labels)
    names = [
        f"{a}->{b}"
        for a, b in zip(label_array[jumps[:, 2]], label_array[jumps[:, 3]], strict=True)
    ]
    unique, counts = np.unique(np.asarray(names, dtype=str), return_counts=True)
    jump_counts = {str(k): int(c) for k, c in zip(unique, counts, strict=True)}
    rates = {k: c / duration if duration > 0 else math.nan for k, c in jump_counts.items()}

    # time at a site: frame intervals that start with the ion (last) at that site
    dwell = np.bincount(before[before >= 0], minlength=len(sites)) * dt_ps
    departures = np.bincount(jumps[:, 2], minlength=len(sites))
    residence: dict[str, float] = {}
    for label in dict.fromkeys(labels):
        members = label_array == label
        leaving = departures[members].sum()
        residence[label] = float(dwell[members].sum() / leaving) if leaving else math.inf
    total = float(dwell.sum() / len(jumps)) if len(jumps) else math.inf

    return SiteAnalysis(
        species=list(species),
        site_frac=sites % 1.0,
        site_labels=labels,
        radius=radius,
        duration_ps=duration,
        states=states,
        occupancy=occupied.mean(axis=0),
        assigned_fraction=float((states >= 0).mean()),
        jumps=jumps,
        jump_counts=jump_counts,
        jump_rates_per_ps=rates,
        residence_time_ps=residence,
        mean_residence_time_ps=total,
    )
