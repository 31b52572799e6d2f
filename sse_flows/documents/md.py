"""Documents of MD runs: settings, statistics, and a reference to the trajectory file."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.constants import GPA
from sse_flows.documents.base import TaskOutput
from sse_flows.md.engine import MDRunResult
from sse_flows.md.protocol import MDProtocol
from sse_flows.md.trajectory import FORMAT, read_series
from sse_flows.potentials import LoadedPotential
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.structures.io import to_structure


class TrajectoryReference(BaseModel):
    """Where an MD trajectory lives: never inside the document."""

    path: str = Field(description="Absolute path of the trajectory file.")
    format: str = Field(description="File format identifier.")
    n_frames: int = Field(description="Number of stored production frames.")
    sample_interval: int = Field(description="MD steps between stored frames.")
    timestep_fs: float = Field(description="MD time step in fs.")
    size_bytes: int = Field(description="File size in bytes.")
    sha256: str = Field(description="sha256 of the file when the job ended.")


class MDStatistics(BaseModel):
    """Averages over the production frames."""

    temperature_mean: float = Field(description="Mean temperature in K.")
    temperature_std: float = Field(
        description="Standard deviation of the temperature in K."
    )
    potential_energy_mean: float = Field(description="Mean potential energy in eV.")
    total_energy_drift: float = Field(
        description="Slope of total energy per atom vs time, eV/atom/ps (NVE: ~0)."
    )
    volume_mean: float = Field(description="Mean cell volume in A^3.")
    pressure_mean: float | None = Field(
        None, description="Mean pressure in GPa from the virial stress (no kinetic part)."
    )
    lattice_mean: list[list[float]] = Field(description="Mean cell matrix in A.")

    @classmethod
    def from_frames(
        cls,
        time_fs: np.ndarray,
        potential_energy: np.ndarray,
        kinetic_energy: np.ndarray,
        temperature: np.ndarray,
        cells: np.ndarray,
        stress: np.ndarray | None,
        n_atoms: int,
    ) -> MDStatistics:
        """Compute the statistics from per-frame arrays."""
        total = (potential_energy + kinetic_energy) / n_atoms
        drift = float(np.polyfit(time_fs / 1000.0, total, 1)[0]) if len(total) > 1 else 0.0
        volumes = np.abs(np.linalg.det(cells))
        pressure = None
        if stress is not None and np.isfinite(stress).all():
            pressure = float(-stress[:, :3].mean(axis=1).mean() / GPA)
        return cls(
            temperature_mean=float(temperature.mean()),
            temperature_std=float(temperature.std()),
            potential_energy_mean=float(potential_energy.mean()),
            total_energy_drift=drift,
            volume_mean=float(volumes.mean()),
            pressure_mean=pressure,
            lattice_mean=cells.mean(axis=0).tolist(),
        )


class MDOutput(TaskOutput):
    """An MD run: settings, statistics and a reference to its trajectory file."""

    task_type: Literal["md"] = "md"
    protocol: dict[str, Any] = Field(description="Resolved MD protocol (units K, GPa, fs).")
    trajectory: TrajectoryReference = Field(description="The production trajectory file.")
    statistics: MDStatistics | None = Field(
        description="Averages over production frames (None when no frame was stored)."
    )
    equilibration: dict[str, float] = Field(
        default_factory=dict, description="Mean/std temperature during equilibration."
    )
    steps: int = Field(description="MD steps run in total (equilibration + production).")
    simulated_time_ps: float = Field(description="Production time in ps.")
    wall_time_s: float = Field(description="Wall time over all segments, in s.")
    ns_per_day: float = Field(description="Simulated ns per day of wall time.")
    resumed_from_step: int = Field(
        description="Step the last segment resumed from (0: none)."
    )
    run_dir: str = Field(description="Directory with trajectory and checkpoint.")
    continued_from: str | None = Field(
        None,
        description="run_dir of the finished run this one continues (None: a run of "
        "its own, equilibrated and with velocities drawn).",
    )
    time_offset_ps: float = Field(
        0.0,
        description="Production time at this run's start, ps (frames' times go on "
        "from there; 0 unless a continuation).",
    )
    segment: int = Field(
        1, description="Position in a chain of continued runs (1: the first run)."
    )

    shown_columns: ClassVar[tuple[str, ...]] = ("time_ps",)

    @classmethod
    def from_run(
        cls,
        result: MDRunResult,
        structure: Structure,
        protocol: MDProtocol,
        loaded: LoadedPotential,
        provenance: RunProvenance,
    ) -> MDOutput:
        """Build the document of a finished run (statistics read back from its file)."""
        series = read_series(result.trajectory_path)
        stress = series["stress"]
        statistics = (
            MDStatistics.from_frames(
                series["time_fs"],
                series["potential_energy"],
                series["kinetic_energy"],
                series["temperature"],
                series["cells"],
                None if np.isnan(stress).all() else stress,
                len(structure),
            )
            if result.n_frames
            else None
        )
        total_ps = result.total_steps * protocol.timestep_fs / 1000.0
        final = to_structure(result.atoms)
        path = result.trajectory_path
        return cls(
            **cls.fields_of(final, structure, loaded, provenance),
            protocol=protocol.protocol_dict(),
            trajectory=TrajectoryReference(
                path=str(path.resolve()),
                format=FORMAT,
                n_frames=result.n_frames,
                sample_interval=protocol.sample_interval,
                timestep_fs=protocol.timestep_fs,
                size_bytes=path.stat().st_size,
                sha256=sha256_of(path),
            ),
            statistics=statistics,
            equilibration=result.equilibration,
            steps=result.steps_done,
            simulated_time_ps=protocol.production_steps * protocol.timestep_fs / 1000.0,
            wall_time_s=result.total_wall_time_s,
            ns_per_day=total_ps / 1000.0 / max(result.total_wall_time_s, 1e-9) * 86400.0,
            resumed_from_step=result.resumed_from_step,
            run_dir=str(path.parent.resolve()),
            continued_from=str(result.continued_from) if result.continued_from else None,
            time_offset_ps=result.time_offset_fs / 1000.0,
            segment=result.segment,
        )

    def summary_lines(self) -> list[str]:
        """Protocol, temperature, trajectory file and speed."""
        protocol, stats, traj = self.protocol, self.statistics, self.trajectory
        lines = [
            *super().summary_lines(),
            f"  md: {protocol['ensemble']}/{protocol['thermostat']} at "
            f"{protocol['temperature']} K, {self.steps} steps "
            f"of {protocol['timestep_fs']} fs",
        ]
        if self.continued_from:
            lines.append(
                f"  segment {self.segment}: continues {self.continued_from} from "
                f"{self.time_offset_ps:g} ps"
            )
        if stats:
            lines.append(
                f"  T = {stats.temperature_mean:.1f} +- {stats.temperature_std:.1f} K, "
                f"<V> = {stats.volume_mean:.2f} A^3"
                + (  # a thermostat exchanges energy: drift means something in NVE only
                    f", energy drift {stats.total_energy_drift:.2e} eV/atom/ps"
                    if protocol["ensemble"] == "nve"
                    else ""
                )
            )
        return [
            *lines,
            f"  trajectory: {traj.path} ({traj.n_frames} frames, "
            f"{traj.size_bytes / 1024:.0f} kB)",
            f"  speed: {self.ns_per_day:.3f} ns/day, wall {self.wall_time_s:.1f} s",
        ]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the simulated time."""
        return {"time_ps": output.get("simulated_time_ps")}
