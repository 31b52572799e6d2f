"""Trajectory input for the analysis: our HDF5 files or anything ASE reads.

Every analysis works on :class:`MDData`: unwrapped positions, cells, atomic numbers
and times. Wrapped input (most extxyz/XDATCAR files) is unwrapped here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from ase.data import atomic_masses, chemical_symbols

from sse_flows.errors import SSEFlowsError


class TrajectoryInputError(SSEFlowsError):
    """A trajectory cannot be analysed as given."""


@dataclass
class MDData:
    """Positions over time, ready for transport analysis."""

    positions: np.ndarray  # (frames, atoms, 3), angstrom, unwrapped
    cells: np.ndarray  # (frames, 3, 3), angstrom
    numbers: np.ndarray  # (atoms,)
    time_fs: np.ndarray  # (frames,), fs from the first frame
    temperature: float | None = None  # K, target of the run if known
    source: str = ""

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.positions.shape[0])

    @property
    def dt_fs(self) -> float:
        """Time between frames in fs."""
        return float(self.time_fs[1] - self.time_fs[0]) if self.n_frames > 1 else 0.0

    @property
    def symbols(self) -> list[str]:
        """Element symbol per atom."""
        return [chemical_symbols[z] for z in self.numbers]

    def mask(self, species: tuple[str, ...] | list[str]) -> np.ndarray:
        """Boolean mask of the atoms of the given elements."""
        unknown = set(species) - set(self.symbols)
        if unknown:
            raise TrajectoryInputError(
                f"species {sorted(unknown)} not in the trajectory "
                f"(it holds {sorted(set(self.symbols))})"
            )
        return np.isin(np.array(self.symbols), list(species))

    def volume(self) -> float:
        """Mean cell volume in A^3."""
        return float(np.abs(np.linalg.det(self.cells)).mean())

    def strided(self, stride: int) -> MDData:
        """Every ``stride``-th frame."""
        if stride <= 1:
            return self
        return replace(
            self,
            positions=self.positions[::stride],
            cells=self.cells[::stride],
            time_fs=self.time_fs[::stride] - self.time_fs[0],
        )


def unwrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Unwrap positions that jump across periodic boundaries between frames.

    Assumes no atom moves more than half a box length between frames; with
    fractional coordinates, each jump larger than 0.5 is undone.
    """
    inverse = np.linalg.inv(cells)
    frac = np.einsum("fni,fij->fnj", positions, inverse)
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    unwrapped = np.concatenate([frac[:1], frac[:1] + np.cumsum(step, axis=0)], axis=0)
    return np.einsum("fnj,fjk->fnk", unwrapped, cells)


def framework_drift(data: MDData, mobile: np.ndarray) -> np.ndarray:
    """Displacement (frames, 3) of the framework's centre of mass since frame 0.

    Thermostats and numerical noise let the whole cell drift; the framework
    (non-mobile atoms) should stand still, so this is subtracted from the ions.
    """
    framework = ~mobile
    if not framework.any():
        return np.zeros((data.n_frames, 3))
    masses = atomic_masses[data.numbers[framework]]
    com = np.einsum("fni,n->fi", data.positions[:, framework], masses) / masses.sum()
    return com - com[0]


def remove_drift(data: MDData, mobile: np.ndarray) -> MDData:
    """Return the data with the framework's centre-of-mass drift removed from every atom."""
    shift = framework_drift(data, mobile)
    return replace(data, positions=data.positions - shift[:, None, :])


def load_md(
    path: str | Path,
    timestep_fs: float | None = None,
    stride: int | None = None,
    temperature: float | None = None,
) -> MDData:
    """Read a trajectory for analysis.

    sse-flows HDF5 files carry their time step and sampling; for other formats
    ``timestep_fs`` (the MD time step) and ``stride`` (MD steps between stored
    frames) must be given unless the file holds them (ASE .traj / extxyz ``info``
    keys ``timestep_fs`` and ``sample_interval``).
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryInputError(f"trajectory not found: {path}")
    if path.suffix in (".h5", ".hdf5"):
        from sse_flows.md.trajectory import read_trajectory

        traj = read_trajectory(path)
        attrs = traj.attrs
        return MDData(
            positions=traj.positions.astype(np.float64),
            cells=traj.cells,
            numbers=traj.numbers,
            time_fs=traj.time_fs - traj.time_fs[0],
            temperature=temperature
            if temperature is not None
            else attrs.get("temperature"),
            source=str(path),
        )
    from ase.io import read

    try:
        frames = read(str(path), index=":")
    except Exception as exc:
        raise TrajectoryInputError(f"ASE cannot read {path}: {exc}") from exc
    if not isinstance(frames, list) or len(frames) < 2:
        raise TrajectoryInputError(f"{path} holds fewer than two frames")
    info = frames[0].info
    dt = timestep_fs if timestep_fs is not None else info.get("timestep_fs")
    every = stride if stride is not None else info.get("sample_interval")
    if dt is None or every is None:
        raise TrajectoryInputError(
            f"{path} does not record its time step: pass --timestep-fs (MD time step) "
            "and --stride (MD steps between stored frames)."
        )
    positions = np.array([f.get_positions() for f in frames])
    cells = np.array([f.cell.array for f in frames])
    positions = unwrap(positions, cells)  # a no-op on unwrapped input
    return MDData(
        positions=positions,
        cells=cells,
        numbers=frames[0].numbers.copy(),
        time_fs=np.arange(len(frames)) * float(dt) * int(every),
        temperature=temperature,
        source=str(path),
    )
