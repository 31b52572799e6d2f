"""Jobs that turn MD runs into transport results: diffusion per run, then Arrhenius.

Both call :mod:`sse_flows.analysis.transport`, the path ``sse-flows analyze`` takes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from jobflow import CURRENT_JOB, Flow, Maker, Response, job
from pymatgen.core import Lattice, Structure

from sse_flows.analysis.data import MDData, TrajectoryInputError
from sse_flows.analysis.diffusion import DEFAULT_ESTIMATOR, default_fit_window
from sse_flows.analysis.transport import (
    TrajectoryAnalysis,
    analyze_trajectory,
    arrhenius_of,
)
from sse_flows.documents import (
    ConductivityOutput,
    DiffusionOutput,
    MDStatistics,
    StructureSummary,
    TemperaturePoint,
    coerce,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.makers.base import SpecSection, current_job_dir
from sse_flows.provenance import PotentialProvenance, RunProvenance
from sse_flows.settings import get_settings


@dataclass
class DiffusionMaker(SpecSection, Maker):
    """Diffusion of the mobile species in one MD trajectory (the file it references).

    With ``write_density`` the mobile-ion density goes beside the trajectory as a
    CHGCAR (for VESTA/OVITO) and its maxima become sites with jump statistics.
    """

    resource_role: ClassVar[str] = "cpu"  # MSD over the whole trajectory file

    name: str = "diffusion"
    species: list[str] = field(default_factory=lambda: ["Li"])
    #: lag window as fractions of the run; None: the estimator's default
    fit_window: tuple[float, float] | None = None
    write_density: bool = True
    #: "gls" (generalised least squares, the default) or "ols" (the earlier estimator)
    estimator: str = DEFAULT_ESTIMATOR

    def __post_init__(self) -> None:
        """Refuse an unknown estimator before any job runs."""
        default_fit_window(self.estimator)

    def analyze(self, paths: list[str], temperature: float) -> TrajectoryAnalysis:
        """Run the analysis of these trajectory files with this maker's settings."""
        return analyze_trajectory(
            paths,
            self.species,
            float(temperature),
            self.fit_window,
            estimator=self.estimator,
        )

    @job(output_schema=DiffusionOutput)
    def make(
        self,
        trajectory_path: str | list[str],
        structure: Structure | dict[str, Any],
        temperature: float,
        potential: PotentialProvenance | dict[str, Any] | None = None,
        trajectory_sha256: str | list[str | None] | None = None,
        md_job: str | None = None,
        production_ps: float | None = None,
    ) -> DiffusionOutput:
        """Analyse the trajectory (or a continued run's segments) at its temperature."""
        paths = trajectory_files(trajectory_path)
        provenance = self.start_provenance(paths, trajectory_sha256, md_job)
        analysis = self.analyze(paths, temperature)
        return self.document(
            analysis,
            paths,
            structure,
            float(temperature),
            potential,
            md_job,
            provenance,
            production_ps=production_ps,
        )

    def start_provenance(
        self,
        paths: list[str],
        trajectory_sha256: str | list[str | None] | None,
        md_job: str | None,
    ) -> RunProvenance:
        """Open the provenance record of an analysis of these files."""
        return RunProvenance.start(
            {
                **asdict(self),
                "trajectory": paths[0] if len(paths) == 1 else paths,
                "trajectory_sha256": trajectory_sha256,
                "md_job": md_job,
            }
        )

    def document(
        self,
        analysis: TrajectoryAnalysis,
        paths: list[str],
        structure: Structure | dict[str, Any],
        temperature: float,
        potential: PotentialProvenance | dict[str, Any] | None,
        md_job: str | None,
        provenance: RunProvenance,
        **run: Any,
    ) -> DiffusionOutput:
        """Build the output of an analysis: density and sites, van Hove, the document.

        ``run`` holds how the production ended (DiffusionOutput's precision fields)
        and, for a continued run, ``final_structure`` (the last segment's end; by
        default ``structure``, the end of the one run).
        """
        final = run.pop("final_structure", None) or structure
        density_file, sites = (
            _density_and_sites(analysis.data, self.species, Path(paths[0]).parent)
            if self.write_density
            else (None, None)
        )
        return DiffusionOutput(
            summary=StructureSummary.of(coerce(structure, Structure)),
            temperature=temperature,
            trajectory_path=paths[0],
            trajectory_segments=paths,
            segments=len(paths),
            md_job=md_job,
            final_structure=coerce(final, Structure),
            potential=coerce(potential, PotentialProvenance) if potential else None,
            result=analysis.result,
            per_species=analysis.per_species,
            density_file=density_file,
            sites=sites,
            van_hove=_van_hove_summary(analysis.data, self.species),
            provenance=provenance.finish(),
            **run,
        )


def trajectory_files(value: str | Path | list[str] | list[Path]) -> list[str]:
    """Return one file or a continued run's segment files as a list of paths."""
    paths = [str(value)] if isinstance(value, str | Path) else [str(p) for p in value]
    if not paths:
        raise TrajectoryInputError("no trajectory file given to analyse")
    return paths


def _density_and_sites(
    data: MDData, species: list[str], folder: Path
) -> tuple[str, dict[str, Any] | None]:
    """Write the mobile-ion density (CHGCAR); find sites and jumps.

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


def _van_hove_summary(data: MDData, species: list[str]) -> dict[str, Any] | None:
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


@dataclass
class ArrheniusMaker(SpecSection, Maker):
    """Collect D(T) from the diffusion jobs, fit Arrhenius, draw the plots."""

    resource_role: ClassVar[str] = "analysis"

    name: str = "arrhenius"
    species: list[str] = field(default_factory=lambda: ["Li"])
    preset: str | None = None

    @job(output_schema=ConductivityOutput)
    def make(
        self, analyses: list[DiffusionOutput | dict[str, Any]]
    ) -> ConductivityOutput | Response:
        """D(T) and sigma(T) with CIs, Ea and sigma(300 K) over the diffusive points.

        An analysis that is still the marker of a precision chain (its process was
        killed and the flow resumed) has its chain rebuilt first (see
        :func:`sse_flows.makers.dynamic.rebuild_chain`).
        """
        from sse_flows.makers.dynamic import is_unfinished

        if any(is_unfinished(a) for a in analyses):
            return self._resume_chains(analyses)
        provenance = RunProvenance.start({"species": self.species, "preset": self.preset})
        docs = sorted(
            (coerce(a, DiffusionOutput) for a in analyses), key=lambda d: d.temperature
        )
        series = arrhenius_of([d.result for d in docs])
        by_result = {id(d.result): d for d in docs}
        points = [TemperaturePoint.of(r, by_result.get(id(r))) for r in series.results]
        fit = series.arrhenius
        return ConductivityOutput(
            summary=docs[0].summary,
            species=self.species,
            potential=docs[0].potential,
            preset=self.preset,
            points=points,
            arrhenius=fit,
            Ea_eV=fit.Ea_eV if fit else None,
            Ea_ci95=fit.Ea_ci95 if fit else None,
            sigma_300K=fit.sigma_300K if fit else None,
            sigma_300K_ci95=fit.sigma_300K_ci95 if fit else None,
            warnings=series.warnings,
            plots=_plots(points, fit),
            precision_target=next(
                (d.precision_target for d in docs if d.precision_target is not None), None
            ),
            provenance=provenance.finish(),
        )

    def _resume_chains(self, analyses: list[Any]) -> Response:
        """Rebuild the precision chains a killed process left; fit after them."""
        from sse_flows.makers.dynamic import chain_ran_here, is_unfinished, rebuild_chain

        jobs, inputs = [], list(analyses)
        for position, value in enumerate(analyses):
            if not is_unfinished(value):
                continue
            if chain_ran_here(value):
                raise SSEFlowsError(
                    f"the precision loop at {value.get('temperature')} K ended without "
                    "a result: a segment or check failed. `sse-flows status` names it; "
                    "fix the cause and `sse-flows resume` the flow (finished segments "
                    "are reused)."
                )
            again = rebuild_chain(value)
            jobs.append(again)
            inputs[position] = again.output
        fit = self.make(inputs)
        fit.name = self.name
        current = CURRENT_JOB.job
        if current is not None:  # the fit takes this job's place (uuid, next index)
            fit.set_uuid(current.uuid)
            fit.index = current.index + 1
        return Response(replace=Flow([*jobs, fit]))


def _plots(points: list[TemperaturePoint], arrhenius: Any) -> dict[str, str]:
    """MSD(t) per temperature and the Arrhenius plot, in this job's directory."""
    from sse_flows.analysis import plots

    folder = current_job_dir(get_settings().work_dir, "conductivity")
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


@dataclass
class MeanCellMaker(SpecSection, Maker):
    """The NPT run's final structure in its mean cell (the NVT cell)."""

    resource_role: ClassVar[str] = "analysis"

    name: str = "mean cell"

    @job
    def make(
        self,
        structure: Structure | dict[str, Any],
        statistics: MDStatistics | dict[str, Any] | None,
    ) -> Structure:
        """Put the final fractional coordinates into the mean lattice."""
        final = coerce(structure, Structure)
        if statistics is None:
            raise ValueError(
                "the NPT run stored no production frames to average the cell over"
            )
        lattice = Lattice(np.array(coerce(statistics, MDStatistics).lattice_mean))
        return Structure(lattice, final.species, final.frac_coords)
