"""Training data: labelled frames read, checked, split by structure and written out.

A split is by *group*: frames of one MD trajectory (or one strained structure) share
a group (``info['group']`` in the extxyz, which the training set flow writes), so no
trajectory feeds two splits and the validation error is not flattered by near-copies
of training frames. Frames without a group are each their own group.

Each split is written as an extxyz with the labels under ASE's names and MACE's
``REF_*`` names, so every family's trainer reads the same files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from sse_flows.calc.evaluate import (
    LabeledFrame,
    MissingLabelsError,
    check_labels,
    read_labeled_frames,
    shown_indices,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.provenance import sha256_of

SPLITS = ("train", "valid", "test")
GROUP_KEYS = ("group", "structure_id", "trajectory")


class TrainingDataError(SSEFlowsError):
    """Training frames are unusable: missing or non-finite labels, an empty split."""


def group_of(frame: LabeledFrame, index: int) -> str:
    """Return the structure (trajectory) a frame belongs to; its own index when unnamed."""
    for key in GROUP_KEYS:
        if key in frame.atoms.info:
            return str(frame.atoms.info[key])
    return f"frame-{index}"


def read_training_frames(path: str | Path) -> list[LabeledFrame]:
    """Read frames and refuse any without energy and forces or with non-finite labels."""
    path = Path(path).expanduser().resolve()
    frames = read_labeled_frames(path)
    try:
        check_labels(frames, ["energy", "forces"], str(path))
    except MissingLabelsError as exc:
        raise TrainingDataError(f"{exc} Training needs energy and forces.") from exc
    bad: dict[str, list[int]] = defaultdict(list)
    for i, frame in enumerate(frames):
        for name in ("energy", "forces", "stress"):
            value = getattr(frame, name)
            if value is not None and not np.all(np.isfinite(value)):
                bad[name].append(i)
    if bad:
        detail = "; ".join(
            f"{name} in frames {shown_indices(ix)}" for name, ix in bad.items()
        )
        raise TrainingDataError(
            f"{path}: non-finite labels ({detail}). Drop or relabel those frames "
            "(a failed DFT step leaves NaN); nothing was trained."
        )
    return frames


@dataclass
class Splits:
    """Frames per split, and the groups each split holds."""

    frames: dict[str, list[LabeledFrame]]
    groups: dict[str, list[str]]
    files: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Frames per split."""
        return {name: len(frames) for name, frames in self.frames.items()}

    @property
    def has_stress(self) -> bool:
        """Whether every frame has a stress label (periodic cells)."""
        return all(
            f.stress is not None and all(f.atoms.pbc)
            for frames in self.frames.values()
            for f in frames
        )

    def elements(self) -> list[str]:
        """Elements in any split, sorted by atomic number."""
        numbers = {
            int(z) for fs in self.frames.values() for f in fs for z in f.atoms.numbers
        }
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in sorted(numbers)]


def split_by_group(
    frames: Sequence[LabeledFrame],
    valid_fraction: float,
    test_fraction: float,
    seed: int,
) -> Splits:
    """Shuffle the groups and deal them to test, valid, then train, by frame count."""
    by_group: dict[str, list[LabeledFrame]] = defaultdict(list)
    for i, frame in enumerate(frames):
        by_group[group_of(frame, i)].append(frame)
    names = sorted(by_group)
    order = np.random.default_rng(seed).permutation(len(names))
    wanted = {"test": test_fraction, "valid": valid_fraction}
    needed = ["valid"] + (["test"] if test_fraction > 0 else [])
    if len(names) < len(needed) + 1:
        raise TrainingDataError(
            f"{len(frames)} frames in {len(names)} structure group(s): a split by "
            f"structure needs at least {len(needed) + 1} (train, "
            f"{', '.join(needed)}). Add structures, or set test_fraction to 0."
        )
    split_frames: dict[str, list[LabeledFrame]] = {s: [] for s in SPLITS}
    split_groups: dict[str, list[str]] = {s: [] for s in SPLITS}
    queue = [names[i] for i in order]
    for split in ("test", "valid"):
        target = math.ceil(wanted[split] * len(frames)) if wanted[split] > 0 else 0
        while queue and len(split_frames[split]) < target and len(queue) > 1:
            group = queue.pop(0)
            split_frames[split] += by_group[group]
            split_groups[split].append(group)
    for group in queue:
        split_frames["train"] += by_group[group]
        split_groups["train"].append(group)
    empty = [s for s in ["train", *needed] if not split_frames[s]]
    if empty:
        raise TrainingDataError(
            f"The {', '.join(empty)} split(s) came out empty ({len(frames)} frames in "
            f"{len(names)} groups, valid_fraction {valid_fraction}, test_fraction "
            f"{test_fraction}). Give more structures or larger fractions."
        )
    return Splits(frames=split_frames, groups=split_groups)


def held_out_splits(
    train_frames: Sequence[LabeledFrame], held_out: Mapping[str, str | Path]
) -> Splits:
    """Return splits whose valid (and test) frames are given as files, not drawn.

    For models that must be compared on the same held-out frames although trained on
    different data (a dataset-size study, the steps of a fine-tuning ramp): all of
    ``train_frames`` train, ``held_out['valid']`` (and ``held_out['test']``) are read
    as they are. A structure group in both training and held-out frames is refused.
    """
    unknown = sorted(set(held_out) - {"valid", "test"})
    if unknown or "valid" not in held_out:
        raise TrainingDataError(
            f"held_out takes the files of 'valid' (required) and 'test' (optional), "
            f"not {sorted(held_out)}."
        )
    frames: dict[str, list[LabeledFrame]] = {"train": list(train_frames)}
    for split in ("valid", "test"):
        frames[split] = read_training_frames(held_out[split]) if split in held_out else []
    groups = {
        split: sorted({_held_out_group(split, f, i) for i, f in enumerate(fs)})
        for split, fs in frames.items()
    }
    shared = set(groups["train"]) & (set(groups["valid"]) | set(groups["test"]))
    if shared:
        raise TrainingDataError(
            f"Structure group(s) {', '.join(sorted(shared)[:5])} are in the training "
            "frames and in the held-out files: a held-out error would be flattered. "
            "Keep every group in one split."
        )
    if not frames["train"] or not frames["valid"]:
        raise TrainingDataError("held-out splits need training and validation frames.")
    return Splits(frames=frames, groups=groups)


def _held_out_group(split: str, frame: LabeledFrame, index: int) -> str:
    """Return the frame's group; an unnamed frame is its own, named after its split."""
    if any(key in frame.atoms.info for key in GROUP_KEYS):
        return group_of(frame, index)
    return f"{split}-frame-{index}"


def labeled_atoms(frame: LabeledFrame) -> Atoms:
    """Return the frame's atoms with its labels under ASE's and MACE's names."""
    atoms = frame.atoms.copy()
    atoms.info = {k: v for k, v in frame.atoms.info.items() if not k.startswith("REF_")}
    for key in ("REF_forces",):
        if key in atoms.arrays:
            del atoms.arrays[key]
    results: dict[str, object] = {"energy": frame.energy, "forces": frame.forces}
    atoms.info["REF_energy"] = frame.energy
    atoms.arrays["REF_forces"] = np.asarray(frame.forces)
    if frame.stress is not None:
        results["stress"] = frame.stress
        atoms.info["REF_stress"] = np.asarray(frame.stress)
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def write_frames(frames: Sequence[LabeledFrame], path: Path) -> Path:
    """Write labelled frames as extxyz (ASE and REF_* names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write(str(path), [labeled_atoms(f) for f in frames], format="extxyz")
    return path


def write_splits(splits: Splits, folder: Path) -> Splits:
    """Write each non-empty split to ``folder/<split>.extxyz`` and hash it."""
    for name, frames in splits.frames.items():
        if frames:
            path = write_frames(frames, folder / f"{name}.extxyz")
            splits.files[name] = path
            splits.sha256[name] = sha256_of(path)
    return splits


def label_statistics(frames: Sequence[LabeledFrame]) -> dict[str, float]:
    """Ranges and spreads of the labels: what a dataset document reports."""
    energies = np.array([f.energy / len(f.atoms) for f in frames if f.energy is not None])
    forces = np.concatenate([np.asarray(f.forces).reshape(-1) for f in frames])
    stats = {
        "energy_per_atom_min_eV": float(energies.min()),
        "energy_per_atom_max_eV": float(energies.max()),
        "energy_per_atom_std_eV": float(energies.std()),
        "force_rms_eV_A": float(np.sqrt((forces**2).mean())),
        "force_max_abs_eV_A": float(np.abs(forces).max()),
    }
    stresses = [f.stress for f in frames if f.stress is not None]
    if stresses:
        stats["stress_max_abs_eV_A3"] = float(np.abs(np.array(stresses)).max())
    return stats


def append_to_splits(
    data: dict[str, str],
    frames: Sequence[LabeledFrame],
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    data_dir: Path,
) -> dict[str, str]:
    """Deal new frames to train/valid/test by group; return each split's grown file.

    ``data`` maps a split to its file so far (the files are not changed: each grown
    split is written anew under ``data_dir``). Splits only grow, so no model is
    measured on frames an earlier model trained on. Raises
    :class:`TrainingDataError` when the new frames cannot be dealt (too few groups).
    """
    splits = split_by_group(frames, valid_fraction, test_fraction, seed)
    grown = dict(data)
    for split, new in splits.frames.items():
        if not new and split not in data:
            continue
        target = data_dir / f"{split}.extxyz"
        earlier = Path(data[split]).read_bytes() if split in data else b""
        added = write_frames(new, data_dir / f"new_{split}.extxyz") if new else None
        target.write_bytes(earlier + (added.read_bytes() if added else b""))
        grown[split] = str(target)
    return grown
