"""The ``sse-flows`` command line."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from sse_flows.errors import SSEFlowsError

app = typer.Typer(
    name="sse-flows",
    help="Workflows for solid-state electrolytes with machine-learning potentials.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _startup() -> None:
    """Check the settings before any command, and quiet third-party warnings."""
    import warnings

    from pydantic import ValidationError

    from sse_flows.settings import config_file_path, get_settings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*(FixAtoms|TP accelerator|requires_grad).*")
    try:
        get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        _fail(
            SSEFlowsError(
                f"invalid settings ({problems}). Check SSE_FLOWS_* variables and "
                f"{config_file_path()}."
            )
        )


def _fail(exc: Exception) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _dumps(doc: Any) -> str:
    from monty.json import jsanitize

    return json.dumps(jsanitize(doc, strict=False, enum_values=True), indent=2, default=str)


@app.command()
def potentials(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the potential registry and what is available on this machine."""
    from dataclasses import asdict

    from sse_flows.potentials import availability

    rows = availability()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    for row in rows:
        status = f"installed ({row.package_version})" if row.installed else "not installed"
        typer.echo(f"{row.name:10s} {status:24s} {row.description}")
        for name, present in row.checkpoints.items():
            mark = "weights on disk" if present else "weights missing"
            default = " (default)" if name == row.default_checkpoint else ""
            typer.echo(f"    {name}{default}: {mark}")
        if not row.installed:
            typer.echo(f"    install: {row.install_hint}")


@app.command()
def prototypes(
    name: Annotated[
        str | None, typer.Argument(help="Prototype to show or write (case-insensitive).")
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write", help="Write it to this file (.cif, POSCAR/.vasp, .extxyz)."
        ),
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Only electrolyte, competing or element.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the shipped prototype structures, show one, or write one to a file."""
    from dataclasses import asdict

    from sse_flows.structures.prototypes import (
        get_prototype_info,
        list_prototypes,
        load_prototype,
        write_prototype,
    )

    try:
        if name is None:
            if write is not None:
                raise SSEFlowsError("--write needs a prototype NAME")
            infos = list_prototypes(role)
            if as_json:
                typer.echo(json.dumps([asdict(i) for i in infos], indent=2))
                return
            for i in infos:
                kind = "ordered" if i.ordered else "disordered"
                typer.echo(
                    f"{i.name:16s} {i.formula:14s} {i.spacegroup_symbol:10s} "
                    f"{i.role:11s} {i.nsites:4d} {kind:10s} {i.short_source}"
                )
            return
        info = get_prototype_info(name)
        if write is not None:
            path = write_prototype(info.name, write)
            typer.echo(f"wrote {info.name} ({info.nsites} sites) to {path}")
            return
        structure = load_prototype(info.name)
    except SSEFlowsError as exc:
        _fail(exc)
    if as_json:
        typer.echo(_dumps({**asdict(info), "structure": structure.as_dict()}))
        return
    lat = structure.lattice
    typer.echo(
        f"{info.name}: {info.formula}, {info.spacegroup_symbol} "
        f"(No. {info.spacegroup_number}), {info.role}, {info.nsites} sites, "
        f"{'ordered' if info.ordered else 'partially occupied sites'}"
    )
    typer.echo(
        f"  cell: a={lat.a:.4f} b={lat.b:.4f} c={lat.c:.4f} A, "
        f"alpha={lat.alpha:.2f} beta={lat.beta:.2f} gamma={lat.gamma:.2f}, "
        f"V={lat.volume:.2f} A^3"
    )
    typer.echo(f"  source: {info.source}" + (f" (doi:{info.doi})" if info.doi else ""))
    if info.note:
        typer.echo(f"  note: {info.note}")


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="Flow specification YAML file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the output as JSON.")
    ] = False,
) -> None:
    """Run the flow a YAML spec describes, locally, on the configured store."""
    import yaml

    from sse_flows.runner import get_output, run_flow
    from sse_flows.spec import FlowSpec

    try:
        flow_spec = FlowSpec.from_file(spec)
        flow = flow_spec.build()
        flow_spec.preflight(flow)
    except SSEFlowsError as exc:
        _fail(exc)
    raw = yaml.safe_load(spec.read_text())
    # model packages print banners on stdout; keep stdout for our result (and --json)
    with contextlib.redirect_stdout(sys.stderr):
        record = run_flow(flow, spec=raw)
    output = get_output(record.output_job) if record.output_job else None
    members = [get_output(uuid) for uuid in record.output_jobs]
    if as_json:
        payload: dict[str, Any] = {
            "run": record.model_dump(exclude={"flow"}),
            "output": output,
        }
        if members:
            payload["outputs"] = members
        typer.echo(_dumps(payload))
    else:
        typer.echo(f"flow {record.flow_uuid} '{record.name}': {record.state}")
        for job in record.jobs:
            line = f"  {job.name:12s} {job.uuid}  {job.state}"
            typer.echo(line + (f"  error: {job.error}" if job.error else ""))
        for doc in [output, *members]:
            if doc is not None:
                typer.echo(summarise(doc))
    if record.state != "COMPLETED":
        typer.echo(
            f"fix the cause above, then continue with: sse-flows resume {record.flow_uuid}",
            err=True,
        )
        raise typer.Exit(code=1)


@app.command()
def resume(
    flow_uuid: Annotated[str, typer.Argument(help="uuid of a recorded flow.")],
) -> None:
    """Rerun the unfinished jobs of a flow (MD continues from its checkpoint)."""
    from sse_flows.runner import resume_flow

    try:
        with contextlib.redirect_stdout(sys.stderr):
            record = resume_flow(flow_uuid)
    except SSEFlowsError as exc:
        _fail(exc)
    typer.echo(f"flow {record.flow_uuid} '{record.name}': {record.state}")
    for job in record.jobs:
        typer.echo(
            f"  {job.name:12s} {job.uuid}  {job.state}"
            + (f"  {job.error}" if job.error else "")
        )
    if record.state != "COMPLETED":
        raise typer.Exit(code=1)


@app.command()
def rerun(
    flow_uuid: Annotated[str, typer.Argument(help="uuid of a recorded flow.")],
    project: Annotated[
        str | None,
        typer.Option(help="Submit the rerun to this jobflow-remote project instead."),
    ] = None,
) -> None:
    """Run a recorded flow again from the store alone, as a new flow with new uuids."""
    from sse_flows.runner import load_run, renewed_flow, rerun_flow

    try:
        with contextlib.redirect_stdout(sys.stderr):
            if project is None:
                record = rerun_flow(flow_uuid)
                state: str = record.state
                new_uuid = record.flow_uuid
            else:
                from sse_flows.cluster.submit import submit

                old = load_run(flow_uuid)
                flow = renewed_flow(old.flow)
                result = submit(flow, project_name=project, spec=old.spec)
                state, new_uuid = result.state, result.flow_uuid
    except SSEFlowsError as exc:
        _fail(exc)
    typer.echo(f"flow {flow_uuid} rerun as {new_uuid}: {state}")
    if state not in ("COMPLETED", "SUBMITTED"):
        raise typer.Exit(code=1)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    project: Annotated[
        str | None,
        typer.Option(help="Also list the jobs queued in this jobflow-remote project."),
    ] = None,
) -> None:
    """Show the recorded flow runs and the state of their jobs."""
    from sse_flows.runner import list_runs

    records = list_runs()
    queued = _queued_jobs(project) if project else []
    if as_json:
        payload: Any = [r.model_dump(exclude={"flow", "spec"}) for r in records]
        if project:
            payload = {"runs": payload, "queue": [q.model_dump() for q in queued]}
        typer.echo(_dumps(payload))
        return
    if not records:
        typer.echo("no runs recorded in this store")
    for record in records:
        done = sum(j.state == "COMPLETED" for j in record.jobs)
        where = f"  [{record.project}]" if record.project else ""
        typer.echo(
            f"{record.flow_uuid}  {record.state:9s} {done}/{len(record.jobs)} jobs  "
            f"{record.started_at:%Y-%m-%d %H:%M} UTC  {record.name}{where}"
        )
        for job in record.jobs:
            if job.worker:
                typer.echo(
                    f"    {job.name:22s} {job.cluster_state or job.state:10s} "
                    f"{job.worker:6s} slurm {job.queue_id or '-'}"
                    + (f"  {job.error}" if job.error else "")
                )
            elif job.error:
                typer.echo(f"    {job.name}: {job.error}")
    for state in queued:
        typer.echo(
            f"queue {state.db_id:>5s} {state.state:12s} {state.worker:6s} "
            f"slurm {state.queue_id or '-':8s} {state.name}"
            + (f"  {state.error}" if state.error else "")
        )


def _queued_jobs(project: str) -> list[Any]:
    """Jobs in a jobflow-remote project's queue (MongoDB), newest flows first."""
    from sse_flows.cluster.submit import load_project, queued_jobs, uses_memory_queue

    try:
        proj = load_project(project)
    except SSEFlowsError as exc:
        _fail(exc)
    if uses_memory_queue(proj):
        typer.echo(
            f"project {project} keeps its queue in memory: its runs are listed above",
            err=True,
        )
        return []
    return queued_jobs(proj)


@app.command()
def show(
    uuid: Annotated[str, typer.Argument(help="Job uuid, or flow uuid for its output.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole document.")
    ] = False,
) -> None:
    """Print a stored output document."""
    from sse_flows.runner import get_output

    doc = get_output(uuid)
    if doc is None:
        _fail(SSEFlowsError(f"No output stored for {uuid}; see `sse-flows status`."))
    typer.echo(_dumps(doc) if as_json else summarise(doc))


def summarise(doc: dict[str, Any]) -> str:
    """Readable lines for a stored job document."""
    out = doc.get("output", doc)
    if out.get("task_type") == "conductivity":
        return _summarise_conductivity(doc, out)
    if out.get("task_type") == "ordering":
        from sse_flows.cli.order import summarise_ordering

        return summarise_ordering(out)
    if out.get("task_type") == "stability":
        from sse_flows.cli.stability import summarise_stability

        return summarise_stability(out)
    if out.get("task_type") in ("elastic", "eos"):
        from sse_flows.cli.elastic import summarise_elastic, summarise_eos

        return (summarise_elastic if out["task_type"] == "elastic" else summarise_eos)(out)
    summary = out.get("summary", {})
    potential = out.get("potential", {})
    lines = [
        f"job {doc.get('uuid', '?')} ({doc.get('name', '?')}): {out.get('task_type', '?')} "
        f"of {summary.get('formula_pretty', '?')} ({summary.get('nsites', '?')} sites)",
        f"  potential: {potential.get('name')} {potential.get('checkpoint')} "
        f"({potential.get('package')} {potential.get('package_version')}, "
        f"{potential.get('device')}, "
        f"sha256 {str(potential.get('checkpoint_sha256'))[:12]})",
    ]
    if "energy_per_atom" in out:
        lines.append(
            f"  energy: {out['energy']:.4f} eV ({out['energy_per_atom']:.4f} eV/atom)"
        )
    if "converged" in out:
        lines.append(
            f"  relax: converged={out['converged']} in {out['n_steps']} steps, "
            f"volume change {100 * out['volume_change']:+.2f} %"
        )
    if "statistics" in out:
        stats, protocol, traj = out["statistics"], out["protocol"], out["trajectory"]
        lines.append(
            f"  md: {protocol['ensemble']}/{protocol['thermostat']} at "
            f"{protocol['temperature']} K, {out['steps']} steps "
            f"of {protocol['timestep_fs']} fs"
        )
        if stats:
            lines.append(
                f"  T = {stats['temperature_mean']:.1f} "
                f"+- {stats['temperature_std']:.1f} K, "
                f"<V> = {stats['volume_mean']:.2f} A^3"
                + (  # a thermostat exchanges energy: drift means something in NVE only
                    f", energy drift {stats['total_energy_drift']:.2e} eV/atom/ps"
                    if protocol["ensemble"] == "nve"
                    else ""
                )
            )
        lines += [
            f"  trajectory: {traj['path']} ({traj['n_frames']} frames, "
            f"{traj['size_bytes'] / 1024:.0f} kB)",
            f"  speed: {out['ns_per_day']:.3f} ns/day, wall {out['wall_time_s']:.1f} s",
        ]
    return "\n".join(lines)


@app.command()
def analyze(
    trajectories: Annotated[
        list[Path], typer.Argument(help="Trajectory files (h5, or any ASE reads).")
    ],
    species: Annotated[
        list[str] | None, typer.Option("--species", help="Mobile species (default Li).")
    ] = None,
    temperature: Annotated[
        list[float] | None, typer.Option("--temperature", help="K, one per trajectory.")
    ] = None,
    timestep_fs: Annotated[
        float | None, typer.Option("--timestep-fs", help="MD time step (non-h5 files).")
    ] = None,
    stride: Annotated[
        int | None, typer.Option("--stride", help="MD steps between stored frames.")
    ] = None,
    fit_window: Annotated[
        tuple[float, float], typer.Option(help="Fit window as fractions of the run.")
    ] = (0.05, 0.3),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Diffusion, conductivity and (for 2+ temperatures) Arrhenius from trajectories."""
    from sse_flows.analysis import load_md
    from sse_flows.analysis.arrhenius import fit_arrhenius
    from sse_flows.analysis.diffusion import analyze_diffusion

    temps = list(temperature or [])
    if temps and len(temps) != len(trajectories):
        _fail(SSEFlowsError("give one --temperature per trajectory"))
    results = []
    try:
        for i, path in enumerate(trajectories):
            data = load_md(
                path,
                timestep_fs=timestep_fs,
                stride=stride,
                temperature=temps[i] if temps else None,
            )
            if data.temperature is None:
                raise SSEFlowsError(f"{path}: no temperature recorded; pass --temperature")
            results.append(
                analyze_diffusion(data, species or ["Li"], fit_window=fit_window)
            )
    except SSEFlowsError as exc:
        _fail(exc)
    report: dict[str, Any] = {"trajectories": []}
    for path, result in zip(trajectories, results, strict=True):
        report["trajectories"].append(
            {
                "file": str(path),
                "temperature": result.temperature,
                "species": result.species,
                "D": result.D,
                "D_ci95": list(result.D_ci95),
                "sigma": result.sigma,
                "sigma_ci95": list(result.sigma_ci95) if result.sigma_ci95 else None,
                "D_xyz": result.D_xyz,
                "D_planes": result.D_planes,
                "haven_ratio": result.haven_ratio,
                "fit_window_ps": list(result.fit_window_ps),
                "diffusive": result.diffusive,
                "warnings": result.warnings,
            }
        )
    if len(results) >= 2:
        try:
            fit = fit_arrhenius(
                [r.temperature or 0.0 for r in results],
                [r.D for r in results],
                [r.D_std for r in results],
                n_ions=results[0].n_mobile,
                volume=min(results, key=lambda r: r.temperature or 0.0).volume,
                charge=results[0].charge,
            )
            report.update(
                Ea_eV=fit.Ea_eV,
                Ea_ci95=list(fit.Ea_ci95),
                sigma_300K=fit.sigma_300K,
                sigma_300K_ci95=list(fit.sigma_300K_ci95) if fit.sigma_300K_ci95 else None,
                D_300K=fit.D_300K,
            )
            if not all(r.diffusive for r in results):
                report["warnings"] = [
                    "some runs are not diffusive: the Arrhenius fit is unreliable"
                ]
        except SSEFlowsError as exc:
            report["warnings"] = [f"no Arrhenius fit: {exc}"]
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for row in report["trajectories"]:
        lo, hi = row["D_ci95"]
        typer.echo(
            f"{row['file']}: T = {row['temperature']:g} K, D = {row['D']:.3e} "
            f"[{lo:.2e}, {hi:.2e}] cm^2/s, sigma = {row['sigma']:.3g} mS/cm"
        )
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


def _summarise_conductivity(doc: dict[str, Any], out: dict[str, Any]) -> str:
    summary, potential = out.get("summary", {}), out.get("potential") or {}
    lines = [
        f"job {doc.get('uuid', '?')}: conductivity of {summary.get('formula_pretty')} "
        f"({summary.get('nsites')} sites), {'+'.join(out['species'])}, potential "
        f"{potential.get('name')} {potential.get('checkpoint')}, "
        f"preset {out.get('preset')}",
        "  T (K)   D (cm^2/s) [95 % CI]            sigma (mS/cm) [95 % CI]   diffusive",
    ]
    for p in out["points"]:
        sigma = p.get("sigma") or float("nan")
        s_lo, s_hi = p.get("sigma_ci95") or (float("nan"), float("nan"))
        d_lo, d_hi = p["D_ci95"]
        lines.append(
            f"  {p['temperature']:6.0f}  {p['D']:.2e} [{d_lo:.1e}, {d_hi:.1e}]"
            f"   {sigma:9.3g} [{s_lo:.3g}, {s_hi:.3g}]   {p['diffusive']}"
        )
    if out.get("Ea_eV") is not None:
        lo, hi = out["Ea_ci95"]
        lines.append(f"  Ea = {out['Ea_eV']:.3f} eV [{lo:.3f}, {hi:.3f}]")
    if out.get("sigma_300K") is not None:
        lo, hi = out["sigma_300K_ci95"]
        lines.append(f"  sigma(300 K) = {out['sigma_300K']:.3g} mS/cm [{lo:.3g}, {hi:.3g}]")
    lines += [f"  warning: {w}" for w in out.get("warnings", [])]
    lines += [f"  plot: {path}" for path in out.get("plots", {}).values()]
    return "\n".join(lines)


@app.command()
def config() -> None:
    """Print the settings in force (environment and YAML file resolved)."""
    from sse_flows.settings import config_file_path, get_settings

    typer.echo(f"# config file: {config_file_path()}")
    typer.echo(get_settings().model_dump_json(indent=2))


def _register_commands() -> None:
    """Commands that live in their own modules (keeps this file short)."""
    from sse_flows.cli.cluster import cluster_app, submit
    from sse_flows.cli.elastic import elastic, eos
    from sse_flows.cli.label import label
    from sse_flows.cli.order import order
    from sse_flows.cli.query import query
    from sse_flows.cli.stability import stability
    from sse_flows.cli.table import table

    for command in (order, stability, elastic, eos, query, table, submit, label):
        app.command()(command)
    app.add_typer(cluster_app)


_register_commands()


def main() -> None:  # pragma: no cover
    """Entry point for ``python -m sse_flows``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
