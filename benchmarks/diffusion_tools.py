"""The analyses bench_diffusion.py times, each run in its own subprocess.

A child process (``bench_diffusion.py --child TOOL``) imports only this module and the
tool it runs: the kinisi child runs in a venv without sse-flows.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

TRUE_D = 1e-5  # cm^2/s
TIME_STEP_FS, STEP_SKIP = 2.0, 10  # MD step and sampling as pymatgen/kinisi take them
DT_FS = TIME_STEP_FS * STEP_SKIP
TEMPERATURE = 600.0
DENSITY = 1200 / 23.0**3  # atoms per A^3: 1,200 atoms in a 23 A cube
DRIFT_PER_FRAME = 5e-4  # A, the whole cell, as a thermostat drift does
# = sse_flows FIT_WINDOWS["ols"] (kinisi children lack sse_flows); kinisi starts at 5 %
FIT_WINDOW = (0.05, 0.3)
TOOLS = ("sse", "sse-ols", "numpy", "pymatgen", "pymatgen-structures", "kinisi")
LABELS = {
    "sse": "sse-flows analyze_diffusion (GLS, default)",
    "sse-ols": "sse-flows analyze_diffusion(estimator='ols')",
    "numpy": "numpy FFT MSD (reference, no CI)",
    "pymatgen": "pymatgen DiffusionAnalyzer (arrays)",
    "pymatgen-structures": "pymatgen DiffusionAnalyzer.from_structures",
    "kinisi": "kinisi DiffusionAnalyzer (Parser)",
}


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


def run_sse(traj: dict[str, Any], estimator: str = "gls") -> dict[str, Any]:
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
    result = analyze_diffusion(data, ["Li"], temperature=TEMPERATURE, estimator=estimator)
    lags = np.rint(np.array(result.msd_time_ps) * 1000.0 / DT_FS).astype(int)
    return {
        "D": result.D,
        "D_std": result.D_std,
        "D_ci95": list(result.D_ci95),
        "fit": f"{result.estimator.upper()} "
        f"{result.fit_window_ps[0]:.3g}-{result.fit_window_ps[1]:.3g} ps, "
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
        if args.child.startswith("sse"):
            import sse_flows.analysis.diffusion  # noqa: F401
            from sse_flows.analysis.diffusion import default_charge

            default_charge("Li")  # pymatgen's Element, imported lazily by the analysis
        elif args.child.startswith("pymatgen"):
            import pymatgen.analysis.diffusion.analyzer  # noqa: F401
        runner = {
            "sse": run_sse,
            "sse-ols": lambda traj: run_sse(traj, "ols"),
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
