"""Endpoints of an ion hop for an NEB: vacancy hop, empty-site hop, or an MD run's jump.

Both endpoints are pymatgen Structures in the input's cell with the atoms in one order
(what :func:`sse_flows.calc.neb.neb` and ``NEBMaker`` take). The hopping ion keeps its
index, and its final position is the image of the target site nearest to where it
starts, so the straight path between the endpoints is the hop itself.

This module sits with the structures, below the analysis: a site analysis of an MD run
(:class:`sse_flows.analysis.density.SiteAnalysis`) enters as data through the
:class:`SiteJumps` protocol, not as an import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from pymatgen.core import Structure

from sse_flows.errors import StructureInputError
from sse_flows.structures.io import require_ordered

#: an empty site closer than this (A) to another atom is taken as occupied
MIN_DISTANCE_A = 1.0
#: an atom within this distance (A) of a site of the site analysis occupies it
SITE_TOLERANCE_A = 0.8


class HopError(StructureInputError):
    """The hop asked for cannot be built from this structure."""


def _check_index(structure: Structure, index: int, what: str) -> None:
    if not 0 <= index < len(structure):
        raise HopError(
            f"{what} {index} is not a site index of {structure.composition.formula} "
            f"(0 to {len(structure) - 1})"
        )


def _moved(structure: Structure, index: int, frac: np.ndarray) -> Structure:
    """Return a copy with site ``index`` at the image of ``frac`` nearest to it."""
    site = structure[index]
    _, image = structure.lattice.get_distance_and_image(site.frac_coords, frac)
    moved = structure.copy()
    moved.replace(
        index,
        site.species,
        coords=np.asarray(frac) + image,
        coords_are_cartesian=False,
        properties=site.properties,
    )
    return moved


def vacancy_hop(
    structure: Structure, site_a: int, site_b: int
) -> tuple[Structure, Structure]:
    """Build the endpoints of the ion at ``site_a`` hopping into a vacancy at ``site_b``.

    The ion of site B is removed from both endpoints (the vacancy); in the initial one
    the ion of site A is at A, in the final one it sits where the ion of B was. Both
    sites must hold the same species.
    """
    require_ordered(structure, "a vacancy hop")
    _check_index(structure, site_a, "site_a")
    _check_index(structure, site_b, "site_b")
    if site_a == site_b:
        raise HopError(f"site_a and site_b are both {site_a}: a hop needs two sites")
    species_a, species_b = (
        structure[site_a].species_string,
        structure[site_b].species_string,
    )
    if species_a != species_b:
        raise HopError(
            f"A vacancy hop moves an ion into a vacancy of its own kind, but site "
            f"{site_a} holds {species_a} and site {site_b} holds {species_b}. Choose "
            f"two sites of the mobile species."
        )
    target = structure[site_b].frac_coords
    final = _moved(structure, site_a, target)
    initial = structure.copy()
    initial.remove_sites([site_b])
    final.remove_sites([site_b])
    return initial, final


def interstitial_hop(
    structure: Structure,
    ion_index: int,
    target_frac: list[float] | np.ndarray,
    min_distance: float = MIN_DISTANCE_A,
) -> tuple[Structure, Structure]:
    """Build the endpoints of the ion ``ion_index`` hopping to an empty site.

    ``target_frac`` are fractional coordinates in the structure's cell. The initial
    endpoint is the structure as given (for an interstitial mechanism it already
    holds the interstitial ion: add it with ``Structure.append``); in the final one the
    ion sits at the target. A target nearer than ``min_distance`` (A) to another atom
    is occupied: a hop there is a vacancy hop.
    """
    require_ordered(structure, "an interstitial hop")
    _check_index(structure, ion_index, "ion_index")
    target = np.asarray(target_frac, dtype=float).reshape(3)
    distances = structure.lattice.get_all_distances(target, structure.frac_coords)[0]
    distances[ion_index] = np.inf
    nearest = int(np.argmin(distances))
    if distances[nearest] < min_distance:
        raise HopError(
            f"The target {np.round(target, 4).tolist()} is {distances[nearest]:.2f} A "
            f"from site {nearest} ({structure[nearest].species_string}): it is occupied. "
            "For a hop into an occupied site's place use vacancy_hop (the occupant "
            "becomes the vacancy)."
        )
    return structure.copy(), _moved(structure, ion_index, target)


class SiteJumps(Protocol):
    """What a site analysis of an MD run gives (``SiteAnalysis`` has these fields)."""

    species: list[str]
    site_frac: np.ndarray
    site_labels: list[str]
    jump_counts: dict[str, int]


@dataclass
class ObservedHop:
    """Endpoints of the most frequent jump type an MD run saw, and which jump it is."""

    initial: Structure
    final: Structure
    jump_type: str  # "A->B" by site label
    count: int  # jumps of this type in the run
    sites: tuple[int, int]  # site indices in the site analysis, from -> to
    distance_A: float
    mechanism: Literal["vacancy", "empty site"]  # a vacancy made at B, or B was empty


def hops_from_sites(
    structure: Structure,
    sites: SiteJumps,
    tolerance: float = SITE_TOLERANCE_A,
) -> ObservedHop:
    """Build the endpoints of the most frequent jump type of a site analysis.

    ``structure`` must be in the cell the sites were found in (the MD supercell,
    unrelaxed or relaxed). Of the site pairs of that type whose first site holds an
    ion of the analysed species, the nearest is taken (to 0.1 A; among equally near
    pairs one whose second site is empty, as in the run): the ion hops into the second
    site, by a vacancy hop when an ion occupies it (that ion is removed) or into the
    empty site otherwise.
    """
    if not sites.jump_counts:
        raise HopError(
            "The site analysis saw no jumps: run the MD longer or hotter, or pick the "
            "sites yourself with vacancy_hop or interstitial_hop."
        )
    jump_type, count = max(sites.jump_counts.items(), key=lambda item: item[1])
    label_a, label_b = jump_type.split("->", 1)
    labels = np.asarray(sites.site_labels)
    frac = np.asarray(sites.site_frac, dtype=float).reshape(-1, 3)
    from_sites = np.flatnonzero(labels == label_a)
    to_sites = np.flatnonzero(labels == label_b)
    distances = structure.lattice.get_all_distances(frac[from_sites], frac[to_sites])
    occupant = _occupants(structure, frac, list(sites.species), tolerance)
    pairs = sorted(
        (round(float(distances[m, n]), 1), bool(occupant[b] >= 0), int(a), int(b))
        for m, a in enumerate(from_sites)
        for n, b in enumerate(to_sites)
        if a != b and occupant[a] >= 0
    )
    if not pairs:
        raise HopError(
            f"No site labelled {label_a!r} holds a {'/'.join(sites.species)} ion within "
            f"{tolerance} A in {structure.composition.formula}: is it the cell of the "
            "MD run the sites were found in?"
        )
    _, occupied, a, b = pairs[0]
    distance = float(structure.lattice.get_distance_and_image(frac[a], frac[b])[0])
    if occupied:
        initial, final = vacancy_hop(structure, int(occupant[a]), int(occupant[b]))
        mechanism: Literal["vacancy", "empty site"] = "vacancy"
    else:
        initial, final = interstitial_hop(structure, int(occupant[a]), frac[b])
        mechanism = "empty site"
    return ObservedHop(initial, final, jump_type, int(count), (a, b), distance, mechanism)


def _occupants(
    structure: Structure, site_frac: np.ndarray, species: list[str], tolerance: float
) -> np.ndarray:
    """Index of the ion of ``species`` within ``tolerance`` of each site, or -1."""
    ions = np.array(
        [i for i, site in enumerate(structure) if site.species_string in species]
    )
    occupant = np.full(len(site_frac), -1)
    if len(ions) == 0:
        return occupant
    distances = structure.lattice.get_all_distances(site_frac, structure.frac_coords[ions])
    nearest = distances.argmin(axis=1)
    close = distances[np.arange(len(site_frac)), nearest] < tolerance
    occupant[close] = ions[nearest[close]]
    return occupant
