"""Relaxation of positions and (optionally) the cell with a potential."""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import job
from pymatgen.core import Structure

from sse_flows.calc.relax import RelaxSettings, relax
from sse_flows.documents import RelaxOutput
from sse_flows.makers.base import PotentialJobMaker, closes_potentials
from sse_flows.potentials import PotentialSpec
from sse_flows.structures import to_atoms


@dataclass
class RelaxMaker(PotentialJobMaker, RelaxSettings):
    """Relax a structure (settings: :class:`~sse_flows.calc.relax.RelaxSettings`)."""

    name: str = "relax"

    @job(output_schema=RelaxOutput)
    @closes_potentials
    def make(
        self, structure: Structure, potential: PotentialSpec | None = None
    ) -> RelaxOutput:
        """Relax the structure and return the relaxed structure with its energies."""
        loaded, provenance = self.prepare(structure, potential)
        result = relax(to_atoms(structure), loaded.calculator, self)
        return RelaxOutput.from_relaxation(
            result, structure, loaded, provenance, self.symprec
        )

    @classmethod
    def of(cls, name: str, settings: RelaxSettings) -> RelaxMaker:
        """Make a relax maker with the given settings (sub-maker defaults of others)."""
        from dataclasses import fields

        return cls(
            name=name, **{f.name: getattr(settings, f.name) for f in fields(RelaxSettings)}
        )
