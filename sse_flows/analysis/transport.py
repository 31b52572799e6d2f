"""One analysis path from trajectory files to D(T), sigma(T) and the Arrhenius fit.

The conductivity flow's jobs and ``sse-flows analyze`` call these functions, so the
same trajectories give the same numbers whichever way they are analysed: each file
gives D with its CI at its temperature, and only diffusive points with D > 0 enter
the Arrhenius fit (the others are named, with why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sse_flows.analysis.arrhenius import ArrheniusResult, fit_arrhenius
from sse_flows.analysis.data import MDData, TrajectoryInputError, load_md
from sse_flows.analysis.diffusion import (
    DEFAULT_ESTIMATOR,
    DiffusionResult,
    analyze_diffusion,
)


@dataclass
class TrajectoryAnalysis:
    """Diffusion of one trajectory: the species together, and each alone."""

    data: MDData
    result: DiffusionResult
    per_species: dict[str, DiffusionResult] = field(default_factory=dict)


def analyze_trajectory(
    path: str | Path | Sequence[str | Path],
    species: Sequence[str] = ("Li",),
    temperature: float | None = None,
    fit_window: tuple[float, float] | None = None,
    timestep_fs: float | None = None,
    stride: int | None = None,
    estimator: str = DEFAULT_ESTIMATOR,
) -> TrajectoryAnalysis:
    """D, its CI, sigma and the rest for one file (several species: each alone too).

    A list of files is read as the segments of one continued run, in running order
    (:func:`sse_flows.analysis.data.load_md_segments`).
    """
    data = load_md(path, timestep_fs=timestep_fs, stride=stride, temperature=temperature)
    if data.temperature is None:
        raise TrajectoryInputError(
            f"{data.source}: no temperature recorded; give the temperature (--temperature)"
        )
    species = list(species)
    result = analyze_diffusion(
        data,
        species,
        temperature=data.temperature,
        fit_window=fit_window,
        estimator=estimator,
    )
    per_species = (
        {
            name: analyze_diffusion(
                data,
                [name],
                temperature=data.temperature,
                fit_window=fit_window,
                estimator=estimator,
            )
            for name in species
        }
        if len(species) > 1
        else {}
    )
    return TrajectoryAnalysis(data=data, result=result, per_species=per_species)


@dataclass
class TemperatureSeries:
    """D(T) over a set of runs and the Arrhenius fit of its diffusive points."""

    results: list[DiffusionResult]
    arrhenius: ArrheniusResult | None
    warnings: list[str]


def arrhenius_of(results: Sequence[DiffusionResult]) -> TemperatureSeries:
    """Fit Arrhenius over the diffusive points with D > 0; say why when it cannot.

    Every point's own warnings are kept, prefixed with its temperature. The cell
    volume and ion count of the lowest fitted temperature give sigma at 300 K.
    """
    ordered = sorted(results, key=lambda r: r.temperature or 0.0)
    warnings = [f"{r.temperature:g} K: {w}" for r in ordered for w in r.warnings]
    usable = [r for r in ordered if r.diffusive and r.D > 0]
    if len(usable) < 2:
        warnings.append(
            f"no Arrhenius fit: {len(usable)} diffusive temperature(s) of {len(ordered)}; "
            "run longer or hotter"
        )
        return TemperatureSeries(results=ordered, arrhenius=None, warnings=warnings)
    arrhenius = fit_arrhenius(
        [r.temperature or 0.0 for r in usable],
        [r.D for r in usable],
        [r.D_std for r in usable],
        n_ions=usable[0].n_mobile,
        volume=usable[0].volume,
        charge=usable[0].charge,
    )
    fitted = {id(r) for r in usable}
    arrhenius.excluded = [r.temperature or 0.0 for r in ordered if id(r) not in fitted]
    return TemperatureSeries(results=ordered, arrhenius=arrhenius, warnings=warnings)
