"""The structures of a table's rows: given by the user, shipped, or derived from a host.

A user structure (a file or a Structure, keyed by formula) wins; otherwise the recipe
names a shipped prototype or a host the row derives from by substitution. Rows whose
structure is nowhere to be found fail together in one error that says how to give them,
before any job is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pymatgen.core import Composition, Structure

from sse_flows.errors import SSEFlowsError, StructureInputError
from sse_flows.flows.paper_tables.recipes import StructureSource, TableRecipe
from sse_flows.query import formula_key

StructureInput = Structure | str | Path


class MissingStructureError(SSEFlowsError):
    """A table row needs a structure that is not shipped and was not given."""


@dataclass
class RowStructure:
    """The structure of one row (ordered, or disordered to be ordered) and its origin."""

    formula: str
    structure: Structure
    source: str


def parse_structure_args(items: Iterable[str]) -> dict[str, str]:
    """Parse ``FORMULA=FILE`` command-line items into a mapping."""
    given: dict[str, str] = {}
    for item in items:
        formula, sep, path = item.partition("=")
        if not sep or not formula.strip() or not path.strip():
            raise StructureInputError(
                f"--structure takes FORMULA=FILE (e.g. Li3YCl6=Li3YCl6.cif), not '{item}'"
            )
        given[formula.strip()] = path.strip()
    return given


def _same_composition(a: Composition, b: Composition, tol: float = 0.01) -> bool:
    """Equal atomic fractions within ``tol`` (refined occupancies are not exact)."""
    fa, fb = a.fractional_composition, b.fractional_composition
    elements = set(fa.elements) | set(fb.elements)
    return all(abs(fa[el] - fb[el]) <= tol for el in elements)


def _read(value: StructureInput) -> tuple[Structure, str]:
    if isinstance(value, Structure):
        return value, "given"
    from sse_flows.structures import read_and_validate

    structure, _ = read_and_validate(value)
    return structure, f"file {value}"


def read_given(
    recipe: TableRecipe, given: Mapping[str, StructureInput]
) -> dict[str, tuple[Structure, str]]:
    """Read the user's structures, keyed by the recipe formula (row or host) they match."""
    sources = {**recipe.hosts, **recipe.structures}
    known = {formula_key(f): f for f in sources}
    known |= {formula_key(a): f for f, s in sources.items() for a in s.also_match}
    out: dict[str, tuple[Structure, str]] = {}
    for formula, value in given.items():
        target = known.get(formula_key(formula))
        if target is None:
            raise StructureInputError(
                f"{recipe.table} has no row or host with formula {formula}; its "
                f"structures are {', '.join(sources)}"
            )
        structure, origin = _read(value)
        allowed = [target, *sources[target].also_match]
        composition = structure.composition
        if not any(_same_composition(composition, Composition(f)) for f in allowed):
            raise StructureInputError(
                f"the structure given for {target} ({origin}) is "
                f"{structure.composition.reduced_formula}, not {target}"
            )
        out[target] = (structure, f"user ({origin})")
    return out


def _pooled(structure: Structure, source: StructureSource) -> Structure:
    from sse_flows.ordering.problem import pool_partial_sites

    return pool_partial_sites(structure) if source.pool else structure


def _from_source(
    formula: str,
    source: StructureSource,
    recipe: TableRecipe,
    given: dict[str, tuple[Structure, str]],
) -> RowStructure | None:
    from sse_flows.ordering.series import substitution_series
    from sse_flows.structures import load_prototype

    if formula in given:
        structure, origin = given[formula]
        return RowStructure(formula, _pooled(structure, source), origin)
    if source.prototype:
        return RowStructure(
            formula,
            _pooled(load_prototype(source.prototype), source),
            f"prototype {source.prototype}",
        )
    if source.host and source.substitute and source.amount is not None:
        host = _from_source(
            source.host, recipe.hosts.get(source.host, StructureSource()), recipe, given
        )
        if host is None:
            return None
        (site, new), *_ = source.substitute.items()
        member = substitution_series(host.structure, site, new, [source.amount])[0]
        origin = f"{new} for {site} (x={source.amount:g}) in {source.host}: {host.source}"
        return RowStructure(formula, member.structure, origin)
    return None


def _missing_message(recipe: TableRecipe, missing: list[str], n_rows: int) -> str:
    needed: dict[str, list[str]] = {}  # structure to give -> rows needing it
    for formula in missing:
        source = recipe.structures[formula]
        needed.setdefault(source.host or formula, []).append(formula)
    by_note: dict[str, list[str]] = {}  # structures sharing a note are listed together
    for name, rows in needed.items():
        note = (
            recipe.hosts.get(name) or recipe.structures.get(name) or StructureSource()
        ).note
        uses = "" if rows == [name] else f" (the host of {', '.join(rows)})"
        by_note.setdefault(note, []).append(f"{name}{uses}")
    parts = [
        ", ".join(names) + (f": {note}" if note else "") for note, names in by_note.items()
    ]
    example = next(iter(needed))
    text = (
        f"{recipe.table} needs structure(s) that are not shipped with sse-flows: "
        + "; ".join(parts)
        + (". Give it" if len(needed) == 1 else ". Give each")
        + f" as a file: `sse-flows table {recipe.table} --compute --structure "
        f"{example}={example}.cif` (Python: PaperTableMaker(table='{recipe.table}')"
        f".make({{'{example}': '{example}.cif'}})). An ordered cell is used as it is; "
        "a disordered one (partial occupancies) is ordered first."
    )
    if len(missing) < n_rows:
        text += " Or compute only the rows that have one: --formula FORMULA."
    return text


def resolve_structures(
    recipe: TableRecipe,
    given: Mapping[str, StructureInput] | None = None,
    formulas: Iterable[str] | None = None,
) -> dict[str, RowStructure]:
    """Return the structures of the rows asked for (all by default); fail on missing."""
    read = read_given(recipe, given or {})
    by_key = {formula_key(f): f for f in recipe.structures}
    if formulas is None:
        wanted = list(recipe.structures)
    else:
        wanted = []
        for formula in formulas:
            if formula_key(formula) not in by_key:
                raise StructureInputError(
                    f"{recipe.table} has no row with formula {formula}; rows: "
                    f"{', '.join(recipe.structures)}"
                )
            wanted.append(by_key[formula_key(formula)])
    rows: dict[str, RowStructure] = {}
    missing = []
    for formula in dict.fromkeys(wanted):
        row = _from_source(formula, recipe.structures[formula], recipe, read)
        if row is None:
            missing.append(formula)
        else:
            rows[formula] = row
    if missing:
        raise MissingStructureError(
            _missing_message(recipe, missing, len(recipe.structures))
        )
    return rows


def available_structures(
    recipe: TableRecipe, formulas: Iterable[str], given: Mapping[str, StructureInput]
) -> dict[str, RowStructure]:
    """Return the structures of ``formulas`` that can be had (the others: none)."""
    read = read_given(recipe, given)
    out = {}
    for formula in formulas:
        row = _from_source(
            formula, recipe.structures.get(formula, StructureSource()), recipe, read
        )
        if row is not None:
            out[formula] = row
    return out
