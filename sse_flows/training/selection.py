"""Frames picked from an MD trajectory for labelling: farthest-point sampling (FPS).

The distance between two frames is the mean squared displacement of the atoms from
one frame to the other (same atoms in the same order, minimum image), as paper 002
("furthest point sampling based on the mean squared error in atom positions") does
to pick geometrically varied frames from its fine-tuning MD runs.

Why positions and not SOAP: frames of one trajectory hold the same atoms in the same
order, so the positions themselves are a faithful descriptor. They need no cutoff or
basis settings, no extra package, and cost O(atoms) per pair. SOAP describes local
environments regardless of which atom sits where: it is the tool to compare frames
of *different* structures, which FPS here never does (each structure's trajectory is
sampled on its own). One consequence to know: an ion that hopped to an equivalent
site counts as displaced, so after a hop the frame is "new" even if SOAP would call
it alike; that is the paper's choice too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def position_msd(
    positions: np.ndarray,
    reference: np.ndarray,
    cell: np.ndarray,
    pbc: tuple[bool, bool, bool] | np.ndarray = (True, True, True),
) -> np.ndarray:
    """Return the mean squared displacement (A^2) of each frame from ``reference``.

    ``positions`` is one frame (atoms, 3) or many (frames, atoms, 3); ``cell`` is one
    cell (3, 3) or one per frame. Each displacement is wrapped to its minimum image
    along periodic axes (rounding fractional coordinates: exact for cells that are not
    strongly skewed, and for displacements under half a cell length). The mean runs
    over atoms, so the distance does not grow with the cell.
    """
    positions = np.asarray(positions, dtype=float)
    reference = np.asarray(reference, dtype=float)
    single = positions.ndim == 2
    frames = positions[None] if single else positions
    if frames.shape[1:] != reference.shape:
        raise ValueError(
            f"frames of {frames.shape[1]} atoms cannot be compared with a reference of "
            f"{reference.shape[0]}: the distance needs the same atoms in the same order"
        )
    cells = np.asarray(cell, dtype=float)
    cells = np.broadcast_to(cells, (len(frames), 3, 3)) if cells.ndim == 2 else cells
    delta = frames - reference[None]
    fractional = np.einsum("fai,fij->faj", delta, np.linalg.inv(cells))
    periodic = np.asarray(pbc, dtype=bool)
    fractional[..., periodic] -= np.round(fractional[..., periodic])
    wrapped = np.einsum("faj,fjk->fak", fractional, cells)
    msd = (wrapped**2).sum(axis=-1).mean(axis=-1)
    return msd[0] if single else msd


@dataclass
class FarthestPoints:
    """Frames chosen by FPS, in the order they were chosen."""

    indices: list[int]
    #: each pick's distance (A^2) to the frames chosen before it (and the reference):
    #: the largest gap left in the set at that point, so it shrinks pick by pick
    #: (None for a first pick made without a reference)
    distances: list[float | None]


def farthest_point_sampling(
    positions: np.ndarray,
    cells: np.ndarray,
    n: int,
    reference: np.ndarray | None = None,
    pbc: tuple[bool, bool, bool] | np.ndarray = (True, True, True),
) -> FarthestPoints:
    """Pick ``n`` frames, each the farthest (position MSD) from those picked so far.

    ``reference`` (atoms, 3), if given, counts as picked before the first frame, so
    the first pick is the frame farthest from it (the ramp passes the MD's start
    structure: geometric variety beyond what is known already). Without it the first
    frame is picked first. Ties go to the earlier frame, so the result is
    deterministic.
    """
    positions = np.asarray(positions, dtype=float)
    count = len(positions)
    if not 0 < n <= count:
        raise ValueError(f"cannot pick {n} of {count} frames; pick between 1 and {count}")
    if reference is not None:
        nearest = position_msd(positions, reference, cells, pbc)
        first = None
    else:
        nearest = np.full(count, np.inf)
        first = 0
    indices: list[int] = []
    distances: list[float | None] = []
    while len(indices) < n:
        pick = first if first is not None and not indices else int(np.argmax(nearest))
        gap = float(nearest[pick])
        distances.append(gap if np.isfinite(gap) else None)
        indices.append(pick)
        frame_cell = cells[pick] if np.ndim(cells) == 3 else cells
        nearest = np.minimum(
            nearest, position_msd(positions, positions[pick], frame_cell, pbc)
        )
        nearest[indices] = -np.inf
    return FarthestPoints(indices=indices, distances=distances)
