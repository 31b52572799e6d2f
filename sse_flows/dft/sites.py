"""Put a DFT code's per-atom output back in the frame's site order.

Input writers reorder atoms (CP2K groups them by kind, pymatgen's VASP sets sort by
electronegativity), so a code's atom j is generally not the frame's site j. Forces
are only usable after this mapping; it is done by element and periodic position, so
it does not depend on how a writer chose to sort.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from pymatgen.core import Structure


def match_sites(
    structure: Structure,
    atoms: Sequence[tuple[str, ArrayLike]],
    cartesian: bool = True,
    tolerance: float = 1e-3,
) -> list[int]:
    """Return ``order`` with ``order[j]`` = the site of ``structure`` that is atom j.

    ``atoms`` are the code's atoms as (element, coordinates), Cartesian in A or
    fractional. An atom that is not a site of the frame (within ``tolerance`` A),
    or a count mismatch, raises ValueError: the output belongs to another cell.
    """
    if len(atoms) != len(structure):
        raise ValueError(f"the code has {len(atoms)} atoms, the frame {len(structure)}")
    order: list[int] = []
    taken: set[int] = set()
    for element, coords in atoms:
        frac = (
            structure.lattice.get_fractional_coords(coords)
            if cartesian
            else np.asarray(coords, dtype=float)
        )
        candidates = [
            i
            for i, site in enumerate(structure)
            if site.specie.symbol == element and i not in taken
        ]
        distances = [
            structure.lattice.get_distance_and_image(frac, structure[i].frac_coords)[0]
            for i in candidates
        ]
        if not candidates or min(distances) > tolerance:
            where = np.round(np.asarray(coords, dtype=float), 4).tolist()
            raise ValueError(f"atom {element} at {where} is not a site of the frame")
        site = candidates[int(np.argmin(distances))]
        order.append(site)
        taken.add(site)
    return order


def to_frame_order(values: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Reorder per-atom rows given in the code's order into the frame's order."""
    result = np.empty_like(values)
    result[list(order)] = values
    return result
