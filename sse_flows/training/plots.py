"""Parity plots and the learning curve of a trained model, saved as PNG (no pyplot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

_UNITS = {"energy": "eV/atom", "forces": "eV/A", "stress": "GPa"}


def parity_plot(
    pairs_by_split: Mapping[str, tuple[np.ndarray, np.ndarray]],
    quantity: str,
    path: Path,
    title: str,
) -> Path:
    """Predicted against label, one colour per split, with the diagonal."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 4.0))
    axes = figure.add_subplot()
    low, high = np.inf, -np.inf
    for split, (label, predicted) in pairs_by_split.items():
        axes.scatter(label, predicted, s=4, alpha=0.6, label=split)
        low = min(low, float(np.min(label)), float(np.min(predicted)))
        high = max(high, float(np.max(label)), float(np.max(predicted)))
    axes.plot([low, high], [low, high], color="k", lw=0.8)
    unit = _UNITS[quantity]
    axes.set_xlabel(f"label {quantity} ({unit})")
    axes.set_ylabel(f"model {quantity} ({unit})")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def learning_curve_plot(curve: Sequence[Mapping[str, float | None]], path: Path) -> Path:
    """Training and validation loss (and validation force MAE) per epoch."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0, 3.6))
    axes = figure.add_subplot()
    epochs = [int(point["epoch"] or 0) for point in curve]
    for key in ("train_loss", "valid_loss", "valid_force_mae_meV_A"):
        values = [point.get(key) for point in curve]
        if any(v is not None for v in values):
            shown = [np.nan if v is None else v for v in values]
            axes.plot(epochs, shown, marker="o", ms=3, label=key)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
