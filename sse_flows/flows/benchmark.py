"""Many potentials against one labelled dataset and named structures (paper 000).

Per potential: an evaluation job (errors on the frames, by subset and composition)
and, per named structure, the project's property flows (``StabilityMaker``,
``ElasticMaker``, ``ConductivityMaker``, composed by ``TablePropertiesMaker``); a
reference potential runs the same property flows. A report job turns everything into
one :class:`~sse_flows.documents.benchmark.Benchmark` document (the leaderboard).
A potential whose package or weights are not here gets a row saying so instead of
jobs, so one missing model never stops the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jobflow import Flow, Job, Maker, OnMissing
from pymatgen.core import Structure

from sse_flows.calc.evaluate import check_labels, default_labels, read_labeled_frames
from sse_flows.errors import SpecError
from sse_flows.flows.conductivity import ConductivityMaker
from sse_flows.flows.paper_tables import TablePropertiesMaker, weights_missing
from sse_flows.flows.stability import StabilityMaker
from sse_flows.makers.base import SpecSection
from sse_flows.makers.benchmark import BenchmarkReportMaker
from sse_flows.makers.evaluate import EvaluateMaker
from sse_flows.makers.mechanics import ElasticMaker
from sse_flows.potentials import PotentialSpec

Property = Literal["errors", "stability", "elastic", "diffusion"]
PROPERTIES: tuple[str, ...] = ("errors", "stability", "elastic", "diffusion")


@dataclass
class BenchmarkMaker(SpecSection, Maker):
    """Potentials x labelled frames and structures -> errors, properties, leaderboard.

    ``properties``: which columns to compute. ``reference_potential`` computes the
    reference properties and D(T) (paper 000 used a DeePMD model);
    ``reference_values`` (structure -> {e_form_eV_atom, e_hull_eV_atom, K_VRH_GPa,
    G_VRH_GPa, Ea_eV}) are DFT or experiment and win over the reference model. The
    sub-makers hold the settings (their ``potential`` is replaced per row).
    """

    name: str = "benchmark"
    potentials: list[PotentialSpec] = field(default_factory=list)
    properties: list[Property] = field(default_factory=lambda: ["errors"])
    reference_potential: PotentialSpec | None = None
    reference_values: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluate: EvaluateMaker = field(default_factory=EvaluateMaker)
    stability: StabilityMaker = field(default_factory=StabilityMaker)
    elastic: ElasticMaker = field(default_factory=ElasticMaker)
    conductivity: ConductivityMaker = field(default_factory=ConductivityMaker)
    report: BenchmarkReportMaker = field(default_factory=BenchmarkReportMaker)

    def check(self, data: str | None, structures: Mapping[str, Structure]) -> None:
        """Refuse what cannot make a benchmark before any job is built."""
        if not self.potentials:
            raise SpecError("a benchmark needs at least one potential")
        unknown = [p for p in self.properties if p not in PROPERTIES]
        if unknown or not self.properties:
            raise SpecError(
                f"unknown benchmark properties {unknown or '(none given)'}: choose from "
                f"{', '.join(PROPERTIES)}"
            )
        if "errors" in self.properties:
            if not data:
                raise SpecError("the 'errors' column needs labelled frames (data)")
            frames = read_labeled_frames(data)
            check_labels(frames, self.evaluate.labels or default_labels(frames), data)
        wanted = [p for p in self.properties if p != "errors"]
        if wanted and not structures:
            raise SpecError(
                f"{', '.join(wanted)} need named structures (--structures DIR or "
                "'structures:' in the spec)"
            )
        disordered = [name for name, s in structures.items() if not s.is_ordered]
        if disordered:
            raise SpecError(
                f"structures {', '.join(disordered)} have partial occupancies: a "
                "benchmark compares ordered cells (`sse-flows order` makes one)"
            )
        unmatched = sorted(set(self.reference_values) - set(structures))
        if unmatched:
            raise SpecError(
                f"reference values for {', '.join(unmatched)}, which is not among the "
                f"structures ({', '.join(structures) or 'none'})"
            )

    def properties_maker(self, potential: PotentialSpec) -> TablePropertiesMaker:
        """Return the property flows of one potential, as the columns ask."""
        wanted = set(self.properties)
        return TablePropertiesMaker(
            name=f"properties [{potential.label()}]",
            stability_maker=dataclasses.replace(self.stability, potential=potential)
            if "stability" in wanted
            else None,
            elastic_maker=dataclasses.replace(self.elastic, potential=potential)
            if "elastic" in wanted
            else None,
            conductivity_maker=dataclasses.replace(self.conductivity, potential=potential)
            if "diffusion" in wanted
            else None,
        )

    def _property_jobs(
        self, potential: PotentialSpec, structures: Mapping[str, Structure]
    ) -> tuple[list[Flow | Job], dict[str, Any]]:
        if not set(self.properties) - {"errors"}:
            return [], {}
        maker = self.properties_maker(potential)
        jobs: list[Flow | Job] = []
        outputs: dict[str, Any] = {}
        for name, structure in structures.items():
            flow = maker.make(structure)
            flow.name = f"{name} [{potential.label()}]"
            jobs.append(flow)
            outputs[name] = flow.output
        return jobs, outputs

    def make(
        self, data: str | None = None, structures: Mapping[str, Structure] | None = None
    ) -> Flow:
        """Build every potential's jobs and the report; output: the leaderboard."""
        structures = dict(structures or {})
        self.check(data, structures)
        jobs: list[Flow | Job] = []
        results: dict[str, dict[str, Any]] = {}
        skipped: dict[str, str] = {}
        for potential in self.potentials:
            label = potential.label()
            reason = weights_missing(potential)
            if reason is not None:
                skipped[label] = reason
                continue
            found: dict[str, Any] = {}
            if "errors" in self.properties and data:
                evaluation = dataclasses.replace(self.evaluate, potential=potential).make(
                    data
                )
                evaluation.name = f"evaluate [{label}]"
                jobs.append(evaluation)
                found["errors"] = evaluation.output
                found["errors_uuid"] = evaluation.uuid
            property_jobs, outputs = self._property_jobs(potential, structures)
            jobs += property_jobs
            found["structures"] = outputs
            results[label] = found
        reference = None
        if self.reference_potential is not None and set(self.properties) - {"errors"}:
            same = results.get(self.reference_potential.label())
            if same is not None:  # a row is the reference too: its flows serve both
                reference = same["structures"]
            else:
                reference_jobs, reference = self._property_jobs(
                    self.reference_potential, structures
                )
                jobs += reference_jobs
        report = self.report.make(
            results,
            skipped,
            data,
            list(self.properties),
            list(structures),
            self.reference_values,
            reference,
            self.reference_potential.label() if self.reference_potential else None,
        )
        report.config.on_missing_references = OnMissing.NONE
        jobs.append(report)
        return Flow(jobs, output=report.output, name=self.name)
