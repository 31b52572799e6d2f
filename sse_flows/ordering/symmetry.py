"""Site permutations of a supercell, and the distinct supercell shapes of a size.

Two decorations of one supercell are the same structure when a space-group operation of
the parent that maps the supercell lattice onto itself (a point operation combined
with any of the supercell's internal translations) carries one onto the other. These
are computed once per supercell as permutations of its sites, so the enumeration can
reduce millions of decorations with array operations.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scipy.spatial import cKDTree
from sympy import Matrix
from sympy.matrices.normalforms import hermite_normal_form

MATCH_TOLERANCE_A = 0.25
"""Largest distance (A) between a site's image and the site it is matched to."""


def _symmetry_operations(
    parent: Structure, symprec: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sse_flows.ordering.problem import typed_structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pseudo-elements without electronegativity
        analyzer = SpacegroupAnalyzer(typed_structure(parent), symprec=symprec)
    dataset = analyzer.get_symmetry_dataset()
    return [
        (np.asarray(r, dtype=float), np.asarray(t, dtype=float))
        for r, t in zip(dataset.rotations, dataset.translations, strict=True)
    ]


def _match(frac: np.ndarray, tree: cKDTree, tol: float) -> np.ndarray | None:
    distance, index = tree.query(np.mod(frac, 1.0))
    if np.any(distance > tol):
        return None
    return np.asarray(index, dtype=int)


def supercell_permutations(
    parent: Structure, skeleton: Structure, supercell: np.ndarray, symprec: float = 0.01
) -> np.ndarray:
    """Permutations ``(n_ops, n_sites)`` of the skeleton's sites under its symmetry.

    ``perm[g, i]`` is the site that site ``i`` is carried to by operation ``g``. The
    set includes the identity and is closed under composition.
    """
    matrix = np.asarray(supercell, dtype=float)
    inverse = np.linalg.inv(matrix)
    frac_super = np.mod(skeleton.frac_coords, 1.0)
    frac_parent = frac_super @ matrix
    tree = cKDTree(frac_super, boxsize=1.0 + 1e-12)
    tol = MATCH_TOLERANCE_A / max(skeleton.lattice.abc)
    n_cells = round(abs(np.linalg.det(matrix)))
    # Parent lattice translations inside the supercell (integer vectors modulo it).
    translations: list[np.ndarray] = []
    bound = int(np.abs(matrix).sum(axis=0).max()) + 1
    seen: set[tuple[int, ...]] = set()
    for shift in itertools.product(range(-bound, bound + 1), repeat=3):
        in_super = np.mod(np.asarray(shift, dtype=float) @ inverse, 1.0)
        key: tuple[int, ...] = tuple(np.round(in_super * 1e6).astype(int) % 1_000_000)
        if key not in seen:
            seen.add(key)
            translations.append(np.asarray(shift, dtype=float))
        if len(translations) == n_cells:
            break
    perms: list[np.ndarray] = []
    for rotation, translation in _symmetry_operations(parent, symprec):
        image_parent = frac_parent @ rotation.T + translation
        for vector in translations:
            perm = _match((image_parent + vector) @ inverse, tree, tol)
            if perm is not None and len(set(perm.tolist())) == len(perm):
                perms.append(perm)
    unique: np.ndarray = np.unique(np.asarray(perms), axis=0)
    return unique


def _hnf_key(matrix: np.ndarray) -> tuple[int, ...]:
    """Canonical key of the lattice spanned by the rows of an integer matrix."""
    hnf = hermite_normal_form(Matrix(np.asarray(matrix, dtype=int).T.tolist()))
    return tuple(int(x) for x in np.asarray(hnf.tolist(), dtype=int).ravel())


def distinct_supercells(
    parent: Structure, n_cells: int, symprec: float = 0.01
) -> list[np.ndarray]:
    """Supercell matrices of ``n_cells`` parent cells, one per symmetry-distinct lattice.

    Every sublattice of index n is the row space of one lower-triangular Hermite
    normal form; two are the same supercell up to symmetry when a rotation of the
    parent maps one lattice onto the other. The most compact representative
    (Minkowski-reduced by pymatgen) of each class is returned.
    """
    rotations = [r for r, _ in _symmetry_operations(parent, symprec)]
    classes: dict[tuple[int, ...], np.ndarray] = {}
    for a in range(1, n_cells + 1):
        if n_cells % a:
            continue
        for c in range(1, n_cells // a + 1):
            if (n_cells // a) % c:
                continue
            f = n_cells // (a * c)
            for b, d, e in itertools.product(range(a), range(a), range(c)):
                hnf = np.array([[a, 0, 0], [b, c, 0], [d, e, f]])
                keys = {_hnf_key(hnf @ r.T.astype(int)) for r in rotations}
                if not any(k in classes for k in keys):
                    classes[min(keys)] = hnf
    result = []
    for hnf in classes.values():
        lattice = parent.lattice.matrix
        reduced = parent.lattice.__class__(hnf @ lattice).get_niggli_reduced_lattice()
        transform = np.rint(reduced.matrix @ np.linalg.inv(lattice)).astype(int)
        if np.linalg.det(transform) < 0:
            transform = -transform
        result.append(transform)
    return result
