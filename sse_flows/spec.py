"""Flow specification files: a YAML that names a structure, a potential and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from jobflow import Flow, Job
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows import RelaxMDMaker
from sse_flows.makers import MDMaker, RelaxMaker, StaticMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.structures import read_structure, require_ordered

FlowKind = Literal[
    "static", "relax", "md", "relax_md", "conductivity", "order", "series", "label"
]
SeriesKind = Literal["anion_exchange", "substitution", "halide_mixing"]
PROTOTYPE_PREFIX = "prototype:"


class FlowSpec(BaseModel):
    """Contents of a ``sse-flows run`` YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("sse-flows run", description="Name given to the flow.")
    structure: str | None = Field(
        None,
        description="Structure file, relative to the spec file, or 'prototype:NAME' "
        "(every flow but 'label', which takes label.frames).",
    )
    supercell: int | list[int] | list[list[int]] | None = Field(
        None, description="Supercell: n, [a, b, c] or a 3x3 matrix."
    )
    potential: str | dict[str, Any] = Field("chgnet", description="Potential name or spec.")
    flow: FlowKind = Field("relax_md", description="Which flow to build.")
    relax: dict[str, Any] = Field(default_factory=dict, description="RelaxMaker settings.")
    static: dict[str, Any] = Field(
        default_factory=dict, description="StaticMaker settings."
    )
    md: dict[str, Any] = Field(default_factory=dict, description="MDMaker settings.")
    conductivity: dict[str, Any] = Field(
        default_factory=dict,
        description="ConductivityMaker settings; 'preset' names a protocol (quick...).",
    )
    order: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Ordering settings: supercell or n_atoms, keep, top, screen, "
            "oxidation_states, seed, max_enumerate, n_samples."
        ),
    )
    series: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Series: kind (anion_exchange, substitution, halide_mixing) and its "
            "parameters (fractions / site, substituent, amounts, per_formula); the "
            "ordering settings come from 'order'."
        ),
    )
    label: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "DFT labeling: frames (files relative to the spec: MD .h5, extxyz, CIF...), "
            "every, preset, code, frames_per_job, max_jobs, min_success_fraction, "
            "export_deepmd."
        ),
    )
    base_dir: Path = Field(Path(), exclude=True, description="Directory of the spec file.")

    @classmethod
    def from_file(cls, path: str | Path) -> FlowSpec:
        """Read and validate a spec file."""
        path = Path(path).expanduser()
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise SpecError(f"Spec file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SpecError(f"{path} must hold a mapping (key: value lines)")
        try:
            return cls(**data, base_dir=path.parent.resolve())
        except ValidationError as exc:
            raise SpecError(f"{path}: {exc}") from exc

    def load_structure(self) -> Structure:
        """Read the structure (file or shipped prototype) and apply the supercell."""
        if self.structure is None:
            raise SpecError(f"Spec '{self.name}' needs a 'structure' for flow {self.flow}")
        if self.structure.startswith(PROTOTYPE_PREFIX):
            from sse_flows.structures.prototypes import load_prototype

            structure = load_prototype(self.structure[len(PROTOTYPE_PREFIX) :])
        else:
            structure = read_structure(self.spec_path(self.structure))
        if self.supercell is not None:
            structure = require_ordered(structure, "a supercell for MD")
            structure = structure.make_supercell(self.supercell, in_place=False)
        return structure

    def spec_path(self, name: str) -> Path:
        """Return a path named in the spec; a relative one is relative to the spec file."""
        return self.base_dir / Path(name).expanduser()  # an absolute path stays as is

    def _resolve_potential(self, value: str | dict[str, Any]) -> dict[str, Any]:
        """Parse a potential and make a relative checkpoint path relative to the spec."""
        spec = PotentialSpec.parse(value)
        if spec.checkpoint and not Path(spec.checkpoint).expanduser().is_absolute():
            candidate = self.spec_path(spec.checkpoint)
            if candidate.exists():
                spec = spec.model_copy(update={"checkpoint": str(candidate.resolve())})
        return spec.model_dump(exclude_defaults=True)

    def preflight(self, flow: Flow) -> None:
        """Fail early if a potential is not installed or has no weights on disk.

        Element coverage needs the model loaded, so it is checked when the job runs.
        """
        from sse_flows.potentials import check_available

        if self.flow == "label":  # DFT runs where the batch jobs run, not here
            return
        if self.flow in ("order", "series"):  # the potential is a job argument there
            potential = self.order.get("potential", self.potential)
            if potential not in (None, "none"):
                check_available(potential)
            return
        for job in flow.iterflow():
            maker = getattr(job[0], "maker", None)
            potential = job[0].function_kwargs.get("potential") or getattr(
                maker, "potential", None
            )
            if potential is None:
                continue
            check_available(potential)

    def _labeling_flow(self) -> Flow:
        """Build the labeling flow of ``label``: frames read here, labeled in batches."""
        from sse_flows.dft.frames import read_frames
        from sse_flows.makers.labeling import LabelingMaker

        settings = dict(self.label)
        files = settings.pop("frames", None)
        every = int(settings.pop("every", 1))
        if not files:
            raise SpecError(f"Spec '{self.name}': label.frames lists no frame files")
        frames = [
            frame
            for name in ([files] if isinstance(files, str) else files)
            for frame in read_frames(self.spec_path(name), every)
        ]
        preset = settings.get("preset")
        if isinstance(preset, str) and preset.endswith((".yaml", ".yml")):
            settings["preset"] = str(self.spec_path(preset))
        try:
            flow = LabelingMaker(name=self.name, **settings).make(frames)
        except (TypeError, ValueError) as exc:
            raise SpecError(
                f"Invalid 'label' settings in spec '{self.name}': {exc}"
            ) from exc
        return flow

    def _ordering_flow(self, structure: Structure) -> Flow:
        """Build the ordering flow, or a series of them, from 'order' and 'series'."""
        from sse_flows.flows.series import OrderingSeriesMaker
        from sse_flows.makers.ordering import EnumerateOrderingsMaker, OrderingMaker
        from sse_flows.ordering import series as builders

        settings = dict(self.order)
        potential = settings.pop("potential", self.potential)
        top = settings.pop("top", 5)
        screen = settings.pop("screen", "auto")
        try:
            maker = OrderingMaker(
                potential=None
                if potential in (None, "none")
                else self._resolve_potential(potential),
                top=top,
                screen=screen,
                enumerate_maker=EnumerateOrderingsMaker(**settings),
            )
        except TypeError as exc:
            raise SpecError(
                f"Invalid 'order' settings in spec '{self.name}': {exc}"
            ) from exc
        if self.flow == "order":
            return maker.make(structure)
        params = dict(self.series)
        kind = params.pop("kind", None)
        try:
            if kind == "anion_exchange":
                members = builders.anion_exchange_series(structure, **params)
            elif kind == "substitution":
                members = builders.substitution_series(structure, **params)
            elif kind == "halide_mixing":
                members = builders.halide_mixing_series(structure, **params)
            else:
                raise SpecError(
                    f"series.kind must be one of {list(get_args(SeriesKind))}, got {kind!r}"
                )
        except TypeError as exc:
            raise SpecError(
                f"Invalid 'series' settings in spec '{self.name}': {exc}"
            ) from exc
        supercell = maker.enumerate_maker.supercell
        series_maker = OrderingSeriesMaker(
            name=self.name,
            ordering_maker=maker,
            supercell=list(supercell) if supercell is not None else None,  # type: ignore[arg-type]
        )
        return series_maker.make(members)

    def build(self) -> Flow:
        """Return the flow the spec describes, with resolved settings."""
        if self.flow == "label":
            return self._labeling_flow()
        structure = self.load_structure()
        makers: dict[str, Any] = {}
        for key, cls in (("relax", RelaxMaker), ("md", MDMaker), ("static", StaticMaker)):
            settings = dict(getattr(self, key))
            # a maker's own potential wins over the spec's top-level one
            settings["potential"] = self._resolve_potential(
                settings.get("potential", self.potential)
            )
            try:
                makers[key] = cls(**settings)
            except (TypeError, ValueError) as exc:
                raise SpecError(
                    f"Invalid '{key}' settings in spec '{self.name}': {exc}"
                ) from exc
        job: Job | Flow
        if self.flow in ("order", "series"):
            job = self._ordering_flow(structure)
        elif self.flow == "conductivity":
            settings = dict(self.conductivity)
            preset = settings.pop("preset", None)
            settings["potential"] = self._resolve_potential(
                settings.get("potential", self.potential)
            )
            from sse_flows.flows import ConductivityMaker

            job = ConductivityMaker.from_preset(preset, **settings).make(structure)
        elif self.flow == "relax_md":
            job = RelaxMDMaker(relax_maker=makers["relax"], md_maker=makers["md"]).make(
                structure
            )
        else:
            job = makers[self.flow].make(structure)
        flow = job if isinstance(job, Flow) else Flow([job], output=job.output)
        flow.name = self.name
        return flow
