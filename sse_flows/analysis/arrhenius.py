"""Arrhenius fit of D(T): activation energy, prefactor and sigma at 300 K with CIs.

The one fit of the package (the conductivity flow, ``sse-flows analyze`` and the
query layer's planar activation energies all call :func:`fit_arrhenius`), with one
weighting: ln D = ln D0 - Ea / (k_B T), each point weighted by 1 / (D_std / D)^2,
where D_std is the standard error of D that
:func:`sse_flows.analysis.diffusion.analyze_diffusion` reports, taken unchanged
whichever estimator made it (GLS by default, or OLS with group errors; the error of
ln D to first order). With more points than parameters the covariance is scaled up
(never down) by the reduced chi^2, so scatter beyond the error bars widens the
interval. Intervals of derived quantities (sigma at 300 K) come from sampling the
fitted parameters' normal distribution.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from sse_flows.analysis.diffusion import nernst_einstein
from sse_flows.constants import KB_EV
from sse_flows.errors import SSEFlowsError


class ArrheniusResult(BaseModel):
    """Activation energy and extrapolation of diffusion over temperature."""

    temperatures: list[float] = Field(description="Temperatures used in the fit, K.")
    D: list[float] = Field(description="D at those temperatures, cm^2/s.")
    D_std: list[float] = Field(description="Standard errors of D, cm^2/s.")
    Ea_eV: float = Field(description="Activation energy in eV.")
    Ea_std: float = Field(description="Standard error of Ea in eV.")
    Ea_ci95: tuple[float, float] = Field(description="95 % CI of Ea in eV.")
    D0: float = Field(description="Prefactor D0 in cm^2/s.")
    D0_ci95: tuple[float, float] = Field(description="95 % CI of D0.")
    D_300K: float = Field(description="D extrapolated to 300 K, cm^2/s.")
    D_300K_ci95: tuple[float, float] = Field(description="95 % CI of D at 300 K.")
    sigma_300K: float | None = Field(
        None, description="Nernst-Einstein sigma at 300 K, mS/cm."
    )
    sigma_300K_ci95: tuple[float, float] | None = Field(None, description="95 % CI.")
    reduced_chi2: float | None = Field(description="Scatter about the line / error bars.")
    excluded: list[float] = Field(
        default_factory=list, description="Temperatures left out (not diffusive)."
    )


def fit_arrhenius(
    temperatures: list[float] | np.ndarray,
    D: list[float] | np.ndarray,
    D_std: list[float] | np.ndarray,
    n_ions: int | None = None,
    volume: float | None = None,
    charge: float = 1.0,
    extrapolate_to: float = 300.0,
    samples: int = 20000,
    seed: int = 0,
) -> ArrheniusResult:
    """Fit ln D against 1/T; sigma at ``extrapolate_to`` needs n_ions and volume.

    ``volume`` (A^3) and ``n_ions`` are those of the cell the D values belong to.
    """
    t = np.asarray(temperatures, dtype=float)
    d = np.asarray(D, dtype=float)
    s = np.asarray(D_std, dtype=float)
    if not (len(t) == len(d) == len(s)):
        raise SSEFlowsError("temperatures, D and D_std must have the same length")
    if len(t) < 2:
        raise SSEFlowsError("an Arrhenius fit needs at least two temperatures")
    if (d <= 0).any():
        raise SSEFlowsError(f"D must be positive for an Arrhenius fit, got {d.tolist()}")
    x = 1.0 / (KB_EV * t)  # 1/eV
    y = np.log(d)
    sigma_y = np.maximum(s / d, 1e-6)
    weights = 1.0 / sigma_y**2
    design = np.column_stack([np.ones_like(x), -x])  # y = ln D0 - Ea x
    normal = design.T @ (design * weights[:, None])
    covariance = np.linalg.inv(normal)
    params = covariance @ (design.T @ (weights * y))
    residual = y - design @ params
    dof = len(t) - 2
    chi2 = float((weights * residual**2).sum() / dof) if dof > 0 else None
    if chi2 is not None and chi2 > 1.0:
        covariance = covariance * chi2
    t_crit = float(stats.t.ppf(0.975, dof)) if dof > 0 else float(stats.norm.ppf(0.975))
    ln_d0, ea = params
    ln_d0_std, ea_std = np.sqrt(np.diag(covariance))

    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(params, covariance, size=samples)
    x_target = 1.0 / (KB_EV * extrapolate_to)
    d_target = np.exp(draws[:, 0] - draws[:, 1] * x_target)
    lo, hi = np.percentile(d_target, [2.5, 97.5])
    d_300 = float(np.exp(ln_d0 - ea * x_target))

    sigma = sigma_ci = None
    if n_ions and volume:
        sigma = nernst_einstein(d_300, n_ions, volume, extrapolate_to, charge)
        sigma_ci = (
            nernst_einstein(float(lo), n_ions, volume, extrapolate_to, charge),
            nernst_einstein(float(hi), n_ions, volume, extrapolate_to, charge),
        )
    return ArrheniusResult(
        temperatures=t.tolist(),
        D=d.tolist(),
        D_std=s.tolist(),
        Ea_eV=float(ea),
        Ea_std=float(ea_std),
        Ea_ci95=(float(ea - t_crit * ea_std), float(ea + t_crit * ea_std)),
        D0=float(np.exp(ln_d0)),
        D0_ci95=(
            float(np.exp(ln_d0 - t_crit * ln_d0_std)),
            float(np.exp(ln_d0 + t_crit * ln_d0_std)),
        ),
        D_300K=d_300,
        D_300K_ci95=(float(lo), float(hi)),
        sigma_300K=sigma,
        sigma_300K_ci95=sigma_ci,
        reduced_chi2=chi2,
    )
