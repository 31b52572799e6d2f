"""Generalised least squares on an MSD curve, with a random-walk model of its covariance.

MSD points at different lags share displacements, so they are strongly correlated
and an ordinary least-squares line through them weighs the noisy long lags as much
as the precise short ones. The efficient estimator weights by the inverse covariance.
For a particle whose 1-D position is a random walk plus white vibration (variogram
gamma(tau) = s2 * tau + c for tau > 0), increments are Gaussian with stationary
covariance, so the covariance of the all-origin MSD at lags n and m is exact:
``Cov = 2 / (N_n N_m) * sum_{origins} cov(increment_n, increment_m)^2``, with
``cov(.,.) = s2 * overlap + c * (shared end points)``. The sums over origin pairs are
piecewise polynomials in the origin offset and are done here in closed form, so a
100-lag covariance of a 10,000-frame run costs milliseconds.

kinisi (Mc Cluskey et al.) does GLS with a similar random-walk covariance and then
samples the posterior by MCMC; it is ~10x slower here and takes its own parser and
data model, so the estimator is written for our arrays. The parameters s2 and c come
from the observed MSD of the same ions over all time origins (one refinement pass),
and the departure of the ions' squared displacements from Gaussian statistics
(hops) scales the covariance, so hop-dominated runs do not get intervals that are
too narrow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LAGS = 100


def lag_grid(start: int, stop: int, max_lags: int = MAX_LAGS) -> np.ndarray:
    """Return at most ``max_lags`` evenly spaced integer lags in [start, stop]."""
    start = max(int(start), 1)
    count = min(max_lags, stop - start + 1)
    return np.unique(np.linspace(start, stop, count).round().astype(int))


def _power_sums(upper: np.ndarray) -> np.ndarray:
    """Return sum_{u=0}^{upper} u^k for k = 0..3 (rows), upper >= 0 elementwise."""
    x = upper.astype(float)
    return np.array(
        [x + 1.0, x * (x + 1) / 2, x * (x + 1) * (2 * x + 1) / 6, (x * (x + 1) / 2) ** 2]
    )


def _sum_count_overlap2(
    lo: np.ndarray,
    hi: np.ndarray,
    ov0: np.ndarray,
    ov1: np.ndarray,
    cnt0: np.ndarray,
    cnt1: np.ndarray,
) -> np.ndarray:
    """Sum over integer d in [lo, hi] of (cnt0 + cnt1 d) (ov0 + ov1 d)^2 (0 if empty)."""
    valid = hi >= lo
    length = np.where(valid, hi - lo, 0)
    # shift to u = d - lo >= 0 so the power sums stay positive (no cancellation)
    a = ov0 + ov1 * lo
    g = cnt0 + cnt1 * lo
    p = _power_sums(length)
    total = (
        g * a**2 * p[0]
        + (2 * g * a * ov1 + cnt1 * a**2) * p[1]
        + (g * ov1**2 + 2 * cnt1 * a * ov1) * p[2]
        + cnt1 * ov1**2 * p[3]
    )
    return np.where(valid, total, 0.0)


@dataclass(frozen=True)
class CovarianceGeometry:
    """The parts of the MSD covariance that depend only on the lags and run length.

    For one particle and one dimension,
    ``Cov(n, m) = 2 (s2^2 A + 2 s2 c B + c^2 C) / (N_n N_m)``.
    """

    lags: np.ndarray
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    origins: np.ndarray

    @classmethod
    def build(cls, lags: np.ndarray, n_frames: int) -> CovarianceGeometry:
        """Compute A, B, C for lags (in frames) of a run of ``n_frames`` frames."""
        lags = np.asarray(lags, dtype=int)
        steps = n_frames - 1
        if lags.min() < 1 or lags.max() > steps:
            raise ValueError(f"lags must lie in [1, {steps}]")
        i, j = np.triu_indices(len(lags))
        n = lags[i].astype(float)  # n <= m
        m = lags[j].astype(float)
        k = float(steps)
        # offset d = t1 - t0 of the two origins; three linear pieces of overlap/count
        a_sum = (
            _sum_count_overlap2(
                np.maximum(-m, -(k - n)),
                n - m,
                m,
                np.ones_like(m),
                k - n + 1,
                np.ones_like(n),
            )
            + _sum_count_overlap2(
                n - m + 1,
                -np.ones_like(n),
                n,
                np.zeros_like(n),
                k - m + 1,
                np.zeros_like(n),
            )
            + _sum_count_overlap2(
                np.maximum(0.0, n - m + 1),
                np.minimum(n, k - m),
                n,
                -np.ones_like(n),
                k - m + 1,
                -np.ones_like(n),
            )
        )
        b_sum = np.zeros_like(n)
        c_sum = np.zeros_like(n)
        # the white-noise term is non-zero only where interval ends coincide
        for d, keep in ((-m, True), (n - m, n < m), (0.0 * n, True), (n, True)):
            e = 0.5 * (
                (d + m != 0).astype(float)
                + (d != n)
                - (d + m - n != 0).astype(float)
                - (d != 0)
            )
            count = np.maximum(0.0, np.minimum(k - n, k - m - d) - np.maximum(0.0, -d) + 1)
            overlap = np.maximum(0.0, np.minimum(n, d + m) - np.maximum(0.0, d))
            weight = np.where(keep, count, 0.0)
            b_sum += weight * overlap * e
            c_sum += weight * e**2
        size = len(lags)
        out = []
        for values in (a_sum, b_sum, c_sum):
            matrix = np.zeros((size, size))
            matrix[i, j] = values
            matrix[j, i] = values
            out.append(matrix)
        return cls(lags, out[0], out[1], out[2], (n_frames - lags).astype(float))

    def covariance(self, s2: float, c: float) -> np.ndarray:
        """Covariance of one particle's 1-D all-origin MSD at the lags."""
        s2 = max(float(s2), 0.0)
        c = max(float(c), 0.0)
        raw = s2 * s2 * self.A + 2.0 * s2 * c * self.B + c * c * self.C
        return 2.0 * raw / np.outer(self.origins, self.origins)


@dataclass(frozen=True)
class LineFit:
    """A straight line msd = slope * t + intercept with the covariance of both."""

    slope: float
    intercept: float
    covariance: np.ndarray  # 2 x 2, (slope, intercept)
    weights: np.ndarray  # slope = weights @ y

    @property
    def slope_std(self) -> float:
        """Standard error of the slope."""
        return float(np.sqrt(max(self.covariance[0, 0], 0.0)))


def gls_line(time: np.ndarray, y: np.ndarray, covariance: np.ndarray) -> LineFit:
    """Fit y = slope * t + intercept by GLS with the given covariance of y."""
    design = np.column_stack([time, np.ones_like(time)])
    scale = float(np.mean(np.diag(covariance)))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("the MSD covariance is not positive: nothing moves")
    matrix = covariance / scale
    matrix = matrix + np.eye(len(y)) * 1e-10 * np.trace(matrix) / len(y)
    factor = np.linalg.cholesky(matrix)
    whitened_design = np.linalg.solve(factor, design)
    normal_inverse = np.linalg.inv(whitened_design.T @ whitened_design)
    # projection: params = normal_inverse @ X^T M^-1 y
    projection = normal_inverse @ np.linalg.solve(factor.T, whitened_design).T
    params = projection @ y
    return LineFit(
        slope=float(params[0]),
        intercept=float(params[1]),
        covariance=normal_inverse * scale,
        weights=projection[0],
    )


def ols_line(time: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return the ordinary least-squares slope and intercept."""
    slope, intercept = np.polyfit(time, y, 1)
    return float(slope), float(intercept)


def fit_msd(
    geometry: CovarianceGeometry,
    frame_fs: float,
    msd_dims: np.ndarray,
    n_particles: int,
    scale: float = 1.0,
) -> LineFit:
    """GLS line through the summed MSD of ``d`` independent dimensions.

    ``msd_dims`` is (lags, d): each dimension's MSD averaged over ``n_particles``
    independent particles at ``geometry.lags``. The model parameters per dimension
    (s2, c) come from an OLS fit; with several dimensions they are refined by two GLS
    passes per dimension (with one, the final fit is that dimension's GLS itself).
    ``scale`` multiplies the covariance (the non-Gaussian factor). Returns the line
    in A^2 and fs: slope in A^2/fs.
    """
    lags = geometry.lags.astype(float)
    msd_dims = np.asarray(msd_dims, dtype=float).reshape(len(lags), -1)
    params = [ols_line(lags, msd_dims[:, k]) for k in range(msd_dims.shape[1])]
    for _ in range(2 if msd_dims.shape[1] > 1 else 0):
        covs = [geometry.covariance(s2, c) for s2, c in _usable(params, lags)]
        fits = [gls_line(lags, msd_dims[:, k], cov) for k, cov in enumerate(covs)]
        params = [(f.slope, f.intercept) for f in fits]
    covs = [geometry.covariance(s2, c) for s2, c in _usable(params, lags)]
    total = np.sum(covs, axis=0) * (scale / n_particles)
    return gls_line(lags * frame_fs, msd_dims.sum(axis=1), total)


def _usable(
    params: list[tuple[float, float]], lags: np.ndarray
) -> list[tuple[float, float]]:
    """Keep the model a random walk (positive slope, intercept >= 0).

    A slope too small to see (no diffusion) is raised to 1 % of the MSD at the
    longest lag per lag; a negative intercept (no vibration seen) becomes zero.
    """
    out = []
    for s2, c in params:
        level = max(s2 * float(lags.max()) + c, abs(c), 1e-12)
        out.append((max(s2, 0.01 * level / float(lags.max())), max(c, 0.0)))
    return out
