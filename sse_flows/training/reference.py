"""Matching the labels' energy scale to the parent model's.

New labels (CP2K, a VASP setup other than the parent's, MP2020-corrected or not)
differ from what the parent learned by, to a good approximation, a constant energy
per atom of each element: pseudopotentials, functional and corrections shift the
elemental reference energies. Fine-tuning straight onto such labels spends its first
epochs (and the composition head's capacity) learning that shift and, with few frames,
distorts the forces on the way.

So, before training, we fit one offset per element by least squares,
``E_label - E_parent = sum_el n_el * mu_el``, over the training split, and start the
fine-tune from a model whose per-element reference carries those offsets (CHGNet's
AtomRef, MACE's E0s; SevenNet's and DeePMD's trainers refit the same quantity
themselves: SevenNet's per-species shift, ``dp --finetune``'s output bias). Forces and
stresses do not depend on the offsets. We prefer this to MP2020 corrections, which
only exist for GGA(+U) labels computed with MP's settings and do not cover CP2K or
r2SCAN labels; it is the refit the packages themselves recommend (CHGNet's
``train_composition_model``, MACE's ``E0s``, DeePMD's ``change_bias``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sse_flows.calc.evaluate import LabeledFrame


@dataclass
class EnergyOffsets:
    """Per-element offsets (label minus parent, eV/atom) and what they explain."""

    offsets_eV: dict[str, float]
    rms_before_meV_atom: float
    rms_after_meV_atom: float

    def shift(self, frame: LabeledFrame) -> float:
        """Total offset of one frame (eV)."""
        symbols = frame.atoms.get_chemical_symbols()
        return float(sum(self.offsets_eV.get(s, 0.0) for s in symbols))


def composition_matrix(
    frames: Sequence[LabeledFrame], elements: Sequence[str]
) -> np.ndarray:
    """Count each element per frame."""
    matrix = np.zeros((len(frames), len(elements)))
    column = {el: j for j, el in enumerate(elements)}
    for i, frame in enumerate(frames):
        for symbol in frame.atoms.get_chemical_symbols():
            matrix[i, column[symbol]] += 1
    return matrix


def fit_offsets(
    frames: Sequence[LabeledFrame], parent_energies: Sequence[float]
) -> EnergyOffsets:
    """Least-squares per-element offsets of the labels against the parent's energies.

    With a single composition the elements' offsets are not separable; ``lstsq``
    returns the minimum-norm solution, which still reproduces the per-frame shift.
    """
    elements = sorted({s for f in frames for s in f.atoms.get_chemical_symbols()})
    counts = composition_matrix(frames, elements)
    labels = np.array([float(f.energy) for f in frames])  # type: ignore[arg-type]
    residual = labels - np.asarray(parent_energies, dtype=float)
    mu, *_ = np.linalg.lstsq(counts, residual, rcond=None)
    natoms = counts.sum(axis=1)
    after = residual - counts @ mu
    return EnergyOffsets(
        offsets_eV={el: float(m) for el, m in zip(elements, mu, strict=True)},
        rms_before_meV_atom=float(np.sqrt(np.mean((residual / natoms) ** 2)) * 1e3),
        rms_after_meV_atom=float(np.sqrt(np.mean((after / natoms) ** 2)) * 1e3),
    )
