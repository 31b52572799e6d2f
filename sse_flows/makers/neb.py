"""Nudged elastic band of a hop with a potential: one job, files next to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobflow import job
from pymatgen.core import Structure

from sse_flows.calc.neb import NEBSettings, neb, plot_neb, write_images
from sse_flows.documents.neb import NEBOutput
from sse_flows.makers.base import PotentialJobMaker, closes_potentials, current_job_dir
from sse_flows.potentials import PotentialSpec
from sse_flows.settings import get_settings
from sse_flows.structures import require_ordered, to_atoms


@dataclass
class NEBMaker(PotentialJobMaker, NEBSettings):
    """Climbing-image NEB between two endpoints in one cell (:class:`NEBSettings`).

    The endpoints are relaxed at their cell first; every image shares the one loaded
    calculator, so a model running in another environment (a proxy to its worker) is
    loaded once. The band goes to ``neb_images.extxyz`` and the profile to
    ``neb.png`` in ``run_dir`` or, by default, this job's folder under the work dir.
    A band that does not converge is stored with ``converged: false`` and no barrier.
    """

    name: str = "neb"
    run_dir: str | None = None
    plot: bool = True

    @job(output_schema=NEBOutput)
    @closes_potentials
    def make(
        self, initial: Structure, final: Structure, potential: PotentialSpec | None = None
    ) -> NEBOutput:
        """Relax the endpoints, relax the band, write its images and plot."""
        require_ordered(final, what=f"'{self.name}' (final endpoint)")
        self.check()
        loaded, provenance = self.prepare(initial, potential)
        result = neb(to_atoms(initial), to_atoms(final), loaded.calculator, self)
        folder = (
            Path(self.run_dir).expanduser()
            if self.run_dir
            else current_job_dir(
                get_settings().work_dir,
                fallback=f"neb-{provenance.started_at:%Y%m%d-%H%M%S-%f}",
            )
        )
        images = write_images(result.images, folder / "neb_images.extxyz")
        plot = None
        if self.plot:
            title = (
                f"{initial.composition.reduced_formula} hop "
                f"({loaded.provenance.name}, {self.n_images} images)"
            )
            plot = str(plot_neb(result, folder / "neb.png", title))
        return NEBOutput.from_result(
            result, initial, final, self, (str(images), plot), loaded, provenance
        )
