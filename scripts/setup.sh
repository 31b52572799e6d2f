#!/usr/bin/env bash
# Set up sse-flows on a fresh machine: a virtual environment in .venv with the package,
# the models that ship their weights (CHGNet, SevenNet), cluster submission
# (jobflow-remote, FireWorks), DFT labeling (custodian, dpdata) and the test tools.
# Usage: bash scripts/setup.sh [extras]
#   (default extras: chgnet,sevenn,slurm,fireworks,dft,matcalc,test)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-chgnet,sevenn,slurm,fireworks,dft,matcalc,test}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" - <<'PY'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"sse-flows needs Python 3.11, found {sys.version.split()[0]}; set PYTHON=...")
PY
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# pip's own chatter (the build backend's editable-install banner, index notes) goes to
# a log; it is shown only when an install fails.
log=.venv/pip-install.log
pip_install() {
    if ! .venv/bin/python -m pip install --quiet "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: pip install $* failed (log: $log)" >&2
        exit 1
    fi
}
pip_install --upgrade pip
pip_install -c constraints.txt -e ".[${extras}]"
# dpgen as a library (the tests check our trust-level selection against dpgen's own):
# dpgen.generator.run imports only dpdispatcher (and its dargs) beyond what the extras
# install; dpgen's other declared dependencies (openbabel, GromacsWrapper, netCDF4,
# cp2kdata, ...) serve parts of dpgen that are never imported here.
pip_install -c constraints.txt dpdispatcher==1.1.0
pip_install -c constraints.txt --no-deps dpgen==0.14.0
if .venv/bin/python -m pip show torchvision >/dev/null 2>&1 && \
   ! .venv/bin/python -c "import torchvision" >/dev/null 2>&1; then
    echo "removing a torchvision/torchaudio that cannot import beside CPU torch" >&2
    .venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio
fi
echo "sse-flows installed in .venv ($(.venv/bin/python -c 'import sse_flows; print(sse_flows.__version__)'))" >&2
