"""Nested training subsets by structure group, and the error-against-size plot.

Paper 001 (Fig. 2b, SI Fig. S4/S8) fine-tunes on growing datasets and reads the
validation error against size. For the errors to be comparable every size is
measured on the same held-out frames, and each smaller set is part of the larger
ones (nested), so a change in error comes from the added data, not from a new draw.
Subsets take whole structure groups (an MD trajectory, a strained cell) for the same
reason the splits do: near-copies of one trajectory do not count as new data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: quantity -> (metric key, axis label)
CURVES = {
    "energy": ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
    "forces": ("force_rmse_meV_A", "force RMSE (meV/A)"),
    "stress": ("stress_rmse_GPa", "stress RMSE (GPa)"),
}


def nested_group_subsets(
    groups: Sequence[str], fractions: Sequence[float], seed: int
) -> list[list[str]]:
    """Return, per fraction, the first ``round(fraction * n)`` groups of one shuffle.

    One seeded permutation of the sorted group names serves every fraction, so each
    subset holds all smaller ones. At least one group is taken; two fractions that
    round to the same number of groups are refused (they would train the same model).
    """
    if not groups:
        raise ValueError("no training structure groups to take subsets of")
    if not fractions:
        raise ValueError("give at least one fraction of the training set")
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ValueError(f"fractions must lie in (0, 1]; got {bad}")
    if list(fractions) != sorted(fractions):
        raise ValueError(f"give the fractions in increasing order, not {list(fractions)}")
    names = sorted(groups)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    counts = [max(1, round(f * len(names))) for f in fractions]
    for i in range(1, len(counts)):
        if counts[i] == counts[i - 1]:
            raise ValueError(
                f"fractions {fractions[i - 1]:g} and {fractions[i]:g} both give "
                f"{counts[i]} of the {len(names)} training structure groups (the same "
                "model twice); use fewer sizes or a dataset with more structures"
            )
    return [order[:count] for count in counts]


def size_convergence_plot(
    sizes: Sequence[int],
    metrics: Sequence[Mapping[str, Mapping[str, float | None]]],
    path: Path,
    title: str,
) -> Path:
    """Held-out RMSE against training frames, one panel per quantity (no pyplot).

    ``metrics`` holds, per size, split -> metric name -> value (a trained model's
    ``metrics`` field); valid and test are drawn, train is not.
    """
    from matplotlib.figure import Figure

    held = ("valid", "test")
    shown = [
        quantity
        for quantity, (key, _) in CURVES.items()
        if any(m.get(s, {}).get(key) is not None for m in metrics for s in held)
    ]
    figure = Figure(figsize=(3.6 * max(1, len(shown)), 3.4))
    for column, quantity in enumerate(shown, start=1):
        key, label = CURVES[quantity]
        axes = figure.add_subplot(1, len(shown), column)
        for split, marker in (("valid", "o"), ("test", "s")):
            values = [m.get(split, {}).get(key) for m in metrics]
            if any(v is not None for v in values):
                axes.plot(
                    sizes,
                    [np.nan if v is None else v for v in values],
                    marker=marker,
                    label=split,
                )
        axes.set_xscale("log")
        axes.set_xlabel("training frames")
        axes.set_ylabel(label)
        axes.legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
