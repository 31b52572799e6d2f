"""The base of every spec kind: name, potential(s), paths relative to the spec file.

Kinds subclass :class:`FlowSpec` with a ``flow: Literal[...]`` field and register under
it; :meth:`FlowSpec.from_data` validates a mapping as the discriminated union of the
registered kinds.
"""

from __future__ import annotations

import dataclasses
from functools import cache, reduce
from operator import or_
from pathlib import Path
from typing import Annotated, Any, ClassVar, get_args

import yaml
from jobflow import Flow, Job
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.potentials import PotentialSpec, check_available, default_potential
from sse_flows.presets import is_preset_file

#: flow kind -> spec class; filled as kind modules are imported
KINDS: dict[str, type[FlowSpec]] = {}


@cache
def spec_adapter() -> TypeAdapter[FlowSpec]:
    """Validate the union of the registered kinds, discriminated on ``flow``."""
    union = reduce(or_, dict.fromkeys(KINDS.values()))
    adapter: TypeAdapter[FlowSpec] = TypeAdapter(
        Annotated[union, Field(discriminator="flow")]  # type: ignore[arg-type]
    )
    return adapter


PROTOTYPE_PREFIX = "prototype:"
#: sections that are makers with a potential of their own
MAKER_SECTIONS = ("static", "relax", "md", "elastic", "eos")


class FlowSpec(BaseModel):
    """What every spec kind has: a name, the potential(s), the spec file's folder."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    flow: str = Field(description="Which flow to build (the spec kind).")
    name: str = Field("sse-flows run", description="Name given to the flow.")
    potential: PotentialSpec = Field(
        default_factory=default_potential, description="Potential name or spec."
    )
    potentials: list[PotentialSpec] | None = Field(
        None, description="Run the flow once per potential (overrides every 'potential')."
    )
    base_dir: Path = Field(Path(), exclude=True, description="Folder of the spec file.")

    @model_validator(mode="before")
    @classmethod
    def _section_potentials(cls, data: Any) -> Any:
        """Give a maker section without a potential of its own the spec's."""
        if isinstance(data, dict) and "potential" in data:
            for key in MAKER_SECTIONS:
                if key not in cls.model_fields:
                    continue
                section = data.get(key, {})
                if isinstance(section, dict) and "potential" not in section:
                    data = {**data, key: {**section, "potential": data["potential"]}}
        return data

    @classmethod
    def from_file(cls, path: str | Path) -> FlowSpec:
        """Read and validate a spec file of any kind."""
        path = Path(path).expanduser()
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise SpecError(f"Spec file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SpecError(f"{path} must hold a mapping (key: value lines)")
        return cls.from_data(data, path.parent.resolve(), str(path))

    @classmethod
    def from_data(
        cls, data: dict[str, Any], base_dir: Path, source: str = "spec"
    ) -> FlowSpec:
        """Validate a mapping as the kind its ``flow`` names (default relax_md).

        A DP-GEN ``param.json`` (no ``flow``, a ``model_devi_jobs`` list) is read as
        an ``active_learning`` spec (:mod:`sse_flows.kinds.dpgen`).
        """
        from sse_flows.kinds.dpgen import dpgen_spec, is_dpgen_param

        if is_dpgen_param(data):
            data = dpgen_spec(data, base_dir)
        data = {"flow": "relax_md", **data, "base_dir": base_dir}
        try:
            spec: FlowSpec = spec_adapter().validate_python(
                data, context={"base_dir": base_dir}
            )
        except ValidationError as exc:
            raise SpecError(f"{source}: {exc}") from exc
        return spec

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Register a spec kind under the value(s) of its ``flow`` literal."""
        super().__pydantic_init_subclass__(**kwargs)
        for value in get_args(cls.model_fields["flow"].annotation):
            KINDS[value] = cls
        spec_adapter.cache_clear()

    def spec_path(self, name: str | Path) -> Path:
        """Return a path named in the spec; a relative one is from the spec's folder."""
        return self.base_dir / Path(name).expanduser()  # an absolute path stays as is

    def preset_value(self, preset: str | None) -> str | None:
        """Return a preset: a shipped name as is, a YAML file from the spec's folder."""
        if preset is not None and is_preset_file(preset):
            return str(self.spec_path(preset))
        return preset

    def chosen_potentials(self) -> list[PotentialSpec]:
        """Return the potentials the flow runs with."""
        return list(self.potentials or [self.potential])

    def for_potential(self, potential: PotentialSpec) -> FlowSpec:
        """Return a copy whose every potential (spec and sections) is ``potential``."""
        update: dict[str, Any] = {"potential": potential, "potentials": None}
        for key in MAKER_SECTIONS:
            maker = getattr(self, key, None)
            if maker is not None:
                update[key] = dataclasses.replace(maker, potential=potential)
        return self.model_copy(update=update)

    def build_one(self) -> Flow | Job:
        """Build the flow of this kind for the spec's own potential(s)."""
        raise NotImplementedError

    def build(self) -> Flow:
        """Build the flow the spec describes (a sub-flow per ``potentials`` entry)."""
        try:
            if self.potentials:
                return self._build_each(self.potentials)
            work = self.build_one()
        except (TypeError, ValueError) as exc:
            raise SpecError(
                f"Invalid '{self.flow}' settings in spec '{self.name}': {exc}"
            ) from exc
        flow = work if isinstance(work, Flow) else Flow([work], output=work.output)
        flow.name = self.name
        return flow

    def _build_each(self, potentials: list[PotentialSpec]) -> Flow:
        """One sub-flow per potential; one that says it was skipped is left out.

        A flow may skip itself (``metadata['skipped']``, e.g. a table's potential
        without weights here); the reasons go to the parent's metadata by potential.
        """
        flows: dict[str, Flow] = {}
        skipped: dict[str, str] = {}
        for potential in potentials:
            part = self.for_potential(potential).build_one()
            flow = part if isinstance(part, Flow) else Flow([part], output=part.output)
            reason = (flow.metadata or {}).get("skipped")
            if reason:
                skipped[potential.label()] = reason
                continue
            flow.name = f"{self.name} [{potential.label()}]"
            flows[potential.label()] = flow
        return Flow(
            list[Flow | Job](flows.values()),
            output={label: f.output for label, f in flows.items()},
            name=self.name,
            metadata={"skipped": skipped} if skipped else {},
        )

    def used_potentials(self) -> list[PotentialSpec]:
        """Every potential a job of the flow will load."""
        found = self.chosen_potentials()
        for key in MAKER_SECTIONS:
            maker = getattr(self, key, None)
            if maker is not None and not self.potentials:
                found.append(maker.potential)
        return list({p.model_dump_json(): p for p in found}.values())

    def preflight(self) -> None:
        """Fail before any work when a potential's package or weights are missing."""
        for potential in self.used_potentials():
            check_available(potential)

    def record(self) -> dict[str, Any]:
        """Return the resolved spec as stored with the run."""
        return self.model_dump(mode="json")


class StructureFlowSpec(FlowSpec):
    """Kinds that start from one structure (a file, or a shipped prototype)."""

    structure: str | None = Field(
        None, description="Structure file (relative to the spec file) or 'prototype:NAME'."
    )
    supercell: int | list[int] | list[list[int]] | None = Field(
        None, description="Supercell: n, [a, b, c] or a 3x3 matrix."
    )

    def load_structure(self) -> Structure:
        """Read the structure (file or shipped prototype) and apply the supercell."""
        from sse_flows.structures import read_structure, require_ordered

        if self.structure is None:
            raise SpecError(f"Spec '{self.name}' needs a 'structure' for flow {self.flow}")
        if self.structure.startswith(PROTOTYPE_PREFIX):
            from sse_flows.structures.prototypes import load_prototype

            structure = load_prototype(self.structure[len(PROTOTYPE_PREFIX) :])
        else:
            path = self.spec_path(self.structure)
            if not path.exists() and not Path(self.structure).is_absolute():
                raise SpecError(
                    f"Structure file not found: {path} (the spec names "
                    f"'{self.structure}', and a relative path is read from the spec's "
                    f"folder {self.base_dir}); move the file there or give its full path"
                )
            structure = read_structure(path)
        if self.supercell is not None:
            structure = require_ordered(structure, "a supercell for MD")
            structure = structure.make_supercell(self.supercell, in_place=False)
        return structure


class StructuresFlowSpec(FlowSpec):
    """Kinds that take several structures (files or prototypes), one supercell for all.

    ``purpose`` names what they are for in the messages ("the ramp's MD", ...).
    """

    purpose: ClassVar[str] = "this flow"

    structures: list[str] = Field(
        default_factory=list,
        description="Structures: files (relative to the spec) or 'prototype:NAME'.",
    )
    supercell: int | list[int] | list[list[int]] | None = Field(
        None, description="Supercell applied to every structure: n, [a, b, c] or 3x3."
    )

    def load_structures(self) -> list[Structure]:
        """Read every structure (file or prototype) and apply the supercell."""
        from sse_flows.structures import read_structure, require_ordered

        if not self.structures:
            raise SpecError(f"Spec '{self.name}' lists no structures for {self.purpose}")
        loaded = []
        for name in self.structures:
            if name.startswith(PROTOTYPE_PREFIX):
                from sse_flows.structures.prototypes import load_prototype

                structure = load_prototype(name[len(PROTOTYPE_PREFIX) :])
            else:
                path = self.spec_path(name)
                if not path.exists() and not Path(name).is_absolute():
                    raise SpecError(
                        f"Structure file not found: {path} (a relative path is read "
                        f"from the spec's folder {self.base_dir})"
                    )
                structure = read_structure(path)
            if self.supercell is not None:
                structure = require_ordered(structure, f"a supercell for {self.purpose}")
                structure = structure.make_supercell(self.supercell, in_place=False)
            loaded.append(structure)
        return loaded
