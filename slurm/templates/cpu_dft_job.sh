#!/bin/bash
# Example sbatch script: a DFT calculation (CP2K or VASP) on CPU cores with MPI ranks.
# Adapt the #SBATCH lines and the module to your site; run it in the folder with the
# input files:
#   cd my_calc && sbatch /path/to/slurm/templates/cpu_dft_job.sh input.inp
# Options given to sbatch override the #SBATCH lines, e.g. `sbatch -n 2 ...` on the
# 2-core test cluster of slurm/start_cluster.sh.
#SBATCH --job-name=sse-dft
#SBATCH --partition=cpu
#SBATCH --nodes=1
#SBATCH --ntasks=32                # MPI ranks
#SBATCH --cpus-per-task=1          # one thread per rank
#SBATCH --mem-per-cpu=2G
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
# #SBATCH --account=my_account
set -euo pipefail

# module load cp2k/2024.1          # or: module load vasp/6.4
export OMP_NUM_THREADS=1           # pure MPI: no threads on top of the ranks

# srun starts --ntasks ranks on the cores SLURM allocated (no -np, no hostfile).
# If your MPI needs it, tell srun how to wire the ranks: srun --mpi=pmix ...
input="${1:-input.inp}"
srun cp2k.psmp -i "$input" -o "${input%.*}.out"
# VASP (reads INCAR, POSCAR, KPOINTS, POTCAR from this folder):
# srun vasp_std
