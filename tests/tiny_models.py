"""Tiny MACE and DeePMD models, trained here with each package's own entry points.

Frames: rattled and strained fcc Cu (32 atoms) labelled with EMT, which runs anywhere.
MACE: ``mace_run_train`` (2 interactions of 8x0e, a few epochs). DeePMD: ``dp --pt
train`` (se_e2_a, 200 steps), ``dp --pt freeze``, ``dp --pt compress``. Each runs in
the family's own environment (``sse-flows env create``); the models are only as good
as a minute of CPU training allows, which is all the proxy tests need.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write


def cu_frames(n: int, seed: int) -> list[Atoms]:
    """Rattled, strained 2x2x2 fcc Cu cells with EMT energy, forces and stress."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        strain = np.eye(3) + rng.normal(0, 0.02, (3, 3))
        atoms.set_cell(atoms.cell @ strain, scale_atoms=True)
        atoms.rattle(0.05 + 0.05 * (i % 3), seed=seed + i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        atoms.get_stress()
        frames.append(atoms)
    return frames


def write_extxyz(frames: list[Atoms], path: Path) -> Path:
    """Labels as ASE's calculator results (energy, forces, stress)."""
    write(str(path), frames, format="extxyz")
    return path


def _run(argv: list[str], cwd: Path, env_bin: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{env_bin}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("PYTHONPATH", None)
    log = cwd / f"{Path(argv[0]).name}.log"
    with log.open("a") as out:
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed; log {log}:\n{log.read_text()[-3000:]}"
        )


def train_mace(env_python: Path, folder: Path) -> Path:
    """Train a tiny MACE on EMT Cu frames with ``mace_run_train``; return the model."""
    folder.mkdir(parents=True, exist_ok=True)
    train, valid = cu_frames(20, 0), cu_frames(6, 100)
    for name, frames in (("train.xyz", train), ("valid.xyz", valid)):
        for atoms in frames:  # MACE's key names, to keep ASE's calculator keys free
            atoms.info["REF_energy"] = atoms.get_potential_energy()
            atoms.arrays["REF_forces"] = atoms.get_forces()
            atoms.info["REF_stress"] = atoms.get_stress()
            atoms.calc = None
        write(str(folder / name), frames, format="extxyz")
    argv = [
        str(env_python.parent / "mace_run_train"),
        "--name=tiny",
        "--train_file=train.xyz",
        "--valid_file=valid.xyz",
        "--E0s=average",
        "--model=MACE",
        "--hidden_irreps=8x0e",
        "--r_max=4.0",
        "--num_interactions=2",
        "--max_L=0",
        "--correlation=2",
        "--num_radial_basis=4",
        "--num_cutoff_basis=3",
        "--batch_size=5",
        "--valid_batch_size=5",
        "--max_num_epochs=4",
        "--device=cpu",
        "--default_dtype=float64",
        "--seed=1",
        "--energy_key=REF_energy",
        "--forces_key=REF_forces",
        "--stress_key=REF_stress",
        "--model_dir=.",
        "--results_dir=results",
        "--checkpoints_dir=checkpoints",
        "--log_dir=logs",
    ]
    _run(argv, folder, env_python.parent)
    return folder / "tiny.model"


def _deepmd_system(frames: list[Atoms], folder: Path) -> None:
    """deepmd/npy: one system, one set (coord, box, energy, force, virial)."""
    (folder / "set.000").mkdir(parents=True, exist_ok=True)
    arrays = {
        "coord": [a.positions.reshape(-1) for a in frames],
        "box": [a.cell.array.reshape(-1) for a in frames],
        "energy": [a.get_potential_energy() for a in frames],
        "force": [a.get_forces().reshape(-1) for a in frames],
        "virial": [
            (-a.get_stress(voigt=False) * a.get_volume()).reshape(-1) for a in frames
        ],
    }
    for name, values in arrays.items():
        np.save(folder / "set.000" / f"{name}.npy", np.array(values))
    (folder / "type.raw").write_text("0\n" * len(frames[0]))
    (folder / "type_map.raw").write_text("Cu\n")


def train_deepmd(env_python: Path, folder: Path) -> tuple[Path, Path]:
    """Train, freeze and compress a tiny se_e2_a; return (frozen, compressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    _deepmd_system(cu_frames(20, 0), folder / "train")
    _deepmd_system(cu_frames(6, 100), folder / "valid")
    config = {
        "model": {
            "type_map": ["Cu"],
            "descriptor": {
                "type": "se_e2_a",
                "sel": [60],
                "rcut_smth": 3.0,
                "rcut": 4.5,
                "neuron": [4, 8],
                "axis_neuron": 4,
                "seed": 1,
            },
            "fitting_net": {"neuron": [16, 16], "seed": 1},
        },
        "learning_rate": {
            "type": "exp",
            "start_lr": 0.002,
            "stop_lr": 1e-5,
            "decay_steps": 50,
        },
        "loss": {
            "type": "ener",
            "start_pref_e": 0.02,
            "limit_pref_e": 1,
            "start_pref_f": 1000,
            "limit_pref_f": 1,
            "start_pref_v": 0,
            "limit_pref_v": 0,
        },
        "training": {
            "training_data": {"systems": ["train"], "batch_size": 2},
            "validation_data": {"systems": ["valid"], "batch_size": 2},
            "numb_steps": 200,
            "seed": 1,
            "disp_freq": 100,
            "save_freq": 200,
        },
    }
    (folder / "input.json").write_text(json.dumps(config, indent=1))
    dp = str(env_python.parent / "dp")
    _run([dp, "--pt", "train", "input.json"], folder, env_python.parent)
    _run([dp, "--pt", "freeze", "-o", "frozen.pth"], folder, env_python.parent)
    _run(
        [dp, "--pt", "compress", "-i", "frozen.pth", "-o", "compressed.pth"],
        folder,
        env_python.parent,
    )
    return folder / "frozen.pth", folder / "compressed.pth"


MATTERSIM_SCRIPT = """
import sys, torch
from mattersim.forcefield.potential import M3Gnet, Potential
torch.manual_seed(0)
model = M3Gnet(num_blocks=1, units=16, max_l=2, max_n=2, cutoff=4.0,
               threebody_cutoff=3.0, device="cpu")
Potential(model, device="cpu").save(sys.argv[1])
"""


def random_mattersim(env_python: Path, folder: Path) -> Path:
    """A MatterSim M3GNet checkpoint with random weights, saved by mattersim itself.

    No MatterSim weights can be downloaded here and training one is beyond a test;
    an untrained model in mattersim's own checkpoint format exercises the loader.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "untrained.pth"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [str(env_python), "-c", MATTERSIM_SCRIPT, str(path)],
        check=True,
        capture_output=True,
        env=env,
    )
    return path


DIRECT_SCRIPT = """
import json, sys
import numpy as np
from ase.io import read
family, model, frames = sys.argv[1:4]
if family == "mace":
    from mace.calculators import MACECalculator
    calc = MACECalculator(model_paths=model, device="cpu", default_dtype="float64")
elif family == "mattersim":
    from mattersim.forcefield import MatterSimCalculator
    calc = MatterSimCalculator(load_path=model, device="cpu")
else:
    from deepmd.calculator import DP
    calc = DP(model=model)
out = []
for atoms in read(frames, index=":"):
    atoms.calc = calc
    out.append({"energy": float(atoms.get_potential_energy()),
                "forces": atoms.get_forces().tolist(),
                "stress": atoms.get_stress().tolist()})
print(json.dumps(out))
"""


def direct_predictions(env_python: Path, family: str, model: Path, frames: Path) -> list:
    """Energies, forces and stresses from the package itself, inside its env."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(env_python), "-c", DIRECT_SCRIPT, family, str(model), str(frames)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def alloy_frames(n_groups: int, per_group: int, seed: int) -> list[Atoms]:
    """Cu-Au fcc cells (8 atoms) labelled with EMT, ``per_group`` frames per structure.

    Each group is one random Cu/Au arrangement under one strain, rattled as MD would;
    ``info['group']`` names it, so training splits keep a structure in one split.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for group in range(n_groups):
        base = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 1, 1))
        symbols = rng.choice(["Cu", "Au"], size=len(base))
        symbols[:2] = ["Cu", "Au"]
        base.set_chemical_symbols(list(symbols))
        strain = np.eye(3) + rng.normal(0, 0.015, (3, 3))
        base.set_cell(base.cell @ strain, scale_atoms=True)
        for k in range(per_group):
            atoms = base.copy()
            atoms.rattle(0.04 + 0.02 * (k % 4), seed=int(rng.integers(1 << 30)))
            atoms.calc = EMT()
            atoms.get_potential_energy()
            atoms.get_stress()
            atoms.info["group"] = f"s{seed}-{group}"
            frames.append(atoms)
    return frames


#: EMT with the pair-repulsion parameter V0 scaled: a second "reference method"
TASK_B = {"Cu": 2.0, "Au": 2.0}


class TaskBEMT(EMT):
    """EMT with stronger pair repulsion: a second 'reference method' for the same cells."""

    def initialize(self, atoms: Atoms) -> None:
        """Swap ASE's module-level parameter table only while EMT reads it."""
        import ase.calculators.emt as emt_module

        saved = dict(emt_module.parameters)
        for element, factor in TASK_B.items():
            values = list(emt_module.parameters[element])
            values[2] *= factor
            emt_module.parameters[element] = tuple(values)
        try:
            super().initialize(atoms)
        finally:
            emt_module.parameters.clear()
            emt_module.parameters.update(saved)


def relabel(frames: list[Atoms], calculator_type: type[EMT]) -> list[Atoms]:
    """Copies of the frames labelled by another calculator."""
    out = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = calculator_type()
        atoms.get_potential_energy()
        atoms.get_stress()
        out.append(atoms)
    return out


#: where this machine's family environments are (conftest isolates the settings' own)
MACHINE_ENVS_DIR = Path(
    os.environ.get("SSE_FLOWS_ENVS_DIR", "~/.sse_flows/envs")
).expanduser()


def needs_environment(family: str) -> pytest.MarkDecorator:
    """Skip (saying how to build it) when the family's environment is not built here."""
    from sse_flows.potentials.environments import env_status
    from sse_flows.settings import get_settings

    ready = env_status(family, get_settings(envs_dir=MACHINE_ENVS_DIR)).ready
    return pytest.mark.skipif(
        not ready,
        reason=f"the {family} environment is not built in {MACHINE_ENVS_DIR} "
        f"(run: sse-flows env create {family})",
    )
