"""Mechanics with a potential: elastic tensor from strained cells, equation of state.

Both makers are single jobs. With a potential a strained cell costs milliseconds to
seconds, so a fan-out of one job per deformation (as atomate2 does for DFT) would spend
more time on job bookkeeping than on physics; one job also keeps the relaxed reference,
every strained cell and the fit in one consistent document, and a killed run simply
reruns it. The relaxation of the input runs inside the job through a ``RelaxMaker``
sub-maker, so its settings, convergence check and error messages are the usual ones.

Why not atomate2's ``ElasticMaker``: it drives atomate2's ``ForceFieldRelaxMaker``,
whose potential is a name from atomate2's own force-field list, not a spec of this
project's registry (EMT, SevenNet modals, fine-tuned checkpoints with their sha256
provenance); and its ``ElasticDocument.from_stresses`` assumes VASP stresses (kBar,
positive = compressive, hence its fixed -0.1 factor). The parts that matter are reused
from pymatgen instead: ``Strain``/``Deformation`` for the cells, ``Stress`` for the
second Piola-Kirchhoff conversion, ``ElasticTensor.from_independent_strains`` for the
fit and its Voigt-Reuss-Hill averages, and ``pymatgen.analysis.eos.EOS``.

Sign and units: ASE gives stress in eV/A^3 with positive = tensile, which is also the
sign pymatgen's fit expects with ``vasp=False`` (sigma = C e, C > 0); documents store
GPa.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from pymatgen.analysis.elasticity import Deformation, ElasticTensor, Strain, Stress
from pymatgen.core import Structure

from sse_flows.errors import SSEFlowsError
from sse_flows.makers.base import PotentialInput, PotentialJobMaker, current_job_dir
from sse_flows.makers.relax import RelaxMaker
from sse_flows.makers.static import common_fields, static_fields
from sse_flows.mechanics_schemas import (
    BornStability,
    ElasticOutput,
    EOSOutput,
    RelaxSummary,
)
from sse_flows.potentials import LoadedPotential
from sse_flows.schemas import RelaxOutput
from sse_flows.structures import to_atoms

DEFAULT_NORMAL_STRAINS = (-0.01, -0.005, 0.005, 0.01)
DEFAULT_SHEAR_STRAINS = (-0.02, -0.01, 0.01, 0.02)
DEFAULT_VOLUME_FACTORS = (0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06)
VOIGT_LABELS = ("xx", "yy", "zz", "yz", "xz", "xy")


class MechanicsError(SSEFlowsError):
    """An elastic or equation-of-state calculation cannot give a trustworthy result."""


class ElasticFitError(MechanicsError):
    """The strains asked for cannot determine the elastic tensor."""


class EOSFitError(MechanicsError):
    """The energy-volume data cannot be fitted by the equation of state."""


# ------------------------------------------------------------------ pure analysis
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
    import warnings

    strains = [d.green_lagrange_strain for d in deformations]
    pk2 = [
        Stress(np.asarray(s)).piola_kirchoff_2(d)
        for s, d in zip(cauchy_stresses_GPa, deformations, strict=True)
    ]
    reference = Stress(np.asarray(reference_stress_GPa))
    try:
        with warnings.catch_warnings():
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
    residual = float(np.sqrt(np.mean((s - predicted) ** 2)))
    return ElasticFit(
        C=c_sym,
        asymmetry=float(np.abs(c_raw - c_raw.T).max()),
        residual=residual,
        strains_voigt=e,
        stresses_voigt=s,
    )


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
    if len(v) < 5:
        raise EOSFitError(f"{len(v)} volumes are too few for an EOS fit; give 5 or more.")
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
    residual = float(np.sqrt(np.mean((fitted.func(v) - e) ** 2)))
    result = EOSFit(
        V0=float(fitted.v0),
        B0_GPa=float(fitted.b0_GPa),
        B1=float(fitted.b1),
        E0=float(fitted.e0),
        residual=residual,
        fitted=fitted,
    )
    if not (np.isfinite([result.V0, result.B0_GPa, result.B1]).all() and result.B0_GPa > 0):
        raise EOSFitError(
            f"The {eos_name} fit gave B0 = {result.B0_GPa:.3g} GPa, V0 = {result.V0:.3g} "
            "A^3/atom; the data are not a single smooth well. Check the energies."
        )
    return result


def plot_eos(
    fit: EOSFit,
    volumes: list[float],
    energies: list[float],
    path: Path,
    title: str,
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


# ------------------------------------------------------------------------- makers
def default_reference_relax() -> RelaxMaker:
    """Tight cell relaxation, symmetry kept: residual stress ~0.02 GPa, not ~0.5."""
    return RelaxMaker(
        name="reference relax",
        relax_cell=True,
        fmax=0.002,
        max_steps=1000,
        fix_symmetry=True,
    )


def default_ion_relax() -> RelaxMaker:
    """Fixed-cell relaxation of the ions in a strained cell (internal strain)."""
    return RelaxMaker(name="ion relax", relax_cell=False, fmax=0.005, max_steps=500)


def _run_relax(
    maker: RelaxMaker, structure: Structure, potential: PotentialInput
) -> RelaxOutput:
    """Run a relax maker inside this job (its function, not a new job)."""
    relax = maker.make.original  # type: ignore[attr-defined]
    result: RelaxOutput = relax(maker, structure, potential)
    return result


def _relax_summary(maker: RelaxMaker, out: RelaxOutput) -> RelaxSummary:
    return RelaxSummary(
        converged=out.converged,
        n_steps=out.n_steps,
        volume_change=out.volume_change,
        spacegroup_initial=out.spacegroup_initial,
        spacegroup_final=out.spacegroup_final,
        settings={k: v for k, v in dataclasses.asdict(maker).items() if k != "potential"},
    )


@dataclass
class _MechanicsBase(PotentialJobMaker):
    """Shared: relax the reference, then evaluate cells with or without ion relaxation."""

    relax_maker: RelaxMaker | None = field(default_factory=default_reference_relax)
    ion_relax_maker: RelaxMaker | None = field(default_factory=default_ion_relax)

    def reference(
        self, structure: Structure, potential: PotentialInput, warnings: list[str]
    ) -> tuple[Structure, RelaxSummary | None]:
        """Return the relaxed input (or the input itself) and how it was relaxed."""
        if self.relax_maker is None:
            return structure, None
        out = _run_relax(self.relax_maker, structure, potential)
        if not out.converged:
            warnings.append(
                f"reference relaxation did not converge in {out.n_steps} steps; the "
                "result refers to a cell under residual stress"
            )
        return out.structure, _relax_summary(self.relax_maker, out)

    def evaluate(
        self, structure: Structure, potential: PotentialInput, loaded: LoadedPotential
    ) -> dict[str, Any]:
        """Energy (eV) and stress (GPa, 3x3, positive = tensile) of a cell."""
        if self.ion_relax_maker is not None:
            if self.ion_relax_maker.relax_cell:
                raise MechanicsError(
                    "ion_relax_maker must keep the cell fixed (relax_cell=False): it "
                    "relaxes the ions inside each strained or scaled cell."
                )
            out = _run_relax(self.ion_relax_maker, structure, potential)
            return {"energy": out.energy, "stress": np.array(out.stress)}
        atoms = to_atoms(structure)
        atoms.calc = loaded.calculator
        fields = static_fields(atoms)
        return {"energy": fields["energy"], "stress": np.array(fields["stress"])}


@dataclass
class ElasticMaker(_MechanicsBase):
    """Elastic tensor, VRH moduli and Born stability from strained cells.

    The input is relaxed first (``relax_maker``; cell and ions, symmetry kept; None to
    use the input as it is), and the tensor refers to the relaxed cell. Each of the six
    Voigt strain components is applied alone at each magnitude of ``normal_strains``
    (e_xx, e_yy, e_zz) or ``shear_strains`` (engineering gamma = 2 e_ij), the ions are
    relaxed in the strained cell (``ion_relax_maker``, fixed cell; None for clamped
    ions), and each column of C is a linear fit of stress against its strain through
    the reference stress.
    """

    name: str = "elastic"
    normal_strains: list[float] = field(
        default_factory=lambda: list(DEFAULT_NORMAL_STRAINS)
    )
    shear_strains: list[float] = field(default_factory=lambda: list(DEFAULT_SHEAR_STRAINS))

    @job(output_schema=ElasticOutput)
    def make(
        self, structure: Structure, potential: PotentialInput | None = None
    ) -> ElasticOutput:
        """Relax, strain, evaluate and fit."""
        loaded, provenance = self.prepare(structure, potential)
        chosen = potential if potential is not None else self.potential
        strains = elastic_strains(self.normal_strains, self.shear_strains)
        warnings: list[str] = []
        reference, relax = self.reference(structure, chosen, warnings)
        reference_stress = self.evaluate(reference, chosen, loaded)["stress"]
        deformations = [s.get_deformation_matrix() for s in strains]
        stresses = [
            self.evaluate(d.apply_to_structure(reference), chosen, loaded)["stress"]
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
            warnings.append(
                f"the reference cell is under stress (max |s| = "
                f"{np.abs(reference_stress).max():.2f} GPa); relax it first"
            )
        if fit.asymmetry > 0.05 * scale:
            warnings.append(
                f"the raw fit is asymmetric by {fit.asymmetry:.2f} GPa (> 5 % of max C); "
                "stresses are noisy or strains nonlinear; try other magnitudes"
            )
        if fit.residual > 0.1 * scale * max(map(abs, self.normal_strains)):
            warnings.append(
                f"fit residual {fit.residual:.3f} GPa is large for the strains used; "
                "the stress-strain response is not linear over this range"
            )
        if not born.stable:
            warnings.append("mechanically unstable: " + "; ".join(born.failed))
        return ElasticOutput(
            **common_fields("elastic", reference, structure, loaded.provenance, provenance),
            C_ij_GPa=fit.C.tolist(),
            **moduli,
            born_stable=born.stable,
            born_failed=born.failed,
            eigenvalues_GPa=born.eigenvalues_GPa,
            fit_residual_GPa=fit.residual,
            asymmetry_GPa=fit.asymmetry,
            fitting_method="independent",
            normal_strains=[float(v) for v in self.normal_strains],
            shear_strains=[float(v) for v in self.shear_strains],
            strains_voigt=fit.strains_voigt.tolist(),
            stresses_voigt_GPa=fit.stresses_voigt.tolist(),
            reference_stress_GPa=np.asarray(reference_stress).tolist(),
            ions_relaxed=self.ion_relax_maker is not None,
            relax=relax,
            warnings=warnings,
        )


@dataclass
class EOSMaker(_MechanicsBase):
    """Energy-volume curve of the relaxed cell scaled isotropically, and its EOS fit.

    ``volume_factors`` multiply the reference volume (the relaxed one unless
    ``relax_maker`` is None); the ions are relaxed in each scaled cell by
    ``ion_relax_maker`` (None: fractional coordinates kept, enough when symmetry fixes
    them). ``eos`` names a pymatgen EOS model. A plot of E(V) goes to ``plot_dir`` or,
    by default, to this job's directory under the work dir.
    """

    name: str = "eos"
    volume_factors: list[float] = field(
        default_factory=lambda: list(DEFAULT_VOLUME_FACTORS)
    )
    eos: str = "birch_murnaghan"
    plot: bool = True
    plot_dir: str | None = None

    @job(output_schema=EOSOutput)
    def make(
        self, structure: Structure, potential: PotentialInput | None = None
    ) -> EOSOutput:
        """Relax, scale, evaluate, fit and plot."""
        from sse_flows.settings import get_settings

        loaded, provenance = self.prepare(structure, potential)
        chosen = potential if potential is not None else self.potential
        factors = sorted(float(f) for f in self.volume_factors)
        if any(f <= 0 for f in factors) or len(set(factors)) != len(factors):
            raise EOSFitError(
                f"volume_factors must be distinct and positive; got {self.volume_factors}."
            )
        warnings: list[str] = []
        reference, relax = self.reference(structure, chosen, warnings)
        n = len(reference)
        volumes, energies, pressures = [], [], []
        for factor in factors:
            cell = reference.copy()
            cell.scale_lattice(reference.volume * factor)
            result = self.evaluate(cell, chosen, loaded)
            volumes.append(cell.volume / n)
            energies.append(result["energy"] / n)
            pressures.append(-float(np.trace(result["stress"])) / 3.0)
        fit = fit_eos(volumes, energies, self.eos)
        reference_volume = reference.volume / n
        if not min(volumes) <= fit.V0 <= max(volumes):
            warnings.append(f"V0 = {fit.V0:.3f} A^3/atom lies outside the scanned volumes")
        plot_path = None
        if self.plot:
            folder = (
                Path(self.plot_dir).expanduser()
                if self.plot_dir
                else current_job_dir(
                    get_settings().work_dir,
                    fallback=f"eos-{provenance.started_at:%Y%m%d-%H%M%S-%f}",
                )
            )
            plot_path = str(
                plot_eos(
                    fit,
                    volumes,
                    energies,
                    folder / "eos.png",
                    f"{reference.composition.reduced_formula} ({loaded.provenance.name}, "
                    f"{self.eos})",
                )
            )
        return EOSOutput(
            **common_fields("eos", reference, structure, loaded.provenance, provenance),
            eos_name=self.eos,
            volume_factors=factors,
            volumes_A3_per_atom=volumes,
            energies_eV_atom=energies,
            pressures_GPa=pressures,
            V0_A3_per_atom=fit.V0,
            B0_GPa=fit.B0_GPa,
            B1=fit.B1,
            E0_eV_atom=fit.E0,
            fit_residual_eV_atom=fit.residual,
            reference_volume_A3_per_atom=reference_volume,
            ions_relaxed=self.ion_relax_maker is not None,
            relax=relax,
            plot=plot_path,
            warnings=warnings,
        )
