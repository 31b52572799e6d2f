"""Jobs that turn MD outputs into transport results: diffusion per run, then Arrhenius."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Lattice, Structure

from sse_flows.analysis.arrhenius import ArrheniusResult, fit_arrhenius
from sse_flows.analysis.data import load_md
from sse_flows.analysis.diffusion import (
    DEFAULT_FIT_WINDOW,
    DiffusionResult,
    analyze_diffusion,
)
from sse_flows.provenance import PotentialProvenance, RunProvenance
from sse_flows.schemas import StructureSummary
from sse_flows.settings import get_settings


def field_of(output: Any, *path: str) -> Any:
    """Read a nested field from a job output given as a model or as a dict."""
    value = output
    for key in path:
        value = value[key] if isinstance(value, dict) else getattr(value, key)
    return value


def as_structure(value: Any) -> Structure:
    """Accept a Structure or its dict form (as a resolved job reference may give)."""
    return value if isinstance(value, Structure) else Structure.from_dict(value)


class DiffusionOutput(BaseModel):
    """Diffusion analysis of one MD run."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task_type: str = Field("diffusion", description="Always 'diffusion'.")
    summary: StructureSummary = Field(description="Query keys of the MD cell.")
    temperature: float = Field(description="Target temperature of the MD run, K.")
    trajectory_path: str = Field(description="The analysed trajectory file.")
    md_job: str | None = Field(None, description="uuid of the MD job analysed.")
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


class TemperaturePoint(BaseModel):
    """One row of D(T) and sigma(T)."""

    temperature: float
    D: float
    D_ci95: tuple[float, float]
    sigma: float | None
    sigma_ci95: tuple[float, float] | None
    D_xyz: dict[str, float]
    D_planes: dict[str, float]
    haven_ratio: float | None
    diffusive: bool
    warnings: list[str]
    volume: float
    fit_window_ps: tuple[float, float]
    msd_time_ps: list[float]
    msd: list[float]


class ConductivityOutput(BaseModel):
    """Conductivity over a temperature grid and its Arrhenius extrapolation."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task_type: str = Field("conductivity", description="Always 'conductivity'.")
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
    provenance: RunProvenance = Field(description="Software, host, times, inputs.")


@job(output_schema=DiffusionOutput)
def analyze_md(
    md_output: Any,
    species: list[str],
    fit_window: tuple[float, float] = DEFAULT_FIT_WINDOW,
    write_density: bool = True,
    md_job: str | None = None,
) -> DiffusionOutput:
    """Diffusion analysis of an MD job's trajectory (the file it references)."""
    path = field_of(md_output, "trajectory", "path")
    inputs = {
        "species": species,
        "fit_window": fit_window,
        "write_density": write_density,
        "trajectory": str(path),
        "trajectory_sha256": field_of(md_output, "trajectory", "sha256"),
        "md_job": md_job,
    }
    provenance = RunProvenance.start(inputs)
    temperature = float(field_of(md_output, "protocol")["temperature"])
    data = load_md(path, temperature=temperature)
    result = analyze_diffusion(
        data, species, temperature=temperature, fit_window=fit_window
    )
    per_species = (
        {
            name: analyze_diffusion(
                data, [name], temperature=temperature, fit_window=fit_window
            )
            for name in species
        }
        if len(species) > 1
        else {}
    )
    density_file, sites = (
        _density_and_sites(data, species, Path(path).parent)
        if write_density
        else (None, None)
    )
    potential = field_of(md_output, "potential")
    return DiffusionOutput(
        summary=StructureSummary.of(as_structure(field_of(md_output, "structure"))),
        temperature=temperature,
        trajectory_path=str(path),
        md_job=md_job,
        potential=PotentialProvenance.model_validate(_plain(potential)),
        result=result,
        per_species=per_species,
        density_file=density_file,
        sites=sites,
        van_hove=_van_hove_summary(data, species),
        provenance=provenance.finish(),
    )


def _plain(value: Any) -> dict[str, Any]:
    data = value.model_dump() if isinstance(value, BaseModel) else dict(value)
    return {k: v for k, v in data.items() if not k.startswith("@")}


def _density_and_sites(
    data: Any, species: list[str], folder: Path
) -> tuple[str, dict[str, Any] | None]:
    """Write the mobile-ion density (CHGCAR, for VESTA/OVITO); find sites and jumps.

    Sites are the maxima of the density itself, so interstitial sites the ions
    really visit count as sites, as GEMDAT does from its density.
    """
    from sse_flows.analysis.density import (
        density_peaks,
        mobile_density,
        site_analysis,
        write_chgcar,
    )

    density = mobile_density(data, species)
    path = write_chgcar(density, folder / "density_CHGCAR")
    peaks = density_peaks(density)
    if len(peaks) == 0:
        return str(path), None
    result = site_analysis(data, peaks, species, radius=0.8)
    return str(path), {
        "n_sites": len(peaks),
        "site_frac": peaks.round(4).tolist(),
        "occupancy": result.occupancy.round(4).tolist(),
        "assigned_fraction": result.assigned_fraction,
        "n_jumps": result.n_jumps,
        "jump_rate_per_ps": result.n_jumps / max(result.duration_ps, 1e-12),
        "mean_residence_time_ps": result.mean_residence_time_ps,
        "radius": result.radius,
    }


def _van_hove_summary(data: Any, species: list[str]) -> dict[str, Any] | None:
    """Van Hove functions at 1 %, 10 % and 30 % of the run (paper 000, Fig. 18)."""
    from sse_flows.analysis.vanhove import van_hove

    if data.n_frames < 20:
        return None
    duration_ps = float(data.time_fs[-1]) / 1000.0
    n_mobile = int(data.mask(species).sum())
    result = van_hove(
        data,
        [duration_ps * f for f in (0.01, 0.1, 0.3)],
        species,
        r_max=8.0,
        n_bins=80,
        distinct=n_mobile <= 500,
    )
    distinct = result.distinct_part
    return {
        "r": result.r.round(4).tolist(),
        "lag_ps": result.lag_ps.tolist(),
        "self": result.self_part.round(6).tolist(),
        "distinct": None
        if distinct is None
        else [
            [None if not np.isfinite(v) else round(float(v), 6) for v in row]
            for row in distinct
        ],
    }


@job(output_schema=ConductivityOutput)
def summarise_conductivity(
    analyses: list[Any], species: list[str], preset: str | None = None
) -> ConductivityOutput:
    """Collect D(T), fit Arrhenius over the diffusive points, draw the plots."""
    provenance = RunProvenance.start({"species": species, "preset": preset})
    docs = sorted(analyses, key=lambda a: float(field_of(a, "temperature")))
    points = [_point(doc) for doc in docs]
    warnings = [f"{p.temperature:g} K: {w}" for p in points for w in p.warnings]
    usable = [p for p in points if p.diffusive and p.D > 0]
    excluded = [p.temperature for p in points if p not in usable]
    arrhenius = None
    if len(usable) >= 2:
        first = docs[[p.temperature for p in points].index(usable[0].temperature)]
        result = field_of(first, "result")
        stds = [(p.D_ci95[1] - p.D_ci95[0]) / 3.92 for p in usable]
        arrhenius = fit_arrhenius(
            [p.temperature for p in usable],
            [p.D for p in usable],
            stds,
            n_ions=int(field_of(result, "n_mobile")),
            volume=usable[0].volume,
            charge=float(field_of(result, "charge")),
        )
        arrhenius.excluded = excluded
    else:
        warnings.append(
            f"no Arrhenius fit: {len(usable)} diffusive temperature(s) of {len(points)}; "
            "run longer or hotter"
        )
    plots = _plots(points, arrhenius, species)
    first_doc = docs[0]
    potential = field_of(first_doc, "potential")
    return ConductivityOutput(
        summary=StructureSummary.model_validate(_plain(field_of(first_doc, "summary"))),
        species=species,
        potential=PotentialProvenance.model_validate(_plain(potential))
        if potential
        else None,
        preset=preset,
        points=points,
        arrhenius=arrhenius,
        Ea_eV=arrhenius.Ea_eV if arrhenius else None,
        Ea_ci95=arrhenius.Ea_ci95 if arrhenius else None,
        sigma_300K=arrhenius.sigma_300K if arrhenius else None,
        sigma_300K_ci95=arrhenius.sigma_300K_ci95 if arrhenius else None,
        warnings=warnings,
        plots=plots,
        provenance=provenance.finish(),
    )


def _point(doc: Any) -> TemperaturePoint:
    result = field_of(doc, "result")
    r = (
        result
        if isinstance(result, DiffusionResult)
        else DiffusionResult.model_validate(_plain(result))
    )
    shared = set(TemperaturePoint.model_fields) - {"temperature"}
    return TemperaturePoint(
        temperature=float(field_of(doc, "temperature")), **r.model_dump(include=shared)
    )


def _plots(
    points: list[TemperaturePoint], arrhenius: ArrheniusResult | None, species: list[str]
) -> dict[str, str]:
    """MSD(t) per temperature and the Arrhenius plot, in this job's directory."""
    from jobflow import CURRENT_JOB

    from sse_flows.analysis import plots

    uuid = CURRENT_JOB.job.uuid if CURRENT_JOB.job is not None else "conductivity"
    folder = get_settings().work_dir / uuid
    folder.mkdir(parents=True, exist_ok=True)
    msd_path, arrhenius_path = folder / "msd.png", folder / "arrhenius.png"
    plots.plot_msd(
        [
            (
                f"{p.temperature:g} K",
                np.array(p.msd_time_ps),
                np.array(p.msd),
                p.fit_window_ps,
                p.D,
            )
            for p in points
        ],
        msd_path,
    )
    result = {"msd": str(msd_path)}
    positive = [p for p in points if p.D > 0]
    if len(positive) >= 2:
        plots.plot_arrhenius(
            np.array([p.temperature for p in positive]),
            np.array([p.D for p in positive]),
            np.array([max(p.D_ci95[0], 1e-3 * p.D) for p in positive]),
            np.array([p.D_ci95[1] for p in positive]),
            (arrhenius.Ea_eV, arrhenius.D0) if arrhenius else None,
            arrhenius_path,
            quantity="D",
        )
        result["arrhenius"] = str(arrhenius_path)
    return result


@job
def mean_cell(npt_output: Any) -> Structure:
    """Return the NPT run's final structure in its mean cell (the NVT cell)."""
    structure = as_structure(field_of(npt_output, "structure"))
    statistics = field_of(npt_output, "statistics")
    if statistics is None:
        raise ValueError("the NPT run stored no production frames to average the cell over")
    lattice = Lattice(np.array(field_of(statistics, "lattice_mean")))
    return Structure(lattice, structure.species, structure.frac_coords)
