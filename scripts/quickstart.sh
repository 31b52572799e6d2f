#!/usr/bin/env bash
# Set up sse-flows and run the quickstart flow (relax + MD of Li2S with CHGNet) on the
# embedded store, print the stored result read back from the store, then compute and
# print Table 2 of paper 000 with CHGNet (small preset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv/bin/sse-flows run examples/quickstart.yaml
# Last: Table 2 of paper 000 (Li6PS5Cl: E_hull, E_f, K, G, sigma_300K) computed with CHGNet
# and the small preset (~2 min on one core), printed beside the paper's values.
.venv/bin/sse-flows table paper000-table2 --compute --potential chgnet --preset small
