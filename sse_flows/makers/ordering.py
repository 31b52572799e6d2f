"""Ordering of disordered structures as jobs: Ewald stage, potential screen, relaxations.

``OrderingMaker`` builds the flow: enumerate and rank by Ewald energy, screen the kept
candidates with single points of the potential when Ewald cannot rank them (isovalent
Na/Li, Cl/Br, In/Y mixing, as the papers did), relax the ``top`` best, rank by relaxed
energy per atom. Candidate structures go to the ``data`` store; documents keep the
energies and counts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from jobflow import Flow, Job, Maker, OnMissing, job
from pymatgen.core import Structure

from sse_flows.makers.base import PotentialInput, PotentialJobMaker
from sse_flows.makers.relax import RelaxMaker
from sse_flows.ordering.documents import CandidateEntry, OrderingDocument, SupercellReport
from sse_flows.ordering.problem import OrderingError
from sse_flows.ordering.search import MAX_ENUMERATE, search_orderings
from sse_flows.provenance import RunProvenance
from sse_flows.schemas import RelaxOutput, StructureSummary
from sse_flows.structures import to_atoms


@dataclass
class EnumerateOrderingsMaker(Maker):
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
    """Re-rank candidates by single-point potential energy (unrelaxed).

    Cheap next to relaxations, and the only ranking available before relaxation when
    Ewald energies are degenerate. ``mode``: 'auto' screens only then, 'always' and
    'never' do what they say; an unscreened document passes through unchanged.
    """

    name: str = "screen orderings"
    mode: Literal["auto", "always", "never"] = "auto"

    @job(output_schema=OrderingDocument, data="structures")
    def make(
        self,
        document: OrderingDocument | dict[str, Any],
        potential: PotentialInput | None = None,
    ) -> OrderingDocument:
        """Evaluate every candidate once and sort by energy per atom."""
        doc = _as_document(document)
        if self.mode == "never" or (self.mode == "auto" and not doc.ewald_degenerate):
            return doc
        loaded, provenance = self.prepare(doc.structures[0], potential)
        energies = []
        for structure in doc.structures:
            atoms = to_atoms(structure)
            atoms.calc = loaded.calculator
            energies.append(float(atoms.get_potential_energy()) / len(atoms))
        order = np.argsort(energies, kind="stable")
        candidates, structures = [], []
        for rank, index in enumerate(order):
            entry = doc.candidates[int(index)].model_copy()
            entry.rank = rank
            entry.screen_energy_eV_atom = energies[int(index)]
            candidates.append(entry)
            structures.append(doc.structures[int(index)])
        return _reranked(
            doc,
            "screened",
            "potential_static",
            candidates,
            structures,
            potential=loaded.provenance,
            provenance=provenance.finish(),
        )


@dataclass
class RelaxCandidateMaker(Maker):
    """Relax candidate ``index`` of an ordering document (None when there is none).

    One static job per rank keeps the flow fixed when it is built, so a killed run
    resumes job by job; a cell with fewer candidates than ``top`` leaves the extra
    jobs with nothing to do.
    """

    resource_role: ClassVar[str] = "potential"

    name: str = "relax candidate"
    relax_maker: RelaxMaker = field(default_factory=lambda: _relax_default())

    @job
    def make(
        self,
        document: OrderingDocument | dict[str, Any],
        index: int,
        potential: PotentialInput | None = None,
    ) -> RelaxOutput | None:
        """Relax one candidate with the relax maker's settings."""
        doc = _as_document(document)
        if index >= len(doc.structures):
            return None
        relax = self.relax_maker.make.original  # type: ignore[attr-defined]
        result: RelaxOutput = relax(self.relax_maker, doc.structures[index], potential)
        return result


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


def _as_document(document: OrderingDocument | dict[str, Any]) -> OrderingDocument:
    if isinstance(document, OrderingDocument):
        return document
    return OrderingDocument.model_validate(document)


@job(output_schema=OrderingDocument, data="structures")
def rank_relaxed(
    document: OrderingDocument | dict[str, Any],
    relaxed: list[RelaxOutput | dict[str, Any] | None],
) -> OrderingDocument:
    """Rank relaxed candidates by energy per atom; failed relaxations are reported."""
    doc = _as_document(document)
    relaxed = relaxed[: len(doc.candidates)]  # jobs beyond the candidates had none
    provenance = RunProvenance.start({"n_relaxed": len(relaxed)})
    done: list[tuple[float, int, RelaxOutput]] = []
    entries = [c.model_copy() for c in doc.candidates]
    for i, output in enumerate(relaxed[: len(entries)]):
        if output is None:
            entries[i].relax_error = "relaxation job failed (see its job in the store)"
            continue
        out = (
            output
            if isinstance(output, RelaxOutput)
            else RelaxOutput.model_validate(output)
        )
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


def _relax_default() -> RelaxMaker:
    return RelaxMaker(
        name="relax ordering", fmax=0.05, max_steps=300, require_convergence=False
    )


@dataclass
class OrderingMaker(Maker):
    """Disordered structure -> ranked ordered cells -> the ``top`` relaxed with a potential.

    ``potential=None`` stops after the Ewald stage. ``screen``: 'auto' screens with
    single points only when Ewald energies are degenerate (isovalent mixing).
    """

    name: str = "ordering"
    potential: PotentialInput | None = "chgnet"
    top: int = 5
    screen: Literal["auto", "always", "never"] = "auto"
    enumerate_maker: EnumerateOrderingsMaker = field(
        default_factory=EnumerateOrderingsMaker
    )
    screen_maker: ScreenOrderingsMaker = field(default_factory=ScreenOrderingsMaker)
    relax_maker: RelaxMaker | None = field(default_factory=_relax_default)

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
                rank_job = rank_relaxed(current, [j.output for j in relax_jobs])
                rank_job.config.on_missing_references = OnMissing.NONE
                jobs += [*relax_jobs, rank_job]
                current = rank_job.output
        return Flow(jobs, output=current, name=self.name)
