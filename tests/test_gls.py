"""The closed-form MSD covariance of the GLS estimator against sums and samples."""

import numpy as np
import pytest

from sse_flows.analysis.gls import CovarianceGeometry, gls_line, lag_grid
from sse_flows.analysis.msd import msd_fft


def brute_covariance(lags: list[int], frames: int, s2: float, c: float) -> np.ndarray:
    """Sum 2 cov(increment_n, increment_m)^2 over every pair of time origins."""

    def variogram(tau: np.ndarray) -> np.ndarray:
        return np.where(tau != 0, s2 * np.abs(tau) + c, 0.0)

    out = np.zeros((len(lags), len(lags)))
    for a, n in enumerate(lags):
        for b, m in enumerate(lags):
            d = np.arange(frames - m)[None, :] - np.arange(frames - n)[:, None]
            cov = 0.5 * (
                variogram(d + m) + variogram(d - n) - variogram(d + m - n) - variogram(d)
            )
            out[a, b] = 2 * (cov**2).sum() / ((frames - n) * (frames - m))
    return out


@pytest.mark.parametrize(
    ("frames", "lags"),
    [(30, [1, 2, 5, 10, 29]), (25, [3, 4, 12, 20, 24]), (40, [7, 33, 39])],
)
@pytest.mark.parametrize(("s2", "c"), [(1.0, 0.0), (0.3, 2.0), (0.0, 1.0)])
def test_closed_form_equals_the_sum_over_origin_pairs(frames, lags, s2, c):
    geometry = CovarianceGeometry.build(np.array(lags), frames)
    expected = brute_covariance(lags, frames, s2, c)
    np.testing.assert_allclose(geometry.covariance(s2, c), expected, rtol=1e-10)


def test_covariance_matches_simulated_walks_with_vibration():
    rng = np.random.default_rng(0)
    frames, walkers, s2, c = 60, 40000, 1.0, 0.5
    lags = np.array([2, 10, 30, 59])
    steps = rng.normal(size=(frames - 1, walkers)) * np.sqrt(s2)
    x = np.concatenate([np.zeros((1, walkers)), np.cumsum(steps, axis=0)])
    x += rng.normal(size=(frames, walkers)) * np.sqrt(c / 2)  # gamma = s2 tau + c
    observed = np.cov(msd_fft(x)[lags])
    model = CovarianceGeometry.build(lags, frames).covariance(s2, c)
    # sampling error of a variance from 40,000 heavy-tailed values: a few %
    np.testing.assert_allclose(observed, model, rtol=0.06)


def test_gls_line_recovers_a_line_and_its_covariance():
    time = np.linspace(1.0, 10.0, 8)
    covariance = 0.01 * np.minimum.outer(time, time)  # correlated like a walk
    y = 3.0 * time + 2.0
    fit = gls_line(time, y, covariance)
    assert fit.slope == pytest.approx(3.0) and fit.intercept == pytest.approx(2.0)
    design = np.column_stack([time, np.ones_like(time)])
    exact = np.linalg.inv(design.T @ np.linalg.solve(covariance, design))
    np.testing.assert_allclose(fit.covariance, exact, rtol=1e-6)
    assert fit.weights @ y == pytest.approx(3.0)


def test_lag_grid_is_bounded_and_starts_at_one_or_later():
    grid = lag_grid(0, 5000, max_lags=100)
    assert grid[0] == 1 and grid[-1] == 5000 and len(grid) == 100
    assert list(lag_grid(3, 6)) == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="lags must lie"):
        CovarianceGeometry.build(np.array([0, 5]), 10)
