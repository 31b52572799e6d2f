"""Documents of the transport jobs: diffusion per MD run, conductivity over temperature."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.analysis.arrhenius import ArrheniusResult, fit_arrhenius
from sse_flows.analysis.diffusion import DiffusionResult
from sse_flows.documents.base import Document, StructureSummary
from sse_flows.errors import SSEFlowsError
from sse_flows.provenance import PotentialProvenance, RunProvenance

#: what ended the production of a temperature: the precision target was met, or the
#: next segment would pass the cap (None: a fixed length, no target)
StopReason = Literal["target", "cap"]


class PrecisionStep(BaseModel):
    """The analysis after one more segment of a run with a precision target."""

    segments: int = Field(description="Segments analysed together.")
    production_ps: float = Field(description="Production time analysed, ps.")
    D: float = Field(description="Tracer D over these segments, cm^2/s.")
    D_ci95: tuple[float, float] = Field(description="Its 95 % CI, cm^2/s.")
    relative_ci_halfwidth: float | None = Field(
        description="(ci_hi - ci_lo) / (2 |D|); None when D = 0."
    )
    met: bool = Field(description="Whether the precision target was met.")
    reason: str = Field(description="Why it was met or not.")


class DiffusionOutput(Document):
    """Diffusion analysis of one MD run (all its segments, when it was continued)."""

    task_type: Literal["diffusion"] = "diffusion"
    summary: StructureSummary = Field(description="Query keys of the MD cell.")
    temperature: float = Field(description="Target temperature of the MD run, K.")
    trajectory_path: str = Field(
        description="The analysed trajectory file (the first segment's, if several)."
    )
    trajectory_segments: list[str] = Field(
        default_factory=list,
        description="Every analysed trajectory file: the segments of one continued "
        "run in running order, read as one trajectory.",
    )
    production_ps: float | None = Field(
        None, description="Production time analysed (all segments), ps."
    )
    segments: int = Field(1, description="MD segments analysed together.")
    stopped: StopReason | None = Field(
        None,
        description="What ended the production: 'target' (the relative 95 % CI "
        "half-width of D reached precision_target) or 'cap' (one more segment would "
        "pass max_production_ps); None: a fixed length.",
    )
    precision_target: float | None = Field(
        None, description="Target relative 95 % CI half-width of D (None: none)."
    )
    max_production_ps: float | None = Field(
        None, description="Cap on the production time with a target, ps."
    )
    relative_ci_halfwidth: float | None = Field(
        None, description="(ci_hi - ci_lo) / (2 |D|) of the final D; None when D = 0."
    )
    precision_history: list[PrecisionStep] = Field(
        default_factory=list,
        description="With a target: the analysis after each segment, in order.",
    )
    md_job: str | None = Field(None, description="uuid of the MD job analysed.")
    final_structure: Structure | None = Field(
        None,
        description="The MD cell at the end of the last analysed segment: where a "
        "heating ramp (sequential temperatures) goes on.",
    )
    potential: PotentialProvenance | None = Field(None, description="Potential of the MD.")
    result: DiffusionResult = Field(description="D, sigma, CIs, MSD curve, warnings.")
    per_species: dict[str, DiffusionResult] = Field(
        default_factory=dict,
        description="Each mobile species alone, when several are analysed together.",
    )
    density_file: str | None = Field(None, description="Mobile-ion density (CHGCAR).")
    sites: dict[str, Any] | None = Field(
        None,
        description="Sites found as density maxima (host and interstitial), their "
        "occupancy, jump counts and residence times.",
    )
    van_hove: dict[str, Any] | None = Field(
        None,
        description="Self and distinct van Hove functions at a few lags "
        "(r in A, G_s in 1/A, G_d normalised to 1 at large r).",
    )
    provenance: RunProvenance = Field(description="Software, host, times, inputs.")

    shown_columns: ClassVar[tuple[str, ...]] = ("T_K",)

    def summary_lines(self) -> list[str]:
        """D and sigma with their CIs at this temperature."""
        r = self.result
        lines = [
            f"diffusion of {'+'.join(r.species)} in {self.summary.formula_pretty} at "
            f"{self.temperature:g} K: D = {r.D:.3e} [{r.D_ci95[0]:.2e}, {r.D_ci95[1]:.2e}]"
            f" cm^2/s ({r.estimator})",
        ]
        if r.sigma is not None:
            lines.append(f"  sigma = {r.sigma:.3g} mS/cm")
        if r.haven_ratio is not None and r.haven_ratio_ci95 is not None:
            lo, hi = r.haven_ratio_ci95
            lines.append(f"  Haven ratio = {r.haven_ratio:.2f} [{lo:.2f}, {hi:.2f}]")
        if self.stopped is not None:
            lines.append(f"  {precision_sentence(self)}")
        return lines + [f"  warning: {w}" for w in r.warnings]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Temperature of the run."""
        return {"T_K": output.get("temperature")}


def precision_sentence(doc: DiffusionOutput | TemperaturePoint) -> str:
    """Say whether the precision target or the cap ended a temperature's production."""
    width = doc.relative_ci_halfwidth
    reached = f"+-{width:.1%}" if width is not None else "no CI relative to D"
    length = f"{doc.segments} segment(s), {doc.production_ps or 0.0:g} ps"
    target = doc.precision_target or 0.0
    if doc.stopped == "target":
        return (
            f"stopped at the precision target: {reached} <= +-{target:.0%} after {length}"
        )
    return (
        f"stopped at the cap of {doc.max_production_ps:g} ps: {reached}, target "
        f"+-{target:.0%} not reached after {length}"
    )


class TemperaturePoint(BaseModel):
    """One row of D(T) and sigma(T)."""

    temperature: float
    estimator: str = Field("ols", description="Estimator of D ('gls' or 'ols').")
    D: float
    D_std: float | None = Field(None, description="Standard error of D, cm^2/s.")
    D_ci95: tuple[float, float]
    sigma: float | None
    sigma_ci95: tuple[float, float] | None
    D_xyz: dict[str, float]
    D_xyz_std: dict[str, float] = Field(default_factory=dict)
    D_planes: dict[str, float]
    D_planes_std: dict[str, float] = Field(default_factory=dict)
    D_sigma: float | None = Field(None, description="Collective (charge) D, cm^2/s.")
    D_sigma_ci95: tuple[float, float] | None = None
    collective_resolved: bool | None = Field(
        None, description="Collective D resolved (else no Haven ratio, see warnings)."
    )
    sigma_collective: float | None = Field(
        None, description="Conductivity from the collective D, mS/cm."
    )
    sigma_collective_ci95: tuple[float, float] | None = None
    haven_ratio: float | None
    haven_ratio_ci95: tuple[float, float] | None = None
    diffusive: bool
    warnings: list[str]
    volume: float
    fit_window_ps: tuple[float, float]
    msd_time_ps: list[float]
    msd: list[float]
    production_ps: float | None = Field(None, description="Production analysed, ps.")
    segments: int = Field(1, description="MD segments analysed together.")
    stopped: StopReason | None = Field(
        None, description="'target', 'cap' or None (fixed length), see DiffusionOutput."
    )
    precision_target: float | None = Field(None, description="Target half-width.")
    max_production_ps: float | None = Field(None, description="Cap, ps.")
    relative_ci_halfwidth: float | None = Field(
        None, description="(ci_hi - ci_lo) / (2 |D|); None when D = 0."
    )

    @classmethod
    def of(
        cls, result: DiffusionResult, analysis: DiffusionOutput | None = None
    ) -> TemperaturePoint:
        """Build the point of one run's diffusion result (and how long it ran)."""
        shared = set(cls.model_fields) - {"temperature"} - set(_RUN_FIELDS)
        run = analysis.model_dump(include=set(_RUN_FIELDS)) if analysis else {}
        return cls(
            temperature=float(result.temperature or 0.0),
            **result.model_dump(include=shared),
            **run,
        )


#: fields a point takes from its DiffusionOutput (how its production ended)
_RUN_FIELDS = (
    "production_ps",
    "segments",
    "stopped",
    "precision_target",
    "max_production_ps",
    "relative_ci_halfwidth",
)


def planar_activation(points: list[dict[str, Any]], plane: str) -> float | None:
    """Ea (eV) of the in-plane D over the diffusive points, by the one Arrhenius fit.

    Each point weighs by its in-plane standard error; documents written before that
    was stored use the relative error of the tracer D instead.
    """
    rows = []
    for p in points:
        value = (p.get("D_planes") or {}).get(plane, 0.0)
        if not p.get("diffusive") or value <= 0:
            continue
        std = (p.get("D_planes_std") or {}).get(plane)
        if std is None:
            d, d_std = float(p["D"]), p.get("D_std")
            if d_std is None:  # oldest documents: the CI half-width over 1.96
                d_std = (float(p["D_ci95"][1]) - float(p["D_ci95"][0])) / 3.92
            std = float(d_std) * value / d if d > 0 else None
        if std:
            rows.append((float(p["temperature"]), float(value), float(std)))
    if len(rows) < 2:
        return None
    try:
        return fit_arrhenius(*zip(*rows, strict=True)).Ea_eV  # type: ignore[arg-type]
    except SSEFlowsError:
        return None


class ConductivityOutput(Document):
    """Conductivity over a temperature grid and its Arrhenius extrapolation."""

    task_type: Literal["conductivity"] = "conductivity"
    summary: StructureSummary = Field(description="Query keys of the simulated cell.")
    species: list[str] = Field(description="Mobile species.")
    potential: PotentialProvenance | None = Field(None, description="Potential of the MD.")
    preset: str | None = Field(None, description="Preset the flow was built from.")
    points: list[TemperaturePoint] = Field(description="D(T), sigma(T) with CIs.")
    arrhenius: ArrheniusResult | None = Field(
        None, description="Fit over diffusive points."
    )
    Ea_eV: float | None = Field(None, description="Activation energy, eV.")
    Ea_ci95: tuple[float, float] | None = Field(None, description="95 % CI of Ea.")
    sigma_300K: float | None = Field(
        None, description="Extrapolated sigma at 300 K, mS/cm."
    )
    sigma_300K_ci95: tuple[float, float] | None = Field(None, description="95 % CI.")
    warnings: list[str] = Field(default_factory=list)
    plots: dict[str, str] = Field(default_factory=dict, description="PNG files by name.")
    precision_target: float | None = Field(
        None,
        description="Target relative 95 % CI half-width of D per temperature (None: "
        "fixed-length runs); each point says whether the target or the cap ended it.",
    )
    provenance: RunProvenance = Field(description="Software, host, times, inputs.")

    shown_columns: ClassVar[tuple[str, ...]] = ("sigma_300K_mS_cm", "Ea_eV", "species")

    def summary_lines(self) -> list[str]:
        """D(T) and sigma(T) with CIs, Ea and sigma(300 K)."""
        potential = self.potential
        lines = [
            f"conductivity of {self.summary.formula_pretty} ({self.summary.nsites} sites), "
            f"{'+'.join(self.species)}, potential "
            f"{potential.name if potential else None} "
            f"{potential.checkpoint if potential else None}, preset {self.preset}",
            "  T (K)   D (cm^2/s) [95 % CI]            sigma (mS/cm) [95 % CI]   diffusive",
        ]
        nan = float("nan")
        for p in self.points:
            sigma = p.sigma if p.sigma is not None else nan
            s_lo, s_hi = p.sigma_ci95 or (nan, nan)
            lines.append(
                f"  {p.temperature:6.0f}  {p.D:.2e} [{p.D_ci95[0]:.1e}, {p.D_ci95[1]:.1e}]"
                f"   {sigma:9.3g} [{s_lo:.3g}, {s_hi:.3g}]"
                f"   {p.diffusive}"
            )
        lines += [
            f"  {p.temperature:6.0f}  {precision_sentence(p)}"
            for p in self.points
            if p.stopped is not None
        ]
        lines += [
            f"  {p.temperature:6.0f}  Haven ratio {p.haven_ratio:.2f} "
            f"[{p.haven_ratio_ci95[0]:.2f}, {p.haven_ratio_ci95[1]:.2f}]"
            for p in self.points
            if p.haven_ratio is not None and p.haven_ratio_ci95 is not None
        ]
        estimators = sorted({p.estimator for p in self.points})
        if estimators:
            lines.append(f"  D estimator: {', '.join(estimators)}")
        if self.Ea_eV is not None and self.Ea_ci95 is not None:
            lo, hi = self.Ea_ci95
            lines.append(f"  Ea = {self.Ea_eV:.3f} eV [{lo:.3f}, {hi:.3f}]")
        if self.sigma_300K is not None and self.sigma_300K_ci95 is not None:
            lo, hi = self.sigma_300K_ci95
            lines.append(
                f"  sigma(300 K) = {self.sigma_300K:.3g} mS/cm [{lo:.3g}, {hi:.3g}]"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return lines + [f"  plot: {path}" for path in self.plots.values()]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Sigma and D at 300 K, Ea, and in-plane D and Ea (paper 001's ab/ac)."""
        arrhenius = output.get("arrhenius") or {}
        points = sorted(output.get("points") or [], key=lambda p: float(p["temperature"]))
        hottest = points[-1] if points else {}
        planes = hottest.get("D_planes") or {}
        return {
            "species": "+".join(output.get("species") or []),
            "sigma_300K_mS_cm": output.get("sigma_300K"),
            "Ea_eV": output.get("Ea_eV"),
            "D_300K_cm2_s": arrhenius.get("D_300K"),
            "D_ab_cm2_s": planes.get("ab"),
            "D_ac_cm2_s": planes.get("ac"),
            "D_planes_T_K": hottest.get("temperature"),
            "Ea_ab_eV": planar_activation(points, "ab"),
            "Ea_ac_eV": planar_activation(points, "ac"),
        }
