"""Molecular dynamics with a named potential: restartable, guarded, file-backed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from sse_flows.makers.base import PotentialInput, PotentialJobMaker, current_job_dir
from sse_flows.makers.static import common_fields
from sse_flows.md.engine import run_md
from sse_flows.md.protocol import MDProtocol
from sse_flows.md.trajectory import FORMAT, read_series
from sse_flows.provenance import sha256_of
from sse_flows.schemas import MDOutput, MDStatistics, TrajectoryReference
from sse_flows.settings import get_settings
from sse_flows.structures import to_atoms, to_structure


@dataclass
class MDMaker(PotentialJobMaker, MDProtocol):
    """Run NVE/NVT/NPT MD; the trajectory goes to a file referenced by the output.

    The run is split into segments of ``checkpoint_interval`` steps; a killed job
    rerun with the same uuid resumes from its last checkpoint in
    ``SSE_FLOWS_WORK_DIR/<job uuid>`` (or ``run_dir`` if set).
    """

    name: str = "md"
    run_dir: str | None = None

    @job(output_schema=MDOutput)
    def make(
        self, structure: Structure, potential: PotentialInput | None = None
    ) -> MDOutput:
        """Run the MD protocol on the structure."""
        loaded, provenance = self.prepare(structure, potential)
        settings = get_settings()
        run_dir = (
            Path(self.run_dir).expanduser()
            if self.run_dir
            else current_job_dir(
                settings.work_dir, fallback=f"md-{provenance.started_at:%Y%m%d-%H%M%S-%f}"
            )
        )
        result = run_md(
            to_atoms(structure),
            loaded.calculator,
            self,
            run_dir,
            fingerprint_extra={
                "potential": loaded.provenance.checkpoint_sha256 or loaded.spec.label(),
                "options": loaded.spec.options,
            },
            progress=settings.progress,
            description=f"{self.name} {structure.composition.reduced_formula}",
        )
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
        simulated_ps = self.production_steps * self.timestep_fs / 1000.0
        total_ps = self.total_steps * self.timestep_fs / 1000.0
        return MDOutput(
            **common_fields(
                "md", to_structure(result.atoms), structure, loaded.provenance, provenance
            ),
            protocol=self.protocol_dict(),
            trajectory=TrajectoryReference(
                path=str(result.trajectory_path.resolve()),
                format=FORMAT,
                n_frames=result.n_frames,
                sample_interval=self.sample_interval,
                timestep_fs=self.timestep_fs,
                size_bytes=result.trajectory_path.stat().st_size,
                sha256=sha256_of(result.trajectory_path),
            ),
            statistics=statistics,
            equilibration=result.equilibration,
            steps=result.steps_done,
            simulated_time_ps=simulated_ps,
            wall_time_s=result.total_wall_time_s,
            ns_per_day=total_ps / 1000.0 / max(result.total_wall_time_s, 1e-9) * 86400.0,
            resumed_from_step=result.resumed_from_step,
            run_dir=str(result.trajectory_path.parent.resolve()),
        )
