"""Trajectory input for the analysis: our HDF5 files or anything ASE reads.

Every analysis works on :class:`MDData`: unwrapped positions, cells, atomic numbers
and times. Wrapped input (most extxyz/XDATCAR files) is unwrapped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase.data import atomic_masses, chemical_symbols

from sse_flows.errors import SSEFlowsError

if TYPE_CHECKING:
    from sse_flows.md.trajectory import TrajectoryData


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
    path: str | Path | Sequence[str | Path],
    timestep_fs: float | None = None,
    stride: int | None = None,
    temperature: float | None = None,
) -> MDData:
    """Read a trajectory for analysis.

    sse-flows HDF5 files carry their time step and sampling; for other formats
    ``timestep_fs`` (the MD time step) and ``stride`` (MD steps between stored
    frames) must be given unless the file holds them (ASE .traj / extxyz ``info``
    keys ``timestep_fs`` and ``sample_interval``). A list of files is read as the
    segments of one continued run (:func:`load_md_segments`).
    """
    if not isinstance(path, str | Path):
        paths = list(path)
        if len(paths) != 1:
            return load_md_segments(paths, temperature=temperature)
        path = paths[0]
    path = Path(path)
    if not path.is_file():
        raise TrajectoryInputError(f"trajectory not found: {path}")
    if path.suffix in (".h5", ".hdf5"):
        traj = _read_h5(path)
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


def _read_h5(path: Path) -> TrajectoryData:
    """Read an sse-flows HDF5 trajectory; a damaged or foreign file is an input error."""
    from sse_flows.md.trajectory import read_trajectory

    try:
        return read_trajectory(path)
    except (OSError, ValueError, KeyError) as exc:
        raise TrajectoryInputError(
            f"{path} is not a readable sse-flows HDF5 trajectory ({exc}); give the "
            "trajectory.h5 an MD job wrote, or another format ASE reads"
        ) from exc


#: trajectory attributes that every segment of one run must share
_SHARED_ATTRS = ("timestep_fs", "sample_interval", "temperature", "ensemble", "thermostat")


def load_md_segments(
    paths: Sequence[str | Path], temperature: float | None = None
) -> MDData:
    """Read the segment files of one continued MD run as one trajectory.

    Segments are sse-flows HDF5 files in running order, each continuing the one
    before (``MDMaker(...).make(..., continue_from=...)``): their frame times go on
    from one file to the next. Files of other atoms, time step, sampling or
    temperature, or whose times do not continue, are refused rather than joined.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise TrajectoryInputError("no trajectory file given")
    parts = []
    for path in files:
        if not path.is_file():
            raise TrajectoryInputError(f"trajectory not found: {path}")
        if path.suffix not in (".h5", ".hdf5"):
            raise TrajectoryInputError(
                f"{path}: only sse-flows HDF5 trajectories can be joined as segments "
                "(their frame times say where each segment starts)"
            )
        parts.append(_read_h5(path))
    first, first_path = parts[0], files[0]
    for path, part, previous, before in zip(
        files[1:], parts[1:], parts[:-1], files[:-1], strict=True
    ):
        _check_segment(path, part, previous, before, first, first_path)
    times = np.concatenate([p.time_fs for p in parts])
    if len(times) == 0:
        raise TrajectoryInputError(
            f"the segments {', '.join(map(str, files))} hold no frame"
        )
    return MDData(
        positions=np.concatenate([p.positions for p in parts]).astype(np.float64),
        cells=np.concatenate([p.cells for p in parts]),
        numbers=first.numbers,
        time_fs=times - times[0],
        temperature=temperature
        if temperature is not None
        else first.attrs.get("temperature"),
        source=", ".join(str(p) for p in files),
    )


def _check_segment(
    path: Path,
    part: TrajectoryData,
    previous: TrajectoryData,
    previous_path: Path,
    first: TrajectoryData,
    first_path: Path,
) -> None:
    """Refuse a segment that does not continue the one before it."""
    if len(part) == 0 or len(previous) == 0:
        empty = path if len(part) == 0 else previous_path
        raise TrajectoryInputError(f"segment {empty} holds no frame: nothing to join")
    if not np.array_equal(part.numbers, first.numbers):
        raise TrajectoryInputError(
            f"{path} holds other atoms than {first_path}: segments of one run only"
        )
    for key in _SHARED_ATTRS:
        mine, theirs = part.attrs.get(key), first.attrs.get(key)
        if mine != theirs:
            raise TrajectoryInputError(
                f"{path} has {key} = {mine}, {first_path} {theirs}: segments of one "
                "run share the time step, sampling and temperature"
            )
    frame_fs = float(first.attrs["sample_interval"]) * float(first.attrs["timestep_fs"])
    gap = float(part.time_fs[0] - previous.time_fs[-1])
    if abs(gap - frame_fs) > 1e-6 * frame_fs:
        raise TrajectoryInputError(
            f"{path} starts at {part.time_fs[0]:g} fs but {previous_path} ends at "
            f"{previous.time_fs[-1]:g} fs (frames every {frame_fs:g} fs): it does not "
            "continue it. Give the segments of one run, in running order."
        )
    source = str(part.attrs.get("continued_from", ""))
    if source and Path(source).name != previous_path.resolve().parent.name:
        raise TrajectoryInputError(
            f"{path} continues {source}, not {previous_path.parent}: give the segments "
            "of one run, in running order."
        )
