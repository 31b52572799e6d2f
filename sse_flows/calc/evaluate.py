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


@dataclass
class EvaluationResult:
    """Metrics over all frames, and the per-frame errors they come from."""

    n_frames: int
    labels: list[str]
    energy_mae_meV_atom: float | None
    energy_rmse_meV_atom: float | None
    force_mae_meV_A: float | None
    force_rmse_meV_A: float | None
    stress_mae_GPa: float | None
    stress_rmse_GPa: float | None = None
    frames: list[FrameErrors] = field(default_factory=list)
    #: (label, prediction) arrays for parity plots: energy per atom (eV), force
    #: components (eV/A), Voigt stress (GPa)
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def evaluate_frames(
    frames: Sequence[LabeledFrame], calculator: Calculator, labels: Sequence[str]
) -> EvaluationResult:
    """Predict every frame with ``calculator`` and compare with its labels."""
    energy_errors: list[float] = []
    force_errors: list[np.ndarray] = []
    stress_errors: list[np.ndarray] = []
    per_frame = []
    pairs: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        name: ([], []) for name in LABELS
    }
    for frame in frames:
        atoms = frame.atoms.copy()
        atoms.calc = calculator
        n = len(atoms)
        e_err = f_mae = s_mae = None
        if "energy" in labels and frame.energy is not None:
            predicted = float(atoms.get_potential_energy())
            e_err = (predicted - frame.energy) / n
            energy_errors.append(e_err)
            pairs["energy"][0].append(np.array([frame.energy / n]))
            pairs["energy"][1].append(np.array([predicted / n]))
        if "forces" in labels and frame.forces is not None:
            predicted_forces = np.asarray(atoms.get_forces(), dtype=float)
            diff = predicted_forces - frame.forces
            force_errors.append(diff.reshape(-1))
            pairs["forces"][0].append(np.asarray(frame.forces).reshape(-1))
            pairs["forces"][1].append(predicted_forces.reshape(-1))
            f_mae = float(np.abs(diff).mean())
        if "stress" in labels and frame.stress is not None:
            stress = np.asarray(atoms.get_stress(voigt=True), dtype=float)
            diff = (stress - frame.stress) / GPA
            stress_errors.append(diff)
            pairs["stress"][0].append(frame.stress / GPA)
            pairs["stress"][1].append(stress / GPA)
            s_mae = float(np.abs(diff).mean())
        per_frame.append(
            FrameErrors(
                formula=Composition(atoms.get_chemical_formula()).reduced_formula,
                natoms=n,
                energy_error_eV_atom=e_err,
                force_mae_eV_A=f_mae,
                stress_mae_GPa=s_mae,
            )
        )
    energies = np.array(energy_errors)
    forces = np.concatenate(force_errors) if force_errors else np.array([])
    stresses = np.concatenate(stress_errors) if stress_errors else np.array([])
    return EvaluationResult(
        n_frames=len(frames),
        labels=list(labels),
        energy_mae_meV_atom=_mae(energies, 1e3),
        energy_rmse_meV_atom=_rmse(energies, 1e3),
        force_mae_meV_A=_mae(forces, 1e3),
        force_rmse_meV_A=_rmse(forces, 1e3),
        stress_mae_GPa=_mae(stresses, 1.0),
        stress_rmse_GPa=_rmse(stresses, 1.0),
        frames=per_frame,
        pairs={
            name: (np.concatenate(label), np.concatenate(predicted))
            for name, (label, predicted) in pairs.items()
            if label
        },
    )


def _mae(errors: np.ndarray, scale: float) -> float | None:
    return float(np.abs(errors).mean() * scale) if errors.size else None


def _rmse(errors: np.ndarray, scale: float) -> float | None:
    return float(np.sqrt((errors**2).mean()) * scale) if errors.size else None
