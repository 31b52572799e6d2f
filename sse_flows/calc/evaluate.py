"""Errors of a potential against labelled frames: energy, forces, stress.

Written here rather than taken from a package: each model's own test script (MACE's
``mace_eval_configs``, ``dp test``, SevenNet's inference) runs only its own family and
reads only its own formats. This runs any calculator (in-process or through a worker)
on ASE-readable frames with the same metrics for all.

Labels are read from ASE's calculator results (``energy``, ``forces``, ``stress`` in an
extxyz written by ASE or by our labeling flow) or, failing those, from MACE's names
(``REF_energy``, ``REF_forces``, ``REF_stress``). Stress is Voigt, eV/A^3, ASE sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pymatgen.core import Composition

from sse_flows.constants import GPA
from sse_flows.errors import StructureInputError

LABELS = ("energy", "forces", "stress")
MACE_KEYS = {"energy": "REF_energy", "forces": "REF_forces", "stress": "REF_stress"}


class MissingLabelsError(StructureInputError):
    """Frames lack a label the evaluation was asked to compare."""


@dataclass
class LabeledFrame:
    """One frame and its reference labels (None: not in the file)."""

    atoms: Atoms
    energy: float | None
    forces: np.ndarray | None
    stress: np.ndarray | None


def _label(atoms: Atoms, name: str) -> np.ndarray | float | None:
    results = atoms.calc.results if atoms.calc is not None else {}
    if name in results:
        value = results[name]
    elif MACE_KEYS[name] in atoms.info:
        value = atoms.info[MACE_KEYS[name]]
    elif MACE_KEYS[name] in atoms.arrays:
        value = atoms.arrays[MACE_KEYS[name]]
    else:
        return None
    if name == "energy":
        return float(np.asarray(value).reshape(-1)[0])
    array = np.asarray(value, dtype=float)
    if name == "stress" and array.shape == (3, 3):
        array = array[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return array


def read_labeled_frames(path: str | Path) -> list[LabeledFrame]:
    """Read every frame of an ASE-readable file with its labels."""
    from ase.io import read

    path = Path(path)
    if not path.exists():
        raise StructureInputError(f"Frames file not found: {path}")
    try:
        images = read(str(path), index=":")
    except Exception as exc:  # ASE raises many types on a malformed file
        raise StructureInputError(
            f"Cannot read frames from {path}: {type(exc).__name__}: {exc}. Give an "
            "extxyz (or any ASE-readable file) with energy and forces."
        ) from exc
    frames = []
    for atoms in images if isinstance(images, list) else [images]:
        energy, forces, stress = (_label(atoms, name) for name in LABELS)
        frames.append(
            LabeledFrame(
                atoms=atoms,
                energy=energy if isinstance(energy, float) else None,
                forces=forces if isinstance(forces, np.ndarray) else None,
                stress=stress if isinstance(stress, np.ndarray) else None,
            )
        )
    if not frames:
        raise StructureInputError(f"{path} holds no frames")
    return frames


def shown_indices(indices: list[int]) -> str:
    """Show the first ten indices, and how many there are."""
    text = ", ".join(str(i) for i in indices[:10])
    return text + (f" ... ({len(indices)} frames)" if len(indices) > 10 else "")


def check_labels(
    frames: Sequence[LabeledFrame], labels: Sequence[str], source: str
) -> None:
    """Raise naming the key and the frames where a label asked for is missing."""
    unknown = [name for name in labels if name not in LABELS]
    if unknown:
        raise MissingLabelsError(
            f"Unknown label(s) {', '.join(unknown)}: choose from {', '.join(LABELS)}"
        )
    for name in labels:
        missing = [i for i, f in enumerate(frames) if getattr(f, name) is None]
        if name == "stress":
            missing += [
                i
                for i, f in enumerate(frames)
                if f.stress is not None and not all(f.atoms.pbc)
            ]
        if missing:
            shown = shown_indices(sorted(set(missing)))
            raise MissingLabelsError(
                f"{source}: frames {shown} have no '{name}' label "
                f"(looked for ASE's '{name}' and '{MACE_KEYS[name]}'"
                + ("; stress needs a periodic cell" if name == "stress" else "")
                + f"). Label them, or leave '{name}' out of the labels compared."
            )


def default_labels(frames: Sequence[LabeledFrame]) -> list[str]:
    """Energy and forces; stress too when every frame is periodic and has it."""
    with_stress = all(f.stress is not None and all(f.atoms.pbc) for f in frames)
    return ["energy", "forces", *(["stress"] if with_stress else [])]


@dataclass
class FrameErrors:
    """Per-frame errors (prediction minus label)."""

    formula: str
    natoms: int
    energy_error_eV_atom: float | None
    force_mae_eV_A: float | None
    stress_mae_GPa: float | None
    subset: str | None = None


@dataclass
class Metrics:
    """MAE and RMSE over a set of frames (None: label not compared)."""

    n_frames: int
    energy_mae_meV_atom: float | None
    energy_rmse_meV_atom: float | None
    force_mae_meV_A: float | None
    force_rmse_meV_A: float | None
    stress_mae_GPa: float | None
    stress_rmse_GPa: float | None = None


@dataclass
class EvaluationResult(Metrics):
    """Metrics over all frames, the per-frame errors, and the path that predicted."""

    labels: list[str] = field(default_factory=list)
    frames: list[FrameErrors] = field(default_factory=list)
    #: (label, prediction) arrays for parity plots: energy per atom (eV), force
    #: components (eV/A), Voigt stress (GPa)
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: 'one-by-one', 'batched:<family>' or 'worker:<path>' (a model elsewhere)
    path: str = "one-by-one"
    #: per frame: label -> (label values, predicted values), as in ``pairs``; every
    #: metric is computed from these
    frame_pairs: list[dict[str, tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=list, repr=False
    )

    def metrics_of(self, indices: Sequence[int]) -> Metrics:
        """Return the metrics over the frames ``indices`` (a subset, a composition)."""
        return _metrics([self.frame_pairs[i] for i in indices])

    def groups(self, key: str) -> dict[str, Metrics]:
        """Return metrics per value of a frame attribute ('subset' or 'formula')."""
        members: dict[str, list[int]] = {}
        for i, frame in enumerate(self.frames):
            value = getattr(frame, key)
            if value is not None:
                members.setdefault(str(value), []).append(i)
        return {name: self.metrics_of(indices) for name, indices in members.items()}


def _metrics(frame_pairs: Sequence[dict[str, tuple[np.ndarray, np.ndarray]]]) -> Metrics:
    """MAE and RMSE over frames from their (label, prediction) pairs."""

    def errors(name: str) -> np.ndarray:
        found = [b - a for a, b in (pair[name] for pair in frame_pairs if name in pair)]
        return np.concatenate(found) if found else np.array([])

    energies, f, s = errors("energy"), errors("forces"), errors("stress")
    return Metrics(
        n_frames=len(frame_pairs),
        energy_mae_meV_atom=_mae(energies, 1e3),
        energy_rmse_meV_atom=_rmse(energies, 1e3),
        force_mae_meV_A=_mae(f, 1e3),
        force_rmse_meV_A=_rmse(f, 1e3),
        stress_mae_GPa=_mae(s, 1.0),
        stress_rmse_GPa=_rmse(s, 1.0),
    )


#: atoms.info keys that name a frame's subset, looked for in this order
SUBSET_KEYS = ("subset", "config_type")


def frame_subsets(
    frames: Sequence[LabeledFrame], key: str | None = None, equilibrium_force: float = 0.15
) -> tuple[list[str | None], str]:
    """Name each frame's subset, and say by which rule.

    ``key``: an ``atoms.info`` key every frame has (a user's own split). Otherwise a
    key of :data:`SUBSET_KEYS` that every frame has; otherwise near-equilibrium
    against heated frames by the labels' RMS force: ``near_equilibrium`` at or below
    ``equilibrium_force`` eV/A (relaxed or slightly displaced cells), ``heated``
    above (MD frames at 300 K and up have RMS forces of several tenths of an eV/A).
    """
    keys = [key] if key else list(SUBSET_KEYS)
    for name in keys:
        if all(name in f.atoms.info for f in frames):
            return [str(f.atoms.info[name]) for f in frames], f"atoms.info['{name}']"
    if key:
        lacking = [i for i, f in enumerate(frames) if key not in f.atoms.info]
        raise MissingLabelsError(
            f"frames {shown_indices(lacking)} have no atoms.info['{key}'] to split the "
            "errors by; give every frame that key, or leave the subset key out"
        )
    subsets: list[str | None] = []
    for frame in frames:
        if frame.forces is None:
            subsets.append(None)
            continue
        rms = float(np.sqrt((np.asarray(frame.forces) ** 2).sum(axis=1).mean()))
        subsets.append("near_equilibrium" if rms <= equilibrium_force else "heated")
    return subsets, f"RMS label force <= {equilibrium_force} eV/A: near_equilibrium"


def evaluate_frames(
    frames: Sequence[LabeledFrame],
    calculator: Calculator,
    labels: Sequence[str],
    batch_size: int | None = None,
    subsets: Sequence[str | None] | None = None,
) -> EvaluationResult:
    """Predict every frame with ``calculator`` and compare with its labels.

    Frames go through the family's batched predictor when it has one
    (:func:`~sse_flows.potentials.batch.batch_predictor`), else one by one; the
    result's ``path`` says which. ``subsets`` names each frame's subset.
    """
    from sse_flows.potentials.registry import batch_predictor

    predictor = batch_predictor(calculator, batch_size)
    want_stress = "stress" in labels
    predictions = predictor.predict([f.atoms for f in frames], stress=want_stress)
    per_frame = []
    frame_pairs: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
    for index, (frame, predicted) in enumerate(zip(frames, predictions, strict=True)):
        n = len(frame.atoms)
        e_err = f_diff = s_diff = None
        pair: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if "energy" in labels and frame.energy is not None:
            e_err = (predicted.energy - frame.energy) / n
            pair["energy"] = (
                np.array([frame.energy / n]),
                np.array([predicted.energy / n]),
            )
        if "forces" in labels and frame.forces is not None:
            f_diff = (predicted.forces - frame.forces).reshape(-1)
            pair["forces"] = (
                np.asarray(frame.forces).reshape(-1),
                predicted.forces.reshape(-1),
            )
        if want_stress and frame.stress is not None:
            if predicted.stress is None:
                raise MissingLabelsError(
                    f"{type(calculator).__name__} gives no stress for frame {index}: "
                    "leave 'stress' out of the labels compared"
                )
            s_diff = (predicted.stress - frame.stress) / GPA
            pair["stress"] = (frame.stress / GPA, predicted.stress / GPA)
        frame_pairs.append(pair)
        per_frame.append(
            FrameErrors(
                formula=Composition(frame.atoms.get_chemical_formula()).reduced_formula,
                natoms=n,
                energy_error_eV_atom=e_err,
                force_mae_eV_A=None if f_diff is None else float(np.abs(f_diff).mean()),
                stress_mae_GPa=None if s_diff is None else float(np.abs(s_diff).mean()),
                subset=None if subsets is None else subsets[index],
            )
        )
    overall = _metrics(frame_pairs)
    return EvaluationResult(
        **vars(overall),
        labels=list(labels),
        frames=per_frame,
        pairs=_joined(frame_pairs),
        path=predictor.path,
        frame_pairs=frame_pairs,
    )


def _joined(
    frame_pairs: Sequence[dict[str, tuple[np.ndarray, np.ndarray]]],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Join per-frame (label, prediction) arrays per quantity."""
    joined = {}
    for name in LABELS:
        found = [pair[name] for pair in frame_pairs if name in pair]
        if found:
            joined[name] = (
                np.concatenate([a for a, _ in found]),
                np.concatenate([b for _, b in found]),
            )
    return joined


def pairs_by_group(
    result: EvaluationResult, quantity: str, groups: Sequence[str | None]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(label, prediction) arrays of one quantity per group name (None: 'all')."""
    members: dict[str, list[dict[str, tuple[np.ndarray, np.ndarray]]]] = {}
    for pair, group in zip(result.frame_pairs, groups, strict=True):
        if quantity in pair:
            members.setdefault(group or "all", []).append(pair)
    return {name: _joined(pairs)[quantity] for name, pairs in members.items()}


def _mae(errors: np.ndarray, scale: float) -> float | None:
    return float(np.abs(errors).mean() * scale) if errors.size else None


def _rmse(errors: np.ndarray, scale: float) -> float | None:
    return float(np.sqrt((errors**2).mean()) * scale) if errors.size else None
