"""Symmetry-distinct decorations of a fixed supercell.

Written here because no reachable package does this: enumlib's binaries are not
packaged for this machine, icet enumerates every supercell shape of a size with a
concentration window over all sites (not exact counts per sublattice, not one fixed
cell), and pymatgen's order-disorder transformation does no symmetry reduction.

A configuration is an int8 array over the disordered sites (species index within its
sublattice). Its canonical key is the lexicographic minimum, over the supercell's
symmetry permutations, of its images packed into int64 words; equal keys mean the same
structure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sse_flows.ordering.problem import OrderingProblem

BATCH_ELEMENTS = 20_000_000
"""Bound on int8 elements held at once while canonicalising (~20 MB)."""


@dataclass
class CanonicalForm:
    """Packs configurations and reduces them by the supercell's symmetry."""

    perms: np.ndarray
    """Permutations ``(n_ops, n_disordered)`` acting on disordered-site positions."""
    bits: int

    @classmethod
    def for_problem(cls, problem: OrderingProblem, site_perms: np.ndarray) -> CanonicalForm:
        """Restrict skeleton permutations to the disordered sites, in problem order."""
        disordered = problem.disordered_sites
        position = np.full(len(problem.skeleton), -1, dtype=int)
        position[disordered] = np.arange(len(disordered))
        # image[g, k] = configuration position that lands on position k under g.
        inverse = np.argsort(site_perms, axis=1)
        restricted = position[inverse[:, disordered]]
        if np.any(restricted < 0):
            raise ValueError("a symmetry operation mixes ordered and disordered sites")
        n_species = max(len(sub.species) for sub in problem.sublattices)
        bits = max(1, math.ceil(math.log2(max(n_species, 2))))
        return cls(perms=np.unique(restricted, axis=0), bits=bits)

    @property
    def n_ops(self) -> int:
        """Order of the symmetry group acting on the supercell."""
        return len(self.perms)

    def _pack(self, images: np.ndarray) -> np.ndarray:
        """Pack ``(..., n_sites)`` int8 values into ``(..., n_words)`` int64 words."""
        per_word = 62 // self.bits
        n_sites = images.shape[-1]
        n_words = -(-n_sites // per_word)
        pad = n_words * per_word - n_sites
        if pad:
            images = np.concatenate(
                [images, np.zeros((*images.shape[:-1], pad), dtype=images.dtype)], axis=-1
            )
        shaped = images.reshape(*images.shape[:-1], n_words, per_word).astype(np.int64)
        weights = np.left_shift(
            np.int64(1), self.bits * np.arange(per_word - 1, -1, -1, dtype=np.int64)
        )
        packed: np.ndarray = shaped @ weights
        return packed

    def _images_and_best(self, configs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(n, g, sites)`` and, per configuration, the index of the smallest."""
        images = configs[:, self.perms]
        words = self._pack(images)  # (n, g, w)
        alive = np.ones(words.shape[:2], dtype=bool)
        for w in range(words.shape[2]):
            column = np.where(alive, words[:, :, w], np.iinfo(np.int64).max)
            alive &= column == column.min(axis=1)[:, None]
        return images, alive.argmax(axis=1)

    def _batches(self, configs: np.ndarray) -> Iterator[np.ndarray]:
        batch = max(1, BATCH_ELEMENTS // (self.n_ops * max(1, configs.shape[1])))
        for start in range(0, len(configs), batch):
            yield configs[start : start + batch]

    def canonical_configs(self, configs: np.ndarray) -> np.ndarray:
        """Return each configuration's representative (its smallest image)."""
        configs = np.atleast_2d(np.asarray(configs, dtype=np.int8))
        out = []
        for chunk in self._batches(configs):
            images, best = self._images_and_best(chunk)
            out.append(images[np.arange(len(chunk)), best])
        return np.concatenate(out, axis=0)

    def keys(self, configs: np.ndarray) -> np.ndarray:
        """Canonical keys ``(n, n_words)`` of configurations ``(n, n_sites)``."""
        return self._pack(self.canonical_configs(configs))


def _sublattice_arrangements(n_sites: int, counts: tuple[int, ...]) -> np.ndarray:
    """All placements of ``counts[k]`` copies of species k on ``n_sites`` sites."""
    arrangements = [np.zeros(n_sites, dtype=np.int8)]
    free = [tuple(range(n_sites))]
    for species, count in enumerate(counts[1:], start=1):
        new_arr, new_free = [], []
        for arr, positions in zip(arrangements, free, strict=True):
            for chosen in itertools.combinations(positions, count):
                nxt = arr.copy()
                nxt[list(chosen)] = species
                new_arr.append(nxt)
                new_free.append(tuple(p for p in positions if p not in chosen))
        arrangements, free = new_arr, new_free
    return np.asarray(arrangements, dtype=np.int8)


def iterate_all(problem: OrderingProblem, batch: int = 200_000) -> Iterator[np.ndarray]:
    """Every arrangement (no symmetry reduction), in batches ``(n, n_disordered)``."""
    per_sub = [
        _sublattice_arrangements(len(s.sites), s.counts) for s in problem.sublattices
    ]
    index_ranges = [range(len(a)) for a in per_sub]
    buffer: list[np.ndarray] = []
    for combo in itertools.product(*index_ranges):
        buffer.append(np.concatenate([per_sub[k][i] for k, i in enumerate(combo)]))
        if len(buffer) == batch:
            yield np.asarray(buffer, dtype=np.int8)
            buffer = []
    if buffer:
        yield np.asarray(buffer, dtype=np.int8)


@dataclass
class DistinctSet:
    """Symmetry-distinct configurations with the size of each one's orbit."""

    configs: np.ndarray
    """Representatives ``(n_distinct, n_disordered)``."""
    multiplicity: np.ndarray
    """How many of the enumerated arrangements each representative stands for."""
    n_considered: int
    """Arrangements looked at (all of them when exhaustive, else the samples)."""
    exhaustive: bool


def enumerate_distinct(problem: OrderingProblem, canonical: CanonicalForm) -> DistinctSet:
    """All symmetry-distinct arrangements, by canonicalising every arrangement."""
    keys: dict[bytes, list[int | np.ndarray]] = {}
    considered = 0
    for configs in iterate_all(problem):
        considered += len(configs)
        batch_keys = canonical.keys(configs)
        uniq, first, counts = np.unique(
            batch_keys, axis=0, return_index=True, return_counts=True
        )
        for key, idx, count in zip(uniq, first, counts, strict=True):
            raw = key.tobytes()
            if raw in keys:
                keys[raw][0] = int(keys[raw][0]) + int(count)
            else:
                keys[raw] = [int(count), configs[idx]]
    reps = np.asarray([v[1] for v in keys.values()], dtype=np.int8)
    mult = np.asarray([v[0] for v in keys.values()], dtype=np.int64)
    return DistinctSet(
        configs=canonical.canonical_configs(reps),
        multiplicity=mult,
        n_considered=considered,
        exhaustive=True,
    )


def random_configs(
    problem: OrderingProblem, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` uniformly random arrangements honouring every sublattice's counts."""
    parts = []
    for sub in problem.sublattices:
        base = np.repeat(np.arange(len(sub.species), dtype=np.int8), sub.counts)
        parts.append(rng.permuted(np.tile(base, (n, 1)), axis=1))
    return np.concatenate(parts, axis=1)


def distinct_from_samples(canonical: CanonicalForm, configs: np.ndarray) -> DistinctSet:
    """Reduce sampled configurations to distinct ones (multiplicity = times seen)."""
    keys = canonical.keys(configs)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    return DistinctSet(
        configs=canonical.canonical_configs(configs[first]),
        multiplicity=counts.astype(np.int64),
        n_considered=len(configs),
        exhaustive=False,
    )
