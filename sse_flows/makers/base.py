"""What every potential-driven maker shares: the potential field and its loading."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from jobflow import Maker
from pymatgen.core import Structure

from sse_flows.potentials import LoadedPotential, PotentialSpec, load_potential
from sse_flows.provenance import RunProvenance
from sse_flows.structures import require_ordered

PotentialInput = str | dict[str, Any]


@dataclass
class PotentialJobMaker(Maker):
    """Base of makers whose job evaluates a potential on a structure.

    ``potential`` is a registry name ('chgnet', 'sevennet:7net-l3i5') or a spec dict.
    ``make(..., potential=...)`` overrides it, so a potential produced by an earlier
    job (a fine-tuned checkpoint) can be passed as a job argument.
    """

    #: resources its jobs need when submitted to a cluster (see sse_flows.cluster)
    resource_role: ClassVar[str] = "potential"

    name: str = "potential job"
    potential: PotentialInput = "chgnet"

    def prepare(
        self, structure: Structure, potential: PotentialInput | None
    ) -> tuple[LoadedPotential, RunProvenance]:
        """Check the structure, load the potential, and open the provenance record."""
        require_ordered(structure, what=f"'{self.name}'")
        spec = PotentialSpec.parse(potential if potential is not None else self.potential)
        loaded = load_potential(spec, elements=[el.symbol for el in structure.composition])
        inputs = {**asdict(self), "potential": spec.model_dump()}
        provenance = RunProvenance.start(inputs, extra_packages=(loaded.family.package,))
        return loaded, provenance


def current_job_dir(root: Path, fallback: str) -> Path:
    """Return a stable directory for the running job: ``root/<job uuid>``.

    The uuid of a job does not change when it is rerun, so a killed job restarted by
    a workflow manager finds its checkpoint again.
    """
    from jobflow import CURRENT_JOB

    job = CURRENT_JOB.job
    return root / (job.uuid if job is not None else fallback)
