#!/usr/bin/env bash
# Set up sse-flows and run the quickstart flow (relax + MD of Li2S with CHGNet) on the
# embedded store, then print the stored result read back from the store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv/bin/sse-flows run examples/quickstart.yaml
