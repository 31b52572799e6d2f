"""One flow maker for every paper table: the table's recipe and preset are data.

Why one generic maker and not a subclass per table: the tables differ only in data
(which structures, which properties, which mobile species, which settings), so a new
table is a YAML entry, and a user's own table spec gets a flow the same way. The
flow is made of the project's makers: ``OrderingMaker`` for a disordered structure,
then per row ``StabilityMaker``, ``ElasticMaker`` and ``ConductivityMaker`` as the
recipe asks. A row whose ordered cell comes from an ordering flow gets its property
flows from a job that builds them once the cell exists (jobflow ``replace``).

A potential whose package or weights are not on this machine gives an empty flow
(``metadata['skipped']`` says why), so looping over a table's potentials never fails
on one of them; the table then shows its rows as "weights not on this machine".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Maker, OnMissing, Response, job
from pymatgen.core import Structure

from sse_flows.documents import OrderingDocument, coerce
from sse_flows.errors import (
    CheckpointNotFoundError,
    PotentialNotInstalledError,
    SpecError,
)
from sse_flows.flows.conductivity import ConductivityMaker, analyze_run
from sse_flows.flows.ordering import OrderingMaker
from sse_flows.flows.paper_tables.recipes import (
    RelaxSettings,
    TablePreset,
    TableRecipe,
    check_preset,
    table_preset,
    table_recipe,
)
from sse_flows.flows.paper_tables.structures import (
    RowStructure,
    StructureInput,
    available_structures,
    resolve_structures,
)
from sse_flows.flows.stability import StabilityMaker
from sse_flows.makers.base import PotentialField
from sse_flows.makers.mechanics import ElasticMaker
from sse_flows.makers.ordering import EnumerateOrderingsMaker
from sse_flows.makers.relax import RelaxMaker
from sse_flows.makers.stability import StabilityAnalysisMaker
from sse_flows.makers.transport import ArrheniusMaker
from sse_flows.potentials import PotentialSpec, check_available, default_potential
from sse_flows.query import PRESET_KEY, formula_key
from sse_flows.tables import NO_WEIGHTS
from sse_flows.thermo.phases import CompetingPhase, prototype_phases


def weights_missing(potential: PotentialSpec) -> str | None:
    """Why the potential cannot run here (package or weights missing), or None.

    An unknown name is a mistake, not a missing download: it raises.
    """
    try:
        check_available(potential)
    except (PotentialNotInstalledError, CheckpointNotFoundError) as exc:
        return f"{NO_WEIGHTS}: {exc}"
    return None


def _relax(name: str, settings: RelaxSettings, **defaults: Any) -> RelaxMaker:
    if settings.fix_symmetry is not None:
        defaults["fix_symmetry"] = settings.fix_symmetry
    return RelaxMaker(
        name=name,
        fmax=settings.fmax,
        max_steps=settings.max_steps,
        require_convergence=settings.require_convergence,
        **defaults,
    )


def best_structure(value: Any) -> Structure:
    """Return the ordered cell of a Structure, an ordering document or its dict."""
    if isinstance(value, OrderingDocument):
        return value.lowest
    if isinstance(value, dict) and "lowest" in value:
        return coerce(value["lowest"], Structure)
    return coerce(value, Structure)


def conductivity_flow(
    maker: ConductivityMaker, structure: Structure, extra_species: Sequence[list[str]]
) -> Flow:
    """Build the conductivity flow, plus analyses of its MD for extra species sets.

    One MD per temperature serves every species set (paper 000 Table 3 has Li and Na
    from the same runs); each set gets its own Arrhenius document.
    """
    main = maker.make(structure)
    if not extra_species:
        return main
    nvt_jobs = [j for j in main.jobs if isinstance(j, Job) and j.name.startswith("nvt ")]
    jobs: list[Job | Flow] = [main]
    outputs = [main.output]
    for species in extra_species:
        analyses = []
        for nvt in nvt_jobs:
            name = f"diffusion {'+'.join(species)} {nvt.name.removeprefix('nvt ')}"
            analysis = analyze_run(maker.diffusion_maker(name, species), nvt)
            jobs.append(analysis)
            analyses.append(analysis.output)
        summary = ArrheniusMaker(
            name=f"arrhenius {'+'.join(species)}", species=species, preset=maker.preset
        ).make(analyses)
        jobs.append(summary)
        outputs.append(summary.output)
    return Flow(jobs, output=outputs, name=main.name)


@dataclass
class TablePropertiesMaker(Maker):
    """The properties of one ordered row structure: hull, elastic tensor, conductivity.

    A stability maker without prototypes (``use_prototypes=False``) gets the elemental
    references and the phases passed in, nothing else: paper 001 built its hull from
    the vertex compositions only.
    """

    name: str = "table properties"
    stability_maker: StabilityMaker | None = None
    elastic_maker: ElasticMaker | None = None
    conductivity_maker: ConductivityMaker | None = None
    extra_species: list[list[str]] = field(default_factory=list)

    def make(self, structure: Structure, competing: Sequence[CompetingPhase] = ()) -> Flow:
        """One flow with the recipe's property flows; output: their documents by name."""
        formula = structure.composition.reduced_formula
        jobs: list[Job | Flow] = []
        outputs: dict[str, Any] = {}
        if self.stability_maker is not None:
            phases = list(competing)
            if not self.stability_maker.use_prototypes:
                elements = sorted(el.symbol for el in structure.composition.elements)
                phases += [
                    p
                    for p in prototype_phases(elements)
                    if p.structure.composition.is_element
                ]
            stability = self.stability_maker.make(structure, competing=phases)
            jobs.append(stability)
            outputs["stability"] = stability.output
        if self.elastic_maker is not None:
            elastic = self.elastic_maker.make(structure)
            jobs.append(elastic)
            outputs["elastic"] = elastic.output
        if self.conductivity_maker is not None:
            conductivity = conductivity_flow(
                self.conductivity_maker, structure, self.extra_species
            )
            jobs.append(conductivity)
            outputs["conductivity"] = conductivity.output
        return Flow(jobs, output=outputs, name=f"{self.name} {formula}")


@job
def properties_of_ordered(
    cell: Any, maker: TablePropertiesMaker, competing: dict[str, Any] | None = None
) -> Response:
    """Build the property flows once the ordered cell (and the hull rows) exist."""
    phases = [
        CompetingPhase(label, best_structure(value), "user", f"table row {label}")
        for label, value in (competing or {}).items()
        if value is not None
    ]
    return Response(replace=maker.make(best_structure(cell), phases))


@dataclass
class PaperTableMaker(PotentialField, Maker):
    """Everything a paper table needs for one potential, with a named preset.

    ``table``: a table name with a recipe (``paper000-table1`` ... ``paper003-tableS5``);
    ``preset``: ``paper`` (the paper's settings), ``small`` (minutes on a CPU) or a
    preset YAML path; ``formulas``: only these rows; ``properties``: only these of the
    recipe's properties (``stability``, ``elastic``, ``conductivity``);
    ``recipe_file``: a recipe YAML for tables not shipped. ``make(structures)`` takes
    row (or host) structures by formula, as Structures or files; rows not shipped and
    not given raise ``MissingStructureError`` when the flow is built.
    """

    name: str = "paper table"
    table: str = "paper000-table2"
    preset: str = "small"
    potential: PotentialSpec = field(default_factory=default_potential)
    formulas: list[str] | None = None
    recipe_file: str | None = None
    properties: list[str] | None = None

    @property
    def preset_name(self) -> str:
        """The preset's name (a preset file's stem)."""
        path = Path(self.preset)
        return path.stem if path.suffix in (".yaml", ".yml") else self.preset

    @property
    def label(self) -> str:
        """``table preset potential`` for flow names and run records."""
        return f"{self.table} {self.preset_name} {self.potential.label()}"

    def recipe(self) -> tuple[TableRecipe, TablePreset]:
        """Return the table's recipe (only ``properties`` if given) and the preset."""
        recipe = table_recipe(self.table, self.recipe_file)
        if self.properties is not None:
            unknown = [p for p in self.properties if p not in recipe.compute]
            if unknown or not self.properties:
                raise SpecError(
                    f"{self.table} cannot compute "
                    f"{', '.join(unknown) or 'an empty list'}: it computes "
                    f"{', '.join(recipe.compute)}; give --properties as a comma list "
                    "of these"
                )
            recipe = recipe.model_copy(
                update={"compute": [p for p in recipe.compute if p in self.properties]}
            )
        preset = table_preset(self.table, self.preset, self.recipe_file)
        check_preset(recipe, preset, self.preset)
        return recipe, preset

    def make(self, structures: Mapping[str, StructureInput] | None = None) -> Flow:
        """Build the flow; its output maps each row formula to its property documents."""
        reason = weights_missing(self.potential)
        if reason is not None:
            return Flow([], name=f"{self.label} (skipped)", metadata={"skipped": reason})
        recipe, preset = self.recipe()
        rows = resolve_structures(recipe, structures, self.formulas)
        hull_extra = available_structures(
            recipe, [f for f in recipe.hull_rows if f not in rows], structures or {}
        )
        properties = self.properties_maker(recipe, preset)
        jobs: list[Job | Flow] = []
        cells: dict[str, Any] = {}
        for formula, row in {**rows, **hull_extra}.items():
            if row.structure.is_ordered:
                cells[formula] = row.structure
                continue
            ordering = self.ordering_maker(preset, row).make(
                row.structure,
                series={"name": recipe.table, "label": formula, "parameters": {}},
            )
            ordering.name = f"ordering {formula}"
            jobs.append(ordering)
            cells[formula] = ordering.output
        outputs: dict[str, Any] = {}
        dynamic: dict[str, str] = {}
        for formula in rows:
            competing = {
                f: cells[f]
                for f in recipe.hull_rows
                if f in cells and formula_key(f) != formula_key(formula)
            }
            static = [cells[formula], *competing.values()]
            if all(isinstance(s, Structure) for s in static):
                phases = [
                    CompetingPhase(f, s, "user", f"table row {f}")
                    for f, s in competing.items()
                ]
                work: Job | Flow = properties.make(cells[formula], phases)
            else:
                work = properties_of_ordered(cells[formula], properties, competing)
                work.name = f"properties {formula}"
                work.config.on_missing_references = OnMissing.NONE
                dynamic[formula] = work.uuid
            jobs.append(work)
            outputs[formula] = work.output
        metadata = {
            "table": recipe.table,
            "preset": self.preset,
            "potential": self.potential.label(),
            "structures": {f: r.source for f, r in rows.items()},
            "dynamic_jobs": dynamic,
        }
        flow = Flow(jobs, output=outputs, name=self.label, metadata=metadata)
        # every job, also those made once the ordered cells exist, carries the preset,
        # so a table shows the results of the preset asked for
        flow.update_metadata({PRESET_KEY: self.preset_name, "sse_table": recipe.table})
        return flow

    def properties_maker(
        self, recipe: TableRecipe, preset: TablePreset
    ) -> TablePropertiesMaker:
        """Return the property makers the recipe asks for, with the preset's settings."""
        stability = elastic = conductivity = None
        if "stability" in recipe.compute and preset.stability is not None:
            s = preset.stability
            stability = StabilityMaker(
                potential=self.potential,
                use_prototypes=s.use_prototypes,
                relax_maker=_relax("relax phase", s.relax),
                analysis_maker=StabilityAnalysisMaker(
                    corrections=s.corrections, allow_incomplete=s.allow_incomplete
                ),
            )
        if "elastic" in recipe.compute and preset.elastic is not None:
            e = preset.elastic
            elastic = ElasticMaker(
                potential=self.potential,
                normal_strains=list(e.normal_strains),
                shear_strains=list(e.shear_strains),
                engine=e.engine,
                relax_maker=_relax("reference relax", e.reference_relax, fix_symmetry=True)
                if e.reference_relax
                else None,
                ion_relax_maker=_relax("ion relax", e.ion_relax, relax_cell=False)
                if e.ion_relax
                else None,
            )
        if "conductivity" in recipe.compute and preset.conductivity is not None:
            c = preset.conductivity
            overrides = {
                **c.overrides,
                "potential": self.potential,
                "species": recipe.species[0],
                "name": f"{recipe.table}:{self.preset_name}",
            }
            conductivity = ConductivityMaker.from_preset(c.base, **overrides)
            conductivity.name = "conductivity"
        return TablePropertiesMaker(
            stability_maker=stability,
            elastic_maker=elastic,
            conductivity_maker=conductivity,
            extra_species=[list(s) for s in recipe.species[1:]],
        )

    def ordering_maker(self, preset: TablePreset, row: RowStructure) -> OrderingMaker:
        """Return the ordering of a disordered row structure, with the preset's settings."""
        from sse_flows.flows.series import smallest_supercell

        o = preset.ordering
        if o is None:
            raise SpecError(
                f"the structure of {row.formula} ({row.source}) has partial occupancies "
                f"and preset '{self.preset}' has no ordering settings; give an ordered "
                "cell or a preset with an 'ordering' section"
            )
        cell = o.supercell or smallest_supercell(row.structure, o.min_supercell)
        return OrderingMaker(
            potential=self.potential,
            top=o.top,
            screen=o.screen,
            enumerate_maker=EnumerateOrderingsMaker(
                name=f"enumerate {row.formula}",
                supercell=list(cell),
                keep=o.keep,
                oxidation_states=o.oxidation_states,
            ),
            relax_maker=_relax("relax ordering", o.relax),
        )
