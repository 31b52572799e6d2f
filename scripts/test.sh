#!/usr/bin/env bash
# Set up sse-flows and run the whole test suite, with the linters first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy sse_flows
.venv/bin/python -m pytest "$@"
