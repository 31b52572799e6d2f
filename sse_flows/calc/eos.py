"""Energy-volume curve of isotropically scaled cells and its equation-of-state fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pymatgen.core import Structure

from sse_flows.calc.elastic import (
    CellSettings,
    MechanicsError,
    evaluate_cell,
    relaxed_reference,
)
from sse_flows.calc.relax import RelaxResult

DEFAULT_VOLUME_FACTORS = (0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06)
MIN_VOLUMES = 5


class EOSFitError(MechanicsError):
    """The energy-volume data cannot be fitted by the equation of state."""


@dataclass
class EOSSettings(CellSettings):
    """Volume factors of the reference cell and the pymatgen EOS model to fit."""

    volume_factors: list[float] = field(
        default_factory=lambda: list(DEFAULT_VOLUME_FACTORS)
    )
    eos: str = "birch_murnaghan"

    def checked_factors(self) -> list[float]:
        """Sorted factors; refuse too few, repeated or non-positive ones, or a bad EOS."""
        from pymatgen.analysis.eos import EOS

        if self.eos not in EOS.MODELS:
            raise EOSFitError(
                f"Unknown EOS '{self.eos}'; choose one of {sorted(EOS.MODELS)}."
            )
        factors = sorted(float(f) for f in self.volume_factors)
        if any(f <= 0 for f in factors) or len(set(factors)) != len(factors):
            raise EOSFitError(
                f"volume_factors must be distinct and positive; got {self.volume_factors}."
            )
        if len(factors) < MIN_VOLUMES:
            raise EOSFitError(
                f"{len(factors)} volumes are too few for an EOS fit; give "
                f"{MIN_VOLUMES} or more volume factors."
            )
        return factors


@dataclass
class EOSFit:
    """Equation-of-state parameters (per atom) and the fit quality."""

    V0: float  # A^3/atom
    B0_GPa: float
    B1: float
    E0: float  # eV/atom
    residual: float  # eV/atom
    fitted: Any  # pymatgen EOSBase, for plotting


def fit_eos(
    volumes: list[float], energies: list[float], eos_name: str = "birch_murnaghan"
) -> EOSFit:
    """Fit E(V) (per atom) with a pymatgen EOS; refuse data without an inner minimum."""
    from pymatgen.analysis.eos import EOS, EOSError

    v, e = np.asarray(volumes, dtype=float), np.asarray(energies, dtype=float)
    if eos_name not in EOS.MODELS:
        raise EOSFitError(f"Unknown EOS '{eos_name}'; choose one of {sorted(EOS.MODELS)}.")
    if len(v) < MIN_VOLUMES:
        raise EOSFitError(
            f"{len(v)} volumes are too few for an EOS fit; give {MIN_VOLUMES} or more."
        )
    if not (np.isfinite(v).all() and np.isfinite(e).all()):
        raise EOSFitError("Non-finite energies in the E(V) data; check the potential.")
    lowest = int(np.argmin(e))
    if lowest in (0, len(e) - 1):
        raise EOSFitError(
            f"The lowest energy is at the {'smallest' if lowest == 0 else 'largest'} "
            "volume, so the minimum is outside the scanned range; relax the structure "
            "first or widen volume_factors."
        )
    try:
        fitted = EOS(eos_name=eos_name).fit(v.tolist(), e.tolist())
    except EOSError as exc:
        raise EOSFitError(f"The {eos_name} fit failed: {exc}") from exc
    result = EOSFit(
        V0=float(fitted.v0),
        B0_GPa=float(fitted.b0_GPa),
        B1=float(fitted.b1),
        E0=float(fitted.e0),
        residual=float(np.sqrt(np.mean((fitted.func(v) - e) ** 2))),
        fitted=fitted,
    )
    if not (np.isfinite([result.V0, result.B0_GPa, result.B1]).all() and result.B0_GPa > 0):
        raise EOSFitError(
            f"The {eos_name} fit gave B0 = {result.B0_GPa:.3g} GPa, V0 = {result.V0:.3g} "
            "A^3/atom; the data are not a single smooth well. Check the energies."
        )
    return result


def plot_eos(
    fit: EOSFit, volumes: list[float], energies: list[float], path: Path, title: str
) -> Path:
    """Draw E(V) per atom with the fitted curve and V0; save as PNG (Agg, no pyplot)."""
    from matplotlib.figure import Figure

    v = np.asarray(volumes)
    grid = np.linspace(v.min() * 0.99, v.max() * 1.01, 200)
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(grid, fit.fitted.func(grid), color="C0", lw=1.5, label="fit")
    ax.plot(v, energies, "o", color="k", ms=5, label="potential")
    ax.axvline(fit.V0, color="0.5", ls="--", lw=1.0)
    ax.set_xlabel(r"volume ($\mathrm{\AA}^3$/atom)")
    ax.set_ylabel("energy (eV/atom)")
    ax.set_title(title, fontsize=10)
    ax.text(
        0.5,
        0.95,
        f"V0 = {fit.V0:.3f} A$^3$/atom\nB0 = {fit.B0_GPa:.1f} GPa, B' = {fit.B1:.2f}",
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=9,
    )
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


@dataclass
class EOSResult:
    """E(V) data, the fit, and what to check."""

    reference: Structure
    reference_relax: RelaxResult | None
    factors: list[float]
    volumes: list[float]  # A^3/atom
    energies: list[float]  # eV/atom
    pressures: list[float]  # GPa
    fit: EOSFit
    warnings: list[str]


def equation_of_state(
    atoms: Atoms, calculator: Calculator, settings: EOSSettings
) -> EOSResult:
    """Relax, scale the cell isotropically, evaluate each volume and fit the EOS."""
    factors = settings.checked_factors()
    notes: list[str] = []
    reference, relaxation = relaxed_reference(atoms, calculator, settings, notes)
    n = len(reference)
    volumes, energies, pressures = [], [], []
    for factor in factors:
        cell = reference.copy()
        cell.scale_lattice(reference.volume * factor)
        energy, stress = evaluate_cell(cell, calculator, settings)
        volumes.append(cell.volume / n)
        energies.append(energy / n)
        pressures.append(-float(np.trace(stress)) / 3.0)
    fit = fit_eos(volumes, energies, settings.eos)
    if not min(volumes) <= fit.V0 <= max(volumes):
        notes.append(f"V0 = {fit.V0:.3f} A^3/atom lies outside the scanned volumes")
    return EOSResult(
        reference=reference,
        reference_relax=relaxation,
        factors=factors,
        volumes=volumes,
        energies=energies,
        pressures=pressures,
        fit=fit,
        warnings=notes,
    )
