"""Relax a structure, then run MD on the relaxed cell."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Maker
from pymatgen.core import Structure

from sse_flows.makers.base import PotentialField
from sse_flows.makers.md import MDMaker
from sse_flows.makers.relax import RelaxMaker
from sse_flows.potentials import PotentialSpec


@dataclass
class RelaxMDMaker(PotentialField, Maker):
    """relax -> MD on the relaxed structure.

    ``potential``, if set, is passed to both jobs as an argument; if None each job
    uses its own maker's potential.
    """

    name: str = "relax md"
    potential: PotentialSpec | None = None
    relax_maker: RelaxMaker = field(default_factory=RelaxMaker)
    md_maker: MDMaker = field(default_factory=MDMaker)

    def make(self, structure: Structure, potential: PotentialSpec | None = None) -> Flow:
        """Return the two-job flow; its output is the MD document."""
        chosen = potential if potential is not None else self.potential
        relax = self.relax_maker.make(structure, potential=chosen)
        md = self.md_maker.make(relax.output.structure, potential=chosen)
        return Flow([relax, md], output=md.output, name=self.name)
