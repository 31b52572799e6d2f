"""Fitting an elastic tensor to strained cells: this package's fit and matcalc's.

``fit_elastic_tensor``: symmetric (pure) strains, second Piola-Kirchhoff stresses,
pymatgen's ``from_independent_strains``. ``matcalc_fit``: matcalc's ElasticityCalc,
the method paper 000 used. Both agree at small strains; at matcalc's default +-6 %
shear the finite-strain paths differ (CHGNet gamma-Li3PS4, clamped ions: G 13.8 GPa
with matcalc, 13.2 with ours; at +-1 %: 12.8 and 12.75).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator
from pymatgen.analysis.elasticity import Deformation, ElasticTensor, Stress
from pymatgen.core import Structure

from sse_flows.calc.relax import RelaxSettings
from sse_flows.constants import GPA
from sse_flows.errors import SSEFlowsError

#: eV/A^3 in GPa
EV_A3_IN_GPA = 1.0 / GPA


class MechanicsError(SSEFlowsError):
    """An elastic or equation-of-state calculation cannot give a trustworthy result."""


class ElasticFitError(MechanicsError):
    """The strains asked for cannot determine the elastic tensor."""


@dataclass
class ElasticFit:
    """A fitted tensor with what is needed to judge it."""

    C: np.ndarray  # symmetrised 6x6 Voigt, GPa
    asymmetry: float  # largest |C_ij - C_ji| of the raw fit, GPa
    residual: float  # RMS of observed - (C e + s0), GPa
    strains_voigt: np.ndarray  # N x 6
    stresses_voigt: np.ndarray  # N x 6, second Piola-Kirchhoff, GPa


def fit_elastic_tensor(
    deformations: list[Deformation],
    cauchy_stresses_GPa: list[np.ndarray],
    reference_stress_GPa: np.ndarray,
) -> ElasticFit:
    """Fit C (GPa) to Cauchy stresses (positive = tensile) of deformed cells.

    Stresses become second Piola-Kirchhoff stresses, the work-conjugate of the
    Green-Lagrange strain; each column of C is a linear fit of one strain component
    through the reference point (pymatgen's ``from_independent_strains``).
    """
    strains = [d.green_lagrange_strain for d in deformations]
    pk2 = [
        Stress(np.asarray(s)).piola_kirchoff_2(d)
        for s, d in zip(cauchy_stresses_GPa, deformations, strict=True)
    ]
    reference = Stress(np.asarray(reference_stress_GPa))
    try:
        with warnings.catch_warnings():
            # pymatgen's fit warns about its own conversions on every call
            warnings.simplefilter("ignore")
            raw = ElasticTensor.from_independent_strains(strains, pk2, eq_stress=reference)
    except ValueError as exc:
        raise ElasticFitError(
            f"The strains cannot determine the elastic tensor ({exc}); every one of the "
            "six Voigt components needs at least one nonzero strain."
        ) from exc
    c_raw = np.asarray(raw.voigt, dtype=float)
    c_sym = 0.5 * (c_raw + c_raw.T)
    e = np.array([s.voigt for s in strains], dtype=float)
    s = np.array([p.voigt for p in pk2], dtype=float)
    predicted = e @ c_sym.T + reference.voigt
    return ElasticFit(
        C=c_sym,
        asymmetry=float(np.abs(c_raw - c_raw.T).max()),
        residual=float(np.sqrt(np.mean((s - predicted) ** 2))),
        strains_voigt=e,
        stresses_voigt=s,
    )


def matcalc_fit(
    reference: Structure,
    calculator: Calculator,
    normal_strains: list[float],
    shear_strains: list[float],
    ion_relax: RelaxSettings | None,
) -> ElasticFit:
    """Run matcalc's ElasticityCalc on ``reference`` (not relaxed again); return its fit.

    Paper 000 names exactly ElasticityCalc's parameters. matcalc strains with
    pymatgen's ``DeformedStructureSet`` (simple shear: one off-diagonal component of
    the deformation gradient) and fits the Cauchy stress of each strain component
    with ``numpy.polyfit`` through the equilibrium stress; ions clamped unless
    ``ion_relax``. The reference is relaxed by this package first, so the document
    records that relaxation. matcalc reports no per-cell stresses: the fit carries
    none, and its residual is the RMS of matcalc's summed squared residuals.
    """
    try:
        from matcalc import ElasticityCalc
    except ImportError as exc:
        raise MechanicsError(
            "engine 'matcalc' needs matcalc (paper 000's elastic method): "
            "pip install 'sse-flows[matcalc]', or use engine 'sse-flows'"
        ) from exc

    kwargs: dict[str, Any] = {}
    if ion_relax is not None:
        kwargs = {
            "relax_deformed_structures": True,
            "fmax": ion_relax.fmax,
            "relax_calc_kwargs": {
                "max_steps": ion_relax.max_steps,
                "optimizer": ion_relax.optimizer,
            },
        }
    engine = ElasticityCalc(
        calculator,
        norm_strains=normal_strains,
        shear_strains=shear_strains,
        relax_structure=False,
        use_equilibrium=True,
        units_GPa=False,
        r2_min=-1.0,  # judged below, from the residual
        **kwargs,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen's conversions on every call
            result = engine.calc(reference)
    except ValueError as exc:
        raise ElasticFitError(f"matcalc could not fit the elastic tensor: {exc}") from exc
    raw = np.asarray(result["elastic_tensor"].voigt, dtype=float) * EV_A3_IN_GPA
    # 36 straight-line fits (6 strain components x 6 stress components), each over the
    # strained cells of its component plus the equilibrium point
    points = 3 * 6 * (len(normal_strains) + 1) + 3 * 6 * (len(shear_strains) + 1)
    residual = float(np.sqrt(result["residuals_sum"] * EV_A3_IN_GPA**2 / points))
    return ElasticFit(
        C=0.5 * (raw + raw.T),
        asymmetry=float(np.abs(raw - raw.T).max()),
        residual=residual,
        strains_voigt=np.zeros((0, 6)),
        stresses_voigt=np.zeros((0, 6)),
    )
