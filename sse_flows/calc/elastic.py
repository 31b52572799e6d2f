"""Elastic tensor from strained cells: strains, stresses, fit, Born check, moduli.

pymatgen does the mechanics: ``Strain``/``Deformation`` for the cells, ``Stress`` for
the second Piola-Kirchhoff conversion, ``ElasticTensor.from_independent_strains`` for
the fit and its Voigt-Reuss-Hill averages. Written here: the choice of strain set,
the ion relaxation inside each strained cell, the fit diagnostics and the Born check
with named criteria, none of which pymatgen or matcalc report. ``engine="matcalc"``
fits with matcalc's ElasticityCalc instead (paper 000's method; see elastic_fit).

Why not atomate2's ``ElasticMaker``: it drives atomate2's force-field makers, whose
potential is a name from atomate2's own list (not a spec of this registry with EMT,
SevenNet modals, fine-tuned checkpoints), and its document assumes VASP stresses
(kBar, positive = compressive). Sign and units here: ASE stress in eV/A^3 with
positive = tensile, the sign pymatgen's fit expects (sigma = C e, C > 0); GPa out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pymatgen.analysis.elasticity import ElasticTensor, Strain
from pymatgen.core import Structure

from sse_flows.calc.elastic_fit import (
    ElasticFit,
    ElasticFitError,
    MechanicsError,
    fit_elastic_tensor,
    matcalc_fit,
)
from sse_flows.calc.relax import RelaxResult, RelaxSettings, relax
from sse_flows.calc.static import static
from sse_flows.provenance import package_version
from sse_flows.structures.io import to_atoms, to_structure

__all__ = [
    "ElasticFit",
    "ElasticFitError",
    "MechanicsError",
    "fit_elastic_tensor",
]

DEFAULT_NORMAL_STRAINS = (-0.01, -0.005, 0.005, 0.01)
DEFAULT_SHEAR_STRAINS = (-0.02, -0.01, 0.01, 0.02)
VOIGT_LABELS = ("xx", "yy", "zz", "yz", "xz", "xy")


def reference_relax_settings() -> RelaxSettings:
    """Tight cell relaxation, symmetry kept: residual stress ~0.02 GPa, not ~0.5."""
    return RelaxSettings(relax_cell=True, fmax=0.002, max_steps=1000, fix_symmetry=True)


def ion_relax_settings() -> RelaxSettings:
    """Fixed-cell relaxation of the ions in a strained cell (internal strain)."""
    return RelaxSettings(relax_cell=False, fmax=0.005, max_steps=500)


@dataclass
class CellSettings:
    """What elastic and EOS share: relax the input, then evaluate deformed cells.

    ``reference_relax`` None uses the input as it is; ``ion_relax`` None keeps the
    ions clamped in each deformed cell. The ion relaxation must keep the cell fixed.
    """

    reference_relax: RelaxSettings | None = field(default_factory=reference_relax_settings)
    ion_relax: RelaxSettings | None = field(default_factory=ion_relax_settings)


@dataclass
class ElasticSettings(CellSettings):
    """Normal strain magnitudes (e_xx, e_yy, e_zz) and engineering shear ones (2 e_ij).

    ``engine``: ``sse-flows`` (symmetric strains, second Piola-Kirchhoff stresses, one
    fit per strain component) or ``matcalc`` (matcalc's ElasticityCalc: simple-shear
    deformations from pymatgen's DeformedStructureSet, Cauchy stresses fitted per
    component). Both agree at small strains; at the +-6 % shear of matcalc's defaults
    the finite-strain paths differ (G of CHGNet Li3PS4: 13.8 GPa with matcalc, 13.2
    with ours; 12.8 and 12.75 at +-1 %).
    """

    normal_strains: list[float] = field(
        default_factory=lambda: list(DEFAULT_NORMAL_STRAINS)
    )
    shear_strains: list[float] = field(default_factory=lambda: list(DEFAULT_SHEAR_STRAINS))
    engine: Literal["sse-flows", "matcalc"] = "sse-flows"


def elastic_strains(normal: list[float], shear: list[float]) -> list[Strain]:
    """Return the Green-Lagrange strains: each normal and each shear component alone.

    ``shear`` holds engineering shear strains gamma = 2 e_ij (the Voigt component).
    One nonzero component per cell is what ``from_independent_strains`` fits.
    """
    for label, values, example in (
        ("normal", normal, DEFAULT_NORMAL_STRAINS),
        ("shear", shear, DEFAULT_SHEAR_STRAINS),
    ):
        nonzero = [float(v) for v in values if abs(float(v)) > 1e-8]
        if not nonzero:
            raise ElasticFitError(
                f"No nonzero {label} strain magnitude given ({list(values)}); give at "
                f"least one, e.g. {list(example)}."
            )
        if max(abs(v) for v in nonzero) > 0.1:
            raise ElasticFitError(
                f"{label} strain magnitudes {nonzero} go beyond 10 %, far outside linear "
                "elasticity; use magnitudes of about 0.5-2 %."
            )
    strains = []
    for component in range(6):
        values = normal if component < 3 else shear
        for magnitude in values:
            if abs(float(magnitude)) <= 1e-8:
                continue  # the unstrained cell enters the fit as the reference stress
            voigt = np.zeros(6)
            voigt[component] = float(magnitude)
            strains.append(Strain.from_voigt(voigt))
    return strains


@dataclass
class BornStability:
    """Mechanical (Born) stability: C positive definite (Mouhat and Coudert 2014)."""

    stable: bool
    eigenvalues_GPa: list[float]
    failed: list[str]


def _is_cubic_form(c: np.ndarray, tol: float) -> bool:
    groups = (
        [c[0, 0], c[1, 1], c[2, 2]],
        [c[0, 1], c[0, 2], c[1, 2]],
        [c[3, 3], c[4, 4], c[5, 5]],
    )
    off = np.abs(c[:3, 3:]).max(initial=0.0)
    off = max(off, abs(c[3, 4]), abs(c[3, 5]), abs(c[4, 5]))
    return all(np.ptp(g) <= tol for g in groups) and off <= tol


def check_born_stability(c_voigt: np.ndarray | list[list[float]]) -> BornStability:
    """Check that C (6x6 Voigt, GPa) is positive definite, and name what fails.

    Positive definiteness of C is the necessary and sufficient Born condition for any
    crystal system. A failure is reported per nonpositive eigenvalue with its soft
    strain mode; a tensor of cubic form also gets the cubic criteria by name
    (C11 - C12 > 0, C11 + 2 C12 > 0, C44 > 0).
    """
    c = np.asarray(c_voigt, dtype=float)
    if c.shape != (6, 6) or not np.isfinite(c).all():
        raise MechanicsError(
            f"An elastic tensor must be a finite 6x6 Voigt matrix; got shape {c.shape}."
        )
    c = 0.5 * (c + c.T)
    values, vectors = np.linalg.eigh(c)
    failed: list[str] = []
    tol = 0.02 * float(np.abs(c).max(initial=0.0)) + 0.5
    if _is_cubic_form(c, tol):
        c11, c12, c44 = np.diag(c)[:3].mean(), c[[0, 0, 1], [1, 2, 2]].mean(), c[3, 3]
        cubic = (
            (c11 - c12, "cubic: C11 - C12 = {:.3g} GPa <= 0 (tetragonal shear unstable)"),
            (c11 + 2 * c12, "cubic: C11 + 2 C12 = {:.3g} GPa <= 0 (bulk modulus <= 0)"),
            (c44, "cubic: C44 = {:.3g} GPa <= 0 (shear unstable)"),
        )
        failed += [text.format(value) for value, text in cubic if value <= 0]
    for value, vector in zip(values, vectors.T, strict=True):
        if value <= 0:
            big = np.argsort(-np.abs(vector))[:3]
            mode = " ".join(
                f"{vector[i]:+.2f} e_{VOIGT_LABELS[i]}" for i in big if abs(vector[i]) > 0.1
            )
            failed.append(
                f"eigenvalue of C = {value:.3g} GPa <= 0: the strain mode {mode} lowers "
                "the energy"
            )
    return BornStability(
        stable=bool((values > 0).all()),
        eigenvalues_GPa=[float(v) for v in values],
        failed=failed,
    )


def elastic_moduli(c_voigt: np.ndarray) -> dict[str, float | None]:
    """Voigt, Reuss and Hill moduli (GPa), Young's modulus and Poisson ratio of C."""
    tensor = ElasticTensor.from_voigt(np.asarray(c_voigt, dtype=float))
    k_v, g_v = float(tensor.k_voigt), float(tensor.g_voigt)
    k_r: float | None
    g_r: float | None
    try:
        k_r, g_r = float(tensor.k_reuss), float(tensor.g_reuss)
    except np.linalg.LinAlgError:
        k_r = g_r = None
    k = 0.5 * (k_v + k_r) if k_r is not None else k_v
    g = 0.5 * (g_v + g_r) if g_r is not None else g_v
    return {
        "K_VRH_GPa": k,
        "G_VRH_GPa": g,
        "K_Voigt_GPa": k_v,
        "K_Reuss_GPa": k_r,
        "G_Voigt_GPa": g_v,
        "G_Reuss_GPa": g_r,
        "E_GPa": 9 * k * g / (3 * k + g),
        "poisson": (3 * k - 2 * g) / (6 * k + 2 * g),
    }


def relaxed_reference(
    atoms: Atoms, calculator: Calculator, settings: CellSettings, notes: list[str]
) -> tuple[Structure, RelaxResult | None]:
    """Relax the input (or keep it), noting an unconverged relaxation."""
    if settings.reference_relax is None:
        return to_structure(atoms), None
    result = relax(atoms, calculator, settings.reference_relax)
    if not result.converged:
        notes.append(
            f"reference relaxation did not converge in {result.n_steps} steps; the "
            "result refers to a cell under residual stress"
        )
    return result.structure, result


def evaluate_cell(
    structure: Structure, calculator: Calculator, settings: CellSettings
) -> tuple[float, np.ndarray]:
    """Energy (eV) and stress (GPa, 3x3, positive = tensile), ions relaxed if asked."""
    if settings.ion_relax is not None:
        if settings.ion_relax.relax_cell:
            raise MechanicsError(
                "the ion relaxation must keep the cell fixed (relax_cell=False): it "
                "relaxes the ions inside each strained or scaled cell."
            )
        result = relax(to_atoms(structure), calculator, settings.ion_relax).final
    else:
        result = static(to_atoms(structure), calculator)
    return result.energy, result.stress_GPa


@dataclass
class ElasticResult:
    """The tensor, how it was obtained, and what to check."""

    reference: Structure
    reference_relax: RelaxResult | None
    reference_stress_GPa: np.ndarray
    fit: ElasticFit
    born: BornStability
    moduli: dict[str, float | None]
    warnings: list[str]
    method: str = "independent"


def elastic_tensor(
    atoms: Atoms, calculator: Calculator, settings: ElasticSettings
) -> ElasticResult:
    """Relax, apply each strain, evaluate, fit C, check Born stability."""
    strains = elastic_strains(settings.normal_strains, settings.shear_strains)
    notes: list[str] = []
    reference, relaxation = relaxed_reference(atoms, calculator, settings, notes)
    _, reference_stress = evaluate_cell(reference, calculator, settings)
    if settings.engine == "matcalc":
        fit = matcalc_fit(
            reference,
            calculator,
            settings.normal_strains,
            settings.shear_strains,
            settings.ion_relax,
        )
    else:
        deformations = [s.get_deformation_matrix() for s in strains]
        stresses = [
            evaluate_cell(d.apply_to_structure(reference), calculator, settings)[1]
            for d in deformations
        ]
        fit = fit_elastic_tensor(deformations, stresses, reference_stress)
    born = check_born_stability(fit.C)
    moduli = elastic_moduli(fit.C)
    if not np.isfinite([v for v in moduli.values() if v is not None]).all():
        raise ElasticFitError(
            "The fitted moduli are not finite; the stresses of the potential are "
            "unusable for this structure (check it with a static calculation)."
        )
    scale = float(np.abs(fit.C).max())
    if np.abs(reference_stress).max() > 0.5:
        notes.append(
            f"the reference cell is under stress (max |s| = "
            f"{np.abs(reference_stress).max():.2f} GPa); relax it first"
        )
    if fit.asymmetry > 0.05 * scale:
        notes.append(
            f"the raw fit is asymmetric by {fit.asymmetry:.2f} GPa (> 5 % of max C); "
            "stresses are noisy or strains nonlinear; try other magnitudes"
        )
    if fit.residual > 0.1 * scale * max(map(abs, settings.normal_strains)):
        notes.append(
            f"fit residual {fit.residual:.3f} GPa is large for the strains used; "
            "the stress-strain response is not linear over this range"
        )
    if not born.stable:
        notes.append("mechanically unstable: " + "; ".join(born.failed))
    return ElasticResult(
        reference=reference,
        reference_relax=relaxation,
        reference_stress_GPa=np.asarray(reference_stress),
        fit=fit,
        born=born,
        moduli=moduli,
        warnings=notes,
        method=(
            f"matcalc ElasticityCalc {package_version('matcalc')} (simple shear, "
            "Cauchy stress fit per component)"
            if settings.engine == "matcalc"
            else "independent (symmetric strains, PK2 stress, pymatgen fit)"
        ),
    )
