"""Mean squared displacement over all time origins, by FFT.

Written here rather than taken from pymatgen-analysis-diffusion or kinisi because
we need per-group, per-direction MSDs for the error analysis: pymatgen's analyzer
returns only the averaged curve (and its ``from_structures`` path builds a Structure
per frame: 13.5 GB and 144 s at 1,200 atoms x 10,000 frames here), and kinisi's
default lag set is O(frames^2). The FFT form is O(atoms x frames log frames),
processed in atom chunks so memory stays bounded (benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np


def msd_fft(x: np.ndarray) -> np.ndarray:
    """MSD averaged over time origins for 1-D series ``x`` of shape (frames, n).

    Returns (frames, n): element [m, i] is <(x_i(t0+m) - x_i(t0))^2> over all t0.
    Uses MSD(m) = S1(m) - 2 S2(m), with S2 the autocorrelation from an FFT.
    """
    frames = x.shape[0]
    counts = (frames - np.arange(frames))[:, None]
    spectrum = np.fft.rfft(x, n=2 * frames, axis=0)
    s2 = np.fft.irfft(spectrum * spectrum.conj(), n=2 * frames, axis=0)[:frames] / counts
    sq = x**2
    total = 2.0 * sq.sum(axis=0)
    # Q(m) = 2 sum(sq) - sum_{k<m} (sq[k] + sq[frames-1-k])
    removed = np.zeros_like(sq)
    removed[1:] = np.cumsum(sq[:-1] + sq[::-1][:-1], axis=0)
    s1 = (total[None, :] - removed) / counts
    return s1 - 2.0 * s2


def group_msd(
    displacement: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    projections: np.ndarray | None = None,
    chunk: int = 64,
) -> np.ndarray:
    """Per-group MSD of several 1-D projections of the displacements.

    ``displacement`` is (frames, atoms, 3); ``projections`` (k, 3) are the unit
    vectors to project on (x, y, z, plane normals...), applied chunk by chunk so no
    (frames, atoms, k) array is held. Returns (n_groups, frames, k), the mean over
    each group's atoms.
    """
    vectors = np.eye(3) if projections is None else np.asarray(projections)
    frames, atoms, _ = displacement.shape
    k = len(vectors)
    sums = np.zeros((n_groups, frames, k))
    for start in range(0, atoms, chunk):
        block = displacement[:, start : start + chunk, :] @ vectors.T
        per_atom = msd_fft(block.reshape(frames, -1)).reshape(frames, block.shape[1], k)
        members = groups[start : start + chunk]
        for group in np.unique(members):
            sums[group] += per_atom[:, members == group].sum(axis=1)
    sizes = np.bincount(groups, minlength=n_groups).astype(float)
    return sums / sizes[:, None, None]
