"""What every maker shares: spec validation, the potential field, the job directory."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar

from jobflow import Maker
from pydantic import ConfigDict, GetCoreSchemaHandler
from pydantic_core import CoreSchema
from pymatgen.core import Structure

from sse_flows.documents import coerce
from sse_flows.potentials import (
    LoadedPotential,
    PotentialSpec,
    default_potential,
    load_potential,
)
from sse_flows.provenance import RunProvenance
from sse_flows.structures import require_ordered

P = ParamSpec("P")
R = TypeVar("R")

#: potentials loaded by the running job (see :func:`closes_potentials`)
_JOB_POTENTIALS: ContextVar[list[LoadedPotential] | None] = ContextVar(
    "_JOB_POTENTIALS", default=None
)


def closes_potentials(func: Callable[P, R]) -> Callable[P, R]:
    """Stop the model workers a job body started, when it returns or raises.

    A model in its own environment runs in a worker process per job
    (:mod:`sse_flows.potentials.proxy`); put this under ``@job`` on a ``make`` that
    calls :meth:`PotentialJobMaker.prepare`.
    """

    @functools.wraps(func)
    def scoped(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _JOB_POTENTIALS.set([])
        try:
            return func(*args, **kwargs)
        finally:
            for loaded in _JOB_POTENTIALS.get() or []:
                loaded.close()
            _JOB_POTENTIALS.reset(token)

    return scoped


class SpecSection:
    """Mixin: the maker dataclass is itself the settings model of a spec section.

    pydantic validates a spec's ``relax: {fmax: 0.01}`` into a ``RelaxMaker`` field by
    field (unknown keys refused, types checked, nested makers too). jobflow's
    ``Maker`` is MSONable, whose own pydantic schema accepts only serialised objects;
    this restores the dataclass schema.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Validate as a dataclass (not as a serialised MSONable)."""
        return handler(source)


def as_potential(value: PotentialSpec | str | dict[str, Any]) -> PotentialSpec:
    """Take a potential as given in Python (a name) or by another job (its dict)."""
    if isinstance(value, PotentialSpec):
        return value
    return (
        PotentialSpec.parse(value)
        if isinstance(value, str)
        else coerce(value, PotentialSpec)
    )


class PotentialField(SpecSection):
    """Mixin of makers with a ``potential`` field (job and flow makers alike).

    A name given in Python (``potential="chgnet"``) becomes a spec here, once; a
    maker read from a spec or the store holds a spec already.
    """

    potential: PotentialSpec | None

    def __post_init__(self) -> None:
        """Parse a potential given as a name or dict."""
        if self.potential is not None:
            self.potential = as_potential(self.potential)
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


@dataclass
class PotentialJobMaker(PotentialField, Maker):
    """Base of makers whose job evaluates a potential on a structure.

    ``make(..., potential=...)`` overrides the field, so a potential produced by an
    earlier job (a fine-tuned checkpoint) can be passed as a job argument.
    """

    #: resources its jobs need when submitted to a cluster (see sse_flows.cluster)
    resource_role: ClassVar[str] = "potential"

    name: str = "potential job"
    potential: PotentialSpec = field(default_factory=default_potential)

    def prepare(
        self, structure: Structure, potential: PotentialSpec | None
    ) -> tuple[LoadedPotential, RunProvenance]:
        """Check the structure, load the potential, and open the provenance record."""
        require_ordered(structure, what=f"'{self.name}'")
        return self.prepare_for([el.symbol for el in structure.composition], potential)

    def prepare_for(
        self, elements: list[str], potential: PotentialSpec | None
    ) -> tuple[LoadedPotential, RunProvenance]:
        """Load the potential for these elements and open the provenance record.

        Under :func:`closes_potentials` the loaded potential's worker (if it runs in
        another environment) is stopped when the job ends.
        """
        spec = self.potential if potential is None else as_potential(potential)
        loaded = load_potential(spec, elements=elements)
        scope = _JOB_POTENTIALS.get()
        if scope is not None:
            scope.append(loaded)
        inputs = {**asdict(self), "potential": spec.model_dump()}
        provenance = RunProvenance.start(
            inputs, extra_packages=(loaded.provenance.package,)
        )
        return loaded, provenance


def current_job_dir(root: Path, fallback: str) -> Path:
    """Return a stable directory for the running job: ``root/<job uuid>``.

    The uuid of a job does not change when it is rerun, so a killed job restarted by
    a workflow manager finds its checkpoint again.
    """
    from jobflow import CURRENT_JOB

    job = CURRENT_JOB.job
    return root / (job.uuid if job is not None else fallback)
