"""Choose a supercell from a minimum atom count or a minimum perpendicular width."""

from __future__ import annotations

import itertools

import numpy as np
from pymatgen.core import Structure

from sse_flows.errors import StructureInputError


def perpendicular_widths(matrix: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of a cell (..., 3, 3) -> (..., 3).

    The limit for interactions and for minimum images: a vector shorter than half the
    smallest width has fractional components within (-1/2, 1/2) even in a skewed cell.
    """
    cells = np.asarray(matrix, dtype=float)
    volume = np.abs(np.linalg.det(cells))
    a, b, c = cells[..., 0, :], cells[..., 1, :], cells[..., 2, :]
    areas = [np.linalg.norm(np.cross(u, v), axis=-1) for u, v in ((b, c), (a, c), (a, b))]
    return np.stack([volume / area for area in areas], axis=-1)


def choose_supercell(
    structure: Structure,
    min_atoms: int | None = None,
    min_length: float | None = None,
    max_repeat: int = 12,
) -> tuple[int, int, int]:
    """Smallest diagonal repetition meeting both limits; the most isotropic among ties.

    Diagonal repetitions keep the lattice vectors' directions (and so the meaning of
    ab/ac/bc planar diffusion); pymatgen's CubicSupercellTransformation would rotate them.
    """
    widths = perpendicular_widths(structure.lattice.matrix)
    best: tuple[int, float, tuple[int, ...]] | None = None
    for repeat in itertools.product(range(1, max_repeat + 1), repeat=3):
        n_atoms = len(structure) * int(np.prod(repeat))
        scaled = widths * np.array(repeat)
        if min_atoms and n_atoms < min_atoms:
            continue
        if min_length and scaled.min() < min_length:
            continue
        key = (n_atoms, float(scaled.max() - scaled.min()), repeat)
        if best is None or key[:2] < best[:2]:
            best = key
    if best is None:
        raise StructureInputError(
            f"no supercell up to {max_repeat}x{max_repeat}x{max_repeat} reaches "
            f"min_atoms={min_atoms}, min_length={min_length}"
        )
    a, b, c = best[2]
    return a, b, c
