"""The ordering problem: which supercell sites are disordered, and how many of each species.

A disordered structure (partial occupancies, CIF style) plus a supercell becomes a
fixed skeleton of sites. Sites of one symmetry orbit of the parent form a sublattice,
and each sublattice must hold an exact integer number of each species (vacancy
included). pymatgen's order-disorder transformation rounds occupancies silently; here a
supercell that cannot hold the composition is an error that names the sizes that can.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Composition, Element, Species, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from sse_flows.errors import StructureInputError

VACANCY = "X"
"""Label of an empty site in species lists and candidate documents."""

OCCUPANCY_TOL = 0.02
"""Largest deviation of occupancy x sites from an integer (CIF occupancies are rounded)."""


class OrderingError(StructureInputError):
    """A disordered structure cannot be ordered as asked."""


@dataclass(frozen=True)
class Sublattice:
    """The supercell images of one parent orbit of disordered sites."""

    sites: tuple[int, ...]
    """Indices of the sublattice's sites in the supercell skeleton."""
    species: tuple[str, ...]
    """Element symbols that may sit here, ``X`` for a vacancy."""
    counts: tuple[int, ...]
    """How many sites each species takes, in the order of ``species``."""
    charges: tuple[float, ...]
    """Formal charge of each species (0 for a vacancy)."""
    label: str = ""
    """Mean occupancies, e.g. ``Li:0.500, X:0.500`` (for messages)."""
    name: str = ""
    """The ``sublattice`` site property, or ``orbit N`` after the parent's site N."""

    @property
    def n_arrangements(self) -> int:
        """Number of ways to place the species, symmetry not yet applied."""
        total = math.factorial(len(self.sites))
        for count in self.counts:
            total //= math.factorial(count)
        return total


@dataclass
class OrderingProblem:
    """A supercell skeleton with its fixed sites and its sublattices to decorate."""

    parent: Structure
    supercell: np.ndarray
    skeleton: Structure
    """Supercell of the parent; disordered sites still carry partial occupancies."""
    fixed_species: dict[int, str]
    """Fully occupied sites: skeleton index to element symbol."""
    fixed_charges: dict[int, float]
    sublattices: list[Sublattice]
    oxidation_states: dict[str, float] = field(default_factory=dict)

    @property
    def disordered_sites(self) -> np.ndarray:
        """Skeleton indices of all decorated sites, sublattice by sublattice."""
        return np.array([i for sub in self.sublattices for i in sub.sites], dtype=int)

    @property
    def n_combinations(self) -> int:
        """Arrangements before symmetry reduction (product over sublattices)."""
        return math.prod(sub.n_arrangements for sub in self.sublattices)

    @property
    def ewald_degenerate(self) -> bool:
        """True when every sublattice mixes species of one charge (Na/Li, Cl/Br, In/Y).

        Electrostatics then gives every arrangement the same energy: rank with a
        potential instead.
        """
        return bool(self.sublattices) and all(
            len(set(sub.charges)) == 1 for sub in self.sublattices
        )

    def charge_vector(self, configs: np.ndarray) -> np.ndarray:
        """Charges on the disordered sites for configurations ``(n, n_disordered)``."""
        if not self.sublattices:
            return np.zeros((len(configs), 0))
        table = np.concatenate([np.asarray(sub.charges) for sub in self.sublattices])
        offsets = np.cumsum([0] + [len(sub.species) for sub in self.sublattices[:-1]])
        site_offset = np.repeat(offsets, [len(sub.sites) for sub in self.sublattices])
        return table[configs + site_offset]

    def decorate(self, config: Sequence[int] | np.ndarray) -> Structure:
        """Build the ordered structure of one configuration (vacancies removed)."""
        symbols: dict[int, str] = dict(self.fixed_species)
        position = 0
        for sub in self.sublattices:
            for site in sub.sites:
                symbols[site] = sub.species[int(config[position])]
                position += 1
        keep = [i for i in range(len(self.skeleton)) if symbols[i] != VACANCY]
        return Structure(
            self.skeleton.lattice,
            [symbols[i] for i in keep],
            self.skeleton.frac_coords[keep],
        )


def _symbol(species: Element | Species | object) -> str:
    return str(getattr(species, "symbol", species))


def site_charges(
    structure: Structure, oxidation_states: dict[str, float] | None
) -> dict[str, float]:
    """Formal charges per element: given, read from the species, or guessed.

    Guessing uses pymatgen's composition-based oxidation-state guesser on the whole
    (possibly disordered) composition, which handles the electrolytes here; pass the
    charges explicitly for anything exotic.
    """
    if oxidation_states:
        return {str(k): float(v) for k, v in oxidation_states.items()}
    found: dict[str, float] = {}
    for site in structure:
        for sp in site.species:
            oxi = getattr(sp, "oxi_state", None)
            if oxi is not None:
                found[_symbol(sp)] = float(oxi)
    elements = {_symbol(sp) for site in structure for sp in site.species}
    if elements <= set(found):
        return found
    amounts = {_symbol(sp): float(amt) for sp, amt in structure.composition.items()}
    scale = next(
        (
            k
            for k in range(1, 241)
            if all(abs(k * v - round(k * v)) < 1e-3 for v in amounts.values())
        ),
        None,
    )
    if scale is None:
        raise OrderingError(
            "Cannot guess oxidation states for these occupancies; give them explicitly."
        )
    composition = Composition({k: round(scale * v) for k, v in amounts.items()})
    guesses = composition.oxi_state_guesses(max_sites=-50)
    if not guesses:
        raise OrderingError(
            f"No charge-balanced oxidation states found for {composition.reduced_formula}. "
            "Give them explicitly (oxidation_states={'Li': 1, 'Cl': -1, ...})."
        )
    return {str(k): float(v) for k, v in guesses[0].items()}


def integer_counts(occupancies: dict[str, float], n_sites: int) -> dict[str, int] | None:
    """Species counts on ``n_sites`` sites, or None when not integer within tolerance."""
    counts: dict[str, int] = {}
    for symbol, occ in occupancies.items():
        exact = occ * n_sites
        rounded = round(exact)
        if abs(exact - rounded) > OCCUPANCY_TOL * max(1.0, n_sites / 10):
            return None
        counts[symbol] = rounded
    if sum(counts.values()) != n_sites:
        return None
    return counts


def _site_occupancies(structure: Structure, site: int) -> dict[str, float]:
    occ = {_symbol(sp): float(amt) for sp, amt in structure[site].species.items()}
    vacancy = 1.0 - sum(occ.values())
    if vacancy < -1e-3:
        raise OrderingError(
            f"Site {site} of {structure.composition.reduced_formula} has occupancies "
            f"summing to {1 - vacancy:.3f} > 1. Fix the structure file."
        )
    if vacancy > 1e-3:
        occ[VACANCY] = vacancy
    return occ


def _group_occupancies(structure: Structure, members: Sequence[int]) -> dict[str, float]:
    """Mean occupancy of each species (vacancy included) over a group of sites."""
    total: dict[str, float] = {}
    for site in members:
        for symbol, occ in _site_occupancies(structure, int(site)).items():
            total[symbol] = total.get(symbol, 0.0) + occ / len(members)
    return total


SUBLATTICE_PROPERTY = "sublattice"
"""Site property that groups sites into one sublattice with a joint exact count.

Without it each symmetry orbit of the parent is its own sublattice. Series builders set
it, e.g. all Li sites of Li3YCl6 as one pool for Na substitution, or the 4a and 4d
anion sites of an argyrodite kept apart even when their occupancies coincide.
"""


def pool_partial_sites(structure: Structure) -> Structure:
    """Return a copy whose partially occupied sites of one element set form one pool.

    A refinement often spreads one species over several orbits with occupancies that
    are integer only together (Li3YCl6: Li 6g 0.875 + 6h 0.625 = 9 of 12 sites; Y on
    two split 2d orbits, 0.566 + 0.434 = 2 of 4). Pooled, the cell holds the
    composition exactly and the Ewald ranking decides the split between orbits.
    """
    pooled = structure.copy()
    labels = [
        ""
        if site.is_ordered and site.species.num_atoms > 1 - 1e-3
        else "+".join(sorted(_symbol(sp) for sp in site.species))
        for site in structure
    ]
    pooled.add_site_property(SUBLATTICE_PROPERTY, labels)
    return pooled


def typed_structure(structure: Structure) -> Structure:
    """Return a stand-in with one pseudo-element per (occupancy, sublattice) type.

    spglib sees only atom types; this keeps operations from mapping sites of one
    sublattice onto another that happens to share occupancies.
    """
    labels = structure.site_properties.get(SUBLATTICE_PROPERTY, [None] * len(structure))
    types: dict[tuple[str, object], int] = {}
    numbers = []
    for site, label in zip(structure, labels, strict=True):
        key = (
            str(sorted((str(k), round(float(v), 4)) for k, v in site.species.items())),
            label,
        )
        numbers.append(types.setdefault(key, len(types) + 1))
    return Structure(
        structure.lattice, [Element.from_Z(n) for n in numbers], structure.frac_coords
    )


def parent_orbits(structure: Structure, symprec: float = 0.01) -> np.ndarray:
    """Label each site's sublattice: the ``sublattice`` property, else its orbit."""
    labels = structure.site_properties.get(SUBLATTICE_PROPERTY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pseudo-elements without electronegativity
        analyzer = SpacegroupAnalyzer(typed_structure(structure), symprec=symprec)
    orbits = np.asarray(analyzer.get_symmetry_dataset().equivalent_atoms)
    if labels is None:
        return orbits
    # Labelled sites form one sublattice per label; unlabelled ones keep their orbit.
    first: dict[object, int] = {}
    return np.array(
        [
            first.setdefault(label, i) if label not in (None, "") else int(orbits[i])
            for i, label in enumerate(labels)
        ]
    )


def smallest_valid_multiple(structure: Structure, symprec: float = 0.01) -> int:
    """Return the fewest parent cells that hold every sublattice's composition exactly."""
    orbits = parent_orbits(structure, symprec)
    for n_cells in range(1, 1001):
        ok = True
        for orbit in np.unique(orbits):
            members = np.flatnonzero(orbits == orbit)
            if all(structure[int(i)].is_ordered for i in members):
                continue
            occ = _group_occupancies(structure, members.tolist())
            if integer_counts(occ, len(members) * n_cells) is None:
                ok = False
                break
        if ok:
            return n_cells
    raise OrderingError("No supercell of up to 1000 cells makes the occupancies integer.")


def build_problem(
    structure: Structure,
    supercell: Sequence[int] | Sequence[Sequence[int]] | np.ndarray,
    oxidation_states: dict[str, float] | None = None,
    symprec: float = 0.01,
) -> OrderingProblem:
    """Set up the ordering of ``structure`` in ``supercell`` (3 ints or a 3x3 matrix)."""
    matrix = np.asarray(supercell, dtype=int)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or round(abs(np.linalg.det(matrix))) < 1:
        raise OrderingError(
            f"Supercell must be 3 positive integers or a 3x3 matrix: {supercell}"
        )
    charges = site_charges(structure, oxidation_states)
    missing = {
        _symbol(sp)
        for site in structure
        for sp in site.species
        if _symbol(sp) not in charges
    }
    if missing:
        raise OrderingError(f"No oxidation state given for {sorted(missing)}.")
    charges[VACANCY] = 0.0
    orbits = parent_orbits(structure, symprec)
    skeleton = structure.copy()
    skeleton.add_site_property("parent_orbit", [int(o) for o in orbits])
    skeleton.make_supercell(matrix)
    n_cells = round(abs(np.linalg.det(matrix)))
    sup_orbits = np.asarray(skeleton.site_properties["parent_orbit"])
    given = structure.site_properties.get(SUBLATTICE_PROPERTY)
    names = {int(o): given[i] for i, o in enumerate(orbits)} if given else {}

    fixed: dict[int, str] = {}
    sublattices: list[Sublattice] = []
    problems: list[str] = []
    for orbit in np.unique(sup_orbits):
        members = tuple(int(i) for i in np.flatnonzero(sup_orbits == orbit))
        if all(skeleton[i].is_ordered for i in members):
            for i in members:
                fixed[i] = _symbol(skeleton[i].specie)
            continue
        occ = _group_occupancies(skeleton, members)
        counts = integer_counts(occ, len(members))
        label = ", ".join(f"{k}:{v:.3f}" for k, v in occ.items())
        if counts is None:
            problems.append(
                f"orbit of site {int(orbit)} ({label}) on {len(members)} sites gives "
                + ", ".join(f"{k} {v * len(members):.2f}" for k, v in occ.items())
            )
            continue
        species = tuple(sorted(counts))
        sublattices.append(
            Sublattice(
                sites=members,
                species=species,
                counts=tuple(counts[s] for s in species),
                charges=tuple(charges[s] for s in species),
                label=label,
                name=str(names.get(int(orbit), f"orbit {int(orbit)}")),
            )
        )
    if problems:
        need = smallest_valid_multiple(structure, symprec)
        raise OrderingError(
            f"A supercell of {n_cells} cell(s) cannot hold the composition exactly: "
            + "; ".join(problems)
            + f". Use a supercell whose number of cells is a multiple of {need} "
            "(or adjust the occupancies)."
        )
    total_charge = sum(charges[s] for s in fixed.values()) + sum(
        c * n for sub in sublattices for c, n in zip(sub.charges, sub.counts, strict=True)
    )
    if abs(total_charge) > 1e-6:
        raise OrderingError(
            f"The ordered cells would carry a net charge of {total_charge:+.3f} e with "
            f"oxidation states {charges}. Check the occupancies or the oxidation states."
        )
    return OrderingProblem(
        parent=structure,
        supercell=matrix,
        skeleton=skeleton,
        fixed_species=fixed,
        fixed_charges={i: charges[s] for i, s in fixed.items()},
        sublattices=sublattices,
        oxidation_states=charges,
    )
