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
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _common import git_state, package_version, write_results
from diffusion_tables import calibration_table, markdown_table
from diffusion_tools import (
    DRIFT_PER_FRAME,
    STEP_SKIP,
    TIME_STEP_FS,
    TOOLS,
    TRUE_D,
    child_main,
    msd_agreement,
    reference_msd,
    write_walk,
)

ROOT = Path(__file__).resolve().parent
DEFAULT_OUTPUT = ROOT / "results" / "diffusion.json"
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
    tools = ["sse", "sse-ols", "numpy", "pymatgen"]
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
    tools = ["sse", "sse-ols", "pymatgen"] + ([] if args.skip_kinisi else ["kinisi"])
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
            "mean_ci95_width": float((hi - lo).mean()),
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
