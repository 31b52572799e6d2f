"""Convex hull analysis on energies: formation energy, energy above hull, decomposition.

Pure functions on pymatgen entries (no jobflow, no potential). Every entry carries
``entry.data['label']`` and ``entry.data['source']`` so results can name the phases
they came from.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.errors import SSEFlowsError

#: Energies below this (eV/atom) count as zero: on the hull, no Li exchanged.
HULL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class KnownPhase:
    """A phase a hull of its system should hold (``sse_flows/data/known_phases.yaml``)."""

    formula: str
    role: str  # hull | reduction | oxidation (see the data file)
    spacegroup: str = ""
    name: str = ""
    reference: str = ""
    note: str = ""

    @property
    def elements(self) -> set[str]:
        """Its elements."""
        return {el.symbol for el in Composition(self.formula).elements}


@lru_cache(maxsize=1)
def known_phases() -> tuple[KnownPhase, ...]:
    """Return the curated known phases of solid-electrolyte chemistries."""
    path = Path(str(resources.files("sse_flows") / "data" / "known_phases.yaml"))
    return tuple(KnownPhase(**p) for p in yaml.safe_load(path.read_text())["phases"])


class StabilityError(SSEFlowsError):
    """A phase-stability analysis cannot be done as asked."""


class MissingReferenceError(StabilityError):
    """An element of the system has no elemental reference entry."""


class IncompleteHullError(StabilityError):
    """Competing phases failed, so the hull would be built without them."""


def chemsys_of(composition: Composition) -> str:
    """Return the chemical system as 'A-B-C' in alphabetical order."""
    return "-".join(sorted(el.symbol for el in composition.elements))


def make_entry(
    composition: Composition | str,
    energy: float,
    label: str,
    source: str,
    **data: Any,
) -> ComputedEntry:
    """Build an entry with total ``energy`` (eV) for ``composition`` and a label."""
    comp = Composition(composition)
    return ComputedEntry(
        comp,
        float(energy),
        entry_id=label,
        data={"label": label, "source": source, **data},
    )


def label_of(entry: Any) -> str:
    """Return an entry's label (its data label, entry_id or formula)."""
    data = getattr(entry, "data", None) or {}
    return str(data.get("label") or getattr(entry, "entry_id", None) or entry.name)


def missing_references(
    entries: Iterable[ComputedEntry], elements: Iterable[str]
) -> list[str]:
    """Elements of ``elements`` that no single-element entry represents."""
    have = {e.composition.elements[0].symbol for e in entries if e.composition.is_element}
    return sorted(set(elements) - have)


def require_references(
    entries: Iterable[ComputedEntry], elements: Iterable[str], hint: str = ""
) -> None:
    """Raise MissingReferenceError naming every element without a reference entry."""
    missing = missing_references(entries, elements)
    if missing:
        raise MissingReferenceError(
            f"No elemental reference for {', '.join(missing)}: formation energies and the "
            f"hull need the energy of each pure element computed with the same potential. "
            f"Supply a structure of elemental {', '.join(missing)} (e.g. a CIF in the "
            "competing-phase directory, or `competing=[...]`) or a precomputed entry."
            + (f" {hint}" if hint else "")
        )


def missing_phases(
    entries: Iterable[ComputedEntry], elements: Sequence[str]
) -> tuple[list[str], list[KnownPhase]]:
    """Report what the entry set lacks for a complete hull of ``elements``.

    Returns the subsystems (2+ elements) with no compound at all, and the known phases
    of the system (:func:`known_phases`) that no entry has the formula of.
    """
    entries = list(entries)
    systems = {chemsys_of(e.composition) for e in entries}
    formulas = {e.composition.reduced_formula for e in entries}
    symbols = sorted(elements)
    empty = [
        "-".join(subset)
        for size in range(2, len(symbols) + 1)
        for subset in itertools.combinations(symbols, size)
        if "-".join(subset) not in systems
    ]
    absent = [
        phase
        for phase in known_phases()
        if phase.elements <= set(symbols)
        and Composition(phase.formula).reduced_formula not in formulas
    ]
    return empty, absent


@dataclass
class DecompositionPhase:
    """One product of a decomposition, with its share of the target's atoms."""

    label: str
    formula: str
    fraction: float


@dataclass
class HullResult:
    """Formation energy, distance to the hull and decomposition of one target entry."""

    e_form_eV_atom: float
    e_hull_eV_atom: float
    e_decomp_eV_atom: float | None
    decomposition: list[DecompositionPhase]
    e_above_hull: dict[str, float] = field(default_factory=dict)
    stable: bool = False
    phase_diagram: PhaseDiagram | None = None


def analyze_hull(
    target: ComputedEntry, competing: Sequence[ComputedEntry], *, decomp_energy: bool = True
) -> HullResult:
    """Build the phase diagram of target + competing entries and place the target on it.

    ``e_hull_eV_atom`` is >= 0 (the target is part of the diagram); ``e_decomp_eV_atom``
    is pymatgen's phase-separation energy: negative by how far a stable target lies
    below the hull of the other phases, equal to E_hull otherwise.
    """
    elements = [el.symbol for el in target.composition.elements]
    entries = [target, *competing]
    require_references(entries, elements)
    outside = [
        label_of(e)
        for e in competing
        if not {el.symbol for el in e.composition.elements} <= set(elements)
    ]
    if outside:
        raise StabilityError(
            f"Entries {', '.join(outside)} hold elements outside the target's system "
            f"{chemsys_of(target.composition)}; give only phases of that system."
        )
    diagram = PhaseDiagram(entries)
    decomposition, e_hull = diagram.get_decomp_and_e_above_hull(target, allow_negative=True)
    assert e_hull is not None and decomposition is not None
    e_hull = max(float(e_hull), 0.0)
    products = [
        DecompositionPhase(
            label=label_of(entry),
            formula=entry.composition.reduced_formula,
            fraction=float(amount),
        )
        for entry, amount in sorted(decomposition.items(), key=lambda kv: -kv[1])
        if amount > HULL_TOLERANCE
    ]
    e_decomp: float | None = None
    if decomp_energy:
        e_decomp = float(diagram.get_phase_separation_energy(target))
    return HullResult(
        e_form_eV_atom=float(diagram.get_form_energy_per_atom(target)),
        e_hull_eV_atom=e_hull,
        e_decomp_eV_atom=e_decomp,
        decomposition=products,
        e_above_hull={
            label_of(e): max(float(diagram.get_e_above_hull(e) or 0.0), 0.0)
            for e in entries
        },
        stable=e_hull < HULL_TOLERANCE,
        phase_diagram=diagram,
    )


def element_symbols(elements: Iterable[Element | str]) -> list[str]:
    """Return sorted symbols of elements given as Element or str."""
    return sorted(str(getattr(el, "symbol", el)) for el in elements)
