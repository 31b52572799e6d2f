#!/bin/bash
# Example sbatch script: MLIP relaxation + MD of an sse-flows spec on one GPU.
# Adapt the #SBATCH lines (partition, account, time, memory) to your site.
#   sbatch slurm/templates/gpu_job.sh examples/quickstart.yaml
# Options given to sbatch override the #SBATCH lines, e.g. `sbatch -c 1 --mem=2G ...`
# on the small test cluster of slurm/start_cluster.sh.
# (jobflow-remote writes its own scripts from a project's `resources`: see
# slurm/projects/; this one is for running a spec by hand.)
#SBATCH --job-name=sse-md
#SBATCH --partition=gpu
#SBATCH --gres=gpu:1
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
# #SBATCH --account=my_account
set -euo pipefail

# module load cuda/12.4                       # your site's modules, if any
# MACE needs its own environment (it pins e3nn 0.4.4): SSE_VENV=~/venvs/sse-flows-mace
# shellcheck source=/dev/null
source "${SSE_VENV:-$HOME/sse-flows/.venv}/bin/activate"
# torch's CPU threads: the cores SLURM gave this job, not the whole node.
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
export SSE_FLOWS_PROGRESS=false              # no progress bars in a log file

# SLURM sets CUDA_VISIBLE_DEVICES to the GPU(s) granted by --gres.
echo "job ${SLURM_JOB_ID:-?} on $(hostname): CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}"
sse-flows run "${1:?usage: sbatch gpu_job.sh SPEC.yaml}"
