"""Single-point energy, forces and stress: of one structure, or of many in one job."""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import job
from pymatgen.core import Structure

from sse_flows.calc.relax_batch import relax_many
from sse_flows.calc.static import StaticResult, static
from sse_flows.documents import RelaxOutput, StaticOutput
from sse_flows.makers.base import PotentialJobMaker, closes_potentials
from sse_flows.makers.relax import RelaxMaker
from sse_flows.potentials import PotentialSpec, batch_predictor
from sse_flows.structures import require_ordered, to_atoms


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


@dataclass
class EnergiesMaker(PotentialJobMaker):
    """Single points (or relaxations, with ``relax_maker``) of many structures, one job.

    The frames go through the family's batched predictor (``batch_size`` per model
    call; None: the family's default) and relaxations run in lockstep
    (:func:`~sse_flows.calc.relax_batch.relax_many`), each with the relax maker's
    settings. A relaxation that does not converge when the relax maker requires it
    gives None in its place, as its own job would have failed.
    """

    name: str = "energies"
    relax_maker: RelaxMaker | None = None
    batch_size: int | None = None

    @job
    @closes_potentials
    def make(
        self, structures: list[Structure], potential: PotentialSpec | None = None
    ) -> list[StaticOutput | None]:
        """Evaluate (or relax) every structure; one document per structure."""
        for structure in structures:
            require_ordered(structure, what=f"'{self.name}'")
        elements = sorted({el.symbol for s in structures for el in s.composition})
        loaded, provenance = self.prepare_for(elements, potential)
        predictor = batch_predictor(loaded.calculator, self.batch_size)
        frames = [to_atoms(structure) for structure in structures]
        if self.relax_maker is None:
            predicted = predictor.predict(frames, stress=True)
            return [
                StaticOutput.from_result(
                    StaticResult.of_prediction(p), s, loaded, provenance
                )
                for p, s in zip(predicted, structures, strict=True)
            ]
        relaxed = relax_many(frames, predictor, self.relax_maker)
        required = self.relax_maker.require_convergence
        return [
            None
            if required and not r.converged
            else RelaxOutput.from_relaxation(
                r, s, loaded, provenance, self.relax_maker.symprec
            )
            for r, s in zip(relaxed, structures, strict=True)
        ]
