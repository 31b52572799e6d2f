"""From a disordered structure to ranked, symmetry-distinct ordered cells.

The Ewald stage of the ordering workflow: build the supercell(s), enumerate (or,
beyond ``max_enumerate`` arrangements, sample) the distinct decorations, rank them by
electrostatic energy, and keep the best. Potentials come later (makers/ordering.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Structure

from sse_flows.ordering.enumeration import (
    CanonicalForm,
    DistinctSet,
    distinct_from_samples,
    enumerate_distinct,
    random_configs,
)
from sse_flows.ordering.ewald import EwaldModel
from sse_flows.ordering.problem import OrderingError, OrderingProblem, build_problem
from sse_flows.ordering.symmetry import distinct_supercells, supercell_permutations
from sse_flows.structures.io import spacegroup_symbol

logger = logging.getLogger(__name__)

MAX_ENUMERATE = 2_000_000
"""Arrangements per supercell above which the search samples instead of enumerating."""


@dataclass
class Candidate:
    """One symmetry-distinct ordered cell."""

    structure: Structure
    ewald_energy: float
    """Electrostatic energy of the cell in eV (formal charges)."""
    multiplicity: int
    """Arrangements it stands for (orbit size when exhaustive, times seen when sampled)."""
    supercell: list[list[int]]
    configuration: list[int]

    @property
    def spacegroup(self) -> str:
        """Space group symbol of the ordered cell (tolerance 0.01 A)."""
        return spacegroup_symbol(self.structure, 0.01)


@dataclass
class CellReport:
    """What was considered in one supercell."""

    supercell: list[list[int]]
    n_sites: int
    n_combinations: int
    n_symmetry_ops: int
    n_distinct: int
    n_considered: int
    exhaustive: bool
    seconds: float


@dataclass
class OrderingSearch:
    """Ranked candidates and the bookkeeping a user needs to trust them."""

    candidates: list[Candidate]
    cells: list[CellReport]
    ewald_degenerate: bool
    oxidation_states: dict[str, float]
    n_kept: int
    notes: list[str] = field(default_factory=list)

    @property
    def n_distinct(self) -> int:
        """Distinct orderings found over all supercells."""
        return sum(c.n_distinct for c in self.cells)

    @property
    def n_cut(self) -> int:
        """Distinct orderings found but not kept."""
        return self.n_distinct - self.n_kept


def _distinct(
    problem: OrderingProblem,
    canonical: CanonicalForm,
    model: EwaldModel,
    rng: np.random.Generator,
    max_enumerate: int,
    n_samples: int,
) -> DistinctSet:
    if problem.n_combinations <= max_enumerate:
        return enumerate_distinct(problem, canonical)
    if problem.ewald_degenerate:
        return distinct_from_samples(canonical, random_configs(problem, n_samples, rng))
    runs = max(4, min(32, n_samples // 50))
    visited = model.anneal(rng, n_runs=runs)
    extra = random_configs(problem, max(0, n_samples - len(visited)), rng)
    return distinct_from_samples(canonical, np.concatenate([visited, extra]))


def cell_count_for_atoms(structure: Structure, n_atoms: int) -> int:
    """Return the parent cells whose ordered supercell holds ``n_atoms`` atoms."""
    per_cell = float(sum(structure.composition.values()))
    n_cells = n_atoms / per_cell
    if abs(n_cells - round(n_cells)) > 1e-3 or round(n_cells) < 1:
        raise OrderingError(
            f"{n_atoms} atoms is not a whole number of cells of "
            f"{structure.composition.reduced_formula} ({per_cell:g} atoms per cell): "
            f"use a multiple of {per_cell:g}."
        )
    return round(n_cells)


def search_orderings(
    structure: Structure,
    supercell: Sequence[int] | Sequence[Sequence[int]] | None = None,
    n_atoms: int | None = None,
    keep: int = 20,
    oxidation_states: dict[str, float] | None = None,
    max_enumerate: int = MAX_ENUMERATE,
    n_samples: int = 5000,
    seed: int = 0,
    symprec: float = 0.01,
) -> OrderingSearch:
    """Rank the symmetry-distinct orderings of ``structure``.

    Give ``supercell`` (3 ints or a 3x3 matrix) for one fixed cell, or ``n_atoms`` to
    search every symmetry-distinct supercell shape of that size (the best ordering
    is often in a non-diagonal cell). ``keep`` candidates with the lowest Ewald
    energy are returned; when Ewald energy cannot tell the arrangements apart
    (isovalent mixing) up to ``keep`` are returned unranked for a potential to rank.
    """
    if (supercell is None) == (n_atoms is None):
        raise OrderingError("Give exactly one of supercell or n_atoms.")
    if supercell is not None:
        matrices = [np.asarray(supercell, dtype=int)]
    else:
        assert n_atoms is not None
        matrices = distinct_supercells(
            structure, cell_count_for_atoms(structure, n_atoms), symprec
        )
    rng = np.random.default_rng(seed)
    pool: list[tuple[float, int, np.ndarray, OrderingProblem]] = []
    cells: list[CellReport] = []
    degenerate = True
    charges: dict[str, float] = {}
    for matrix in matrices:
        start = time.perf_counter()
        problem = build_problem(structure, matrix, oxidation_states, symprec)
        charges = problem.oxidation_states
        degenerate = degenerate and problem.ewald_degenerate
        model = EwaldModel.for_problem(problem)
        if problem.sublattices:
            perms = supercell_permutations(
                structure, problem.skeleton, problem.supercell, symprec
            )
            canonical = CanonicalForm.for_problem(problem, perms)
            found = _distinct(problem, canonical, model, rng, max_enumerate, n_samples)
            n_ops = canonical.n_ops
        else:  # already ordered: the supercell itself is the only candidate
            found = DistinctSet(
                np.zeros((1, 0), dtype=np.int8), np.ones(1, np.int64), 1, True
            )
            n_ops = 1
        energies = model.energies(found.configs)
        for energy, mult, config in zip(
            energies, found.multiplicity, found.configs, strict=True
        ):
            pool.append((float(energy), int(mult), config, problem))
        cells.append(
            CellReport(
                supercell=problem.supercell.tolist(),
                n_sites=len(problem.skeleton),
                n_combinations=problem.n_combinations,
                n_symmetry_ops=n_ops,
                n_distinct=len(found.configs),
                n_considered=found.n_considered,
                exhaustive=found.exhaustive,
                seconds=time.perf_counter() - start,
            )
        )
        logger.info("supercell %s: %s", problem.supercell.tolist(), cells[-1])
    # Lowest Ewald first; ties broken by larger orbit then configuration, so the order
    # is reproducible. Degenerate (isovalent) sets keep this order too, for the
    # potential to re-rank.
    pool.sort(key=lambda item: (round(item[0], 6), -item[1], item[2].tobytes()))
    kept = _drop_superperiodic_repeats(pool, keep) if len(matrices) > 1 else pool[:keep]
    candidates = [
        Candidate(
            structure=problem.decorate(config),
            ewald_energy=energy,
            multiplicity=mult,
            supercell=problem.supercell.tolist(),
            configuration=[int(x) for x in config],
        )
        for energy, mult, config, problem in kept
    ]
    notes = []
    if degenerate:
        notes.append(
            "Every sublattice mixes species of equal charge: Ewald energy is the same for "
            "all arrangements and cannot rank them. Rank with a potential."
        )
    if not all(c.exhaustive for c in cells):
        notes.append(
            f"More than {max_enumerate} arrangements in a cell: sampled (annealing on the "
            "Ewald energy, or uniform when Ewald is degenerate), not enumerated."
        )
    return OrderingSearch(
        candidates=candidates,
        cells=cells,
        ewald_degenerate=degenerate,
        oxidation_states=charges,
        n_kept=len(candidates),
        notes=notes,
    )


def _drop_superperiodic_repeats(
    pool: list[tuple[float, int, np.ndarray, OrderingProblem]], keep: int
) -> list[tuple[float, int, np.ndarray, OrderingProblem]]:
    """Keep ``keep`` entries, skipping the same ordering found in another cell shape.

    An ordering whose true period is smaller than the cell appears in several
    supercells of one size; the copies have equal Ewald energy and match under
    pymatgen's StructureMatcher.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(primitive_cell=True, scale=False, attempt_supercell=False)
    kept: list[tuple[float, int, np.ndarray, OrderingProblem]] = []
    kept_structures: list[Structure] = []
    for item in pool:
        if len(kept) >= keep:
            break
        structure = item[3].decorate(item[2])
        duplicate = any(
            abs(item[0] - other[0]) < 1e-6 and matcher.fit(structure, other_structure)
            for other, other_structure in zip(kept, kept_structures, strict=True)
        )
        if not duplicate:
            kept.append(item)
            kept_structures.append(structure)
    return kept
