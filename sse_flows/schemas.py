"""Output documents of sse-flows jobs: small, queryable, with full provenance."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from sse_flows.provenance import PotentialProvenance, RunProvenance


class StructureSummary(BaseModel):
    """Query keys of a structure, kept at the top of every document."""

    formula_pretty: str = Field(description="Reduced formula, e.g. Li2S.")
    formula: str = Field(description="Full formula of the cell, e.g. Li8 S4.")
    chemsys: str = Field(description="Elements joined by '-' in alphabetical order.")
    elements: list[str] = Field(description="Sorted element symbols.")
    nsites: int = Field(description="Number of sites in the cell.")
    volume: float = Field(description="Cell volume in A^3.")
    density: float = Field(description="Density in g/cm^3.")

    @classmethod
    def of(cls, structure: Structure) -> StructureSummary:
        """Summarise a structure."""
        elements = sorted({el.symbol for el in structure.composition.elements})
        return cls(
            formula_pretty=structure.composition.reduced_formula,
            formula=structure.composition.formula,
            chemsys="-".join(elements),
            elements=elements,
            nsites=len(structure),
            volume=float(structure.volume),
            density=float(structure.density),
        )


class TaskOutput(BaseModel):
    """Fields every job output carries."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task_type: str = Field(description="static, relax or md.")
    summary: StructureSummary = Field(description="Query keys of the output structure.")
    structure: Structure = Field(description="Output structure (final frame).")
    input_structure: Structure = Field(description="Structure the job was given.")
    potential: PotentialProvenance = Field(description="The potential that was used.")
    provenance: RunProvenance = Field(description="Software, host, times, resolved inputs.")


class StaticOutput(TaskOutput):
    """Energy, forces and stress of one structure."""

    energy: float = Field(description="Total energy in eV.")
    energy_per_atom: float = Field(description="Energy per atom in eV/atom.")
    forces: list[list[float]] = Field(description="Forces in eV/A, one row per site.")
    stress: list[list[float]] = Field(
        description="Stress tensor in GPa, ASE sign (positive = tensile)."
    )
    max_force: float = Field(description="Largest force norm in eV/A.")


class RelaxOutput(StaticOutput):
    """A relaxed structure and how the relaxation went."""

    converged: bool = Field(description="Whether fmax was reached within max_steps.")
    n_steps: int = Field(description="Optimizer steps taken.")
    energy_trajectory: list[float] = Field(
        description="Energy (eV) at each optimizer step."
    )
    volume_change: float = Field(description="Relative volume change (final/initial - 1).")
    spacegroup_initial: str = Field(description="Space group symbol before relaxation.")
    spacegroup_final: str = Field(description="Space group symbol after relaxation.")


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
            from ase import units

            pressure = float(-stress[:, :3].mean(axis=1).mean() / units.GPa)
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
