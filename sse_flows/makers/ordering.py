"""The jobs of the ordering flow: Ewald stage, potential screen, relaxations, ranking.

The flow is :class:`sse_flows.flows.ordering.OrderingMaker`. Candidate structures go
to the ``data`` store; documents keep the energies and counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from sse_flows.calc.relax import RelaxSettings, relax
from sse_flows.calc.relax_batch import relax_many
from sse_flows.documents import (
    CandidateEntry,
    OrderingDocument,
    RelaxOutput,
    StructureSummary,
    SupercellReport,
    coerce,
)
from sse_flows.makers.base import PotentialJobMaker, SpecSection, closes_potentials
from sse_flows.makers.relax import RelaxMaker
from sse_flows.ordering.problem import OrderingError
from sse_flows.ordering.search import MAX_ENUMERATE, search_orderings
from sse_flows.potentials import PotentialSpec
from sse_flows.potentials.registry import batch_predictor
from sse_flows.provenance import RunProvenance
from sse_flows.structures import to_atoms


def relax_candidate_default() -> RelaxMaker:
    """Relax loosely and keep an unconverged cell (for ranking, not final numbers)."""
    return RelaxMaker(
        name="relax ordering", fmax=0.05, max_steps=300, require_convergence=False
    )


@dataclass
class EnumerateOrderingsMaker(SpecSection, Maker):
    """Symmetry-distinct orderings of a disordered structure, ranked by Ewald energy.

    Give ``supercell`` (3 ints or a 3x3 matrix) or ``n_atoms`` (all supercell shapes
    of that size). ``keep`` candidates go on to the next stage.
    """

    resource_role: ClassVar[str] = "cpu"  # enumeration can take CPU-minutes, no GPU

    name: str = "enumerate orderings"
    supercell: list[int] | list[list[int]] | None = None
    n_atoms: int | None = None
    keep: int = 20
    oxidation_states: dict[str, float] | None = None
    max_enumerate: int = MAX_ENUMERATE
    n_samples: int = 5000
    seed: int = 0
    symprec: float = 0.01

    @job(output_schema=OrderingDocument, data="structures")
    def make(
        self, structure: Structure, series: dict[str, Any] | None = None
    ) -> OrderingDocument:
        """Enumerate, rank by Ewald energy, keep the best."""
        provenance = RunProvenance.start(asdict(self))
        if self.supercell is None and self.n_atoms is None:
            raise OrderingError("Give a supercell (e.g. [1, 1, 2]) or a target n_atoms.")
        search = search_orderings(
            structure,
            supercell=self.supercell,
            n_atoms=self.n_atoms,
            keep=self.keep,
            oxidation_states=self.oxidation_states,
            max_enumerate=self.max_enumerate,
            n_samples=self.n_samples,
            seed=self.seed,
            symprec=self.symprec,
        )
        lowest = min(c.ewald_energy for c in search.candidates)
        entries = [
            CandidateEntry(
                rank=i,
                ewald_rank=i,
                formula=c.structure.composition.formula,
                nsites=len(c.structure),
                supercell=c.supercell,
                spacegroup=c.spacegroup,
                multiplicity=c.multiplicity,
                ewald_energy_eV=c.ewald_energy,
                ewald_relative_eV_atom=(c.ewald_energy - lowest) / len(c.structure),
                configuration=c.configuration,
            )
            for i, c in enumerate(search.candidates)
        ]
        structures = [c.structure for c in search.candidates]
        return OrderingDocument(
            stage="ewald",
            summary=StructureSummary.of(structures[0]),
            parent_formula=structure.composition.reduced_formula,
            parent=structure,
            series=series,
            oxidation_states=search.oxidation_states,
            cells=[SupercellReport(**asdict(c)) for c in search.cells],
            n_combinations=sum(c.n_combinations for c in search.cells),
            n_distinct=search.n_distinct,
            n_kept=search.n_kept,
            n_cut=search.n_cut,
            exhaustive=all(c.exhaustive for c in search.cells),
            ewald_degenerate=search.ewald_degenerate,
            ranked_by="none" if search.ewald_degenerate else "ewald",
            candidates=entries,
            structures=structures,
            lowest=structures[0],
            notes=search.notes,
            provenance=provenance.finish(),
        )


@dataclass
class ScreenOrderingsMaker(PotentialJobMaker):
    """Re-rank candidates by potential energy: single points, or a loose relaxation.

    Cheap next to the full relaxations, and the only ranking available before them
    when Ewald energies are degenerate. ``mode``: 'auto' screens only then, 'always'
    and 'never' do what they say; an unscreened document passes through unchanged.
    ``method: relax`` relaxes every candidate loosely (``relax_fmax``, ``relax_steps``,
    positions only unless ``relax_cell``) all in lockstep, the forces of a step
    predicted together (:func:`~sse_flows.calc.relax_batch.relax_many`);
    ``batch_size`` frames go into one model call (None: the family's default, 1 on a
    CPU where batching did not pay here; families without a batched path run one by
    one). The document records the method and the inference path.
    """

    name: str = "screen orderings"
    mode: Literal["auto", "always", "never"] = "auto"
    method: Literal["single_point", "relax"] = "single_point"
    relax_fmax: float = 0.1
    relax_steps: int = 200
    relax_cell: bool = False
    batch_size: int | None = None

    @job(output_schema=OrderingDocument, data="structures")
    @closes_potentials
    def make(
        self,
        document: OrderingDocument | dict[str, Any],
        potential: PotentialSpec | None = None,
    ) -> OrderingDocument:
        """Evaluate every candidate (or relax it loosely) and sort by energy per atom."""
        doc = coerce(document, OrderingDocument)
        if self.mode == "never" or (self.mode == "auto" and not doc.ewald_degenerate):
            return doc
        loaded, provenance = self.prepare(doc.structures[0], potential)
        predictor = batch_predictor(loaded.calculator, self.batch_size)
        frames = [to_atoms(structure) for structure in doc.structures]
        notes = list(doc.notes)
        if self.method == "relax":
            settings = RelaxSettings(
                fmax=self.relax_fmax,
                max_steps=self.relax_steps,
                relax_cell=self.relax_cell,
                require_convergence=False,
            )
            results = relax_many(frames, predictor, settings)
            energies = [r.final.energy / r.final.n_atoms for r in results]
            screened = [r.structure for r in results]
            unconverged = sum(not r.converged for r in results)
            if unconverged:
                notes.append(
                    f"screen: {unconverged} of {len(results)} loose relaxations did not "
                    f"reach fmax {self.relax_fmax} eV/A in {self.relax_steps} steps; "
                    "ranked by their last energy"
                )
        else:
            predicted = predictor.predict(frames, stress=False)
            energies = [p.energy / len(f) for p, f in zip(predicted, frames, strict=True)]
            screened = list(doc.structures)
        order = np.argsort(energies, kind="stable")
        candidates, structures = [], []
        for rank, index in enumerate(order):
            entry = doc.candidates[int(index)].model_copy()
            entry.rank = rank
            entry.screen_energy_eV_atom = energies[int(index)]
            candidates.append(entry)
            structures.append(screened[int(index)])
        return _reranked(
            doc,
            "screened",
            "potential_screen_relax" if self.method == "relax" else "potential_static",
            candidates,
            structures,
            notes=notes,
            screen_method=self.method,
            inference_path=predictor.path,
            screen_batch_size=predictor.batch_size,
            potential=loaded.provenance,
            provenance=provenance.finish(),
        )


@dataclass
class RelaxCandidateMaker(PotentialJobMaker):
    """Relax candidate ``index`` of an ordering document (None when there is none).

    One static job per rank keeps the flow fixed when it is built, so a killed run
    resumes job by job; a cell with fewer candidates than ``top`` leaves the extra
    jobs with nothing to do. The relaxation's settings are ``relax_maker``'s.
    """

    name: str = "relax candidate"
    relax_maker: RelaxMaker = field(default_factory=relax_candidate_default)

    @job
    @closes_potentials
    def make(
        self,
        document: OrderingDocument | dict[str, Any],
        index: int,
        potential: PotentialSpec | None = None,
    ) -> RelaxOutput | None:
        """Relax one candidate with the relax maker's settings."""
        doc = coerce(document, OrderingDocument)
        if index >= len(doc.structures):
            return None
        structure = doc.structures[index]
        loaded, provenance = self.prepare(structure, potential)
        result = relax(to_atoms(structure), loaded.calculator, self.relax_maker)
        return RelaxOutput.from_relaxation(
            result, structure, loaded, provenance, self.relax_maker.symprec
        )


def _reranked(
    doc: OrderingDocument,
    stage: str,
    ranked_by: str,
    candidates: list[CandidateEntry],
    structures: list[Structure],
    **fields: Any,
) -> OrderingDocument:
    """Copy of ``doc`` with a new ranking; the best cell and summary follow from it."""
    return doc.model_copy(
        update={
            "stage": stage,
            "ranked_by": ranked_by,
            "candidates": candidates,
            "structures": structures,
            "lowest": structures[0],
            "summary": StructureSummary.of(structures[0]),
            **fields,
        }
    )


@dataclass
class RankOrderingsMaker(SpecSection, Maker):
    """Rank relaxed candidates by energy per atom; failed relaxations are reported."""

    resource_role: ClassVar[str] = "analysis"

    name: str = "rank orderings"

    @job(output_schema=OrderingDocument, data="structures")
    def make(
        self,
        document: OrderingDocument | dict[str, Any],
        relaxed: list[RelaxOutput | dict[str, Any] | None],
    ) -> OrderingDocument:
        """Put the relaxed cells first, best first; the others after, as they were."""
        return rank_relaxed(coerce(document, OrderingDocument), relaxed)


def rank_relaxed(
    doc: OrderingDocument, relaxed: list[RelaxOutput | dict[str, Any] | None]
) -> OrderingDocument:
    """Rank relaxed candidates by energy per atom; failed relaxations are reported."""
    relaxed = relaxed[: len(doc.candidates)]  # jobs beyond the candidates had none
    provenance = RunProvenance.start({"n_relaxed": len(relaxed)})
    done: list[tuple[float, int, RelaxOutput]] = []
    entries = [c.model_copy() for c in doc.candidates]
    for i, output in enumerate(relaxed[: len(entries)]):
        if output is None:
            entries[i].relax_error = "relaxation job failed (see its job in the store)"
            continue
        out = coerce(output, RelaxOutput)
        entries[i].relaxed_energy_eV_atom = out.energy_per_atom
        entries[i].relax_converged = out.converged
        entries[i].spacegroup_relaxed = out.spacegroup_final
        done.append((out.energy_per_atom, i, out))
    if not done:
        raise OrderingError(
            f"All {len(relaxed)} relaxations of {doc.parent_formula} orderings failed; "
            "see the relax jobs' errors (unsupported element, missing weights, ...)."
        )
    done.sort(key=lambda item: (item[0], item[1]))
    best = done[0][0]
    ranked: list[CandidateEntry] = []
    structures: list[Structure] = []
    for rank, (energy, i, out) in enumerate(done):
        entries[i].rank = rank
        entries[i].relaxed_relative_eV_atom = energy - best
        ranked.append(entries[i])
        structures.append(out.structure)
    # Candidates that were not relaxed (or failed) follow, in their previous order.
    for i, entry in enumerate(entries):
        if all(i != j for _, j, _ in done):
            entry.rank = len(ranked)
            ranked.append(entry)
            structures.append(doc.structures[i])
    notes = list(doc.notes)
    unconverged = [e.rank for e in ranked if e.relax_converged is False]
    if unconverged:
        notes.append(f"Relaxations of ranks {unconverged} did not reach fmax.")
    return _reranked(
        doc,
        "relaxed",
        "potential_relaxed",
        ranked,
        structures,
        n_relaxed=len(done),
        potential=done[0][2].potential,
        notes=notes,
        provenance=provenance.finish(),
    )
