"""Single-point energy, forces and stress."""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import job
from pymatgen.core import Structure

from sse_flows.calc.static import static
from sse_flows.documents import StaticOutput
from sse_flows.makers.base import PotentialJobMaker, closes_potentials
from sse_flows.potentials import PotentialSpec
from sse_flows.structures import to_atoms


@dataclass
class StaticMaker(PotentialJobMaker):
    """Energy, forces and stress of a structure with a potential."""

    name: str = "static"

    @job(output_schema=StaticOutput)
    @closes_potentials
    def make(
        self, structure: Structure, potential: PotentialSpec | None = None
    ) -> StaticOutput:
        """Evaluate the potential once."""
        loaded, provenance = self.prepare(structure, potential)
        result = static(to_atoms(structure), loaded.calculator)
        return StaticOutput.from_result(result, structure, loaded, provenance)
