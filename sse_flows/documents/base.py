"""What every output document shares, the task-type registry, and one coercion helper.

Each document class names its ``task_type`` (a field default) and is registered under
it when defined. A document says how it reads to a person (:meth:`summary_lines`, for
``sse-flows show`` and every command's output) and which flat values it contributes to
queries and tables (:meth:`query_columns`, read from the stored dict so that blobs in
the data store need not be loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from sse_flows.potentials import LoadedPotential
from sse_flows.provenance import PotentialProvenance, RunProvenance

#: task type -> document class; filled as document modules are imported
DOCUMENTS: dict[str, type[Document]] = {}

T = TypeVar("T")


def coerce(value: Any, cls: type[T]) -> T:
    """Return ``value`` as an instance of ``cls``: itself, or built from its dict.

    Job outputs reach the next job as the object (run locally) or as the stored dict
    (with monty's ``@module``/``@class`` keys); this is the one place that tells them
    apart. ``cls`` is a pydantic model or an MSONable class (``Structure``).
    """
    if isinstance(value, cls):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if issubclass(cls, BaseModel):
        data = {k: v for k, v in dict(value).items() if not str(k).startswith("@")}
        return cls.model_validate(data)
    from_dict = getattr(cls, "from_dict", None)
    if from_dict is None:
        raise TypeError(f"cannot build {cls.__name__} from {type(value).__name__}")
    return from_dict(value)


class StructureSummary(BaseModel):
    """Query keys of a structure, kept at the top of every document."""

    formula_pretty: str = Field(description="Reduced formula, e.g. Li2S.")
    formula: str = Field(description="Full formula of the cell, e.g. Li8 S4.")
    chemsys: str = Field(description="Elements joined by '-' in alphabetical order.")
    elements: list[str] = Field(description="Sorted element symbols.")
    nsites: int = Field(description="Number of sites in the cell.")
    volume: float = Field(description="Cell volume in A^3.")
    density: float = Field(description="Density in g/cm^3.")

    @classmethod
    def of(cls, structure: Structure) -> StructureSummary:
        """Summarise a structure."""
        elements = sorted({el.symbol for el in structure.composition.elements})
        return cls(
            formula_pretty=structure.composition.reduced_formula,
            formula=structure.composition.formula,
            chemsys="-".join(elements),
            elements=elements,
            nsites=len(structure),
            volume=float(structure.volume),
            density=float(structure.density),
        )


def potential_line(potential: PotentialProvenance | None) -> str:
    """One line naming the potential, its package and weights."""
    if potential is None:
        return "  potential: none"
    sha = (potential.checkpoint_sha256 or "")[:12] or "-"
    return (
        f"  potential: {potential.name} {potential.checkpoint or ''} "
        f"({potential.package} {potential.package_version}, {potential.device}, "
        f"sha256 {sha})"
    )


class Document(BaseModel):
    """Base of every stored output document."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task_type: str = Field(description="What produced the document; its registry key.")

    def write_json(self, path: str | Path) -> str:
        """Write the document to ``path`` as JSON, atomically; return the path.

        A dynamic flow's last stage writes its document to a file that its document
        job reads: the rename means that job never reads half a file.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(self.model_dump_json(indent=1))
        partial.replace(path)
        return str(path)

    #: columns of :meth:`query_columns` that ``sse-flows query`` shows, in order
    shown_columns: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Register the class under its task type (the field's default)."""
        super().__pydantic_init_subclass__(**kwargs)
        default = cls.model_fields["task_type"].default
        if isinstance(default, str):
            DOCUMENTS[default] = cls

    def summary_lines(self) -> list[str]:
        """Readable lines for a person (``sse-flows show``)."""
        return [f"{self.task_type} document"]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Flat values (units in the names) for queries and tables, from the stored dict."""
        return {}


class TaskOutput(Document):
    """Fields every job on one structure with one potential carries."""

    summary: StructureSummary = Field(description="Query keys of the output structure.")
    structure: Structure = Field(description="Output structure (final frame).")
    input_structure: Structure = Field(description="Structure the job was given.")
    potential: PotentialProvenance = Field(description="The potential that was used.")
    provenance: RunProvenance = Field(description="Software, host, times, resolved inputs.")

    @staticmethod
    def fields_of(
        final: Structure,
        start: Structure,
        loaded: LoadedPotential,
        provenance: RunProvenance,
    ) -> dict[str, Any]:
        """Return the shared fields: the structures, the potential, the closed record."""
        return {
            "summary": StructureSummary.of(final),
            "structure": final,
            "input_structure": start,
            "potential": loaded.provenance,
            "provenance": provenance.finish(),
        }

    def summary_lines(self) -> list[str]:
        """Task, formula and potential."""
        return [
            f"{self.task_type} of {self.summary.formula_pretty} "
            f"({self.summary.nsites} sites)",
            potential_line(self.potential),
        ]


def document_class(task_type: str | None) -> type[Document] | None:
    """Return the document class registered for a task type."""
    import sse_flows.documents  # noqa: F401  (registers every document class)

    return DOCUMENTS.get(task_type or "")


def as_document(output: dict[str, Any] | Document) -> Document:
    """Validate a stored output into its document class (by its task type)."""
    if isinstance(output, Document):
        return output
    cls = document_class(output.get("task_type"))
    if cls is None:
        raise ValueError(f"no document class for task type {output.get('task_type')!r}")
    return coerce(output, cls)
