"""Undo coordinate noise: relax the ions at the experimental cell, space group kept.

Most ICSD-derived structure files public repositories hold carry deliberate noise
(OBELiX added Gaussian noise of sigma 0.01 in fractional coordinates to every
asymmetric-unit coordinate; see ``docs/prototypes.md``). Cell, space group and
occupancies are intact, bond lengths are off by up to ~0.15 A. The noise was applied
to the asymmetric unit before expanding it, so the structure keeps its space group
exactly; relaxing the ions with that symmetry imposed (ASE ``FixSymmetry``) at the
experimental cell moves each orbit back to a minimum of the potential without
touching the cell, the one thing the experiment measured that the potential would
change. Written here because neither pymatgen nor ASE has a "restore" step: it is
one fixed-cell relaxation plus the checks a crystallographer would make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase.calculators.calculator import Calculator
from pymatgen.core import Element, Structure

from sse_flows.calc.relax import RelaxSettings, relax
from sse_flows.structures.io import require_ordered, spacegroup_symbol, to_atoms

#: spglib tolerance that finds the space group of a noised file: the noise keeps the
#: symmetry exactly, so a tight tolerance sees it and cannot invent a higher one.
NOISED_SYMPREC = 1e-3


@dataclass
class RestoreSettings:
    """Fixed-cell relaxation of the ions with the space group kept."""

    fmax: float = 0.01
    max_steps: int = 2000
    symprec: float = NOISED_SYMPREC

    def relax_settings(self) -> RelaxSettings:
        """Return the relaxation this amounts to."""
        return RelaxSettings(
            fmax=self.fmax,
            max_steps=self.max_steps,
            relax_cell=False,
            fix_symmetry=True,
            symprec=self.symprec,
            require_convergence=True,
        )


@dataclass
class RestoreResult:
    """The restored structure and what the restoration changed."""

    structure: Structure
    spacegroup_before: str
    spacegroup_after: str
    max_shift_A: float
    rms_shift_A: float
    n_steps: int
    energy_change_eV_atom: float
    notes: list[str] = field(default_factory=list)


def restore_positions(
    structure: Structure,
    calculator: Calculator,
    settings: RestoreSettings | None = None,
) -> RestoreResult:
    """Relax the ions of an ordered cell at its cell, keeping its space group."""
    settings = settings or RestoreSettings()
    structure = require_ordered(structure, "restoring coordinates")
    result = relax(to_atoms(structure), calculator, settings.relax_settings())
    restored = result.structure
    if not np.allclose(restored.lattice.matrix, structure.lattice.matrix, atol=1e-6):
        raise AssertionError("a fixed-cell relaxation changed the cell")  # pragma: no cover
    energies = result.energies
    change = (energies[-1] - energies[0]) / len(structure) if energies else 0.0
    return _summarise(structure, restored, settings.symprec, result.n_steps, change, [])


def symmetrize_positions(
    structure: Structure, reference: Structure, symprec: float
) -> Structure:
    """Average ``structure``'s positions over the space group of ``reference``.

    ``structure`` and ``reference`` list the same sites in the same cell; each site's
    new position is the mean of its images under every operation of ``reference``'s
    group, so the result has that symmetry exactly.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from sse_flows.ordering.problem import typed_structure

    operations = SpacegroupAnalyzer(
        typed_structure(reference), symprec=symprec
    ).get_symmetry_operations()
    ref = reference.frac_coords
    new = structure.frac_coords
    total = np.zeros_like(new)
    for op in operations:
        image_ref = op.operate_multi(ref) % 1.0
        image_new = op.operate_multi(new)
        for i in range(len(ref)):
            delta = (image_ref[i] - ref + 0.5) % 1.0 - 0.5
            j = int(np.argmin(np.linalg.norm(delta @ reference.lattice.matrix, axis=1)))
            # op maps site i onto site j: its image of i's new position is a sample of j's
            shift = image_new[i] - ref[j]
            total[j] += ref[j] + (shift + 0.5) % 1.0 - 0.5
    averaged = total / len(operations)
    out = reference.copy()
    for i, coords in enumerate(averaged):
        out.replace(i, out[i].species, coords=coords, properties=out[i].properties)
    return out


def project_to_parent(
    parent: Structure, ordered: Sequence[Structure], symprec: float = NOISED_SYMPREC
) -> Structure:
    """Move the parent's sites to the mean position of their images in ordered cells.

    ``ordered`` are relaxed ordered supercells of ``parent`` (same cell orientation,
    integer supercells). Each atom is mapped back into the parent cell and assigned to
    the nearest parent site holding its element; a site's new position is the mean of
    its images (unchanged when no image holds an atom, e.g. an empty partial site),
    then averaged over the parent's space group.
    """
    frac = parent.frac_coords.copy()
    sums = np.zeros_like(frac)
    counts = np.zeros(len(parent))
    cart = parent.lattice.matrix
    for cell in ordered:
        in_parent = parent.lattice.get_fractional_coords(cell.cart_coords)
        for site, f in zip(cell, in_parent, strict=True):
            element = site.specie.symbol
            candidates = [
                i for i, p in enumerate(parent) if element in {e.symbol for e in p.species}
            ]
            delta = (f - frac[candidates] + 0.5) % 1.0 - 0.5
            k = int(np.argmin(np.linalg.norm(delta @ cart, axis=1)))
            i = candidates[k]
            sums[i] += frac[i] + delta[k]
            counts[i] += 1
    moved = parent.copy()
    for index in np.flatnonzero(counts):
        i = int(index)
        moved.replace(
            i,
            moved[i].species,
            coords=sums[i] / counts[i],
            properties=moved[int(i)].properties,
        )
    restored = symmetrize_positions(moved, parent, symprec)
    return _keep_split_sites(parent, restored)


#: Alternative (split) sites closer than this after restoration are put back where
#: the refinement had them: an ordered cell puts its atom between the two, and their
#: mean would merge them.
SPLIT_SITE_MIN_A = 0.7


def _keep_split_sites(parent: Structure, restored: Structure) -> Structure:
    """Return ``restored`` with merging split sites back at their refined positions."""
    partial = [i for i, site in enumerate(parent) if site.species.num_atoms < 1 - 1e-3]
    revert: set[int] = set()
    for i in partial:
        for j in partial:
            if j > i and restored.get_distance(i, j) < SPLIT_SITE_MIN_A:
                revert |= {i, j}
    out = restored.copy()
    for i in revert:
        out.replace(
            i, out[i].species, coords=parent[i].frac_coords, properties=out[i].properties
        )
    return out


def full_occupancy(structure: Structure, element: str) -> Structure:
    """Set sites of ``element`` refined slightly below full occupancy (>= 0.95) to 1."""
    out = structure.copy()
    for i, site in enumerate(out):
        occ = dict(site.species.items())
        if len(occ) == 1 and Element(element) in occ and 0.95 <= site.species.num_atoms < 1:
            out.replace(i, element)
    return out


def drop_minor(structure: Structure, element: str) -> Structure:
    """Drop ``element``'s minority sites (occupancy < 0.5) and fill its majority ones.

    For an antisite refined at a few percent (Li3InCl6: In 0.07 on 4g beside In 0.875
    on 2a): the ordered cell keeps the ideal arrangement, which is charge balanced.
    """
    keep: list[int] = []
    fill: list[int] = []
    for i, site in enumerate(structure):
        if Element(element) in site.species and len(site.species) == 1:
            if site.species.num_atoms < 0.5:
                continue
            fill.append(len(keep))
        keep.append(i)
    out = Structure.from_sites([structure[i] for i in keep])
    for i in fill:
        out.replace(i, element)
    return out


CURATIONS = {"full_occupancy": full_occupancy, "drop_minor": drop_minor}


def curate(structure: Structure, steps: Sequence[Sequence[str]]) -> Structure:
    """Apply documented curation steps, e.g. ``[["full_occupancy", "S"]]``."""
    for name, element in steps:
        structure = CURATIONS[name](structure, element)
    return structure


def lowest_ewald_orderings(
    structure: Structure,
    supercell: Sequence[int] = (1, 1, 1),
    pool: bool = False,
    count: int = 1,
) -> list[Structure]:
    """Return the ``count`` lowest-Ewald ordered cells (``pool``: pool by element set)."""
    from sse_flows.ordering import search_orderings
    from sse_flows.ordering.problem import pool_partial_sites

    parent = pool_partial_sites(structure) if pool else structure
    found = search_orderings(
        parent, supercell=list(supercell), keep=count, symprec=NOISED_SYMPREC
    )
    cells = []
    for candidate in found.candidates[:count]:
        ordered = candidate.structure.copy()
        for key in list(ordered.site_properties):
            ordered.remove_site_property(key)
        cells.append(ordered)
    return cells


def restore_disordered(
    parent: Structure,
    calculator: Calculator,
    supercell: Sequence[int] = (1, 1, 1),
    pool: bool = False,
    orderings: int = 3,
    settings: RestoreSettings | None = None,
) -> RestoreResult:
    """Restore a disordered cell: order it, relax the orderings, average back.

    The ``orderings`` lowest-Ewald ordered cells are restored one by one (their own
    symmetry kept); every parent site then moves to the mean position of its images
    (:func:`project_to_parent`), which has the parent's space group exactly. The
    occupancies stay as refined.
    """
    settings = settings or RestoreSettings()
    cells = lowest_ewald_orderings(parent, supercell, pool, orderings)
    results = [restore_positions(cell, calculator, settings) for cell in cells]
    restored = project_to_parent(parent, [r.structure for r in results], settings.symprec)
    notes = [
        f"averaged over {len(results)} lowest-Ewald orderings ("
        + ", ".join(r.spacegroup_after for r in results)
        + ")"
    ]
    return _summarise(
        parent,
        restored,
        settings.symprec,
        sum(r.n_steps for r in results),
        float(np.mean([r.energy_change_eV_atom for r in results])),
        notes,
    )


def _summarise(
    before_cell: Structure,
    restored: Structure,
    symprec: float,
    n_steps: int,
    energy_change: float,
    notes: list[str],
) -> RestoreResult:
    """Shifts and space groups of a restoration (notes a space-group change)."""
    shifts = np.array([a.distance(b) for a, b in zip(before_cell, restored, strict=True)])
    before = spacegroup_symbol(before_cell, symprec)
    after = spacegroup_symbol(restored, symprec)
    if before != after:
        notes = [*notes, f"space group changed from {before} to {after}"]
    return RestoreResult(
        structure=restored,
        spacegroup_before=before,
        spacegroup_after=after,
        max_shift_A=float(shifts.max()),
        rms_shift_A=float(np.sqrt(np.mean(shifts**2))),
        n_steps=n_steps,
        energy_change_eV_atom=float(energy_change),
        notes=notes,
    )


def bond_lengths(
    structure: Structure, center: str, ligand: str, cutoff: float = 3.5
) -> list[float]:
    """Distances from every ``center`` atom to its first shell of ``ligand`` atoms.

    The first shell is every ligand within 1.25 x the shortest center-ligand distance
    of that center (a tetrahedron or octahedron, not the next shell). Works on
    ordered and disordered cells (any site holding the element counts).
    """
    center_el, ligand_el = Element(center), Element(ligand)
    lengths: list[float] = []
    for site in structure:
        if center_el not in site.species:
            continue
        shell = [
            n.nn_distance
            for n in structure.get_neighbors(site, cutoff)
            if ligand_el in n.species
        ]
        if shell:
            nearest = min(shell)
            lengths += sorted(d for d in shell if d <= 1.25 * nearest)
    return lengths


def bond_range(structure: Structure, pairs: Sequence[tuple[str, str]]) -> dict[str, tuple]:
    """``"P-S" -> (min, max)`` first-shell distance of each pair present."""
    out = {}
    for center, ligand in pairs:
        lengths = bond_lengths(structure, center, ligand)
        if lengths:
            out[f"{center}-{ligand}"] = (
                round(float(min(lengths)), 4),
                round(float(max(lengths)), 4),
            )
    return out
