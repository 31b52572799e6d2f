"""The prototype structure library: published structures of electrolytes and hull phases.

The structures ship as CIF files in ``sse_flows/data/prototypes`` with an
``index.yaml`` that records where each one comes from (built by
``scripts/build_prototypes.py``). Every structure is validated when it is loaded, and
the same checks are available for user files through :func:`validate_structure` and
:func:`read_and_validate`, so a wrong file fails early with a message that says what
is wrong, instead of as an exploding MD run hours later.
"""

from __future__ import annotations

import contextlib
import difflib
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pymatgen.core import Element, Structure

from sse_flows.errors import StructureInputError
from sse_flows.structures.io import read_structure

Role = Literal["electrolyte", "competing", "element", "source"]
ROLES: tuple[str, ...] = ("electrolyte", "competing", "element", "source")

#: Occupancies may sum to slightly above 1 from rounding in published tables.
OCCUPANCY_TOLERANCE = 1e-3
#: Relative charge imbalance accepted for refined (disordered) compositions, whose
#: occupancies are measured numbers (e.g. Li10.1GeP2S12 from Rietveld, 0.3 % off).
DISORDERED_CHARGE_TOLERANCE = 0.02
#: Default shortest accepted distance, as a fraction of the sum of covalent radii.
MIN_DISTANCE_SCALE = 0.5


@dataclass(frozen=True)
class PrototypeInfo:
    """One entry of the library index: what the structure is and where it comes from."""

    name: str
    """Name to load it by (case-insensitive), e.g. ``"Li10GeP2S12"``."""
    formula: str
    """Nominal formula of the compound (the refined composition may differ slightly)."""
    spacegroup_symbol: str
    """Hermann-Mauguin symbol found by spglib on the shipped cell."""
    spacegroup_number: int
    """International Tables number."""
    role: Role
    """``electrolyte``, ``competing`` (phase on the hull), ``element`` (reference) or
    ``source`` (a file as published, kept for provenance and comparison; never used
    by a flow unless asked for by name)."""
    nsites: int
    """Sites in the shipped (conventional) cell; partial sites count once."""
    ordered: bool
    """False when some sites are partially occupied (order before MD)."""
    oxidation_states: dict[str, int]
    """Formal oxidation states used for the charge-balance check."""
    source: str
    """Full literature reference of the crystallographic data."""
    file: str
    """CIF file name inside the package data directory."""
    doi: str | None = None
    """DOI of the reference, when it has one."""
    icsd: int | None = None
    """ICSD collection code, when known."""
    cod: int | None = None
    """COD id, when known."""
    note: str = ""
    """Which sites are disordered, what the papers used, caveats."""
    formula_units: float = field(default=1.0)
    """Formula units of ``formula`` in the shipped cell."""
    origin: str | None = None
    """Repository, commit and path of a file taken from a public repository."""
    noised: bool = False
    """True for a file whose coordinates carry deliberate noise (see ``note``)."""
    parent: str | None = None
    """The prototype this one was made from (restored, ordered or substituted)."""
    comparisons: list[str] = field(default_factory=list)
    """How it compares with independent files of the same phase."""

    @property
    def short_source(self) -> str:
        """First author and year-ish, for one-line listings."""
        text = self.source.split(",")[0]
        return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class ValidationReport:
    """What :func:`validate_structure` checked (it raises on the first failure)."""

    formula: str
    charge_checked: bool
    net_charge: float | None
    min_distance: float | None
    notes: list[str] = field(default_factory=list)


def _data_dir() -> Path:
    return Path(str(resources.files("sse_flows") / "data" / "prototypes"))


@lru_cache(maxsize=1)
def _index() -> dict[str, PrototypeInfo]:
    path = _data_dir() / "index.yaml"
    if not path.is_file():  # pragma: no cover - packaging error
        raise StructureInputError(
            f"The prototype index {path} is missing; reinstall sse-flows or run "
            "scripts/build_prototypes.py."
        )
    raw = yaml.safe_load(path.read_text())
    infos = [PrototypeInfo(**entry) for entry in raw["prototypes"]]
    return {info.name.lower(): info for info in infos}


def list_prototypes(role: str | None = None) -> list[PrototypeInfo]:
    """All prototypes, optionally only one role, in library order."""
    if role is not None and role not in ROLES:
        raise StructureInputError(
            f"Unknown prototype role '{role}'. Use one of: {', '.join(ROLES)}."
        )
    return [info for info in _index().values() if role is None or info.role == role]


def get_prototype_info(name: str) -> PrototypeInfo:
    """Look up the index entry of ``name`` (any case); unknown names list close ones."""
    index = _index()
    info = index.get(name.strip().lower())
    if info is not None:
        return info
    names = [i.name for i in index.values()]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    close += [n for n in names if name.lower() in n.lower() and n not in close]
    hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
    raise StructureInputError(
        f"No prototype named '{name}'.{hint} `sse-flows prototypes` lists all "
        f"{len(names)} names."
    )


def load_prototype(name: str) -> Structure:
    """Load a library structure by name, validated (charge, distances, occupancies)."""
    info = get_prototype_info(name)
    path = _data_dir() / info.file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = Structure.from_file(str(path))
    if info.role == "source":
        return structure  # as published: noise and refined occupancies included
    try:
        validate_structure(structure, info.oxidation_states)
    except StructureInputError as exc:  # pragma: no cover - shipped data are checked
        raise StructureInputError(
            f"Shipped prototype {info.file} is invalid: {exc}"
        ) from exc
    return structure


def write_prototype(name: str, path: str | Path, fmt: str | None = None) -> Path:
    """Write a prototype to ``path``; format from ``fmt`` or the file name.

    CIF keeps partial occupancies; POSCAR and extxyz need an ordered cell, so for a
    disordered prototype they are refused with a hint.
    """
    structure = load_prototype(name)
    path = Path(path).expanduser()
    kind = (fmt or _format_from_name(path)).lower()
    if kind not in {"cif", "poscar", "extxyz"}:
        raise StructureInputError(
            f"Cannot write format '{kind}'. Use a .cif, POSCAR/.vasp or .extxyz file name."
        )
    if kind != "cif" and not structure.is_ordered:
        raise StructureInputError(
            f"Prototype '{name}' has partially occupied sites, which {kind} cannot hold. "
            "Write it as .cif, or order it first (e.g. `sse-flows order`)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "cif":
        from pymatgen.io.cif import CifWriter

        with warnings.catch_warnings():  # non-unique labels of split sites: harmless
            warnings.simplefilter("ignore")
            CifWriter(structure).write_file(str(path))
    elif kind == "poscar":
        structure.to(filename=str(path), fmt="poscar")
    else:
        from ase.io import write

        from sse_flows.structures.io import to_atoms

        write(str(path), to_atoms(structure), format="extxyz")
    return path


def _format_from_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".cif"):
        return "cif"
    if name.endswith((".vasp", ".poscar")) or name.startswith(("poscar", "contcar")):
        return "poscar"
    if name.endswith((".extxyz", ".xyz")):
        return "extxyz"
    raise StructureInputError(
        f"Cannot tell the format of '{path.name}' from its name. Use .cif, POSCAR, "
        ".vasp or .extxyz."
    )


def validate_structure(
    structure: Structure,
    oxidation_states: dict[str, int] | None = None,
    *,
    min_distance_scale: float = MIN_DISTANCE_SCALE,
) -> ValidationReport:
    """Check a structure is physically sensible; raise StructureInputError if not.

    - occupancies of a site sum to at most 1 (+1e-3);
    - the composition is charge balanced with ``oxidation_states`` (weighted by
      occupancy; exact for ordered cells, within 2 % for refined disordered ones).
      Without oxidation states the check is skipped and the report says so;
    - no two atoms closer than ``min_distance_scale`` times the sum of their covalent
      radii. Pairs of partially occupied sites whose occupancies add to at most 1 are
      exempt: they are alternatives (e.g. the Li 48h pairs in argyrodites, 1.8 A apart).
    """
    if len(structure) == 0:
        raise StructureInputError("The structure has no sites.")
    report = ValidationReport(
        formula=structure.composition.reduced_formula,
        charge_checked=False,
        net_charge=None,
        min_distance=None,
    )
    occupancies = np.array([site.species.num_atoms for site in structure])
    over = np.flatnonzero(occupancies > 1 + OCCUPANCY_TOLERANCE)
    if over.size:
        shown = ", ".join(
            f"site {i} {structure[int(i)].species} (sum {occupancies[i]:.3f})"
            for i in over[:5]
        )
        raise StructureInputError(
            f"{report.formula}: occupancies add up to more than 1 on {over.size} site(s): "
            f"{shown}. Fix the occupancies in the file (each site holds at most one atom)."
        )
    _check_charge(structure, oxidation_states, report)
    _check_distances(structure, occupancies, min_distance_scale, report)
    return report


def _check_charge(
    structure: Structure, oxidation_states: dict[str, int] | None, report: ValidationReport
) -> None:
    composition = structure.composition
    symbols = sorted({el.symbol for el in composition.elements})
    if oxidation_states is None:
        report.notes.append(
            "charge balance not checked: no oxidation states given for "
            + ", ".join(symbols)
        )
        return
    missing = [s for s in symbols if s not in oxidation_states]
    if missing:
        report.notes.append(
            "charge balance not checked: no oxidation state for " + ", ".join(missing)
        )
        return
    charges = {el: oxidation_states[el.symbol] * composition[el] for el in composition}
    net = float(sum(charges.values()))
    positive = float(sum(c for c in charges.values() if c > 0))
    report.net_charge = net
    report.charge_checked = True
    tolerance = (
        1e-3 if structure.is_ordered else DISORDERED_CHARGE_TOLERANCE * max(positive, 1.0)
    )
    if abs(net) > tolerance:
        states = ", ".join(f"{k} {v:+d}" for k, v in sorted(oxidation_states.items()))
        raise StructureInputError(
            f"{report.formula} is not charge balanced with oxidation states {states}: "
            f"net charge {net:+.3f} e per cell ({composition.formula}). Check the "
            "occupancies and the species in the file, or pass the right oxidation states."
        )


def _check_distances(
    structure: Structure,
    occupancies: np.ndarray,
    scale: float,
    report: ValidationReport,
) -> None:
    radii = np.array([_covalent_radius(site.species) for site in structure])
    cutoff = max(2 * scale * float(radii.max()), 4.0)  # also reports the shortest distance
    centers, neighbors, _, distances = structure.get_neighbor_list(cutoff)
    if len(distances) == 0:
        return
    report.min_distance = float(distances.min())
    limit = scale * (radii[centers] + radii[neighbors])
    alternatives = (
        occupancies[centers] + occupancies[neighbors]
    ) <= 1 + OCCUPANCY_TOLERANCE
    bad = np.flatnonzero((distances < limit) & ~alternatives)
    if bad.size == 0:
        return
    k = int(bad[np.argmin(distances[bad] / limit[bad])])
    i, j = int(centers[k]), int(neighbors[k])
    raise StructureInputError(
        f"{report.formula}: atoms {i} ({structure[i].species}) and {j} "
        f"({structure[j].species}) are {distances[k]:.2f} A apart, below the "
        f"{limit[k]:.2f} A limit ({scale:g} x sum of covalent radii); "
        f"{bad.size // 2 or 1} such pair(s). The file likely has duplicated or "
        "misplaced atoms, or a wrong cell; check the coordinates and lattice."
    )


def _covalent_radius(species: Any) -> float:
    """Occupancy-weighted covalent radius of a site (Cordero et al. 2008, via pymatgen)."""
    total, weight = 0.0, 0.0
    for sp, occ in species.items():
        symbol = str(getattr(sp, "symbol", sp))
        radius = _COVALENT.get(symbol)
        if radius is None:
            try:
                radius = float(Element(symbol).atomic_radius or 1.5)
            except ValueError:  # dummy species
                radius = 1.5
        total += radius * occ
        weight += occ
    return total / weight if weight else 1.5


# Covalent radii in A (B. Cordero et al., Dalton Trans. 2832 (2008)) for the elements
# of solid electrolytes; other elements fall back to pymatgen's atomic radius.
_COVALENT: dict[str, float] = {
    "H": 0.31, "Li": 1.28, "B": 0.84, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57,
    "Na": 1.66, "Mg": 1.41, "Al": 1.21, "Si": 1.11, "P": 1.07, "S": 1.05, "Cl": 1.02,
    "K": 2.03, "Ca": 1.76, "Sc": 1.70, "Ti": 1.60, "Zn": 1.22, "Ga": 1.22, "Ge": 1.20,
    "As": 1.19, "Se": 1.20, "Br": 1.20, "Rb": 2.20, "Sr": 1.95, "Y": 1.90, "Zr": 1.75,
    "Nb": 1.64, "In": 1.42, "Sn": 1.39, "Sb": 1.39, "Te": 1.38, "I": 1.39, "Cs": 2.44,
    "Ba": 2.15, "La": 2.07, "Hf": 1.75, "Ta": 1.70,
}  # fmt: skip


def read_and_validate(
    path: str | Path,
    oxidation_states: dict[str, int] | None = None,
    *,
    min_distance_scale: float = MIN_DISTANCE_SCALE,
) -> tuple[Structure, ValidationReport]:
    """Read a structure file (as ``read_structure``) and validate it; errors name the file.

    For CIF files the occupancies are checked in the file itself: pymatgen's parser
    drops a CIF whose site occupancies add up to more than 1, and the ASE fallback of
    ``read_structure`` then reads it as fully occupied, silently changing the compound.
    """
    if str(path).lower().endswith(".cif"):
        _check_cif_occupancies(Path(path).expanduser())
    structure = read_structure(path)
    try:
        report = validate_structure(
            structure, oxidation_states, min_distance_scale=min_distance_scale
        )
    except StructureInputError as exc:
        raise StructureInputError(f"{path}: {exc}") from exc
    return structure, report


def _check_cif_occupancies(path: Path) -> None:
    from pymatgen.io.cif import CifParser

    if not path.is_file():
        return  # read_structure reports the missing file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.suppress(Exception):  # read_structure reports unreadable files
            CifParser(str(path)).parse_structures(primitive=False)
    for warning in caught:
        text = str(warning.message)
        if "sum to > 1" in text:
            detail = text.split("!")[0]
            raise StructureInputError(
                f"{path}: occupancies add up to more than 1 on some sites ({detail}). Fix "
                "the occupancies in the file (each site holds at most one atom)."
            )
