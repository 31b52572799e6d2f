#!/usr/bin/env bash
# Install the Debian packages sse-flows needs beyond Python: a local SLURM with munge
# (slurm/start_cluster.sh and the cluster tests) and CP2K with its basis/pseudopotential
# data, MPI and a threaded OpenBLAS (DFT labeling). Does nothing when all of
# them are there already; needs root otherwise.
# Usage: bash scripts/setup_system.sh
set -euo pipefail

# One line per Debian package: "package command-it-provides". A package that puts no
# command on PATH (data only) gets "-" and is checked with dpkg instead.
PACKAGES=(
    "slurmctld slurmctld"
    "slurmd slurmd"
    "slurm-client sbatch"
    "munge munged"
    "cp2k cp2k.psmp"
    "cp2k-data -"
    "openmpi-bin mpirun"
    # deepmd-kit's environment builds from source: CMake's FindMPI needs the headers
    "libopenmpi-dev -"
    # cp2k alone pulls the reference BLAS, several times slower
    "libopenblas0-pthread -"
)

# Daemons live in sbin, which a normal user's PATH on Debian lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

present() {  # present PACKAGE COMMAND
    if [ "$2" = "-" ]; then
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
    else
        command -v "$2" >/dev/null 2>&1
    fi
}

missing=()
for entry in "${PACKAGES[@]}"; do
    read -r pkg cmd <<<"$entry"
    present "$pkg" "$cmd" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages present: ${PACKAGES[*]%% *}"
    exit 0
fi

# --no-install-recommends: the slurm-wlm meta-package and recommends pull in ~38
# packages that a single-node cluster does not need.
install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing system packages: ${missing[*]}" >&2
    echo "install them as root with: ${install_cmd[*]}" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when the install fails for want of them: an
# update on every run is slow and not needed on a machine that has its lists.
if ! "${install_cmd[@]}"; then
    echo "install failed; running apt-get update and trying again" >&2
    apt-get update
    "${install_cmd[@]}"
fi

still=()
for entry in "${PACKAGES[@]}"; do
    read -r pkg cmd <<<"$entry"
    present "$pkg" "$cmd" || still+=("$pkg")
done
if [ ${#still[@]} -gt 0 ]; then
    echo "error: still missing after install: ${still[*]}" >&2
    exit 1
fi
# The packages' own init scripts do not start the daemons in a container
# (policy-rc.d) and are not used: slurm/start_cluster.sh starts its own.
echo "system packages installed: ${missing[*]}"
