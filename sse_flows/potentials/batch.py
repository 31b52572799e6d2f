"""Energies, forces and stresses of many frames at once: batched where a family can.

A family that can evaluate several structures in one model call (CHGNet's
``predict_structure``, SevenNet's and MACE's graph batches) gives a
:class:`BatchPredictor` through :meth:`PotentialFamily.batch_predictor`; a model in
another environment gets many frames per request to its worker (:class:`WorkerBatch`,
the worker then batches with its family's predictor); every other calculator (EMT,
DeePMD) runs frame by frame (:class:`OneByOne`). :func:`~sse_flows.potentials.registry.
batch_predictor` chooses. Callers record :attr:`BatchPredictor.path`, so a document
says which path ran.

Why the default batch is 1 on a CPU: on this machine (1 thread) a batch of 32
16-atom frames took 1.8x (CHGNet) and 1.8x (SevenNet) the time of 32 calls with one
frame each: the model's tensor work, not Python, dominates, and it grows faster than
linearly with the batch (``benchmarks/README.md``, ``bench_batched.py``). On a GPU a
batch pays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

#: frames per model call on a GPU when none is given (CHGNet's own default)
GPU_BATCH = 16
#: frames per request to a model's worker in another environment
FRAMES_PER_REQUEST = 64


@dataclass
class FrameResult:
    """One frame's prediction: eV, eV/A, Voigt stress in eV/A^3 (ASE sign) or None."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None


class BatchPredictor:
    """Predict many frames; subclasses batch, this base runs the calculator per frame."""

    #: what ran: 'one-by-one', 'batched:<family>' or 'worker:<path in the worker>'
    path: str = "one-by-one"

    def __init__(self, calculator: Calculator, batch_size: int = 1) -> None:
        """Hold the calculator and the frames per model call."""
        self.calculator = calculator
        self.batch_size = max(int(batch_size), 1)

    def predict(self, frames: Sequence[Atoms], stress: bool = True) -> list[FrameResult]:
        """Return one result per frame, in order, ``batch_size`` frames per call."""
        results: list[FrameResult] = []
        for start in range(0, len(frames), self.batch_size):
            results += self.predict_batch(frames[start : start + self.batch_size], stress)
        return results

    def predict_batch(self, frames: Sequence[Atoms], stress: bool) -> list[FrameResult]:
        """Evaluate frames through ASE, every property in one call per frame.

        One ``calculate`` with all properties (as ASE's ``calculate_properties``
        does): asking for forces after the energy would run a worker twice.
        """
        calculator = self.calculator
        with_stress = stress and "stress" in getattr(
            calculator, "implemented_properties", ()
        )
        results = []
        for frame in frames:
            atoms = frame.copy()
            atoms.calc = None
            properties = ["energy", "forces", *(["stress"] if with_stress else [])]
            calculator.calculate(atoms, properties, list(all_changes))
            out = calculator.results
            value = out.get("stress") if with_stress else None
            if value is not None and np.shape(value) == (3, 3):
                value = full_3x3_to_voigt_6_stress(value)
            results.append(
                FrameResult(
                    energy=float(np.asarray(out["energy"]).reshape(-1)[0]),
                    forces=np.asarray(out["forces"], dtype=float).copy(),
                    stress=None if value is None else np.asarray(value, dtype=float),
                )
            )
        return results


def split_by_frame(
    frames: Sequence[Atoms],
    energies: np.ndarray,
    forces: np.ndarray,
    stresses: np.ndarray | None,
) -> list[FrameResult]:
    """Cut a batched model output (atoms of all frames in order) into frame results.

    ``energies`` (frames,), ``forces`` (all atoms, 3), ``stresses`` (frames, 6) Voigt
    or None.
    """
    results, start = [], 0
    for i, atoms in enumerate(frames):
        n = len(atoms)
        results.append(
            FrameResult(
                energy=float(energies[i]),
                forces=np.asarray(forces[start : start + n], dtype=float),
                stress=None if stresses is None else np.asarray(stresses[i], dtype=float),
            )
        )
        start += n
    return results


class OneByOne(BatchPredictor):
    """Frame by frame through the ASE calculator (any potential)."""


class WorkerBatch(BatchPredictor):
    """Frames sent to a model's worker (another environment) many per request.

    The worker batches them with its family's predictor (``batch_size`` frames per
    model call); one request carries up to :data:`FRAMES_PER_REQUEST` frames, so the
    pipe's round trip is paid per request, not per frame. ``path`` is
    ``worker:<the worker's path>`` once a request has run.
    """

    path = "worker"

    def __init__(self, calculator: Calculator, batch_size: int | None) -> None:
        """Hold the proxy calculator; the worker resolves the batch size."""
        super().__init__(calculator, batch_size or 1)
        self.requested = batch_size

    def predict(self, frames: Sequence[Atoms], stress: bool = True) -> list[FrameResult]:
        """Send the frames in requests of up to FRAMES_PER_REQUEST."""
        results: list[FrameResult] = []
        for start in range(0, len(frames), FRAMES_PER_REQUEST):
            chunk = frames[start : start + FRAMES_PER_REQUEST]
            replies, path, size = self.calculator.predict_many(  # type: ignore[attr-defined]
                chunk, stress, self.requested
            )
            self.path, self.batch_size = f"worker:{path}", size
            results += [
                FrameResult(
                    energy=float(r["energy"]),
                    forces=np.asarray(r["forces"], dtype=float),
                    stress=None if "stress" not in r else np.asarray(r["stress"], float),
                )
                for r in replies
            ]
        return results


def default_batch_size(model: Any) -> int:
    """Frames per call: :data:`GPU_BATCH` when the model is on a GPU, else 1."""
    try:
        device = next(model.parameters()).device.type
    except (AttributeError, StopIteration):
        return 1
    return GPU_BATCH if device == "cuda" else 1
