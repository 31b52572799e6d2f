"""MSD and Arrhenius figures: written as real PNGs, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from sse_flows.analysis.plots import MSDCurve, plot_arrhenius, plot_msd

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path, min_kb: float = 15.0) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert min_kb * 1e3 < len(data) < 2e6
    image = imread(path)
    assert image.shape[0] > 400 and image.shape[1] > 400
    # not blank: a fair share of pixels differ from the white background
    assert (image[..., :3] < 0.9).any(axis=-1).mean() > 0.005
    return image


def msd_curves():
    t = np.linspace(0, 50, 251)
    rng = np.random.default_rng(0)
    curves = []
    for temperature, d in ((600, 2e-6), (800, 8e-6), (1000, 2e-5)):
        slope = 6 * d * 1e4  # A^2/ps
        wobble = np.cumsum(rng.normal(scale=0.02 * slope, size=t.size))
        msd = slope * t + 1.5 * (1 - np.exp(-t / 0.2)) + wobble
        curves.append(MSDCurve(f"{temperature} K", t, msd, (10.0, 40.0), d))
    return curves


def test_plot_msd_writes_png(tmp_path):
    path = plot_msd(msd_curves(), tmp_path / "figs" / "msd.png", title="Li MSD")
    assert path == tmp_path / "figs" / "msd.png"
    check_png(path)


def test_plot_msd_accepts_plain_tuples(tmp_path):
    t = np.arange(10.0)
    path = plot_msd(
        [("no fit", t, t**1.0), ("window only", t, 2 * t, (2.0, 8.0))],
        tmp_path / "msd.png",
        log=True,
    )
    check_png(path, min_kb=10.0)


def test_plot_msd_refuses_mismatched_arrays(tmp_path):
    t = np.arange(10.0)
    with pytest.raises(ValueError, match=r"'600 K'.*equal length"):
        plot_msd([("600 K", t, t[:-1])], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="fit window"):
        plot_msd([("600 K", t, t, (5.0, 2.0))], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="no MSD curves"):
        plot_msd([], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def arrhenius_data():
    kb = 8.617333262e-5
    t = np.array([600.0, 700.0, 800.0, 900.0, 1000.0])
    ea, d0 = 0.3, 1e-3
    d = d0 * np.exp(-ea / (kb * t))
    return t, d, 0.8 * d, 1.25 * d, (ea, d0)


def test_plot_arrhenius_writes_png(tmp_path):
    t, d, lo, hi, fit = arrhenius_data()
    path = plot_arrhenius(
        t, d, lo, hi, fit, tmp_path / "arrhenius_D.png", ea_ci=(0.28, 0.32)
    )
    check_png(path)
    kb = 8.617333262e-5
    sigma = 5e4 / t * np.exp(-0.3 / (kb * t)) * np.array([1.1, 0.9, 1.05, 1.0, 0.95])
    path = plot_arrhenius(
        t, sigma, None, None, (0.3, 5e4), tmp_path / "arrhenius_sigma.png", quantity="sigma"
    )
    check_png(path)
    # without a fit line
    check_png(plot_arrhenius(t, d, lo, hi, None, tmp_path / "points.png"), min_kb=10.0)


def test_plot_arrhenius_refuses_bad_input(tmp_path):
    t, d, lo, hi, fit = arrhenius_data()
    out = tmp_path / "bad.png"
    with pytest.raises(ValueError, match="equal length"):
        plot_arrhenius(t, d[:-1], lo[:-1], hi[:-1], fit, out)
    with pytest.raises(ValueError, match="equal length"):
        plot_arrhenius(t, d, lo, hi[:-1], fit, out)
    with pytest.raises(ValueError, match="bracket"):
        plot_arrhenius(t, d, d * 0.1, d * 0.2, fit, out)  # offsets instead of bounds
    with pytest.raises(ValueError, match="both"):
        plot_arrhenius(t, d, lo, None, fit, out)
    with pytest.raises(ValueError, match="positive"):
        plot_arrhenius(t, -d, None, None, None, out)
    with pytest.raises(ValueError, match="quantity"):
        plot_arrhenius(t, d, lo, hi, fit, out, quantity="conductivity")  # type: ignore[arg-type]
    assert not out.exists()
