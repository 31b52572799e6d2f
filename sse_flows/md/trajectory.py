"""Compact, appendable MD trajectory files (HDF5, float32 + gzip + shuffle).

ASE's .traj stores float64 per frame and extxyz is text; measured here, HDF5 float32
with gzip and shuffle was ~11 kB/frame for 1,200 atoms against ~29 kB for .traj
positions alone. The file is resizable, so a resumed run truncates it to the frames
of its checkpoint and appends, and readers get exactly the uninterrupted frames.
Positions are unwrapped (ASE integrators never wrap them), as diffusion analysis needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from ase import Atoms

FORMAT = "sse-flows-md-h5/1"
_CHUNK = 64


@dataclass
class TrajectoryData:
    """Frames read back from a trajectory file."""

    numbers: np.ndarray
    pbc: np.ndarray
    positions: np.ndarray  # (frames, atoms, 3), unwrapped, angstrom
    cells: np.ndarray  # (frames, 3, 3)
    steps: np.ndarray
    time_fs: np.ndarray
    potential_energy: np.ndarray  # eV
    kinetic_energy: np.ndarray  # eV
    temperature: np.ndarray  # K
    stress: np.ndarray | None  # (frames, 6) eV/A^3, ASE sign
    velocities: np.ndarray | None
    attrs: dict[str, Any]
    forces: np.ndarray | None = None  # (frames, atoms, 3) eV/A, the driving model's

    def __len__(self) -> int:
        return len(self.steps)

    def atoms(self, index: int) -> Atoms:
        """Return frame ``index`` as ASE Atoms."""
        return Atoms(
            numbers=self.numbers,
            positions=self.positions[index],
            cell=self.cells[index],
            pbc=self.pbc,
        )


class TrajectoryWriter:
    """Collect frames in memory and append them to the HDF5 file at each flush.

    The file is open only while a flush writes to it, so a job killed between
    checkpoints leaves a closed, consistent file; a restart truncates it to the frames
    its checkpoint counted and goes on appending.
    """

    def __init__(
        self,
        path: str | Path,
        atoms: Atoms,
        attrs: dict[str, Any],
        store_velocities: bool = False,
        keep_frames: int | None = None,
        store_forces: bool = False,
    ) -> None:
        """Create the file, or reopen it keeping its first ``keep_frames`` frames."""
        self.path = Path(path)
        self.store_velocities = store_velocities
        self.store_forces = store_forces
        self._buffer: list[dict[str, Any]] = []
        if keep_frames is None:
            self._create(atoms, attrs)
            self.n_written = 0
        elif not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} is missing but the checkpoint beside it counts {keep_frames} "
                "frames; delete the checkpoint to start the run again."
            )
        else:
            with h5py.File(self.path, "a") as handle:
                for dataset in _series(handle):
                    if dataset.shape[0] < keep_frames:
                        raise ValueError(
                            f"{self.path} holds {dataset.shape[0]} frames, the checkpoint "
                            f"expects {keep_frames}: the trajectory file was changed."
                        )
                    dataset.resize(keep_frames, axis=0)
            self.n_written = int(keep_frames)

    def _create(self, atoms: Atoms, attrs: dict[str, Any]) -> None:
        n = len(atoms)
        with h5py.File(self.path, "w") as handle:
            handle.attrs["format"] = FORMAT
            for key, value in attrs.items():
                handle.attrs[key] = value
            handle.create_dataset("numbers", data=atoms.numbers)
            handle.create_dataset("pbc", data=atoms.pbc)
            _make(handle, "positions", (n, 3), np.float32, compress=True)
            _make(handle, "cells", (3, 3), np.float64)
            _make(handle, "steps", (), np.int64)
            _make(handle, "time_fs", (), np.float64)
            for key in ("potential_energy", "kinetic_energy", "temperature"):
                _make(handle, key, (), np.float64)
            _make(handle, "stress", (6,), np.float64)
            if self.store_velocities:
                _make(handle, "velocities", (n, 3), np.float32, compress=True)
            if self.store_forces:
                _make(handle, "forces", (n, 3), np.float32, compress=True)

    @property
    def n_frames(self) -> int:
        """Frames written plus frames waiting in the buffer."""
        return self.n_written + len(self._buffer)

    def append(
        self, atoms: Atoms, step: int, time_fs: float, stress: np.ndarray | None
    ) -> None:
        """Buffer one frame (the calculator's cached results are reused)."""
        frame: dict[str, Any] = {
            "positions": atoms.positions.astype(np.float32),
            "cells": atoms.cell.array.copy(),
            "steps": step,
            "time_fs": time_fs,
            "potential_energy": atoms.get_potential_energy(),
            "kinetic_energy": atoms.get_kinetic_energy(),
            "temperature": atoms.get_temperature(),
            "stress": stress if stress is not None else np.full(6, np.nan),
        }
        if self.store_velocities:
            frame["velocities"] = atoms.get_velocities().astype(np.float32)
        if self.store_forces:
            frame["forces"] = atoms.get_forces().astype(np.float32)
        self._buffer.append(frame)

    def flush(self) -> None:
        """Append the buffered frames to the file and close it."""
        if not self._buffer:
            return
        start, count = self.n_written, len(self._buffer)
        with h5py.File(self.path, "a") as handle:
            for key in self._buffer[0]:
                dataset = handle[key]
                dataset.resize(start + count, axis=0)
                dataset[start : start + count] = np.stack([f[key] for f in self._buffer])
        self.n_written += count
        self._buffer.clear()


def _make(
    handle: h5py.File, name: str, shape: tuple[int, ...], dtype: Any, compress: bool = False
) -> None:
    kwargs: dict[str, Any] = {"compression": "gzip", "shuffle": True} if compress else {}
    handle.create_dataset(
        name,
        shape=(0, *shape),
        maxshape=(None, *shape),
        chunks=(_CHUNK, *shape) if shape else (1024,),
        dtype=dtype,
        **kwargs,
    )


def _series(handle: h5py.File) -> list[h5py.Dataset]:
    return [d for k, d in handle.items() if k not in ("numbers", "pbc")]


SCALAR_SERIES = (
    "time_fs",
    "potential_energy",
    "kinetic_energy",
    "temperature",
    "cells",
    "stress",
)


def read_series(path: str | Path) -> dict[str, np.ndarray]:
    """Read the per-frame thermodynamic series only (no positions): cheap for big files."""
    with h5py.File(path, "r") as handle:
        return {key: handle[key][()] for key in SCALAR_SERIES}


def read_trajectory(path: str | Path) -> TrajectoryData:
    """Read a whole trajectory written by :class:`TrajectoryWriter`."""
    with h5py.File(path, "r") as handle:
        if handle.attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not an sse-flows MD trajectory")
        stress = handle["stress"][()]
        return TrajectoryData(
            numbers=handle["numbers"][()],
            pbc=handle["pbc"][()],
            positions=handle["positions"][()],
            cells=handle["cells"][()],
            steps=handle["steps"][()],
            time_fs=handle["time_fs"][()],
            potential_energy=handle["potential_energy"][()],
            kinetic_energy=handle["kinetic_energy"][()],
            temperature=handle["temperature"][()],
            stress=None if np.isnan(stress).all() else stress,
            velocities=handle["velocities"][()] if "velocities" in handle else None,
            forces=handle["forces"][()] if "forces" in handle else None,
            attrs=dict(handle.attrs),
        )
