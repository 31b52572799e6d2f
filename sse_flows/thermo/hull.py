"""Convex hull analysis on energies: formation energy, energy above hull, decomposition.

Pure functions on pymatgen entries (no jobflow, no potential). Every entry carries
``entry.data['label']`` and ``entry.data['source']`` so results can name the phases
they came from.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.errors import SSEFlowsError

#: Energies below this (eV/atom) count as zero: on the hull, no Li exchanged.
HULL_TOLERANCE = 1e-6

#: Phases commonly on DFT (Materials Project) hulls of solid-electrolyte chemistries,
#: by chemical system. Not exhaustive: used only to tell users what their entry set
#: probably lacks, never to decide anything.
KNOWN_PHASES: dict[str, tuple[str, ...]] = {
    "Cl": ("Cl2",), "Br": ("Br2",), "I": ("I2",), "S": ("S",), "P": ("P",),
    "Cl-Li": ("LiCl",), "Br-Li": ("LiBr",), "I-Li": ("LiI",), "Li-O": ("Li2O", "Li2O2"),
    "Li-S": ("Li2S", "Li2S2"), "Li-P": ("Li3P", "LiP", "LiP5"), "Cl-Na": ("NaCl",),
    "P-S": ("P2S5", "P4S3"), "Cl-P": ("PCl3", "PCl5"), "Cl-S": ("S2Cl2",),
    "Br-P": ("PBr3",), "Br-S": ("S2Br2",), "Cl-Y": ("YCl3",), "Br-Y": ("YBr3",),
    "Cl-In": ("InCl3", "InCl"), "Cl-Zr": ("ZrCl4",), "Ge-S": ("GeS2", "GeS"),
    "Li-P-S": ("Li3PS4", "Li4P2S6", "Li7P3S11", "Li7PS6"),
    "Cl-Li-Y": ("Li3YCl6",), "Br-Li-Y": ("Li3YBr6",), "Cl-In-Li": ("Li3InCl6",),
    "Cl-Li-Zr": ("Li2ZrCl6",), "Ge-Li-S": ("Li4GeS4",), "Ge-Li-P-S": ("Li10GeP2S12",),
    "Cl-Li-P-S": ("Li6PS5Cl",), "Br-Li-P-S": ("Li6PS5Br",), "I-Li-P-S": ("Li6PS5I",),
}  # fmt: skip


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
) -> tuple[list[str], list[str]]:
    """Report what the entry set lacks for a complete hull of ``elements``.

    Returns the subsystems (2+ elements) with no compound at all, and the known phases
    of :data:`KNOWN_PHASES` that are absent (by reduced formula).
    """
    entries = list(entries)
    systems = {chemsys_of(e.composition) for e in entries}
    formulas = {e.composition.reduced_formula for e in entries}
    empty: list[str] = []
    absent: list[str] = []
    symbols = sorted(elements)
    for size in range(1, len(symbols) + 1):
        for subset in itertools.combinations(symbols, size):
            key = "-".join(subset)
            if size > 1 and key not in systems:
                empty.append(key)
            known = KNOWN_PHASES.get(key, ())
            for formula in known:
                if Composition(formula).reduced_formula not in formulas:
                    absent.append(formula)
    return empty, sorted(set(absent))


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
