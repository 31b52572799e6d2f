"""Where the phases of a hull come from: shipped prototypes, user files, derivations.

Competing phases are every shipped prototype whose elements lie in the target's
system, user structures, and precomputed entries (used as given: their energies must
be on the same scale as the potential's). Solid Cl2 and Br2, which the library lacks,
are derived from the shipped I2 (Cmca) cell, with which they are isostructural.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymatgen.core import Structure
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.thermo.hull import StabilityError, make_entry

#: Experimental volumes per atom (A^3) of solid Cl2 and Br2 (Cmca, low temperature),
#: used to scale the I2 cell before the potential relaxes it.
HALOGEN_VOLUMES = {"Cl": 28.9, "Br": 32.5}


@dataclass
class CompetingPhase:
    """A structure to relax as a competing phase, with where it came from."""

    label: str
    structure: Structure
    source: str = "user"
    detail: str | None = None


def entry_from_dict(data: ComputedEntry | dict[str, Any]) -> ComputedEntry:
    """Return a precomputed entry (a ComputedEntry, its dict, or composition + energy)."""
    if isinstance(data, ComputedEntry):
        entry = data
    elif "@class" in data:
        entry = ComputedEntry.from_dict(data)
    else:
        label = str(data.get("label", data["composition"]))
        entry = make_entry(data["composition"], float(data["energy"]), label, "entry")
    entry.data.setdefault("label", entry.entry_id or entry.composition.reduced_formula)
    entry.data["source"] = "entry"
    return entry


def prototype_phases(
    elements: Sequence[str], exclude_formula: str | None = None
) -> list[CompetingPhase]:
    """Ordered shipped prototypes whose elements all lie in ``elements``."""
    from sse_flows.structures import list_prototypes, load_prototype

    out = []
    for info in list_prototypes():
        if info.role == "source":
            continue  # a file as published; its curated or restored prototype is used
        structure = load_prototype(info.name)
        symbols = {el.symbol for el in structure.composition.elements}
        if not symbols <= set(elements) or not structure.is_ordered:
            continue
        if structure.composition.reduced_formula == exclude_formula:
            continue
        out.append(CompetingPhase(info.name, structure, "prototype", info.name))
    return out


def derived_halogen(symbol: str) -> CompetingPhase:
    """Solid X2 (Cmca) from the shipped I2 cell: I -> X, scaled to X2's volume."""
    from sse_flows.structures import load_prototype

    if symbol not in HALOGEN_VOLUMES:
        raise StabilityError(f"No derived reference for {symbol}; supply its structure.")
    structure = load_prototype("I2").copy()
    structure.replace_species({"I": symbol})
    structure.scale_lattice(HALOGEN_VOLUMES[symbol] * len(structure))
    return CompetingPhase(
        f"{symbol}2", structure, "derived", f"I2 (Cmca) prototype with I->{symbol}"
    )


def read_competing_dir(directory: str | Path) -> list[CompetingPhase]:
    """Read every structure file of a directory as a user competing phase."""
    from sse_flows.structures import read_structure

    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise StabilityError(f"Competing-phase directory not found: {folder}")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
    )
    return [CompetingPhase(p.stem, read_structure(p), "user", str(p)) for p in files]
