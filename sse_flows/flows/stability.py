"""Phase stability as a flow: target and competing phases relaxed with one potential.

The analysis job (:class:`~sse_flows.makers.stability.StabilityAnalysisMaker`) places
the target on the hull (E_f, E_hull, decomposition) and, for Li compounds, computes
the electrochemical window from the Li grand-potential diagram. Where the phases come
from: :mod:`sse_flows.thermo.phases`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Maker, OnMissing
from pymatgen.core import Structure
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.makers.base import PotentialField
from sse_flows.makers.relax import RelaxMaker
from sse_flows.makers.stability import StabilityAnalysisMaker
from sse_flows.potentials import PotentialSpec, default_potential
from sse_flows.thermo.hull import (
    StabilityError,
    make_entry,
    missing_references,
    require_references,
)
from sse_flows.thermo.phases import (
    HALOGEN_VOLUMES,
    CompetingPhase,
    derived_halogen,
    entry_from_dict,
    prototype_phases,
    read_competing_dir,
)


def _relax_default() -> RelaxMaker:
    return RelaxMaker(name="relax phase", fmax=0.05, max_steps=500)


@dataclass
class StabilityMaker(PotentialField, Maker):
    """Target + competing phases, relaxed with one potential -> hull and window.

    ``use_prototypes`` adds every ordered shipped prototype of the target's system;
    ``derive_halogens`` adds solid Cl2/Br2 built from the I2 cell when no reference
    for Cl or Br is given; ``primitive`` relaxes primitive cells (same energy per
    atom, fewer atoms). Missing elemental references fail when the flow is built.
    """

    name: str = "stability"
    potential: PotentialSpec = field(default_factory=default_potential)
    use_prototypes: bool = True
    derive_halogens: bool = True
    primitive: bool = True
    relax_maker: RelaxMaker = field(default_factory=_relax_default)
    analysis_maker: StabilityAnalysisMaker = field(default_factory=StabilityAnalysisMaker)

    def make(
        self,
        structure: Structure,
        competing: Sequence[Structure | CompetingPhase] | str | Path | None = None,
        entries: Sequence[ComputedEntry | dict[str, Any]] | None = None,
    ) -> Flow:
        """Build the flow; ``competing`` is structures, phases, or a directory of files."""
        phases = self.phases(structure, competing, entries)
        target_job = self.relax_maker.make(structure, potential=self.potential)
        target_job.name = f"{self.relax_maker.name} target"
        jobs: list[Job | Flow] = [target_job]
        meta: list[dict[str, Any]] = [
            {
                "label": structure.composition.reduced_formula,
                "formula": structure.composition.reduced_formula,
                "source": "target",
                "detail": None,
                "job_uuid": target_job.uuid,
            }
        ]
        outputs = []
        for phase in phases:
            cell = phase.structure
            if self.primitive:
                cell = cell.get_primitive_structure()
            relax_job = self.relax_maker.make(cell, potential=self.potential)
            relax_job.name = f"{self.relax_maker.name} {phase.label}"
            jobs.append(relax_job)
            outputs.append(relax_job.output)
            meta.append(
                {
                    "label": phase.label,
                    "formula": cell.composition.reduced_formula,
                    "source": phase.source,
                    "detail": phase.detail,
                    "job_uuid": relax_job.uuid,
                }
            )
        serial = [
            e.as_dict() if isinstance(e, ComputedEntry) else dict(e) for e in entries or []
        ]
        analysis = self.analysis_maker.make(target_job.output, outputs, meta, serial)
        analysis.config.on_missing_references = OnMissing.NONE
        jobs.append(analysis)
        return Flow(jobs, output=analysis.output, name=self.name)

    def phases(
        self,
        structure: Structure,
        competing: Sequence[Structure | CompetingPhase] | str | Path | None = None,
        entries: Sequence[ComputedEntry | dict[str, Any]] | None = None,
    ) -> list[CompetingPhase]:
        """Competing phases the flow will relax; raise if an element has no reference."""
        elements = sorted(el.symbol for el in structure.composition.elements)
        target_formula = structure.composition.reduced_formula
        phases: list[CompetingPhase] = []
        if self.use_prototypes:
            phases += prototype_phases(elements, exclude_formula=target_formula)
        if isinstance(competing, str | Path):
            phases += read_competing_dir(competing)
        else:
            for item in competing or []:
                if isinstance(item, CompetingPhase):
                    phases.append(item)
                else:
                    phases.append(CompetingPhase(item.composition.reduced_formula, item))
        outside = [
            p.label
            for p in phases
            if not {el.symbol for el in p.structure.composition.elements} <= set(elements)
        ]
        if outside:
            raise StabilityError(
                f"Competing phases {', '.join(outside)} hold elements outside "
                f"{'-'.join(elements)}; give only phases of the target's system."
            )
        disordered = [p.label for p in phases if not p.structure.is_ordered]
        if disordered:
            raise StabilityError(
                f"Competing phases {', '.join(disordered)} have partial occupancies; "
                "order them first (`sse-flows order`) or give their energies as entries."
            )
        fake = [
            make_entry(p.structure.composition, 0.0, p.label, p.source) for p in phases
        ] + [entry_from_dict(e) for e in entries or []]
        missing = missing_references(fake, elements)
        if self.derive_halogens:
            for symbol in [s for s in missing if s in HALOGEN_VOLUMES]:
                phases.append(derived_halogen(symbol))
                missing.remove(symbol)
        if missing:
            require_references(
                fake,
                elements,
                hint="Shipped element prototypes: `sse-flows prototypes` (role element)."
                + (
                    " Cl and Br can be derived from I2 (derive_halogens)."
                    if not self.derive_halogens
                    else ""
                ),
            )
        return phases
