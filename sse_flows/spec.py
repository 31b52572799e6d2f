"""Flow specification files: a YAML that names a structure, a potential and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from jobflow import Flow, Job
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows import RelaxMDMaker
from sse_flows.makers import MDMaker, RelaxMaker, StaticMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.structures import read_structure, require_ordered

FlowKind = Literal["static", "relax", "md", "relax_md"]


class FlowSpec(BaseModel):
    """Contents of a ``sse-flows run`` YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("sse-flows run", description="Name given to the flow.")
    structure: str = Field(description="Structure file, relative to the spec file.")
    supercell: int | list[int] | list[list[int]] | None = Field(
        None, description="Supercell: n, [a, b, c] or a 3x3 matrix."
    )
    potential: str | dict[str, Any] = Field("chgnet", description="Potential name or spec.")
    flow: FlowKind = Field("relax_md", description="Which flow to build.")
    relax: dict[str, Any] = Field(default_factory=dict, description="RelaxMaker settings.")
    static: dict[str, Any] = Field(default_factory=dict, description="StaticMaker settings.")
    md: dict[str, Any] = Field(default_factory=dict, description="MDMaker settings.")
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
        """Read the structure and apply the supercell."""
        path = Path(self.structure).expanduser()
        structure = read_structure(path if path.is_absolute() else self.base_dir / path)
        if self.supercell is not None:
            structure = require_ordered(structure, "a supercell for MD")
            structure = structure.make_supercell(self.supercell, in_place=False)
        return structure

    def build(self) -> Flow:
        """Return the flow the spec describes, with resolved settings."""
        potential = PotentialSpec.parse(self.potential).model_dump(exclude_defaults=True)
        structure = self.load_structure()
        try:
            relax = RelaxMaker(**self.relax)
            md = MDMaker(**self.md)
            static = StaticMaker(**self.static)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"Invalid maker settings in spec '{self.name}': {exc}") from exc
        job: Job | Flow
        if self.flow == "relax_md":
            job = RelaxMDMaker(potential=potential, relax_maker=relax, md_maker=md).make(
                structure
            )
        else:
            maker = {"static": static, "relax": relax, "md": md}[self.flow]
            job = maker.make(structure, potential=potential)
        flow = job if isinstance(job, Flow) else Flow([job], output=job.output)
        flow.name = self.name
        return flow
