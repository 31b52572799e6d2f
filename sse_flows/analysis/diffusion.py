"""Tracer and collective diffusion, Nernst-Einstein conductivity, with honest errors.

Two estimators of D from the MSD, both with calibrated 95 % intervals:

- ``gls`` (default): generalised least squares with the MSD covariance of a random
  walk plus vibration (:mod:`sse_flows.analysis.gls`), its parameters taken from the
  observed displacements of the same ions over all time origins; the interval comes
  from that model, widened by the measured non-Gaussian factor of the squared
  displacements, and is checked against the spread of D over independent groups of
  ions (when the groups scatter more than the model allows, their Student-t interval
  is used instead, and ``error_method`` says so). On random walks its D scatters
  ~40 % less than OLS's, as little as kinisi's (benchmarks/README.md).
- ``ols``: the earlier estimator, ordinary least squares over the window, CI from the
  spread of D over independent groups of ions (time blocks with fewer than 4 ions).

Neither takes its error from the scatter of MSD points about the line: points at
neighbouring lags are strongly correlated, which is why pymatgen-analysis-diffusion's
error bars were ~4,000x too small here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from sse_flows.analysis.data import MDData, TrajectoryInputError, framework_drift
from sse_flows.analysis.gls import CovarianceGeometry, fit_msd, lag_grid
from sse_flows.analysis.msd import group_msd, msd_fft
from sse_flows.constants import A2_PER_FS_TO_CM2_PER_S, ELEMENTARY_CHARGE, KB_J

Estimator = Literal["gls", "ols"]
DIRECTIONS = ("x", "y", "z")
PLANES = ("ab", "ac", "bc")
# Lag windows of the D fit, as fractions of the run. OLS: long lags are averaged over
# few origins; on random walks (200 ions x 2,000 frames) its D scattered 0.47e-6 for
# 10-50 % and 0.36e-6 for 5-30 %. GLS weighs long lags by their covariance: 5-50 % and
# 5-100 % gave the same scatter (0.20-0.21e-6), so the shorter, safer one is default.
FIT_WINDOWS: dict[str, tuple[float, float]] = {"gls": (0.05, 0.5), "ols": (0.05, 0.3)}
# The charge MSD is one walk, its error comes from time origins alone: starting GLS at
# 2 % of the run instead of 5 % halved the scatter of D_sigma on correlated-pair walks
# (64 ions x 2,000 frames: 17 % against 30 %, every run resolved against 1 in 8).
COLLECTIVE_FIT_WINDOW = (0.02, 0.5)
DEFAULT_ESTIMATOR: Estimator = "gls"
DEFAULT_FIT_WINDOW = FIT_WINDOWS[DEFAULT_ESTIMATOR]
Z95 = float(stats.norm.ppf(0.975))
# groups scattering more than the 99th percentile of chi^2/dof allows reject the model
GROUP_CHECK_QUANTILE = 0.99
# a collective (charge) D whose 95 % half-width exceeds this fraction is unresolved
COLLECTIVE_RESOLVED_HALF_WIDTH = 0.5


def default_fit_window(estimator: str) -> tuple[float, float]:
    """Return the default lag window (fractions of the run) of an estimator."""
    if estimator not in FIT_WINDOWS:
        raise TrajectoryInputError(
            f"unknown estimator '{estimator}': choose one of {list(FIT_WINDOWS)}"
        )
    return FIT_WINDOWS[estimator]


class DiffusionResult(BaseModel):
    """Diffusion of one set of mobile species at one temperature."""

    species: list[str] = Field(description="Mobile species analysed together.")
    temperature: float | None = Field(description="Temperature in K.")
    n_mobile: int = Field(description="Number of mobile ions.")
    volume: float = Field(description="Mean cell volume in A^3.")
    charge: float = Field(description="Charge per mobile ion used for sigma (e).")
    duration_ps: float = Field(description="Length of the analysed trajectory in ps.")
    fit_window_ps: tuple[float, float] = Field(description="Lag window of the D fit.")
    estimator: str = Field(
        "ols",
        description="Estimator of D: 'gls' (generalised least squares, random-walk MSD "
        "covariance) or 'ols' (ordinary least squares, group errors).",
    )
    D: float = Field(description="Tracer diffusion coefficient in cm^2/s.")
    D_std: float = Field(description="Standard error of D in cm^2/s.")
    D_ci95: tuple[float, float] = Field(description="95 % confidence interval of D.")
    D_std_groups: float | None = Field(
        None,
        description="Standard error of D from the spread over independent groups of "
        "ions (with gls: the check of the model's error).",
    )
    non_gaussian_factor: float | None = Field(
        None,
        description="Observed / Gaussian variance of the squared displacements (>= 1 "
        "used to widen the gls covariance; hops make it large).",
    )
    D_xyz: dict[str, float] = Field(description="D along x, y, z in cm^2/s.")
    D_xyz_std: dict[str, float] = Field(
        default_factory=dict, description="Standard errors of D along x, y, z, cm^2/s."
    )
    D_planes: dict[str, float] = Field(
        description="In-plane D for the lattice planes ab, ac, bc in cm^2/s."
    )
    D_planes_std: dict[str, float] = Field(
        default_factory=dict,
        description="Standard errors of the in-plane D, cm^2/s.",
    )
    error_method: str = Field(description="How the CI was obtained.")
    n_groups: int = Field(description="Independent groups (or time blocks) in the CI.")
    sigma: float | None = Field(description="Nernst-Einstein conductivity in mS/cm.")
    sigma_ci95: tuple[float, float] | None = Field(description="95 % CI of sigma.")
    D_sigma: float | None = Field(
        None, description="Collective (charge) diffusion coefficient in cm^2/s."
    )
    D_sigma_std: float | None = Field(None, description="Standard error of D_sigma.")
    D_sigma_ci95: tuple[float, float] | None = Field(None, description="95 % CI.")
    collective_resolved: bool | None = Field(
        None,
        description="True when D_sigma > 0 with a 95 % half-width below "
        f"{COLLECTIVE_RESOLVED_HALF_WIDTH:.0%} of it; the Haven ratio and the "
        "collective sigma are reported only then.",
    )
    sigma_collective: float | None = Field(
        None, description="Conductivity from the collective D (charge MSD), mS/cm."
    )
    sigma_collective_ci95: tuple[float, float] | None = Field(None, description="95 % CI.")
    haven_ratio: float | None = Field(None, description="D / D_sigma, when resolved.")
    haven_ratio_ci95: tuple[float, float] | None = Field(
        None, description="95 % CI of the Haven ratio (log-normal, errors combined)."
    )
    msd_end: float = Field(description="Tracer MSD at the end of the fit window, A^2.")
    hops_estimate: float = Field(description="Ion hops implied by the MSD (2.5 A hops).")
    diffusive: bool = Field(description="False when the warnings below apply.")
    warnings: list[str] = Field(default_factory=list)
    msd_time_ps: list[float] = Field(description="Downsampled lag times, ps.")
    msd: list[float] = Field(description="Tracer MSD at those lags, A^2.")
    msd_xyz: dict[str, list[float]] = Field(description="MSD along x, y, z, A^2.")

    @property
    def relative_half_width(self) -> float | None:
        """Return (ci_hi - ci_lo) / (2 |D|), or None when D is zero."""
        low, high = self.D_ci95
        return (high - low) / (2.0 * abs(self.D)) if self.D != 0 else None


@dataclass
class _Tracer:
    """D (cm^2/s) and its error for the total, each direction and each plane."""

    D: float
    D_std: float
    ci: tuple[float, float]
    method: str
    n_groups: int
    D_std_groups: float | None
    non_gaussian: float | None
    D_xyz: dict[str, float]
    D_xyz_std: dict[str, float]
    D_planes: dict[str, float]
    D_planes_std: dict[str, float]


def default_charge(symbol: str) -> float:
    """Most common oxidation state of an element (Li +1, Mg +2, Cl -1...)."""
    from pymatgen.core import Element

    states = Element(symbol).common_oxidation_states
    if not states:
        raise TrajectoryInputError(f"no common oxidation state for {symbol}: pass a charge")
    return float(states[0])


def _projections(cells: np.ndarray) -> np.ndarray:
    """Return unit vectors x, y, z and the normals of the ab, ac, bc planes (6 x 3)."""
    a, b, c = cells.mean(axis=0)
    normals = [np.cross(a, b), np.cross(a, c), np.cross(b, c)]
    vectors = [np.eye(3)[i] for i in range(3)] + [n / np.linalg.norm(n) for n in normals]
    return np.array(vectors)


def _slope(time_fs: np.ndarray, msd: np.ndarray, window: slice) -> np.ndarray:
    """Least-squares slope (A^2/fs) of msd[..., lags] over the window of lags."""
    t = time_fs[window]
    y = msd[..., window]
    t_mean = t.mean()
    return ((y - y.mean(axis=-1, keepdims=True)) * (t - t_mean)).sum(axis=-1) / (
        (t - t_mean) ** 2
    ).sum()


def nernst_einstein(
    D_cm2_s: float, n_ions: int, volume_a3: float, temperature: float, charge: float
) -> float:
    """Conductivity in mS/cm from D (cm^2/s): sigma = n q^2 D / (k_B T)."""
    n = n_ions / (volume_a3 * 1e-30)
    q = charge * ELEMENTARY_CHARGE
    sigma_s_per_m = n * q**2 * (D_cm2_s * 1e-4) / (KB_J * temperature)
    return sigma_s_per_m * 10.0  # S/m -> mS/cm


def _fit_window(
    time_fs: np.ndarray,
    fit_window: tuple[float, float],
    fit_window_ps: tuple[float, float] | None,
) -> slice:
    duration = float(time_fs[-1])
    if fit_window_ps is not None:
        start_fs, end_fs = fit_window_ps[0] * 1000.0, fit_window_ps[1] * 1000.0
    else:
        start_fs, end_fs = fit_window[0] * duration, fit_window[1] * duration
    lags = np.flatnonzero((time_fs >= start_fs) & (time_fs <= end_fs) & (time_fs > 0))
    if len(lags) < 3:
        raise TrajectoryInputError(
            f"the fit window {start_fs / 1000:.3g}-{end_fs / 1000:.3g} ps holds fewer than "
            "3 frames: use a longer trajectory or a wider window"
        )
    return slice(int(lags[0]), int(lags[-1]) + 1)


def analyze_diffusion(
    data: MDData,
    species: tuple[str, ...] | list[str] = ("Li",),
    temperature: float | None = None,
    charge: float | None = None,
    fit_window: tuple[float, float] | None = None,
    fit_window_ps: tuple[float, float] | None = None,
    n_groups: int = 10,
    min_msd: float = 4.0,
    min_hops: float = 20.0,
    n_points: int = 200,
    estimator: str = DEFAULT_ESTIMATOR,
    collective_fit_window: tuple[float, float] | None = None,
) -> DiffusionResult:
    """Tracer D with a 95 % CI, D per direction and plane, sigma and the Haven ratio.

    ``fit_window`` gives the lag window as fractions of the trajectory length (the
    ballistic start and the poorly averaged long lags are excluded; default per
    estimator, :data:`FIT_WINDOWS`); ``fit_window_ps`` overrides it in ps.
    ``estimator`` is ``gls`` or ``ols`` (module docstring). The collective (charge)
    D is fitted over ``collective_fit_window`` (gls default
    :data:`COLLECTIVE_FIT_WINDOW`; ols uses the tracer window). Species are analysed
    together (Li and Na in a mixed conductor); call once per species for separate
    values.
    """
    window_fractions = fit_window or default_fit_window(estimator)
    species = list(species)
    mobile = data.mask(species)
    if data.n_frames < 10:
        raise TrajectoryInputError(f"{data.source}: {data.n_frames} frames are too few")
    temperature = temperature if temperature is not None else data.temperature
    all_symbols = data.symbols
    symbols = sorted({all_symbols[i] for i in np.flatnonzero(mobile)})
    if charge is None:
        charges = {s: default_charge(s) for s in symbols}
        if len(set(charges.values())) > 1:
            raise TrajectoryInputError(
                f"species {charges} differ in charge: analyse separately"
            )
        charge = next(iter(charges.values()))

    time_fs = data.time_fs
    duration = float(time_fs[-1])
    window = _fit_window(time_fs, window_fractions, fit_window_ps)

    # only the mobile ions are copied; the framework's drift is subtracted from them
    displacement = data.positions[:, mobile] - framework_drift(data, mobile)[:, None, :]
    displacement -= displacement[0]
    n_mobile = int(mobile.sum())
    vectors = _projections(data.cells)
    groups_n = min(n_groups, n_mobile)
    groups = np.arange(n_mobile) % groups_n
    per_group = group_msd(displacement, groups, groups_n, vectors)  # (G, frames, 6)
    mean_msd = np.average(per_group, axis=0, weights=np.bincount(groups))
    total_msd = mean_msd[:, :3].sum(axis=1)

    if estimator == "gls":
        tracer = _tracer_gls(displacement, time_fs, window, mean_msd, per_group, groups)
    else:
        tracer, window = _tracer_ols(
            displacement, time_fs, window, mean_msd, per_group, vectors
        )

    volume = data.volume()
    sigma = sigma_ci = None
    if temperature:
        sigma = nernst_einstein(tracer.D, n_mobile, volume, temperature, charge)
        sigma_ci = (
            nernst_einstein(tracer.ci[0], n_mobile, volume, temperature, charge),
            nernst_einstein(tracer.ci[1], n_mobile, volume, temperature, charge),
        )

    collective_window = (
        _fit_window(time_fs, collective_fit_window or COLLECTIVE_FIT_WINDOW, None)
        if estimator == "gls"
        else window
    )
    collective = (
        _collective(displacement, time_fs, collective_window, tracer, estimator)
        if not mobile.all()
        else _Collective(
            note="collective D not defined: every atom is mobile, and the centre of mass "
            "of all atoms is fixed (momentum conservation); analyse the mobile species "
            "in a framework"
        )
    )
    if collective.resolved and temperature and collective.D and collective.ci:
        low, high = (
            nernst_einstein(value, n_mobile, volume, temperature, charge)
            for value in (collective.ci[0], collective.ci[1])
        )
        collective.sigma = nernst_einstein(
            collective.D, n_mobile, volume, temperature, charge
        )
        collective.sigma_ci = (low, high)

    msd_end = float(total_msd[window.stop - 1])
    hops = n_mobile * msd_end / 2.5**2
    warnings = []
    if msd_end < min_msd:
        warnings.append(
            f"not diffusive: MSD reaches only {msd_end:.2f} A^2 (< {min_msd} A^2) in the "
            "fit window; run longer or hotter before trusting D"
        )
    if hops < min_hops:
        warnings.append(
            f"too few hops: ~{hops:.0f} ion hops (< {min_hops:.0f}); D and its CI are "
            "not reliable"
        )
    log_t = np.log(time_fs[window][1:])
    log_msd = np.log(np.maximum(total_msd[window][1:], 1e-12))
    exponent = float(np.polyfit(log_t, log_msd, 1)[0]) if len(log_t) > 2 else 1.0
    if exponent < 0.8:
        warnings.append(
            f"sub-diffusive: MSD ~ t^{exponent:.2f} in the fit window (1 for diffusion)"
        )
    if collective.note:
        warnings.append(collective.note)

    picks = np.unique(
        np.linspace(0, data.n_frames - 1, min(n_points, data.n_frames)).astype(int)
    )
    return DiffusionResult(
        species=species,
        temperature=temperature,
        n_mobile=n_mobile,
        volume=volume,
        charge=charge,
        duration_ps=duration / 1000.0,
        fit_window_ps=(
            float(time_fs[window.start]) / 1000.0,
            float(time_fs[window.stop - 1]) / 1000.0,
        ),
        estimator=estimator,
        D=tracer.D,
        D_std=tracer.D_std,
        D_ci95=tracer.ci,
        D_std_groups=tracer.D_std_groups,
        non_gaussian_factor=tracer.non_gaussian,
        D_xyz=tracer.D_xyz,
        D_xyz_std=tracer.D_xyz_std,
        D_planes=tracer.D_planes,
        D_planes_std=tracer.D_planes_std,
        error_method=tracer.method,
        n_groups=tracer.n_groups,
        sigma=sigma,
        sigma_ci95=sigma_ci,
        D_sigma=collective.D,
        D_sigma_std=collective.std,
        D_sigma_ci95=collective.ci,
        collective_resolved=collective.resolved,
        sigma_collective=collective.sigma,
        sigma_collective_ci95=collective.sigma_ci,
        haven_ratio=collective.haven,
        haven_ratio_ci95=collective.haven_ci,
        msd_end=msd_end,
        hops_estimate=hops,
        diffusive=not any(
            w.startswith(("not diffusive", "too few", "sub-")) for w in warnings
        ),
        warnings=warnings,
        msd_time_ps=(time_fs[picks] / 1000.0).tolist(),
        msd=total_msd[picks].tolist(),
        msd_xyz={axis: mean_msd[picks, i].tolist() for i, axis in enumerate(DIRECTIONS)},
    )


def _plane_columns(mean_msd: np.ndarray, index: int) -> np.ndarray:
    """Two equal in-plane columns (total minus the normal's MSD, halved) per lag."""
    in_plane = mean_msd[..., :3].sum(axis=-1) - mean_msd[..., 3 + index]
    return np.stack([in_plane / 2.0, in_plane / 2.0], axis=-1)


def non_gaussian_factor(displacement: np.ndarray, lags: np.ndarray) -> float:
    """Observed / Gaussian variance of squared displacements, averaged over lags.

    Displacements over non-overlapping origins at each lag; the Gaussian variance of
    |dr|^2 is 2 sum_d <dx_d^2>^2. Hops make the ratio exceed 1 (heavy tails), and the
    GLS covariance is scaled by it (never below 1).
    """
    ratios, weights = [], []
    for lag in lags[:: max(1, len(lags) // 20)]:
        step = displacement[lag::lag] - displacement[:-lag:lag]
        if step.shape[0] == 0:
            continue
        squared = step**2  # (origins, ions, 3)
        per_dim = squared.reshape(-1, 3).mean(axis=0)
        gaussian = 2.0 * float((per_dim**2).sum())
        if gaussian <= 0:
            continue
        ratios.append(float(squared.sum(axis=-1).var()) / gaussian)
        weights.append(squared.shape[0] * squared.shape[1])
    if not ratios:
        return 1.0
    return float(np.average(ratios, weights=weights))


def _tracer_gls(
    displacement: np.ndarray,
    time_fs: np.ndarray,
    window: slice,
    mean_msd: np.ndarray,
    per_group: np.ndarray,
    groups: np.ndarray,
) -> _Tracer:
    """GLS D, per direction and plane; model errors checked against group spread."""
    frames, n_mobile = displacement.shape[:2]
    frame_fs = float(time_fs[1] - time_fs[0])
    lags = lag_grid(window.start, window.stop - 1)
    geometry = CovarianceGeometry.build(lags, frames)
    kurtosis = non_gaussian_factor(displacement, lags)
    scale = max(kurtosis, 1.0)
    to_cm2 = A2_PER_FS_TO_CM2_PER_S

    fit = fit_msd(geometry, frame_fs, mean_msd[lags, :3], n_mobile, scale)
    d_value = fit.slope / 6.0 * to_cm2
    d_std = fit.slope_std / 6.0 * to_cm2
    ci = (d_value - Z95 * d_std, d_value + Z95 * d_std)
    groups_n = per_group.shape[0]
    method = (
        f"GLS, random-walk MSD covariance over {len(lags)} lags"
        f" (non-Gaussian factor {scale:.2f}), normal 95 % interval"
    )
    d_std_groups = None
    if groups_n >= 4:
        group_total = per_group[:, lags, :3].sum(axis=2)  # (G, lags)
        d_groups = group_total @ fit.weights / 6.0 * to_cm2
        d_std_groups = float(d_groups.std(ddof=1) / np.sqrt(groups_n))
        limit = stats.chi2.ppf(GROUP_CHECK_QUANTILE, groups_n - 1) / (groups_n - 1)
        if d_std_groups**2 > limit * d_std**2:
            t_crit = float(stats.t.ppf(0.975, groups_n - 1))
            method = (
                f"GLS over {len(lags)} lags; the random-walk error was too small for the "
                f"spread of {groups_n} independent groups of ions (correlated ions?), "
                "so the groups' Student-t interval is used"
            )
            d_std = d_std_groups
            ci = (d_value - t_crit * d_std, d_value + t_crit * d_std)
    else:
        method += f"; only {n_mobile} mobile ions, no group check"

    d_xyz, d_xyz_std = {}, {}
    for i, axis in enumerate(DIRECTIONS):
        axis_fit = fit_msd(geometry, frame_fs, mean_msd[lags, i : i + 1], n_mobile, scale)
        d_xyz[axis] = axis_fit.slope / 2.0 * to_cm2
        d_xyz_std[axis] = axis_fit.slope_std / 2.0 * to_cm2
    d_planes, d_planes_std = {}, {}
    for i, plane in enumerate(PLANES):
        columns = _plane_columns(mean_msd[lags], i)
        plane_fit = fit_msd(geometry, frame_fs, columns, n_mobile, scale)
        d_planes[plane] = plane_fit.slope / 4.0 * to_cm2
        d_planes_std[plane] = plane_fit.slope_std / 4.0 * to_cm2
    return _Tracer(
        D=d_value,
        D_std=d_std,
        ci=ci,
        method=method,
        n_groups=groups_n,
        D_std_groups=d_std_groups,
        non_gaussian=kurtosis,
        D_xyz=d_xyz,
        D_xyz_std=d_xyz_std,
        D_planes=d_planes,
        D_planes_std=d_planes_std,
    )


def _tracer_ols(
    displacement: np.ndarray,
    time_fs: np.ndarray,
    window: slice,
    mean_msd: np.ndarray,
    per_group: np.ndarray,
    vectors: np.ndarray,
) -> tuple[_Tracer, slice]:
    """OLS D with errors from independent groups (time blocks below 4 ions)."""
    frames, n_mobile = displacement.shape[:2]
    to_cm2 = A2_PER_FS_TO_CM2_PER_S
    if n_mobile >= 4:
        groups_n = per_group.shape[0]
        method = f"{groups_n} independent groups of ions, Student t"
    else:
        groups_n = 5
        method = "5 time blocks (fewer than 4 mobile ions), Student t"
        blocks = np.array_split(np.arange(frames), groups_n)
        size = min(len(b) for b in blocks)
        block_msd = []
        for block in blocks:
            part = displacement[block[:size]] - displacement[block[0]]
            block_msd.append(group_msd(part, np.zeros(n_mobile, dtype=int), 1, vectors)[0])
        per_group = np.array(block_msd)
        window = slice(window.start, min(window.stop, size))
        if window.stop - window.start < 3:
            raise TrajectoryInputError(
                "trajectory too short for block errors with so few ions"
            )
    per_group_total = per_group[:, :, :3].sum(axis=2)
    total_msd = mean_msd[:, :3].sum(axis=1)
    d_groups = _slope(time_fs, per_group_total, window) / 6.0 * to_cm2
    d_value = float(_slope(time_fs, total_msd, window)) / 6.0 * to_cm2
    d_std = float(d_groups.std(ddof=1) / np.sqrt(groups_n))
    t_crit = float(stats.t.ppf(0.975, groups_n - 1))

    def spread(values: np.ndarray) -> float:
        return float(values.std(ddof=1) / np.sqrt(groups_n))

    d_xyz = {
        axis: float(_slope(time_fs, mean_msd[:, i], window)) / 2.0 * to_cm2
        for i, axis in enumerate(DIRECTIONS)
    }
    d_xyz_std = {
        axis: spread(_slope(time_fs, per_group[:, :, i], window) / 2.0 * to_cm2)
        for i, axis in enumerate(DIRECTIONS)
    }
    d_planes = {
        plane: float(_slope(time_fs, total_msd - mean_msd[:, 3 + i], window)) / 4.0 * to_cm2
        for i, plane in enumerate(PLANES)
    }
    d_planes_std = {
        plane: spread(
            _slope(time_fs, per_group_total - per_group[:, :, 3 + i], window) / 4.0 * to_cm2
        )
        for i, plane in enumerate(PLANES)
    }
    tracer = _Tracer(
        D=d_value,
        D_std=d_std,
        ci=(d_value - t_crit * d_std, d_value + t_crit * d_std),
        method=method,
        n_groups=groups_n,
        D_std_groups=d_std,
        non_gaussian=None,
        D_xyz=d_xyz,
        D_xyz_std=d_xyz_std,
        D_planes=d_planes,
        D_planes_std=d_planes_std,
    )
    return tracer, window


@dataclass
class _Collective:
    D: float | None = None
    std: float | None = None
    ci: tuple[float, float] | None = None
    resolved: bool | None = None
    haven: float | None = None
    haven_ci: tuple[float, float] | None = None
    sigma: float | None = None
    sigma_ci: tuple[float, float] | None = None
    note: str | None = None


def _collective(
    displacement: np.ndarray,
    time_fs: np.ndarray,
    window: slice,
    tracer: _Tracer,
    estimator: str,
) -> _Collective:
    """Return collective (charge) D from the summed displacement, and H = D / D_sigma.

    The summed displacement is one trajectory, so its error comes from time origins
    only: GLS with the random-walk covariance of that one walk, or (ols) 5 time blocks.
    """
    frames, n_mobile = displacement.shape[:2]
    total = displacement.sum(axis=1)  # (frames, 3)
    per_dim = msd_fft(total)  # (frames, 3)
    to_cm2 = A2_PER_FS_TO_CM2_PER_S / (6.0 * n_mobile)
    if estimator == "gls":
        lags = lag_grid(window.start, window.stop - 1)
        geometry = CovarianceGeometry.build(lags, frames)
        fit = fit_msd(geometry, float(time_fs[1] - time_fs[0]), per_dim[lags], 1)
        d_sigma, std = fit.slope * to_cm2, fit.slope_std * to_cm2
        half = Z95 * std
    else:
        d_sigma = float(_slope(time_fs, per_dim.sum(axis=1), window)) * to_cm2
        blocks = np.array_split(np.arange(frames), 5)
        size = min(len(b) for b in blocks)
        stop = min(window.stop, size)
        if stop - window.start < 3:
            return _Collective(
                D=d_sigma, note="collective D not resolved: trajectory too short"
            )
        values = [
            float(
                _slope(
                    time_fs,
                    msd_fft(total[b[:size]] - total[b[0]]).sum(axis=1),
                    slice(window.start, stop),
                )
            )
            * to_cm2
            for b in blocks
        ]
        std = float(np.std(values, ddof=1) / np.sqrt(len(values)))
        half = float(stats.t.ppf(0.975, len(values) - 1)) * std
    result = _Collective(D=d_sigma, std=std, ci=(d_sigma - half, d_sigma + half))
    result.resolved = bool(
        d_sigma > 0 and half <= COLLECTIVE_RESOLVED_HALF_WIDTH * abs(d_sigma)
    )
    if not result.resolved or tracer.D <= 0:
        result.note = (
            "collective D not resolved (Haven ratio not reported): "
            f"D_sigma = {d_sigma:.2e} +- {half:.1e} cm^2/s (95 %); run longer"
        )
        return result
    result.haven = tracer.D / d_sigma
    log_std = float(np.hypot(tracer.D_std / tracer.D, std / d_sigma))
    result.haven_ci = (
        result.haven * float(np.exp(-Z95 * log_std)),
        result.haven * float(np.exp(Z95 * log_std)),
    )
    return result
