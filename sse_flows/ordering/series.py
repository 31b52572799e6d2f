"""Disordered members of the series the papers study, ready for ordering.

Each builder returns ``SeriesMember`` objects: a structure with partial occupancies and
``sublattice`` labels (so the ordering keeps exact counts where the paper does), plus
the parameter that defines it. The ordering search turns each into ordered cells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Structure

from sse_flows.ordering.problem import SUBLATTICE_PROPERTY, OrderingError

PAPER000_EXCHANGE_FRACTIONS = (0.0, 0.15, 0.25, 0.40, 0.50, 0.75, 1.0)
"""S/Cl exchange between argyrodite 4a and 4d sites studied in paper 000 (Fig. 19a)."""
PAPER000_NA_CONTENTS = (0.5, 1.0, 1.5, 2.0)
"""x in Na_x Li_(3-x) Y Cl6, paper 000 Table 3."""
PAPER002_BR_CONTENTS = tuple(0.5 * k for k in range(13))
"""x in Li3 Y Cl_(6-x) Br_x, paper 002 (0 to 6 in steps of 0.5)."""


@dataclass
class SeriesMember:
    """One disordered structure of a series, and what it stands for."""

    label: str
    structure: Structure
    parameters: dict[str, float]
    series: str
    notes: list[str] = field(default_factory=list)


def _labelled(structure: Structure, labels: Sequence[str | None]) -> Structure:
    out = structure.copy()
    out.add_site_property(SUBLATTICE_PROPERTY, [label or "" for label in labels])
    return out


def free_anion_sites(
    structure: Structure, species: str, not_bonded_to: str, cutoff: float
) -> list[int]:
    """Sites of ``species`` with no ``not_bonded_to`` neighbour within ``cutoff`` A.

    In an argyrodite these are the free S2- anions (Wyckoff 4d), as opposed to the S
    of PS4 tetrahedra.
    """
    found = []
    for i, site in enumerate(structure):
        if site.species_string != species:
            continue
        neighbours = structure.get_neighbors(site, cutoff)
        if not any(n.species_string == not_bonded_to for n in neighbours):
            found.append(i)
    return found


def anion_exchange_series(
    host: Structure,
    fractions: Iterable[float] = PAPER000_EXCHANGE_FRACTIONS,
    halide: str = "Cl",
    chalcogen: str = "S",
    framework_cation: str = "P",
    bond_cutoff: float = 2.5,
) -> list[SeriesMember]:
    """Argyrodite Li6PS5X with a fraction ``f`` of halide and free-chalcogen sites swapped.

    At ``f`` the halide (4a) sites hold X(1-f) S(f) and the free chalcogen (4d) sites
    S(1-f) X(f), so the composition never changes; the two site sets are separate
    sublattices, which makes the exchanged fraction exact in every ordered cell.
    Li disorder in ``host`` (partial occupancy) is ordered alongside.
    """
    halide_sites = [i for i, s in enumerate(host) if s.species_string == halide]
    free_sites = free_anion_sites(host, chalcogen, framework_cation, bond_cutoff)
    if not halide_sites or len(halide_sites) != len(free_sites):
        raise OrderingError(
            f"Expected as many {halide} sites as free {chalcogen} sites (not within "
            f"{bond_cutoff} A of {framework_cation}); found {len(halide_sites)} and "
            f"{len(free_sites)}. Give an argyrodite host "
            f"Li6{framework_cation}{chalcogen}5{halide} with ordered anions."
        )
    members = []
    for f in fractions:
        if not 0.0 <= f <= 1.0:
            raise OrderingError(f"Exchange fraction {f} is outside [0, 1].")
        structure = host.copy()
        # pools the host already has (split sites of another element) stay
        labels: list[str | None] = list(
            host.site_properties.get(SUBLATTICE_PROPERTY) or [None] * len(host)
        )
        for i in halide_sites:
            structure.replace(
                i, _occupancy({halide: 1 - f, chalcogen: f}), structure[i].frac_coords
            )
            labels[i] = "halide site (4a)"
        for i in free_sites:
            structure.replace(
                i, _occupancy({chalcogen: 1 - f, halide: f}), structure[i].frac_coords
            )
            labels[i] = "free chalcogen site (4d)"
        members.append(
            SeriesMember(
                label=f"{round(100 * f)}% {chalcogen}/{halide} exchange",
                structure=_labelled(structure, labels),
                parameters={"exchange_fraction": float(f)},
                series="anion-exchange",
            )
        )
    return members


def _occupancy(occ: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in occ.items() if v > 1e-9}


def substitution_series(
    host: Structure,
    site_species: str,
    substituent: str,
    amounts: Iterable[float] = PAPER000_NA_CONTENTS,
    per_formula: float | None = None,
    series: str = "substitution",
) -> list[SeriesMember]:
    """Replace ``x`` of the ``per_formula`` ``site_species`` atoms per formula unit.

    E.g. Li3YCl6 with ``site_species='Li', substituent='Na'``: x = 0.5 gives
    Na0.5Li2.5YCl6 with every Li site holding Li 5/6, Na 1/6, all Li sites one pool.
    ``per_formula`` defaults to the count in the reduced formula. Works for anion
    mixing too (Cl -> Br).
    """
    sites = [i for i, s in enumerate(host) if site_species in {e.symbol for e in s.species}]
    if not sites:
        raise OrderingError(
            f"No {site_species} sites in {host.composition.reduced_formula}."
        )
    if per_formula is None:
        per_formula = float(host.composition.reduced_composition[site_species])
    members = []
    for x in amounts:
        fraction = x / per_formula
        if not 0.0 <= fraction <= 1.0:
            raise OrderingError(
                f"{substituent} content {x} exceeds {per_formula} per formula."
            )
        structure = host.copy()
        # pools the host already has (split sites of another element) stay
        labels: list[str | None] = list(
            host.site_properties.get(SUBLATTICE_PROPERTY) or [None] * len(host)
        )
        for i in sites:
            occ = {k.symbol: float(v) for k, v in host[i].species.items()}
            base = occ.pop(site_species)
            occ[site_species] = base * (1 - fraction)
            occ[substituent] = occ.get(substituent, 0.0) + base * fraction
            structure.replace(i, _occupancy(occ), structure[i].frac_coords)
            labels[i] = f"{site_species}/{substituent}"
        members.append(
            SeriesMember(
                label=f"x={x:g} {substituent} for {site_species}",
                structure=_labelled(structure, labels),
                parameters={"x": float(x)},
                series=series,
            )
        )
    return members


def mixing_grid(
    host: Structure,
    substitutions: dict[str, tuple[str, Sequence[float]]],
    constraint: Callable[[dict[str, float]], bool] | None = None,
) -> list[SeriesMember]:
    """All combinations of several substitutions, e.g. paper 001's In/Y and Br/Cl grid.

    ``substitutions`` maps a host species to (substituent, fractions of its sites);
    ``constraint`` filters the combinations (paper 001: x + y >= 1). Each host species
    is its own sublattice.
    """
    species = list(substitutions)
    grids = np.meshgrid(*[np.asarray(substitutions[s][1], dtype=float) for s in species])
    members = []
    for values in zip(*(g.ravel() for g in grids), strict=True):
        params = {
            f"{substitutions[s][0]}_on_{s}": float(v)
            for s, v in zip(species, values, strict=True)
        }
        if constraint is not None and not constraint(params):
            continue
        structure = host.copy()
        # pools the host already has (split sites of another element) stay
        labels: list[str | None] = list(
            host.site_properties.get(SUBLATTICE_PROPERTY) or [None] * len(host)
        )
        for i, site in enumerate(host):
            symbol = site.species_string
            if symbol in substitutions:
                new, _ = substitutions[symbol]
                fraction = params[f"{new}_on_{symbol}"]
                structure.replace(
                    i, _occupancy({symbol: 1 - fraction, new: fraction}), site.frac_coords
                )
                labels[i] = symbol
        label = ", ".join(f"{k}={v:g}" for k, v in params.items())
        members.append(
            SeriesMember(
                label=label,
                structure=_labelled(structure, labels),
                parameters=params,
                series="mixing-grid",
            )
        )
    return members


def halide_mixing_series(
    host: Structure,
    amounts: Iterable[float] = PAPER002_BR_CONTENTS,
    halide: str = "Cl",
    substituent: str = "Br",
) -> list[SeriesMember]:
    """Li3YCl(6-x)Br(x) and the like: ``x`` of the 6 halides per formula replaced."""
    return substitution_series(
        host, halide, substituent, amounts, series=f"{halide}-{substituent} mixing"
    )


def paper001_grid(
    host: Structure, steps: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)
) -> list[SeriesMember]:
    """Li3 In(x) Y(1-x) Br(6y) Cl(6-6y), x + y >= 1, on a Li3YCl6- or Li3YBr6-type host.

    Paper 001's composition space. Each member's parameters hold ``x`` (In on the Y
    sites) and ``y`` (Br fraction of the halide sites) besides the raw substitutions.
    """
    halides = {el.symbol for el in host.composition.elements} & {"Cl", "Br"}
    if "Y" not in host.composition or len(halides) != 1:
        raise OrderingError(
            "paper001_grid needs a Li3YCl6- or Li3YBr6-type host (Y and one of Cl, Br)."
        )
    if halides == {"Cl"}:
        subs = {"Y": ("In", steps), "Cl": ("Br", steps)}

        def y_of(p: dict[str, float]) -> float:
            return p["Br_on_Cl"]
    else:
        subs = {"Y": ("In", steps), "Br": ("Cl", [1.0 - y for y in steps])}

        def y_of(p: dict[str, float]) -> float:
            return 1.0 - p["Cl_on_Br"]

    members = mixing_grid(
        host, subs, constraint=lambda p: p["In_on_Y"] + y_of(p) >= 1 - 1e-9
    )
    for member in members:
        member.parameters["x"] = member.parameters["In_on_Y"]
        member.parameters["y"] = y_of(member.parameters)
        member.series = "paper001 In/Y Br/Cl grid"
    return members
