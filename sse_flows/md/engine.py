"""The MD loop: segments, checkpoints, guards, trajectory and progress.

Written here rather than reusing atomate2's ``AseMDMaker`` because that runs one
uninterrupted ``dyn.run`` and keeps the trajectory in the output document; we need
restartable segments whose resumed result equals the uninterrupted one, a guard
against exploding runs and a trajectory file referenced from a small document.

A finished run can be continued in a new run directory (``continue_from``): the new
segment starts from the old one's final checkpoint (positions, momenta, cell and the
integrator's state), so the segments together equal one longer run.
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
    #: run directory of the segment this one continues (None: a run of its own)
    continued_from: Path | None = None
    #: production time (fs) and global step at this segment's step 0
    time_offset_fs: float = 0.0
    step_offset: int = 0
    #: position in a chain of continued segments (1: the first run)
    segment: int = 1
    #: steps this call was asked for (equilibration is skipped by a continuation)
    total_steps: int = 0


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
    # Written since runs can be continued; checkpoints from before read these defaults.
    #: fingerprint of the physics alone (no run lengths, no start state)
    physics: str | None = None
    #: steps the run was asked for: it is finished when ``step == total_steps``
    total_steps: int | None = None
    equilibration_steps: int = 0
    step_offset: int = 0
    time_offset_fs: float = 0.0
    segment: int = 1
    timestep_fs: float = 0.0

    @property
    def end_time_fs(self) -> float:
        """Production time at this checkpoint's step (where a continuation starts)."""
        return (
            self.time_offset_fs + (self.step - self.equilibration_steps) * self.timestep_fs
        )


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
            f"{path} belongs to an MD run with other settings or another structure "
            "(or a continuation of another run). "
            f"Delete {path.parent} to start afresh, or run with a new run directory."
        )
    return checkpoint


def _read_source(
    run_dir: Path, physics: str, numbers: np.ndarray, target: Path
) -> _Checkpoint:
    """Return the final checkpoint of a finished run that a new segment continues."""
    path = run_dir / CHECKPOINT_FILE
    if run_dir.resolve() == target.resolve():
        raise CheckpointMismatchError(
            f"a continuation needs a run directory of its own, not {run_dir} (the segment "
            "it continues): give it another run_dir."
        )
    if not path.is_file():
        raise CheckpointMismatchError(
            f"cannot continue from {run_dir}: it holds no {CHECKPOINT_FILE}. Give the run "
            "directory of a finished MD run (MDOutput.run_dir)."
        )
    with path.open("rb") as handle:
        source: _Checkpoint = pickle.load(handle)
    if source.version != CHECKPOINT_VERSION or source.physics is None:
        raise CheckpointMismatchError(
            f"{path} was written by an older sse-flows that did not record what a "
            "continuation must match; run the whole length again instead."
        )
    if source.physics != physics or not np.array_equal(source.numbers, numbers):
        raise CheckpointMismatchError(
            f"{path} belongs to an MD run with other physics (ensemble, thermostat, "
            "temperature, time step, sampling, potential...) or other atoms than this "
            "continuation: continue a run with the same settings, or start a new run."
        )
    if source.total_steps is None or source.step < source.total_steps:
        raise CheckpointMismatchError(
            f"the run in {run_dir} has not finished (step {source.step} of "
            f"{source.total_steps}): resume it first (rerun its job), then continue it."
        )
    return source


def _source_hash(source: _Checkpoint) -> str:
    """Identity of the state a continuation starts from (ties its checkpoint to it)."""
    digest = hashlib.sha256(f"{source.fingerprint}/{source.step}".encode())
    for array in (source.positions, source.momenta, source.cell):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


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
    continue_from: str | Path | None = None,
) -> MDRunResult:
    """Run (or resume) an MD protocol in ``run_dir`` and return the final state.

    ``run_dir`` holds ``trajectory.h5`` (production frames only) and ``checkpoint.pkl``.
    If a checkpoint from the same protocol and structure is there, the run resumes
    from it; the result equals that of an uninterrupted run.

    With ``continue_from`` (the run directory of a finished run with the same physics)
    this is a continuation: no equilibration and no new velocities; it starts from that
    run's final checkpoint and runs ``production_steps`` more, its frames' steps and
    times going on from where that run ended. ``atoms`` only names the atoms then.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atoms = atoms.copy()
    atoms.calc = calculator
    extra = dict(fingerprint_extra or {})
    physics = protocol.physics_fingerprint(extra)
    source = (
        _read_source(Path(continue_from), physics, atoms.numbers, run_dir)
        if continue_from is not None
        else None
    )
    if source is None:
        fingerprint = protocol.fingerprint({**extra, "start": _state_hash(atoms)})
        equilibration_steps = protocol.equilibration_steps
        step_offset, time_offset_fs, segment = 0, 0.0, 1
    else:
        fingerprint = protocol.fingerprint({**extra, "continues": _source_hash(source)})
        equilibration_steps = 0
        step_offset = source.step_offset + source.step
        time_offset_fs = source.end_time_fs
        segment = source.segment + 1
    total = equilibration_steps + protocol.production_steps
    attrs = {
        **_file_attrs(protocol),
        "segment": segment,
        "time_offset_fs": time_offset_fs,
        "step_offset": step_offset,
        "continued_from": str(Path(continue_from).resolve()) if continue_from else "",
    }
    checkpoint_path = run_dir / CHECKPOINT_FILE
    trajectory_path = run_dir / TRAJECTORY_FILE
    (run_dir / FAILURE_FILE).unlink(missing_ok=True)

    checkpoint = (
        _read_checkpoint(checkpoint_path, fingerprint, atoms.numbers)
        if checkpoint_path.exists()
        else None
    )
    if checkpoint is None:
        if source is not None:  # the previous segment's end state, integrator and all
            _set_state(atoms, source)
            dyn = build_dynamics(atoms, protocol)
            restore_state(dyn, source.dyn_state)
        else:
            if protocol.initialize_velocities and protocol.temperature > 0:
                rng = np.random.default_rng(protocol.seed)
                MaxwellBoltzmannDistribution(
                    atoms, temperature_K=protocol.temperature, rng=rng
                )
                Stationary(atoms)
            dyn = build_dynamics(atoms, protocol)
        start_step, equil_sums, previous_wall = 0, [0.0, 0.0, 0.0], 0.0
        writer = TrajectoryWriter(
            trajectory_path,
            atoms,
            attrs,
            protocol.store_velocities,
            store_forces=protocol.store_forces,
        )
    else:
        _set_state(atoms, checkpoint)
        dyn = build_dynamics(atoms, protocol)
        restore_state(dyn, checkpoint.dyn_state)
        start_step = checkpoint.step
        equil_sums, previous_wall = list(checkpoint.equil_sums), checkpoint.wall_time_s
        try:
            writer = TrajectoryWriter(
                trajectory_path,
                atoms,
                attrs,
                protocol.store_velocities,
                keep_frames=checkpoint.n_frames,
                store_forces=protocol.store_forces,
            )
        except (FileNotFoundError, ValueError) as exc:
            raise CheckpointMismatchError(str(exc)) from exc

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
                physics=physics,
                total_steps=total,
                equilibration_steps=equilibration_steps,
                step_offset=step_offset,
                time_offset_fs=time_offset_fs,
                segment=segment,
                timestep_fs=protocol.timestep_fs,
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
                # sampled on the global step grid, so segments fit together seamlessly
                if (step_offset + step) % protocol.sample_interval == 0:
                    check_frame(atoms, step, protocol, reference_temperature)
                    if step > equilibration_steps:
                        time_fs = (
                            time_offset_fs
                            + (step - equilibration_steps) * protocol.timestep_fs
                        )
                        writer.append(
                            atoms, step_offset + step, time_fs, _stress_or_none(atoms)
                        )
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
        continued_from=Path(continue_from).resolve() if continue_from else None,
        time_offset_fs=time_offset_fs,
        step_offset=step_offset,
        segment=segment,
        total_steps=total,
    )


def _set_state(atoms: Atoms, checkpoint: _Checkpoint) -> None:
    """Put a checkpoint's cell, positions and momenta into ``atoms``."""
    atoms.set_cell(checkpoint.cell, scale_atoms=False)
    atoms.set_pbc(checkpoint.pbc)
    atoms.set_positions(checkpoint.positions)
    atoms.set_momenta(checkpoint.momenta)


def _file_attrs(protocol: MDProtocol) -> dict[str, Any]:
    return {
        "timestep_fs": protocol.timestep_fs,
        "sample_interval": protocol.sample_interval,
        "temperature": protocol.temperature,
        "ensemble": protocol.ensemble,
        "thermostat": protocol.thermostat or "none",
        "protocol": json.dumps(protocol.protocol_dict(), default=str),
    }
