"""Random walks with a known diffusion coefficient, to validate the analysis.

Mobile ions take Gaussian steps (per-axis D, so anisotropy is exact) on top of a
thermal rattle; framework atoms rattle about fixed sites and the whole cell may drift,
which the analysis must remove.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers

from sse_flows.analysis.data import MDData


def random_walk(
    D_cm2_s: float | tuple[float, float, float],
    n_mobile: int = 64,
    n_framework: int = 64,
    n_frames: int = 1000,
    dt_fs: float = 20.0,
    box: float = 15.0,
    rattle: float = 0.15,
    drift_per_frame: float = 0.0,
    seed: int = 0,
    mobile: str = "Li",
    framework: str = "S",
    temperature: float | None = 600.0,
) -> MDData:
    """Return an unwrapped trajectory whose mobile ions have exactly ``D_cm2_s``.

    Per axis, the step variance is 2 D dt (D in A^2/fs = 10 x D in cm^2/s).
    ``drift_per_frame`` (A) moves every atom together, as a thermostat drift does.
    """
    rng = np.random.default_rng(seed)
    d_axes = np.broadcast_to(np.asarray(D_cm2_s, dtype=float), (3,)) * 10.0  # A^2/fs
    steps = rng.normal(size=(n_frames - 1, n_mobile, 3)) * np.sqrt(2.0 * d_axes * dt_fs)
    walk = np.concatenate([np.zeros((1, n_mobile, 3)), np.cumsum(steps, axis=0)])
    mobile_pos = rng.uniform(0, box, size=(n_mobile, 3)) + walk
    sites = rng.uniform(0, box, size=(n_framework, 3))
    framework_pos = np.broadcast_to(sites, (n_frames, n_framework, 3)).copy()
    positions = np.concatenate([mobile_pos, framework_pos], axis=1)
    positions += rng.normal(scale=rattle, size=positions.shape)
    positions += drift_per_frame * np.arange(n_frames)[:, None, None]
    numbers = np.array(
        [atomic_numbers[mobile]] * n_mobile + [atomic_numbers[framework]] * n_framework
    )
    return MDData(
        positions=positions,
        cells=np.broadcast_to(np.eye(3) * box, (n_frames, 3, 3)).copy(),
        numbers=numbers,
        time_fs=np.arange(n_frames) * dt_fs,
        temperature=temperature,
        source=f"random walk D={D_cm2_s} seed={seed}",
    )
