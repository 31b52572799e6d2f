"""Wall time of a paper table's stability and elastic columns with the paper preset.

Runs, for each table and potential, exactly what a user types:

    sse-flows table NAME --compute --preset paper --properties stability,elastic
              --potential P

in a fresh embedded store (a temporary ``SSE_FLOWS_DB``), so nothing is reused, and
records the wall time of the command (start-up and model load included), the jobs it
ran and the values the table printed. Times are compared as ratios within one run (the
machine is shared): each potential against CHGNet on the same table.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_paper_table.py \
        [--tables paper000-table2,paper000-table1] [--potentials chgnet,sevennet]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, git_state, package_version, write_results

COLUMNS = ("e_hull", "e_form", "K", "G")


def run_table(table: str, potential: str) -> dict[str, Any]:
    """Time one `sse-flows table ... --compute` in a fresh store; return its row."""
    with tempfile.TemporaryDirectory(prefix="bench_table_") as tmp:
        env = {
            **os.environ,
            "SSE_FLOWS_DB": str(Path(tmp) / "db"),
            "SSE_FLOWS_WORK_DIR": str(Path(tmp) / "work"),
            "SSE_FLOWS_PROGRESS": "false",
        }
        command = [
            str(Path(sys.executable).parent / "sse-flows"),
            "table",
            table,
            "--compute",
            "--preset",
            "paper",
            "--properties",
            "stability,elastic",
            "--potential",
            potential,
            "--format",
            "csv",
        ]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    mine = next(r for r in rows if r["potential"].split(":")[0] == potential)
    return {
        "table": table,
        "potential": potential,
        "wall_s": round(wall, 2),
        "command": " ".join(["sse-flows", *command[1:]]),
        "values": {c: mine.get(f"{c}_ours") for c in COLUMNS},
        "paper": {c: mine.get(f"{c}_paper") for c in COLUMNS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="paper000-table2,paper000-table1")
    parser.add_argument("--potentials", default="chgnet,sevennet")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "paper_table.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    runs = [
        run_table(table, potential)
        for table in args.tables.split(",")
        for potential in args.potentials.split(",")
    ]
    for run in runs:
        base = next(r["wall_s"] for r in runs if r["table"] == run["table"])
        run["ratio_to_first"] = round(run["wall_s"] / base, 2)
        print(
            f"{run['table']:18s} {run['potential']:9s} {run['wall_s']:7.1f} s "
            f"(x{run['ratio_to_first']:.2f}) {run['values']}"
        )
    write_results(
        args.out,
        {
            "benchmark": "paper_table",
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "packages": {
                p: package_version(p) for p in ("chgnet", "sevenn", "matcalc", "torch")
            },
            **git_state(),
            "runs": runs,
            "total_wall_s": time.perf_counter() - t0,
        },
    )


if __name__ == "__main__":
    main()
