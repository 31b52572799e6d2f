#!/usr/bin/env bash
# Set up sse-flows and run the whole test suite, with the linters first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh   # SLURM + munge for the real-cluster tests
bash scripts/setup.sh
export OMP_NUM_THREADS=1
# the cluster tests must run here: a missing SLURM is a failure, not a skip
export SSE_FLOWS_REQUIRE_SLURM=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy sse_flows
.venv/bin/python -m pytest "$@"
