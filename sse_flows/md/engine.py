"""The MD loop: segments, checkpoints, guards, trajectory and progress.

Written here rather than reusing atomate2's ``AseMDMaker`` because that runs one
uninterrupted ``dyn.run`` and keeps the trajectory in the output document; we need
restartable segments whose resumed result equals the uninterrupted one, a guard
against exploding runs and a trajectory file referenced from a small document.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from tqdm import tqdm

from sse_flows.errors import CheckpointMismatchError, MDInstabilityError
from sse_flows.md.guards import check_energy, check_frame
from sse_flows.md.integrators import build_dynamics, capture_state, restore_state
from sse_flows.md.protocol import MDProtocol
from sse_flows.md.trajectory import TrajectoryWriter
from sse_flows.quiet import harmless

CHECKPOINT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pkl"
TRAJECTORY_FILE = "trajectory.h5"
FAILURE_FILE = "failure.json"


@dataclass
class MDRunResult:
    """What one call of :func:`run_md` did."""

    atoms: Atoms
    trajectory_path: Path
    n_frames: int
    steps_done: int
    resumed_from_step: int
    checkpoints_written: int
    wall_time_s: float
    total_wall_time_s: float
    equilibration: dict[str, float] = field(default_factory=dict)


@dataclass
class _Checkpoint:
    fingerprint: str
    step: int
    n_frames: int
    numbers: np.ndarray
    positions: np.ndarray
    momenta: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    dyn_state: dict[str, Any]
    equil_sums: list[float]
    wall_time_s: float
    version: int = CHECKPOINT_VERSION


def _write_checkpoint(path: Path, checkpoint: _Checkpoint) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(checkpoint, handle, protocol=pickle.HIGHEST_PROTOCOL)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)  # atomic: a kill leaves the old or the new checkpoint, never half


def _read_checkpoint(path: Path, fingerprint: str, numbers: np.ndarray) -> _Checkpoint:
    with path.open("rb") as handle:
        checkpoint: _Checkpoint = pickle.load(handle)
    if checkpoint.version != CHECKPOINT_VERSION:
        raise CheckpointMismatchError(
            f"{path} was written by another checkpoint format (v{checkpoint.version}); "
            "delete the run directory to start again."
        )
    if checkpoint.fingerprint != fingerprint or not np.array_equal(
        checkpoint.numbers, numbers
    ):
        raise CheckpointMismatchError(
            f"{path} belongs to an MD run with other settings or another structure. "
            f"Delete {path.parent} to start afresh, or run with a new run directory."
        )
    return checkpoint


def _state_hash(atoms: Atoms) -> str:
    """Hash of the starting structure, so a checkpoint is never reused for another one."""
    digest = hashlib.sha256()
    for array in (atoms.numbers, atoms.positions.round(6), atoms.cell.array.round(6)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _stress_or_none(atoms: Atoms) -> np.ndarray | None:
    calc = atoms.calc
    if calc is None or "stress" not in calc.implemented_properties:
        return None
    return atoms.get_stress(voigt=True)


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    protocol: MDProtocol,
    run_dir: str | Path,
    fingerprint_extra: dict[str, Any] | None = None,
    progress: bool = True,
    description: str = "MD",
) -> MDRunResult:
    """Run (or resume) an MD protocol in ``run_dir`` and return the final state.

    ``run_dir`` holds ``trajectory.h5`` (production frames only) and ``checkpoint.pkl``.
    If a checkpoint from the same protocol and structure is there, the run resumes
    from it; the result equals that of an uninterrupted run.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atoms = atoms.copy()
    atoms.calc = calculator
    fingerprint = protocol.fingerprint(
        {**(fingerprint_extra or {}), "start": _state_hash(atoms)}
    )
    checkpoint_path = run_dir / CHECKPOINT_FILE
    trajectory_path = run_dir / TRAJECTORY_FILE
    (run_dir / FAILURE_FILE).unlink(missing_ok=True)

    checkpoint = (
        _read_checkpoint(checkpoint_path, fingerprint, atoms.numbers)
        if checkpoint_path.exists()
        else None
    )
    if checkpoint is None:
        if protocol.initialize_velocities and protocol.temperature > 0:
            rng = np.random.default_rng(protocol.seed)
            MaxwellBoltzmannDistribution(atoms, temperature_K=protocol.temperature, rng=rng)
            Stationary(atoms)
        dyn = build_dynamics(atoms, protocol)
        start_step, equil_sums, previous_wall = 0, [0.0, 0.0, 0.0], 0.0
        writer = TrajectoryWriter(
            trajectory_path,
            atoms,
            _file_attrs(protocol),
            protocol.store_velocities,
            store_forces=protocol.store_forces,
        )
    else:
        atoms.set_cell(checkpoint.cell, scale_atoms=False)
        atoms.set_pbc(checkpoint.pbc)
        atoms.set_positions(checkpoint.positions)
        atoms.set_momenta(checkpoint.momenta)
        dyn = build_dynamics(atoms, protocol)
        restore_state(dyn, checkpoint.dyn_state)
        start_step = checkpoint.step
        equil_sums, previous_wall = list(checkpoint.equil_sums), checkpoint.wall_time_s
        try:
            writer = TrajectoryWriter(
                trajectory_path,
                atoms,
                _file_attrs(protocol),
                protocol.store_velocities,
                keep_frames=checkpoint.n_frames,
                store_forces=protocol.store_forces,
            )
        except (FileNotFoundError, ValueError) as exc:
            raise CheckpointMismatchError(str(exc)) from exc

    total = protocol.total_steps
    reference_temperature = protocol.temperature or atoms.get_temperature()
    checkpoints_written = 0
    t0 = time.perf_counter()
    bar = tqdm(
        total=total,
        initial=start_step,
        desc=description,
        unit="step",
        disable=not progress,
        mininterval=1.0,
        dynamic_ncols=True,
    )
    last_postfix = t0

    def save(step: int) -> None:
        writer.flush()
        _write_checkpoint(
            checkpoint_path,
            _Checkpoint(
                fingerprint=fingerprint,
                step=step,
                n_frames=writer.n_written,
                numbers=atoms.numbers.copy(),
                positions=atoms.get_positions(),
                momenta=atoms.get_momenta(),
                cell=atoms.cell.array.copy(),
                pbc=atoms.pbc.copy(),
                dyn_state=capture_state(dyn),
                equil_sums=list(equil_sums),
                wall_time_s=previous_wall + time.perf_counter() - t0,
            ),
        )

    step = start_step
    # CHGNet converts Atoms to a Structure every step and warns about FixCom each time.
    with harmless("fix-atoms"):
        try:
            check_energy(atoms.get_potential_energy(), step, protocol)
            while step < total:
                dyn.step()  # type: ignore[attr-defined]
                step += 1
                check_energy(atoms.get_potential_energy(), step, protocol)
                if step % protocol.sample_interval == 0:
                    check_frame(atoms, step, protocol, reference_temperature)
                    if step > protocol.equilibration_steps:
                        time_fs = (
                            step - protocol.equilibration_steps
                        ) * protocol.timestep_fs
                        writer.append(atoms, step, time_fs, _stress_or_none(atoms))
                    else:
                        temperature = atoms.get_temperature()
                        equil_sums[0] += 1.0
                        equil_sums[1] += temperature
                        equil_sums[2] += temperature**2
                if step % protocol.checkpoint_interval == 0 or step == total:
                    save(step)
                    checkpoints_written += 1
                bar.update(1)
                now = time.perf_counter()
                if progress and now - last_postfix > 2.0:
                    last_postfix = now
                    rate = (step - start_step) / (now - t0)
                    bar.set_postfix(
                        ns_per_day=f"{rate * protocol.timestep_fs * 0.0864:.3f}"
                    )
        except MDInstabilityError as exc:
            writer.flush()
            (run_dir / FAILURE_FILE).write_text(
                json.dumps({"step": step, "error": str(exc)})
            )
            raise
        finally:
            bar.close()

    wall = time.perf_counter() - t0
    n_equil = equil_sums[0]
    equilibration = {}
    if n_equil:
        mean = equil_sums[1] / n_equil
        equilibration = {
            "temperature_mean": mean,
            "temperature_std": float(np.sqrt(max(equil_sums[2] / n_equil - mean**2, 0.0))),
            "samples": n_equil,
        }
    return MDRunResult(
        atoms=atoms,
        trajectory_path=trajectory_path,
        n_frames=writer.n_written,
        steps_done=step,
        resumed_from_step=start_step,
        checkpoints_written=checkpoints_written,
        wall_time_s=wall,
        total_wall_time_s=previous_wall + wall,
        equilibration=equilibration,
    )


def _file_attrs(protocol: MDProtocol) -> dict[str, Any]:
    return {
        "timestep_fs": protocol.timestep_fs,
        "sample_interval": protocol.sample_interval,
        "temperature": protocol.temperature,
        "ensemble": protocol.ensemble,
        "thermostat": protocol.thermostat or "none",
        "protocol": json.dumps(protocol.protocol_dict(), default=str),
    }
