"""Figures for the transport analysis: MSD curves and Arrhenius plots, saved as PNG.

Figures are built on ``matplotlib.figure.Figure`` directly, not through pyplot, so
no GUI backend or global figure state is involved (PNG output goes through Agg) and
the functions are safe in batch jobs and threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from sse_flows.constants import KB_EV

A2_PER_PS_PER_CM2_PER_S = 1e4  # 1 cm^2/s = 1e16 A^2 / 1e12 ps
_DPI = 150
_T_TICKS = (200, 250, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000)  # K, top axis


class MSDCurve(NamedTuple):
    """One MSD curve; a plain tuple (label, time_ps, msd[, fit_window, D]) works too."""

    label: str
    time_ps: Sequence[float] | np.ndarray
    msd: Sequence[float] | np.ndarray  # A^2
    fit_window: tuple[float, float] | None = None  # ps
    D: float | None = None  # cm^2/s, drawn as MSD = 2 d D t + b over the window
    intercept: float | None = None  # A^2; least squares over the window if None


def _curve(item: MSDCurve | tuple) -> MSDCurve:
    curve = item if isinstance(item, MSDCurve) else MSDCurve(*item)
    t = np.asarray(curve.time_ps, dtype=float)
    msd = np.asarray(curve.msd, dtype=float)
    if t.ndim != 1 or msd.ndim != 1 or len(t) != len(msd):
        raise ValueError(
            f"MSD curve {curve.label!r}: time_ps has shape {t.shape} but msd has "
            f"shape {msd.shape}; they must be 1-D and of equal length"
        )
    if len(t) < 2:
        raise ValueError(f"MSD curve {curve.label!r} has fewer than two points")
    if curve.fit_window is not None:
        t0, t1 = curve.fit_window
        if not t0 < t1:
            raise ValueError(f"MSD curve {curve.label!r}: fit window {curve.fit_window}")
    return curve._replace(time_ps=t, msd=msd)


def plot_msd(
    curves: Sequence[MSDCurve | tuple],
    path: str | Path,
    title: str | None = None,
    dimensions: int = 3,
    log: bool = False,
) -> Path:
    """MSD(t) per temperature, the fit window shaded and the fitted line drawn.

    Each curve is an :class:`MSDCurve` or a tuple in its field order. The line is
    MSD = 2 ``dimensions`` D t + b over the fit window, with b fitted to the curve
    there unless ``intercept`` is given. ``log`` uses log-log axes, where the
    diffusive regime has slope 1.
    """
    parsed = [_curve(c) for c in curves]
    if not parsed:
        raise ValueError("no MSD curves to plot")
    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    colours = [f"C{i % 10}" for i in range(len(parsed))]
    windows = {c.fit_window for c in parsed if c.fit_window is not None}
    shared = len(windows) == 1 and all(c.fit_window is not None for c in parsed)
    if shared:  # one grey band rather than a muddy overlap of coloured ones
        t0, t1 = next(iter(windows))
        ax.axvspan(t0, t1, color="0.5", alpha=0.15, lw=0, label="fit window")
    fit_label = "fitted 2dDt + b" if dimensions != 3 else "fitted 6Dt + b"
    for curve, colour in zip(parsed, colours, strict=True):
        t, msd = np.asarray(curve.time_ps), np.asarray(curve.msd)
        label = curve.label
        if curve.D is not None:
            label += f"  D = {curve.D:.2e} cm$^2$/s"
        ax.plot(t, msd, color=colour, lw=1.5, label=label)
        if curve.fit_window is None:
            continue
        t0, t1 = curve.fit_window
        if not shared:
            ax.axvspan(t0, t1, color=colour, alpha=0.12, lw=0)
        if curve.D is None:
            continue
        slope = 2 * dimensions * curve.D * A2_PER_PS_PER_CM2_PER_S  # A^2/ps
        inside = (t >= t0) & (t <= t1)
        if curve.intercept is not None:
            offset = curve.intercept
        elif inside.any():
            offset = float(np.mean(msd[inside] - slope * t[inside]))
        else:
            offset = 0.0
        line_t = np.linspace(t0, t1, 50)
        ax.plot(
            line_t, slope * line_t + offset, color="k", ls="--", lw=1.0, label=fit_label
        )
        fit_label = "_nolegend_"
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("lag time (ps)")
    ax.set_ylabel(r"MSD ($\mathrm{\AA}^2$)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def plot_arrhenius(
    temperatures: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    lower: Sequence[float] | np.ndarray | None,
    upper: Sequence[float] | np.ndarray | None,
    fit: tuple[float, float] | None,
    path: str | Path,
    quantity: Literal["sigma", "D"] = "D",
    ea_ci: tuple[float, float] | None = None,
    extrapolate_to: float | None = 300.0,
    title: str | None = None,
) -> Path:
    """D (cm^2/s) or sigma (mS/cm) on a log scale against 1000/T, with CI error bars.

    ``lower``/``upper`` are the bounds of the interval (not offsets), or None for no
    error bars. ``fit`` is None for no line, or (Ea in eV, prefactor): D = D0
    exp(-Ea/kT) for D, and sigma T = A exp(-Ea/kT) for sigma, the form a
    Nernst-Einstein sigma of an Arrhenius D follows (A in mS/cm K). The line is
    dotted from the data down to ``extrapolate_to`` K.
    """
    if quantity not in ("sigma", "D"):
        raise ValueError(f"quantity must be 'sigma' or 'D', got {quantity!r}")
    t = np.asarray(temperatures, dtype=float)
    y = np.asarray(values, dtype=float)
    arrays = {"temperatures": t, "values": y}
    if (lower is None) != (upper is None):
        raise ValueError("give both lower and upper bounds, or neither")
    if lower is not None and upper is not None:
        arrays["lower"] = np.asarray(lower, dtype=float)
        arrays["upper"] = np.asarray(upper, dtype=float)
    lengths = {name: a.shape for name, a in arrays.items()}
    if (
        any(a.ndim != 1 for a in arrays.values())
        or len({a.size for a in arrays.values()}) > 1
    ):
        raise ValueError(f"arrays must be 1-D and of equal length, got shapes {lengths}")
    if t.size == 0:
        raise ValueError("no points to plot")
    if (t <= 0).any() or (y <= 0).any():
        raise ValueError("temperatures and values must be positive for a log-scale plot")
    yerr = None
    if "lower" in arrays:
        lo, hi = arrays["lower"], arrays["upper"]
        if (lo > y).any() or (hi < y).any():
            raise ValueError(
                "lower and upper must bracket the values (bounds, not offsets)"
            )
        yerr = np.vstack([y - lo, hi - y])

    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = 1000.0 / t
    name = r"$\sigma$" if quantity == "sigma" else "D"
    ax.errorbar(x, y, yerr=yerr, fmt="o", color="C0", capsize=3, label=f"MD {name}")
    if fit is not None:
        ea, prefactor = fit
        t_min = min(t.min(), extrapolate_to) if extrapolate_to else t.min()
        grid = np.linspace(1000.0 / t.max(), 1000.0 / t_min, 200)
        line = prefactor * np.exp(-ea / (KB_EV * 1000.0 / grid))
        if quantity == "sigma":
            line = line * grid / 1000.0  # sigma = A / T exp(-Ea/kT)
        measured = grid <= 1000.0 / t.min() + 1e-12
        ax.plot(grid[measured], line[measured], color="C1", lw=1.5, label="Arrhenius fit")
        if (~measured).any():
            ax.plot(grid[~measured], line[~measured], color="C1", lw=1.2, ls=":")
        text = f"$E_a$ = {ea:.3f} eV"
        if ea_ci is not None:
            text += f"\n95 % CI {ea_ci[0]:.3f} to {ea_ci[1]:.3f} eV"
        ax.text(0.97, 0.97, text, transform=ax.transAxes, ha="right", va="top")
    ax.set_yscale("log")
    ax.set_xlabel(r"1000 / T (K$^{-1}$)")
    ax.set_ylabel(r"$\sigma$ (mS/cm)" if quantity == "sigma" else r"D (cm$^2$/s)")
    top = ax.secondary_xaxis("top", functions=(_reciprocal, _reciprocal))
    low, high = sorted(ax.get_xlim())
    top.set_xticks([k for k in _T_TICKS if low <= 1000.0 / k <= high])
    top.set_xlabel("T (K)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    return _save(fig, path)


def plot_diffusion_comparison(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    reference: tuple[str, Sequence[float], Sequence[float]] | None = None,
    title: str | None = None,
) -> Path:
    """D(T) of several potentials on one Arrhenius plot, the reference dashed.

    ``curves`` maps a potential to (temperatures K, D cm^2/s); points with D <= 0
    (not resolved) are left out.
    """
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    drawn = 0
    series = [(label, t, d, "o-") for label, (t, d) in curves.items()]
    if reference is not None:
        series.append((f"{reference[0]} (reference)", reference[1], reference[2], "s--k"))
    for label, temperatures, values, style in series:
        t = np.asarray(temperatures, dtype=float)
        d = np.asarray(values, dtype=float)
        keep = (t > 0) & (d > 0)
        if keep.any():
            ax.plot(1000.0 / t[keep], d[keep], style, label=label, ms=4)
            drawn += 1
    if not drawn:
        raise ValueError("no positive D to plot")
    ax.set_yscale("log")
    ax.set_xlabel(r"1000 / T (K$^{-1}$)")
    ax.set_ylabel(r"D (cm$^2$/s)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def _reciprocal(x: Any) -> Any:
    """Map 1000/T and T into each other, leaving 0 alone (for the secondary axis)."""
    x = np.asarray(x, dtype=float)
    out = np.full_like(x, np.inf)
    np.divide(1000.0, x, out=out, where=x != 0)
    return out


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, format="png")
    return path
