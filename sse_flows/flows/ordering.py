"""Ordering of a disordered structure as a flow: Ewald stage, screen, relaxations, rank.

Enumerate and rank by Ewald energy, screen the kept candidates with single points of
the potential when Ewald cannot rank them (isovalent Na/Li, Cl/Br, In/Y mixing, as
the papers did), relax the ``top`` best, rank by relaxed energy per atom. The flow is
built whole (one job per rank), so a killed run resumes job by job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from jobflow import Flow, Job, Maker, OnMissing
from pymatgen.core import Structure

from sse_flows.makers.base import PotentialField
from sse_flows.makers.ordering import (
    EnumerateOrderingsMaker,
    RankOrderingsMaker,
    RelaxCandidateMaker,
    ScreenOrderingsMaker,
    relax_candidate_default,
)
from sse_flows.makers.relax import RelaxMaker
from sse_flows.potentials import PotentialSpec, default_potential


@dataclass
class OrderingMaker(PotentialField, Maker):
    """Disordered structure -> ranked ordered cells -> the ``top`` relaxed with a potential.

    ``potential=None`` stops after the Ewald stage. ``screen``: 'auto' screens with
    single points only when Ewald energies are degenerate (isovalent mixing).
    """

    name: str = "ordering"
    potential: PotentialSpec | None = field(default_factory=default_potential)
    top: int = 5
    screen: Literal["auto", "always", "never"] = "auto"
    enumerate_maker: EnumerateOrderingsMaker = field(
        default_factory=EnumerateOrderingsMaker
    )
    screen_maker: ScreenOrderingsMaker = field(default_factory=ScreenOrderingsMaker)
    relax_maker: RelaxMaker | None = field(default_factory=relax_candidate_default)
    rank_maker: RankOrderingsMaker = field(default_factory=RankOrderingsMaker)

    def make(self, structure: Structure, series: dict[str, Any] | None = None) -> Flow:
        """Build the ordering flow for one disordered structure."""
        enumerate_job = self.enumerate_maker.make(structure, series=series)
        jobs: list[Flow | Job] = [enumerate_job]
        current = enumerate_job.output
        if self.potential is not None:
            screen_maker = dataclasses.replace(self.screen_maker, mode=self.screen)
            screen_job = screen_maker.make(current, potential=self.potential)
            jobs.append(screen_job)
            current = screen_job.output
            if self.relax_maker is not None and self.top > 0:
                relax_maker = RelaxCandidateMaker(relax_maker=self.relax_maker)
                relax_jobs = []
                for index in range(self.top):
                    relax_job = relax_maker.make(current, index, potential=self.potential)
                    relax_job.name = f"{self.relax_maker.name} candidate {index}"
                    relax_jobs.append(relax_job)
                rank_job = self.rank_maker.make(current, [j.output for j in relax_jobs])
                rank_job.config.on_missing_references = OnMissing.NONE
                jobs += [*relax_jobs, rank_job]
                current = rank_job.output
        return Flow(jobs, output=current, name=self.name)
