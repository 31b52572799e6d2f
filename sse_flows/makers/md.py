"""Molecular dynamics with a potential: restartable, guarded, file-backed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobflow import job
from pymatgen.core import Structure

from sse_flows.documents import MDOutput
from sse_flows.makers.base import PotentialJobMaker, closes_potentials, current_job_dir
from sse_flows.md.engine import run_md
from sse_flows.md.protocol import MDProtocol
from sse_flows.potentials import PotentialSpec
from sse_flows.settings import get_settings
from sse_flows.structures import to_atoms


@dataclass
class MDMaker(PotentialJobMaker, MDProtocol):
    """Run NVE/NVT/NPT MD; the trajectory goes to a file referenced by the output.

    The run is split into segments of ``checkpoint_interval`` steps; a killed job
    rerun with the same uuid resumes from its last checkpoint in
    ``SSE_FLOWS_WORK_DIR/<job uuid>`` (or ``run_dir`` if set). With ``continue_from``
    (the ``run_dir`` of a finished run with the same settings) the job runs
    ``production_steps`` more of that run in a directory of its own: no equilibration,
    no new velocities, frame times going on from where that run ended.
    """

    name: str = "md"
    run_dir: str | None = None

    @job(output_schema=MDOutput)
    @closes_potentials
    def make(
        self,
        structure: Structure,
        potential: PotentialSpec | None = None,
        continue_from: str | None = None,
    ) -> MDOutput:
        """Run the MD protocol on the structure (or continue the run in continue_from)."""
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
            continue_from=Path(continue_from).expanduser() if continue_from else None,
        )
        return MDOutput.from_run(result, structure, self, loaded, provenance)
