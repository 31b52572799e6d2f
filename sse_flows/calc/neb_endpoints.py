"""Checks that two NEB endpoints describe the same atoms, and pairing them by position.

An NEB interpolates atom i of the initial endpoint to atom i of the final one, so both
must hold the same atoms, in the same order, in the same cell. ASE checks only the
species sequence; atoms written in another order by another code, or a vacancy made
at another index, pass that check and give a path in which many atoms swap places.
Here such endpoints are found by pairing the atoms by nearest positions (the
Hungarian algorithm per element on minimum-image distances; written here because ASE
and pymatgen pair structures only up to symmetry, not atom by atom in a fixed cell).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from sse_flows.errors import StructureInputError

#: largest difference of cell vectors (A) still taken as the same cell
CELL_TOLERANCE_A = 1e-3
#: pairing by position must lower the summed squared displacement by this (A^2)
ORDER_GAIN_A2 = 0.1
#: the pairing must move at least this many atoms to call the order another one
MIN_REASSIGNED = 3
#: endpoints whose atoms all lie closer than this (A) are the same structure
SAME_STRUCTURE_A = 0.1


class EndpointMismatchError(StructureInputError):
    """The two endpoints of an NEB do not hold the same atoms in the same cell."""


class AtomOrderError(EndpointMismatchError):
    """The endpoints hold the same atoms, but listed in another order."""


def formula(atoms: Atoms) -> str:
    """Return the formula of the cell, e.g. ``Cu31`` or ``Li15S8``."""
    return atoms.get_chemical_formula(mode="metal")


def displacements(initial: Atoms, final: Atoms) -> np.ndarray:
    """Minimum-image displacement of each atom from initial to final, (N, 3) A."""
    vectors, _ = find_mic(final.positions - initial.positions, initial.cell, initial.pbc)
    return np.asarray(vectors)


@dataclass
class Pairing:
    """How the final endpoint's atoms pair with the initial's by nearest position.

    ``permutation[i]`` is the final atom that sits nearest atom i of the initial
    endpoint (its element's optimal assignment); ``cost_given`` and ``cost_paired``
    are the summed squared displacements (A^2) of the order as given and as paired.
    """

    permutation: np.ndarray
    cost_given: float
    cost_paired: float
    same_species_order: bool

    @property
    def reassigned(self) -> int:
        """Number of atoms the pairing gives another partner than the order as given."""
        return int((self.permutation != np.arange(len(self.permutation))).sum())

    @property
    def better(self) -> bool:
        """Whether pairing by position beats the order as given."""
        return (not self.same_species_order) or (
            self.cost_given - self.cost_paired > ORDER_GAIN_A2
        )

    @property
    def another_order(self) -> bool:
        """Whether the endpoints list their atoms in another order.

        Species in another sequence always are; otherwise the pairing must beat the
        given order and move at least :data:`MIN_REASSIGNED` atoms. An exchange of two
        like atoms (a knock-on hop, where atom A takes B's site and B moves on) is a
        labelling a user may choose on purpose, and is kept.
        """
        return not self.same_species_order or (
            self.better and self.reassigned >= MIN_REASSIGNED
        )


def pair_by_position(initial: Atoms, final: Atoms) -> Pairing:
    """Pair each initial atom with a final atom of its element, minimising displacement."""
    from scipy.optimize import linear_sum_assignment

    symbols_i = np.array(initial.get_chemical_symbols())
    symbols_f = np.array(final.get_chemical_symbols())
    permutation = np.arange(len(initial))
    cost_paired = 0.0
    for element in sorted(set(symbols_i)):
        rows = np.flatnonzero(symbols_i == element)
        cols = np.flatnonzero(symbols_f == element)
        delta = final.positions[cols][None, :, :] - initial.positions[rows][:, None, :]
        vectors, _ = find_mic(delta.reshape(-1, 3), initial.cell, initial.pbc)
        cost = (np.asarray(vectors) ** 2).sum(axis=1).reshape(len(rows), len(cols))
        row_index, col_index = linear_sum_assignment(cost)
        permutation[rows[row_index]] = cols[col_index]
        cost_paired += float(cost[row_index, col_index].sum())
    same_order = bool((symbols_i == symbols_f).all())
    cost_given = (
        float((displacements(initial, final) ** 2).sum()) if same_order else float("inf")
    )
    return Pairing(permutation, cost_given, cost_paired, same_order)


def reorder_to_match(initial: Atoms, final: Atoms) -> Atoms:
    """Return ``final`` with its atoms permuted to pair with ``initial``'s by position.

    Each element's atoms are paired by the assignment that minimises the summed
    squared minimum-image displacement. The order as given is kept when pairing does
    not improve on it (ties in a symmetric cell).
    """
    check_same_atoms(initial, final)
    pairing = pair_by_position(initial, final)
    return final[pairing.permutation] if pairing.better else final.copy()


def check_same_atoms(initial: Atoms, final: Atoms) -> None:
    """Refuse endpoints with different atom counts, compositions, cells or boundaries."""
    if len(initial) != len(final):
        raise EndpointMismatchError(
            f"The NEB endpoints hold different numbers of atoms: initial "
            f"{formula(initial)} ({len(initial)} atoms), final {formula(final)} "
            f"({len(final)} atoms). Both must hold the same atoms: for a vacancy hop "
            "remove the same ion from both and move the hopping ion "
            "(sse_flows.structures.hops.vacancy_hop builds such a pair)."
        )
    counts_i = Counter(initial.get_chemical_symbols())
    counts_f = Counter(final.get_chemical_symbols())
    if counts_i != counts_f:
        raise EndpointMismatchError(
            f"The NEB endpoints have different compositions: initial "
            f"{formula(initial)}, final {formula(final)}. An NEB moves atoms; it "
            "cannot change their elements. Give two cells of the same composition."
        )
    if (initial.pbc != final.pbc).any():
        raise EndpointMismatchError(
            f"The NEB endpoints have different periodic boundaries ({initial.pbc} and "
            f"{final.pbc})."
        )
    difference = float(np.abs(initial.cell.array - final.cell.array).max())
    if difference > CELL_TOLERANCE_A:
        raise EndpointMismatchError(
            f"The NEB endpoints have different cells (vectors differ by up to "
            f"{difference:.4f} A). The NEB runs at a fixed cell: give both endpoints "
            "in one cell (e.g. relax the perfect cell once, then build both from it)."
        )


def check_endpoints(initial: Atoms, final: Atoms, reorder: bool = False) -> Atoms:
    """Check the endpoints; return the final one, reordered if asked and needed.

    With ``reorder`` the final's atoms are paired with the initial's by position
    whenever that beats the order as given (as :func:`reorder_to_match`). Raises
    :class:`AtomOrderError` when they are in another order and ``reorder`` is False,
    and :class:`EndpointMismatchError` for different atoms, cells, or two copies of
    one structure.
    """
    check_same_atoms(initial, final)
    pairing = pair_by_position(initial, final)
    if pairing.another_order and not reorder:
        raise AtomOrderError(_order_message(initial, final, pairing))
    if reorder and pairing.better:
        final = final[pairing.permutation]
    largest = float(np.linalg.norm(displacements(initial, final), axis=1).max())
    if largest < SAME_STRUCTURE_A:
        raise EndpointMismatchError(
            f"The NEB endpoints are the same structure (no atom moves more than "
            f"{largest:.3f} A): there is no path to follow. Move the hopping ion in "
            "the final endpoint."
        )
    return final


def _order_message(initial: Atoms, final: Atoms, pairing: Pairing) -> str:
    """Say which atoms are listed in another order, and how to reorder them."""
    if not pairing.same_species_order:
        what = "the elements are listed in another sequence"
    else:
        moved = np.flatnonzero(pairing.permutation != np.arange(len(initial)))
        i = int(moved[0])
        j = int(pairing.permutation[i])
        distance = float(np.linalg.norm(displacements(initial[[i]], final[[j]])))
        what = (
            f"{pairing.reassigned} atoms sit nearer another atom's partner (e.g. final "
            f"atom {j} {final[j].symbol} is {distance:.2f} A from initial atom {i}); "
            f"summed squared displacement {pairing.cost_given:.1f} A^2 as given, "
            f"{pairing.cost_paired:.1f} A^2 paired by position"
        )
    return (
        f"The NEB endpoints ({formula(initial)}) list their atoms in another order: "
        f"{what}. The NEB moves atom i of the initial endpoint to atom i of the final "
        "one, so the path would swap atoms. Reorder the final endpoint by nearest "
        "positions with reorder: true (sse-flows neb --reorder, or "
        "sse_flows.calc.neb.reorder_to_match), or write both endpoints in one order."
    )
