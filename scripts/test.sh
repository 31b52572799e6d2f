#!/usr/bin/env bash
# Set up sse-flows and run the whole test suite, with the linters first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh   # SLURM + munge, CP2K: the real-cluster and DFT tests
bash scripts/setup.sh
export OMP_NUM_THREADS=1
# the model families' own environments (MACE, DeePMD, MatterSim), under
# ~/.sse_flows/envs: built once per machine, kept while their declaration is unchanged
for env in mace deepmd mattersim; do
    .venv/bin/sse-flows env create "$env"
done
# the cluster and CP2K tests must run here: a missing SLURM or CP2K fails, not skips
export SSE_FLOWS_REQUIRE_SLURM=1
export SSE_FLOWS_REQUIRE_CP2K=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy sse_flows
# longer variants of behaviours already covered run outside CI: pytest -m extended
.venv/bin/python -m pytest -m "not extended" --durations=40 "$@"
