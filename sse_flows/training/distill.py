"""What distillation (paper 004) does between its jobs: frames in, filtered, measured.

* :func:`perturb_atoms`: random strains and displacements, by dpdata's own
  ``System.perturb`` (the paper made its perturbed structures with dpdata);
* :func:`md_frames`: every stored frame of the teacher's MD runs;
* :func:`force_cap_filter`: frames whose largest teacher force is above the cap are
  dropped and counted (the paper: 10 eV/A);
* :func:`split_valid`: the validation frames of the student, drawn at random;
* :func:`student_errors`: the student against the teacher on held-out teacher MD;
* :func:`measure_speed`: atom-steps per second of a model in a short NVE run.

The speed run is written here with ASE's Velocity Verlet rather than through the MD
engine (:mod:`sse_flows.md.engine`): the engine writes trajectory frames and
checkpoints, which would be timed too. Every model runs as sse-flows runs it (a
family with its own environment through its worker), so the ratio is the one a user
of ``--potential`` gets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from sse_flows.calc.evaluate import LabeledFrame, default_labels, evaluate_frames
from sse_flows.documents.training import SplitMetrics
from sse_flows.errors import SSEFlowsError, UnsupportedElementError
from sse_flows.potentials import LoadedPotential, PotentialSpec, load_potential
from sse_flows.provenance import PotentialProvenance

PerturbStyle = Literal["normal", "uniform", "const"]


class DistillationError(SSEFlowsError):
    """A distillation cannot go on: no frames left, or a setting that cannot work."""


def require_elements(potential: PotentialSpec, elements: Iterable[str], role: str) -> None:
    """Load ``potential`` once and refuse it when it lacks one of ``elements``.

    Element coverage is known only once a model is loaded; a flow checks it when it
    is built, so a teacher without an element fails before any MD runs.
    """
    try:
        with load_potential(potential, elements=sorted(set(elements))):
            pass
    except UnsupportedElementError as exc:
        raise UnsupportedElementError(f"The {role} cannot be used: {exc}") from exc


def perturb_atoms(
    atoms: Atoms,
    count: int,
    displacement_A: float,
    strain_fraction: float,
    seed: int,
    style: PerturbStyle = "normal",
) -> list[Atoms]:
    """Return ``count`` copies of ``atoms``, each strained and displaced at random.

    dpdata's ``System.perturb`` (its cell deformation is a symmetric matrix, diagonal
    uniform in +-``strain_fraction``, off-diagonal in +-half that; each atom moves
    ~``displacement_A`` in a random direction, distributed as ``style``). dpdata
    draws from numpy's global generator: it is seeded here and restored after.
    """
    if count <= 0:
        return []
    import dpdata

    system = dpdata.System(atoms, fmt="ase/structure")
    saved = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        perturbed = system.perturb(
            pert_num=count,
            cell_pert_fraction=strain_fraction,
            atom_pert_distance=displacement_A,
            atom_pert_style=style,
        )
    finally:
        np.random.set_state(saved)
    out = perturbed.to("ase/structure")
    for copy in out:
        copy.pbc = atoms.pbc
    return list(out)


def md_frames(trajectory: str | Path) -> list[Atoms]:
    """Return every stored frame of an sse-flows MD trajectory (HDF5)."""
    from sse_flows.md.trajectory import read_trajectory

    data = read_trajectory(trajectory)
    return [data.atoms(i) for i in range(len(data))]


@dataclass
class CapResult:
    """Frames kept under the force cap, and what was dropped."""

    kept: list[LabeledFrame]
    dropped: list[int]  # indices in the labelled frames
    dropped_by_source: dict[str, int]
    max_force_eV_A: list[float]  # largest |F| of every frame, in order


def max_force(frame: LabeledFrame) -> float:
    """Return the largest force norm of a frame (eV/A); inf when it has no forces."""
    if frame.forces is None:
        return math.inf
    return float(np.linalg.norm(np.asarray(frame.forces).reshape(-1, 3), axis=1).max())


def force_cap_filter(frames: Sequence[LabeledFrame], cap_eV_A: float) -> CapResult:
    """Drop frames with any atom's |F| above ``cap_eV_A`` (non-finite ones too)."""
    if not cap_eV_A > 0:
        raise DistillationError(f"the force cap must be positive, got {cap_eV_A} eV/A")
    kept: list[LabeledFrame] = []
    dropped: list[int] = []
    by_source: dict[str, int] = {}
    largest = [max_force(f) for f in frames]
    for index, (frame, value) in enumerate(zip(frames, largest, strict=True)):
        energy_ok = frame.energy is not None and math.isfinite(frame.energy)
        if math.isfinite(value) and value <= cap_eV_A and energy_ok:
            kept.append(frame)
            continue
        dropped.append(index)
        source = str(frame.atoms.info.get("source", "unknown"))
        by_source[source] = by_source.get(source, 0) + 1
    return CapResult(kept, dropped, by_source, largest)


def split_valid(
    frames: Sequence[LabeledFrame], valid_fraction: float, seed: int
) -> tuple[list[LabeledFrame], list[LabeledFrame]]:
    """Return (train, valid): ``ceil(valid_fraction x n)`` frames drawn at random.

    The frames are each their own group: validation only picks dp's best checkpoint;
    the student's reported error is on held-out teacher MD, which training never sees.
    """
    n = len(frames)
    n_valid = max(1, math.ceil(valid_fraction * n))
    if n - n_valid < 1:
        raise DistillationError(
            f"{n} frame(s) under the force cap: too few to train and validate a "
            "student. Raise n_perturbed or the MD steps, or the force cap."
        )
    order = np.random.default_rng(seed).permutation(n)
    valid = set(int(i) for i in order[:n_valid])
    train = [f for i, f in enumerate(frames) if i not in valid]
    return train, [f for i, f in enumerate(frames) if i in valid]


def student_errors(frames: Sequence[LabeledFrame], student: Calculator) -> SplitMetrics:
    """Return the student's errors against the teacher's labels of ``frames``."""
    return SplitMetrics.of(evaluate_frames(frames, student, default_labels(frames)))


@dataclass
class Speed:
    """Timed MD steps of one model on one cell."""

    potential: str
    n_atoms: int
    steps: int
    seconds: float
    provenance: PotentialProvenance | None = None  # the model as loaded

    @property
    def atom_steps_per_s(self) -> float:
        """Atoms times steps per wall second."""
        return self.n_atoms * self.steps / self.seconds


def measure_speed(
    loaded: LoadedPotential,
    atoms: Atoms,
    steps: int,
    warmup: int = 3,
    temperature_K: float = 300.0,
    timestep_fs: float = 1.0,
    seed: int = 0,
) -> Speed:
    """Time ``steps`` NVE steps (after ``warmup`` untimed ones) of a loaded model.

    Velocities are drawn at ``temperature_K`` with a fixed seed, so every model starts
    from the same state; loading the model and the warm-up steps (first calls compile
    or allocate) are not timed.
    """
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    if steps < 1:
        raise DistillationError(f"speed_steps must be >= 1, got {steps}")
    cell = atoms.copy()
    cell.calc = loaded.calculator
    MaxwellBoltzmannDistribution(
        cell, temperature_K=temperature_K, rng=np.random.default_rng(seed)
    )
    dynamics = VelocityVerlet(cell, timestep=timestep_fs * units.fs)
    dynamics.run(warmup)
    start = time.perf_counter()
    dynamics.run(steps)
    seconds = time.perf_counter() - start
    if not np.isfinite(cell.get_positions()).all():
        raise DistillationError(f"the speed run of {loaded.spec.label()} blew up")
    return Speed(
        loaded.spec.label(), len(cell), steps, max(seconds, 1e-9), loaded.provenance
    )
