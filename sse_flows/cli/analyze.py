"""``sse-flows analyze``: transport from trajectories, by the flow's own analysis path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sse_flows.cli.app import command, fail, split_values
from sse_flows.errors import SSEFlowsError


def _row(path: Path, result: Any) -> dict[str, Any]:
    return {
        "file": str(path),
        "temperature": result.temperature,
        "species": result.species,
        "estimator": result.estimator,
        "D": result.D,
        "D_std": result.D_std,
        "D_ci95": list(result.D_ci95),
        "sigma": result.sigma,
        "sigma_ci95": list(result.sigma_ci95) if result.sigma_ci95 else None,
        "D_xyz": result.D_xyz,
        "D_planes": result.D_planes,
        "D_sigma": result.D_sigma,
        "D_sigma_ci95": list(result.D_sigma_ci95) if result.D_sigma_ci95 else None,
        "collective_resolved": result.collective_resolved,
        "sigma_collective": result.sigma_collective,
        "haven_ratio": result.haven_ratio,
        "haven_ratio_ci95": list(result.haven_ratio_ci95)
        if result.haven_ratio_ci95
        else None,
        "fit_window_ps": list(result.fit_window_ps),
        "diffusive": result.diffusive,
        "warnings": result.warnings,
    }


@command(multi_value=("--temperature",))
def analyze(
    trajectories: Annotated[
        list[Path], typer.Argument(help="Trajectory files (h5, or any ASE reads).")
    ],
    species: Annotated[
        list[str] | None,
        typer.Option(
            "--species", help="Mobile species, repeated or comma list (default Li)."
        ),
    ] = None,
    temperature: Annotated[
        list[float] | None,
        typer.Option(
            "--temperature",
            help="K, one per trajectory: --temperature 600 800 or repeated (h5 files "
            "record theirs).",
        ),
    ] = None,
    timestep_fs: Annotated[
        float | None, typer.Option("--timestep-fs", help="MD time step (non-h5 files).")
    ] = None,
    stride: Annotated[
        int | None, typer.Option("--stride", help="MD steps between stored frames.")
    ] = None,
    fit_window: Annotated[
        tuple[float, float] | None,
        typer.Option(
            help="Fit window as fractions of the run (default: gls 0.05 0.5, ols 0.05 0.3)."
        ),
    ] = None,
    estimator: Annotated[
        str,
        typer.Option(
            help="gls: generalised least squares with the random-walk MSD covariance "
            "(default); ols: least squares with errors from groups of ions."
        ),
    ] = "gls",
    segments: Annotated[
        bool,
        typer.Option(
            "--segments",
            help="The files are consecutive segments of one run (a precision-target "
            "run's continuations): analyse them joined.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Diffusion, conductivity and (for 2+ temperatures) Arrhenius from trajectories.

    The same analysis as the conductivity flow's jobs: D with its 95 % CI per file,
    and an Arrhenius fit over the diffusive ones.
    """
    from sse_flows.analysis.transport import analyze_trajectory, arrhenius_of

    temps = list(temperature or [])
    if temps and len(temps) != len(trajectories):
        fail(
            f"{len(temps)} temperature(s) for {len(trajectories)} trajectories: give one "
            "per trajectory (--temperature 600 800 1000), or none for files that record it"
        )
    names = split_values(species) or ["Li"]
    runs: list[Any] = [list(trajectories)] if segments else list(trajectories)
    if segments and len(temps) > 1:
        fail("--segments joins the files into one run: give one --temperature or none")
    try:
        results = [
            analyze_trajectory(
                run,
                names,
                temps[i] if temps else None,
                fit_window,
                timestep_fs=timestep_fs,
                stride=stride,
                estimator=estimator,
            ).result
            for i, run in enumerate(runs)
        ]
    except SSEFlowsError as exc:
        fail(exc)
    report: dict[str, Any] = {
        "trajectories": [
            _row(Path(" + ".join(map(str, p))) if isinstance(p, list) else p, r)
            for p, r in zip(runs, results, strict=True)
        ]
    }
    if len(results) >= 2:
        series = arrhenius_of(results)
        fit = series.arrhenius
        if fit is not None:
            report.update(
                Ea_eV=fit.Ea_eV,
                Ea_ci95=list(fit.Ea_ci95),
                sigma_300K=fit.sigma_300K,
                sigma_300K_ci95=list(fit.sigma_300K_ci95) if fit.sigma_300K_ci95 else None,
                D_300K=fit.D_300K,
                excluded_temperatures=fit.excluded,
            )
        report["warnings"] = [w for w in series.warnings if w.startswith("no Arrhenius")]
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for row in report["trajectories"]:
        lo, hi = row["D_ci95"]
        sigma = row["sigma"] if row["sigma"] is not None else float("nan")
        typer.echo(
            f"{row['file']}: T = {row['temperature']:g} K, D = {row['D']:.3e} "
            f"[{lo:.2e}, {hi:.2e}] cm^2/s ({row['estimator']}), sigma = {sigma:.3g} mS/cm"
        )
        if row["haven_ratio_ci95"]:
            low, high = row["haven_ratio_ci95"]
            typer.echo(f"  Haven ratio {row['haven_ratio']:.2f} [{low:.2f}, {high:.2f}]")
        for warning in row["warnings"]:
            typer.echo(f"  warning: {warning}")
    if "Ea_eV" in report:
        lo, hi = report["Ea_ci95"]
        typer.echo(f"Ea = {report['Ea_eV']:.3f} eV [{lo:.3f}, {hi:.3f}]")
        if report.get("sigma_300K") is not None:
            slo, shi = report["sigma_300K_ci95"]
            typer.echo(
                f"sigma(300 K) = {report['sigma_300K']:.3g} mS/cm [{slo:.3g}, {shi:.3g}]"
            )
    for warning in report.get("warnings", []):
        typer.echo(f"warning: {warning}")
