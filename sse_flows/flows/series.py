"""Series flows: one ordering flow, and one document, per member of a series.

The members come from ``sse_flows.ordering.series`` (anion exchange in argyrodites,
Na/Li substitution, halide mixing grids). Each member's ordering document carries
``series`` = {name, label, parameters}, so conductivity and stability flows can fan
out over the members and tables can group by the parameter.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from jobflow import Flow, Job, Maker
from pymatgen.core import Structure

from sse_flows.flows.ordering import OrderingMaker
from sse_flows.makers.base import SpecSection
from sse_flows.makers.ordering import EnumerateOrderingsMaker
from sse_flows.ordering.problem import smallest_valid_multiple
from sse_flows.ordering.series import (
    PAPER000_EXCHANGE_FRACTIONS,
    PAPER000_NA_CONTENTS,
    SeriesMember,
    anion_exchange_series,
    substitution_series,
)
from sse_flows.potentials import (
    DEFAULT_POTENTIAL_NAME,
    PotentialSpec,
    optional_potential,
)
from sse_flows.structures.supercell import perpendicular_widths


def smallest_supercell(
    structure: Structure, at_least: Sequence[int] = (1, 1, 1)
) -> list[int]:
    """Return the smallest diagonal supercell (>= ``at_least``) holding the member exactly.

    Every sublattice needs a whole number of each species; the count of cells must be
    a multiple of what the occupancies demand. Among equal sizes the most isotropic
    (by perpendicular width) wins.
    """
    need = smallest_valid_multiple(structure)
    widths = perpendicular_widths(structure.lattice.matrix)
    minimum = int(np.prod(at_least))
    best: tuple[int, float, tuple[int, ...]] | None = None
    for repeat in itertools.product(*(range(lo, lo + 2 * need + 1) for lo in at_least)):
        n_cells = int(np.prod(repeat))
        if n_cells % need or n_cells < minimum:
            continue
        scaled = widths * np.asarray(repeat)
        key = (n_cells, float(scaled.max() / scaled.min()), repeat)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return [int(x) for x in best[2]]


@dataclass
class OrderingSeriesMaker(SpecSection, Maker):
    """Order every member of a series with the same settings.

    ``supercell`` None picks, per member, the smallest diagonal cell (at least
    ``min_supercell``) in which the member's composition is exact.
    """

    name: str = "ordering series"
    ordering_maker: OrderingMaker = field(default_factory=OrderingMaker)
    supercell: list[int] | None = None
    min_supercell: list[int] = field(default_factory=lambda: [1, 1, 1])

    def make(self, members: Iterable[SeriesMember]) -> Flow:
        """One ordering flow per member; the flow's output lists their documents."""
        flows: list[Flow | Job] = []
        for member in members:
            cell = self.supercell or smallest_supercell(
                member.structure, self.min_supercell
            )
            maker = dataclasses.replace(
                self.ordering_maker,
                name=f"ordering {member.label}",
                enumerate_maker=dataclasses.replace(
                    self.ordering_maker.enumerate_maker,
                    name=f"enumerate {member.label}",
                    supercell=cell,
                    n_atoms=None,
                ),
            )
            series = {
                "name": member.series,
                "label": member.label,
                "parameters": member.parameters,
                "supercell": cell,
            }
            flows.append(maker.make(member.structure, series=series))
        return Flow(flows, output=[f.output for f in flows], name=self.name)

    @classmethod
    def paper000_anion_exchange(
        cls,
        host: Structure,
        potential: PotentialSpec | str | None = DEFAULT_POTENTIAL_NAME,
        fractions: Sequence[float] = PAPER000_EXCHANGE_FRACTIONS,
        keep: int = 4,
    ) -> tuple[OrderingSeriesMaker, list[SeriesMember]]:
        """Paper 000's S/Cl exchange series: the ``keep`` lowest-Ewald cells per fraction.

        All of them are relaxed (the paper kept 4 and relaxed them).
        """
        maker = cls(
            name="S/Cl exchange series",
            ordering_maker=OrderingMaker(
                potential=optional_potential(potential),
                top=keep,
                screen="never",
                enumerate_maker=EnumerateOrderingsMaker(keep=keep),
            ),
        )
        return maker, anion_exchange_series(host, fractions)

    @classmethod
    def paper000_na_substitution(
        cls,
        host: Structure,
        supercell: list[int],
        potential: PotentialSpec | str | None = DEFAULT_POTENTIAL_NAME,
        amounts: Sequence[float] = PAPER000_NA_CONTENTS,
        keep: int = 200,
        top: int = 5,
    ) -> tuple[OrderingSeriesMaker, list[SeriesMember]]:
        """Paper 000 Table 3: all distinct Na/Li arrangements in a cell.

        They are ranked by the potential: Ewald cannot tell isovalent Na/Li apart.
        """
        maker = cls(
            name="Na/Li substitution series",
            supercell=supercell,
            ordering_maker=OrderingMaker(
                potential=optional_potential(potential),
                top=top,
                screen="auto",
                enumerate_maker=EnumerateOrderingsMaker(keep=keep),
            ),
        )
        return maker, substitution_series(host, "Li", "Na", amounts)
