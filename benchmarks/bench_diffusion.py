"""Diffusion analysis: sse-flows against pymatgen-analysis-diffusion and kinisi.

A random walk with a known tracer D (``sse_flows.analysis.synthetic.random_walk``,
1/3 of the atoms Li, the rest a rattling framework, a small uniform drift) is written
once to an .npz; every tool then analyses that same file in its own subprocess, so
wall time, CPU time and peak RSS (``ru_maxrss``) are per tool:

  sse-flows              ``analyze_diffusion(MDData(...), ["Li"], temperature=600)``
  numpy FFT (reference)  plain numpy FFT MSD of Li + least squares over the same window
                         as sse-flows, no error bar (what a bare script costs)
  pymatgen array         ``DiffusionAnalyzer(structure, displacements, "Li", 600,
                         time_step=2, step_skip=10)``, Cartesian displacements
  pymatgen structures    ``DiffusionAnalyzer.from_structures`` on one ``Structure`` per
                         frame (wrapped coordinates); building the list is timed apart
  kinisi                 numpy arrays through ``kinisi.parser.Parser``, ~200 evenly
                         spaced lags, ``DiffusionAnalyzer.diffusion`` (GLS + MCMC),
                         run by the Python of a separate venv (``--kinisi-python``)

Times exclude imports and loading the .npz. At the big size ``from_structures`` is
estimated by scaling the small-size run with atoms x frames unless
``--from-structures-big`` asks for a real run (it needs ~15 GB and many minutes).

A calibration then analyses ``--seeds`` independent smaller walks with every tool:
mean reported standard error against the observed scatter of D, and how often the
95 % interval covers the true D.

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion.py \\
        --kinisi-python /tmp/venv_kinisi/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _common import git_state, package_version, write_results

ROOT = Path(__file__).resolve().parent
DEFAULT_OUTPUT = ROOT / "results" / "diffusion.json"
TRUE_D = 1e-5  # cm^2/s
TIME_STEP_FS, STEP_SKIP = 2.0, 10  # MD step and sampling as pymatgen/kinisi take them
DT_FS = TIME_STEP_FS * STEP_SKIP
TEMPERATURE = 600.0
DENSITY = 1200 / 23.0**3  # atoms per A^3: 1,200 atoms in a 23 A cube
DRIFT_PER_FRAME = 5e-4  # A, the whole cell, as a thermostat drift does
FIT_WINDOW = (0.05, 0.3)  # = sse_flows DEFAULT_FIT_WINDOW (kinisi children lack sse_flows)
TOOLS = ("sse", "numpy", "pymatgen", "pymatgen-structures", "kinisi")
LABELS = {
    "sse": "sse-flows analyze_diffusion",
    "numpy": "numpy FFT MSD (reference, no CI)",
    "pymatgen": "pymatgen DiffusionAnalyzer (arrays)",
    "pymatgen-structures": "pymatgen DiffusionAnalyzer.from_structures",
    "kinisi": "kinisi DiffusionAnalyzer (Parser)",
}
PACKAGES = ("sse-flows", "numpy", "scipy", "pymatgen", "pymatgen-analysis-diffusion")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atoms", type=int, default=1200, help="atoms, big size")
    parser.add_argument("--frames", type=int, default=10000, help="frames, big size")
    parser.add_argument(
        "--small-atoms", type=int, default=600, help="atoms, small size (0: skip it)"
    )
    parser.add_argument("--small-frames", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=40, help="calibration walks (0: none)")
    parser.add_argument("--calib-atoms", type=int, default=600, help="200 Li + 400 S")
    parser.add_argument("--calib-frames", type=int, default=2000)
    parser.add_argument("--skip-from-structures", action="store_true")
    parser.add_argument(
        "--from-structures-big",
        action="store_true",
        help="also run from_structures at the big size (else it is an estimate)",
    )
    parser.add_argument("--skip-kinisi", action="store_true")
    parser.add_argument(
        "--kinisi-python",
        default="/tmp/venv_kinisi/bin/python",
        help="Python of a venv with kinisi (kept out of the project's venv)",
    )
    parser.add_argument("--kinisi-lags", type=int, default=200)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="s per subprocess before it is killed"
    )
    parser.add_argument(
        "--mem-limit-gb",
        type=float,
        default=20.0,
        help="address-space limit per subprocess (a MemoryError, not the OOM killer)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep-data", action="store_true", help="keep the .npz files")
    # internal: run one tool on .npz files and write its JSON
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--npz", nargs="+", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- children
# Each runs in its own process; only numpy is imported at module level because the
# kinisi child runs under another venv without sse-flows or pymatgen.


def _peak_rss_mb() -> float:
    """Peak RSS of this process in MB: VmHWM of its own address space.

    ``ru_maxrss`` is not used: on Linux it keeps the high-water mark of the address
    space replaced by exec, i.e. the parent's peak at spawn (measured here: a child
    of a parent that had touched 1.2 GB reported 1,170 MB, VmHWM 11 MB).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _window(frames: int) -> tuple[float, float]:
    duration = (frames - 1) * DT_FS
    return FIT_WINDOW[0] * duration, FIT_WINDOW[1] * duration


def run_sse(traj: dict[str, Any]) -> dict[str, Any]:
    from sse_flows.analysis.data import MDData
    from sse_flows.analysis.diffusion import analyze_diffusion

    positions = traj["positions"]
    frames = positions.shape[0]
    data = MDData(
        positions=positions,
        cells=np.broadcast_to(np.eye(3) * traj["box"], (frames, 3, 3)).copy(),
        numbers=traj["numbers"],
        time_fs=np.arange(frames) * DT_FS,
        temperature=TEMPERATURE,
    )
    result = analyze_diffusion(data, ["Li"], temperature=TEMPERATURE)
    lags = np.rint(np.array(result.msd_time_ps) * 1000.0 / DT_FS).astype(int)
    return {
        "D": result.D,
        "D_std": result.D_std,
        "D_ci95": list(result.D_ci95),
        "fit": f"OLS {result.fit_window_ps[0]:.3g}-{result.fit_window_ps[1]:.3g} ps, "
        f"CI: {result.error_method}",
        "warnings": result.warnings,
        "msd_lags": lags.tolist(),
        "msd": result.msd,
    }


def _msd_fft_numpy(x: np.ndarray) -> np.ndarray:
    """Return the MSD over all origins of each column of x (frames, n), by FFT."""
    frames = x.shape[0]
    counts = (frames - np.arange(frames))[:, None]
    spectrum = np.fft.rfft(x, n=2 * frames, axis=0)
    s2 = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * frames, axis=0)[:frames] / counts
    sq = x**2
    prefix = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(sq, axis=0)])
    m = np.arange(frames)
    s1 = (prefix[frames - m] + prefix[-1] - prefix[m]) / counts
    return s1 - 2.0 * s2


def run_numpy(traj: dict[str, Any]) -> dict[str, Any]:
    positions, numbers = traj["positions"], traj["numbers"]
    frames = positions.shape[0]
    li = numbers == 3
    drift = positions[:, ~li].mean(axis=1)
    disp = positions[:, li] - positions[0, li] - (drift - drift[0])[:, None, :]
    msd = np.zeros(frames)
    for start in range(0, disp.shape[1], 64):
        block = disp[:, start : start + 64].reshape(frames, -1)
        msd += _msd_fft_numpy(block).sum(axis=1)
    msd /= disp.shape[1]
    time_fs = np.arange(frames) * DT_FS
    lo, hi = _window(frames)
    sel = (time_fs >= lo) & (time_fs <= hi)
    slope = np.polyfit(time_fs[sel], msd[sel], 1)[0]
    picks = np.unique(np.linspace(0, frames - 1, 200).astype(int))
    return {
        "D": float(slope / 6.0 * 0.1),
        "D_std": None,
        "D_ci95": None,
        "fit": f"OLS {lo / 1000:.3g}-{hi / 1000:.3g} ps (same as sse-flows)",
        "msd_lags": picks.tolist(),
        "msd": msd[picks].tolist(),
    }


def _structure(traj: dict[str, Any], frac: np.ndarray) -> Any:
    from pymatgen.core import Lattice, Structure

    species = ["Li" if z == 3 else "S" for z in traj["numbers"]]
    return Structure(Lattice.cubic(float(traj["box"])), species, frac)


def _pymatgen_summary(analyzer: Any) -> dict[str, Any]:
    d, std = float(analyzer.diffusivity), float(analyzer.diffusivity_std_dev)
    dt = np.asarray(analyzer.dt, dtype=float)
    return {
        "D": d,
        "D_std": std,
        "D_ci95": [d - 1.96 * std, d + 1.96 * std],
        "fit": f"1/dt-weighted least squares {dt[0] / 1000:.3g}-{dt[-1] / 1000:.3g} ps "
        f"({len(dt)} lags), CI: D +- 1.96 diffusivity_std_dev",
        "msd_lags": np.rint(dt / DT_FS).astype(int).tolist(),
        "msd": np.asarray(analyzer.msd, dtype=float).tolist(),
    }


def run_pymatgen(traj: dict[str, Any]) -> dict[str, Any]:
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer

    positions = traj["positions"]
    structure = _structure(traj, (positions[0] / traj["box"]) % 1.0)
    displacements = np.ascontiguousarray((positions - positions[0]).transpose(1, 0, 2))
    analyzer = DiffusionAnalyzer(
        structure, displacements, "Li", TEMPERATURE, TIME_STEP_FS, STEP_SKIP
    )
    return _pymatgen_summary(analyzer)


def run_pymatgen_structures(traj: dict[str, Any]) -> dict[str, Any]:
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    start = time.perf_counter()
    frac = (traj["positions"] / traj["box"]) % 1.0  # wrapped, as MD writes them
    lattice = Lattice.cubic(float(traj["box"]))
    species = ["Li" if z == 3 else "S" for z in traj["numbers"]]
    structures = [Structure(lattice, species, f) for f in frac]
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    analyzer = DiffusionAnalyzer.from_structures(
        structures, "Li", TEMPERATURE, TIME_STEP_FS, STEP_SKIP
    )
    out = _pymatgen_summary(analyzer)
    out["build_structures_s"] = build_s
    out["from_structures_s"] = time.perf_counter() - start
    return out


def run_kinisi(traj: dict[str, Any], n_lags: int = 200) -> dict[str, Any]:
    import scipp as sc
    from kinisi.analyze import DiffusionAnalyzer
    from kinisi.displacement import calculate_msd
    from kinisi.parser import Parser

    positions, box = traj["positions"], float(traj["box"])
    frames = positions.shape[0]
    start = time.perf_counter()
    frac = (positions / box) % 1.0  # wrapped; kinisi unwraps
    # kinisi's own parsers repeat the first frame so that displacement 0 is zero
    frac = np.concatenate([frac[:1], frac])
    coords = sc.array(dims=["time", "particle", "dimension"], values=frac)
    lattice = np.broadcast_to(np.eye(3) * box, (frames + 1, 3, 3)).copy()
    latt = sc.array(
        dims=["time", "dimension1", "dimension2"], values=lattice, unit=sc.units.angstrom
    )
    lags = np.unique(np.rint(np.linspace(1, frames - 1, n_lags)).astype(int))
    parser = Parser(
        coords,
        latt,
        time_step=sc.scalar(TIME_STEP_FS, unit="fs"),
        step_skip=sc.scalar(STEP_SKIP),
        dt=sc.array(dims=["time interval"], values=lags * DT_FS, unit="fs"),
        specie_indices=sc.array(
            dims=["particle"], values=np.flatnonzero(traj["numbers"] == 3)
        ),
    )
    parse_s = time.perf_counter() - start
    start = time.perf_counter()
    analyzer = DiffusionAnalyzer(parser)
    analyzer._dg = calculate_msd(parser, progress=False)  # as DiffusionAnalyzer.from_ase
    msd_s = time.perf_counter() - start
    start = time.perf_counter()
    start_fs = _window(frames)[0]
    analyzer.diffusion(
        sc.scalar(start_fs, unit="fs"),
        progress=False,
        random_state=np.random.RandomState(0),
    )
    mcmc_s = time.perf_counter() - start
    samples = np.asarray(sc.to_unit(analyzer.D, "cm**2/s").values)
    lag_fs = np.asarray(analyzer.dt.values, dtype=float)
    return {
        "D": float(samples.mean()),
        "D_std": float(samples.std(ddof=1)),
        "D_ci95": np.percentile(samples, [2.5, 97.5]).tolist(),
        "fit": f"GLS + MCMC from {start_fs / 1000:.3g} ps to {lag_fs[-1] / 1000:.3g} ps "
        f"on {len(lags)} evenly spaced lags, CI: 2.5-97.5 % of {samples.size} samples",
        "parse_s": parse_s,
        "msd_s": msd_s,
        "mcmc_s": mcmc_s,
        "msd_lags": np.rint(lag_fs / DT_FS).astype(int).tolist(),
        "msd": np.asarray(analyzer.msd.values, dtype=float).tolist(),
    }


def child_main(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    if args.mem_limit_gb > 0:
        limit = int(args.mem_limit_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    versions: dict[str, str] = {}
    if args.child == "kinisi":
        import kinisi
        import kinisi.analyze
        import kinisi.displacement
        import kinisi.parser
        import scipp

        versions = {"kinisi": kinisi.__version__, "scipp": scipp.__version__}
        runner: Any = lambda traj: run_kinisi(traj, args.kinisi_lags)  # noqa: E731
    else:
        if args.child == "sse":
            import sse_flows.analysis.diffusion  # noqa: F401
            from sse_flows.analysis.diffusion import default_charge

            default_charge("Li")  # pymatgen's Element, imported lazily by the analysis
        elif args.child.startswith("pymatgen"):
            import pymatgen.analysis.diffusion.analyzer  # noqa: F401
        runner = {
            "sse": run_sse,
            "numpy": run_numpy,
            "pymatgen": run_pymatgen,
            "pymatgen-structures": run_pymatgen_structures,
        }[args.child]
    versions["numpy"] = np.__version__
    import_s = time.perf_counter() - start

    runs = []
    rss_after_load = None
    for path in args.npz:
        with np.load(path) as f:
            traj = {k: f[k] for k in f.files}
        if rss_after_load is None:
            rss_after_load = _peak_rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        out = runner(traj)
        out["wall_s"] = time.perf_counter() - wall
        out["cpu_s"] = time.process_time() - cpu
        out["seed"] = int(traj["seed"])
        runs.append(out)
        del traj
    payload = {
        "tool": args.child,
        "versions": versions,
        "import_s": import_s,
        "rss_after_load_mb": rss_after_load,
        "peak_rss_mb": _peak_rss_mb(),
        "runs": runs,
    }
    args.out.write_text(json.dumps(payload) + "\n")
    return 0


# ----------------------------------------------------------------------------- parent


def write_walk(atoms: int, frames: int, seed: int, path: Path) -> dict[str, Any]:
    from sse_flows.analysis.synthetic import random_walk

    n_mobile = atoms // 3
    box = (atoms / DENSITY) ** (1 / 3)
    data = random_walk(
        TRUE_D,
        n_mobile=n_mobile,
        n_framework=atoms - n_mobile,
        n_frames=frames,
        dt_fs=DT_FS,
        box=box,
        drift_per_frame=DRIFT_PER_FRAME,
        seed=seed,
    )
    np.savez(path, positions=data.positions, numbers=data.numbers, box=box, seed=seed)
    return {"atoms": atoms, "n_li": n_mobile, "frames": frames, "box_A": box, "seed": seed}


def run_child(
    tool: str, npz: list[Path], workdir: Path, args: argparse.Namespace, timeout: float
) -> dict[str, Any]:
    python = args.kinisi_python if tool == "kinisi" else sys.executable
    out = workdir / f"{tool}-{npz[0].stem}.json"
    cmd = [python, str(Path(__file__).resolve()), "--child", tool, "--out", str(out)]
    cmd += [
        "--kinisi-lags",
        str(args.kinisi_lags),
        "--mem-limit-gb",
        str(args.mem_limit_gb),
    ]
    cmd += ["--npz", *map(str, npz)]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "status": f"killed after {timeout:.0f} s (--timeout)"}
    if proc.returncode != 0:
        return {
            "tool": tool,
            "status": f"exit {proc.returncode}",
            "stderr": proc.stderr[-3000:],
        }
    payload = json.loads(out.read_text())
    payload["status"] = "ok"
    payload["process_wall_s"] = time.perf_counter() - started
    return payload


def reference_msd(path: Path) -> np.ndarray:
    """Return the Li MSD at every lag (drift removed), to check each tool's MSD."""
    from sse_flows.analysis.msd import group_msd

    with np.load(path) as f:
        positions, numbers = f["positions"], f["numbers"]
    li = numbers == 3
    drift = positions[:, ~li].mean(axis=1)
    disp = positions[:, li] - positions[0, li] - (drift - drift[0])[:, None, :]
    msd = group_msd(disp, np.zeros(disp.shape[1], dtype=int), 1)[0]
    return msd.sum(axis=1)


def msd_agreement(run: dict[str, Any], ref: np.ndarray) -> float | None:
    """Max relative MSD difference over the tool's lags from 1 ps to half the run."""
    lags = np.asarray(run.get("msd_lags", []), dtype=int)
    if not lags.size:
        return None
    msd = np.asarray(run["msd"])
    keep = (lags * DT_FS >= 1000.0) & (lags <= (len(ref) - 1) // 2)
    if not keep.any():
        return None
    return float(np.max(np.abs(msd[keep] / ref[lags[keep]] - 1.0)))


def bench_size(
    atoms: int, frames: int, workdir: Path, args: argparse.Namespace, big: bool
) -> dict[str, Any]:
    path = workdir / f"walk_{atoms}x{frames}.npz"
    started = time.perf_counter()
    info = write_walk(atoms, frames, seed=0, path=path)
    info["write_s"] = time.perf_counter() - started
    info["npz_mb"] = path.stat().st_size / 1e6
    print(
        f"\n{atoms} atoms ({info['n_li']} Li) x {frames} frames, box {info['box_A']:.2f} A"
    )
    tools = ["sse", "numpy", "pymatgen"]
    if not args.skip_from_structures and (not big or args.from_structures_big):
        tools.append("pymatgen-structures")
    if not args.skip_kinisi:
        tools.append("kinisi")
    ref = reference_msd(path)
    results = {}
    for tool in tools:
        res = run_child(tool, [path], workdir, args, args.timeout)
        if res["status"] == "ok":
            run = res.pop("runs")[0]
            res.update(run)
            res["msd_max_rel_diff"] = msd_agreement(run, ref)
            for key in ("msd", "msd_lags"):
                res.pop(key, None)
            print(
                f"  {tool:20s} D {res['D']:.4e}  wall {res['wall_s']:7.2f} s  "
                f"cpu {res['cpu_s']:7.2f} s  peak RSS {res['peak_rss_mb']:7.0f} MB"
            )
        else:
            print(f"  {tool:20s} {res['status']}")
        results[tool] = res
    if not args.keep_data:
        path.unlink()
    return {"size": info, "tools": results}


def estimate_from_structures(small: dict[str, Any], big: dict[str, Any]) -> None:
    """Scale the small-size from_structures run with atoms x frames (linear in sites)."""
    measured = small["tools"].get("pymatgen-structures", {})
    if measured.get("status") != "ok" or "pymatgen-structures" in big["tools"]:
        return
    a, b = small["size"], big["size"]
    factor = (b["atoms"] * b["frames"]) / (a["atoms"] * a["frames"])
    big["tools"]["pymatgen-structures"] = {
        "status": "estimate",
        "estimated_from": f"{a['atoms']} x {a['frames']} run, x{factor:g} (atoms x frames)",
        "wall_s": measured["wall_s"] * factor,
        "cpu_s": measured["cpu_s"] * factor,
        "build_structures_s": measured["build_structures_s"] * factor,
        "from_structures_s": measured["from_structures_s"] * factor,
        "peak_rss_mb": measured["peak_rss_mb"] * factor,
    }


def add_comparisons(entry: dict[str, Any]) -> None:
    tools = entry["tools"]
    ours = tools.get("sse", {})
    if ours.get("status") != "ok":
        return
    for res in tools.values():
        if res.get("status") not in ("ok", "estimate"):
            continue
        res["time_ratio_to_sse"] = res["wall_s"] / ours["wall_s"]
        res["cpu_ratio_to_sse"] = res["cpu_s"] / ours["cpu_s"]
        if "from_structures_s" in res:
            res["from_structures_call_ratio_to_sse"] = (
                res["from_structures_s"] / ours["wall_s"]
            )
        if "D" in res:
            res["D_rel_diff_to_sse"] = res["D"] / ours["D"] - 1.0
            res["D_diff_in_sse_std"] = (res["D"] - ours["D"]) / ours["D_std"]
            res["D_rel_err_to_true"] = res["D"] / TRUE_D - 1.0
            res["ci_covers_true"] = (
                None
                if res["D_ci95"] is None
                else res["D_ci95"][0] <= TRUE_D <= res["D_ci95"][1]
            )


def calibrate(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    paths = []
    for i in range(args.seeds):
        path = workdir / f"calib_{i:03d}.npz"
        info = write_walk(args.calib_atoms, args.calib_frames, seed=1000 + i, path=path)
        paths.append(path)
    print(
        f"\ncalibration: {args.seeds} walks of {info['atoms']} atoms ({info['n_li']} Li) x "
        f"{info['frames']} frames"
    )
    tools = ["sse", "pymatgen"] + ([] if args.skip_kinisi else ["kinisi"])
    out: dict[str, Any] = {
        "size": {k: info[k] for k in ("atoms", "n_li", "frames", "box_A")}
    }
    out["seeds"] = [1000 + i for i in range(args.seeds)]
    for tool in tools:
        res = run_child(tool, paths, workdir, args, args.timeout)
        if res["status"] != "ok":
            print(f"  {tool:10s} {res['status']}")
            out[tool] = res
            continue
        runs = res["runs"]
        d = np.array([r["D"] for r in runs])
        std = np.array([r["D_std"] for r in runs])
        lo = np.array([r["D_ci95"][0] for r in runs])
        hi = np.array([r["D_ci95"][1] for r in runs])
        scatter = float(d.std(ddof=1))
        stats = {
            "status": "ok",
            "n": len(runs),
            "D_mean": float(d.mean()),
            "D_mean_rel_err": float(d.mean() / TRUE_D - 1.0),
            "D_scatter": scatter,
            "mean_reported_std": float(std.mean()),
            "std_ratio": float(std.mean() / scatter),
            "coverage95": float(np.mean((lo <= TRUE_D) & (hi >= TRUE_D))),
            "rms_z": float(np.sqrt(np.mean(((d - TRUE_D) / std) ** 2))),
            "mean_wall_s": float(np.mean([r["wall_s"] for r in runs])),
            "D": d.tolist(),
            "D_std": std.tolist(),
        }
        if tool != "sse" and out.get("sse", {}).get("status") == "ok":
            ours = np.array(out["sse"]["D"])
            rel = d / ours - 1.0
            stats["rel_diff_to_sse_mean"] = float(rel.mean())
            stats["rel_diff_to_sse_rms"] = float(np.sqrt(np.mean(rel**2)))
            in_std = (d - ours) / np.array(out["sse"]["D_std"])
            stats["diff_to_sse_in_sse_std_rms"] = float(np.sqrt(np.mean(in_std**2)))
        out[tool] = stats
        print(
            f"  {tool:10s} reported/observed std {stats['std_ratio']:.3g}  coverage "
            f"{stats['coverage95']:.2f}  rms z {stats['rms_z']:.3g}  "
            f"{stats['mean_wall_s']:.2f} s/walk"
        )
    if not args.keep_data:
        for path in paths:
            path.unlink()
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rel(res: dict[str, Any]) -> str:
    text = f"{100 * res['D_rel_diff_to_sse']:+.2f} %"
    return text + f" ({res['D_diff_in_sse_std']:+.2f} std)"


def markdown_table(sizes: list[dict[str, Any]]) -> str:
    head = (
        "| size | tool | D (cm^2/s) | vs sse-flows | reported std | 95 % CI covers "
        "1e-5 | wall s | CPU s | peak RSS MB | wall / sse-flows |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for entry in sizes:
        size = entry["size"]
        label = f"{size['atoms']} x {size['frames']:,}"
        for tool in (t for t in TOOLS if t in entry["tools"]):
            res = entry["tools"][tool]
            if res.get("status") not in ("ok", "estimate"):
                rows.append(f"| {label} | {LABELS[tool]} | {res.get('status')} |||||||")
                continue
            est = res["status"] == "estimate"
            name = LABELS[tool] + (" (estimate)" if est else "")
            if "from_structures_s" in res:
                name += (
                    f": building the Structures {res['build_structures_s']:.1f} s + "
                    f"from_structures {res['from_structures_s']:.1f} s "
                    f"(x{res['from_structures_call_ratio_to_sse']:.1f} sse-flows)"
                )
            covers = res.get("ci_covers_true")
            has_d = "D" in res
            rows.append(
                f"| {label} | {name} | {_fmt(res.get('D'), '.4e')} | "
                f"{_rel(res) if has_d else '-'}"
                f" | {_fmt(res.get('D_std'), '.2e')} | "
                f"{'-' if covers is None else ('yes' if covers else 'no')} | "
                f"{'~' if est else ''}{res['wall_s']:.2f} | {'~' if est else ''}"
                f"{res['cpu_s']:.2f} | {'~' if est else ''}{res['peak_rss_mb']:.0f} | "
                f"{'~' if est else ''}{res['time_ratio_to_sse']:.1f} |"
            )
    return head + "\n".join(rows) + "\n"


def calibration_table(calibration: dict[str, Any]) -> str:
    size = calibration["size"]
    lines = [
        f"{len(calibration['seeds'])} walks of {size['atoms']} atoms ({size['n_li']} Li) x "
        f"{size['frames']:,} frames, true D = {TRUE_D:g} cm^2/s\n",
        "| tool | mean D / true - 1 | observed scatter of D | mean reported std | "
        "reported / observed | 95 % CI coverage | rms (D - true) / std | "
        "rms (D - D_sse-flows) / std_sse-flows | s per walk |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tool in ("sse", "pymatgen", "kinisi"):
        res = calibration.get(tool)
        if not res:
            continue
        if res.get("status") != "ok":
            lines.append(f"| {LABELS[tool]} | {res.get('status')} ||||||||")
            continue
        lines.append(
            f"| {LABELS[tool]} | {100 * res['D_mean_rel_err']:+.2f} % | "
            f"{res['D_scatter']:.2e} | {res['mean_reported_std']:.2e} | "
            f"{res['std_ratio']:.3g} | {res['coverage95']:.2f} | {res['rms_z']:.3g} | "
            f"{_fmt(res.get('diff_to_sse_in_sse_std_rms'), '.2f')} | "
            f"{res['mean_wall_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    if "OMP_NUM_THREADS" not in os.environ:
        print("OMP_NUM_THREADS unset: the subprocesses get 1")
    if not args.skip_kinisi and not Path(args.kinisi_python).is_file():
        print(f"no {args.kinisi_python}: kinisi skipped (see --kinisi-python)")
        args.skip_kinisi = True
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench_diffusion_", dir="/tmp"))
    try:
        sizes = []
        if args.small_atoms:
            sizes.append(
                bench_size(args.small_atoms, args.small_frames, workdir, args, False)
            )
        sizes.append(bench_size(args.atoms, args.frames, workdir, args, True))
        if len(sizes) == 2:
            estimate_from_structures(sizes[0], sizes[1])
        for entry in sizes:
            add_comparisons(entry)
        calibration = calibrate(workdir, args) if args.seeds else None
    finally:
        if not args.keep_data:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"data kept in {workdir}")

    table = markdown_table(sizes)
    print("\n" + table)
    calib_table = calibration_table(calibration) if calibration else None
    if calib_table:
        print(calib_table)
    kinisi_versions = next(
        (e["tools"]["kinisi"].get("versions") for e in sizes if "kinisi" in e["tools"]),
        None,
    )
    payload = {
        "benchmark": "diffusion",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "versions": {n: package_version(n) for n in PACKAGES},
        "kinisi_venv_versions": kinisi_versions,
        **git_state(),
        "true_D": TRUE_D,
        "time_step_fs": TIME_STEP_FS,
        "step_skip": STEP_SKIP,
        "drift_per_frame_A": DRIFT_PER_FRAME,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "total_wall_s": time.perf_counter() - started,
        "sizes": sizes,
        "calibration": calibration,
        "markdown_table": table,
        "markdown_calibration": calib_table,
    }
    write_results(args.output, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
