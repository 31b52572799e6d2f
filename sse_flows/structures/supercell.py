"""Choose a supercell from a minimum atom count or a minimum perpendicular width."""

from __future__ import annotations

import itertools

import numpy as np
from pymatgen.core import Structure

from sse_flows.errors import StructureInputError


def perpendicular_widths(matrix: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell (the limit for interactions)."""
    volume = abs(np.linalg.det(matrix))
    a, b, c = matrix
    return volume / np.array(
        [
            np.linalg.norm(np.cross(b, c)),
            np.linalg.norm(np.cross(a, c)),
            np.linalg.norm(np.cross(a, b)),
        ]
    )


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
