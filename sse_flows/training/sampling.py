"""Which structures and frames a training set takes: hull window, Boltzmann draw, strain.

Pure functions on energies, compositions and cells (no jobs), for paper 001's recipe
(:mod:`sse_flows.flows.training_set`) and the fine-tuning ramp's share of frames.

The hull is the lower convex hull of energy per atom over composition, found as the
linear programme "lowest energy of any mixture of the candidates at this composition".
pymatgen's ``PhaseDiagram`` (and :mod:`sse_flows.thermo`) needs a pure-element entry
per element, which ordering candidates never have; the programme needs none and gives
the same lower hull (a test checks it against ``PhaseDiagram`` when elements are
present).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pymatgen.core import Composition, Lattice, Structure

from sse_flows.errors import SSEFlowsError

#: Boltzmann constant, eV/K
KB_EV_K = 8.617333262e-5
#: energies closer than this (eV/atom) count as equal (ground state, hull)
TOLERANCE = 1e-9

EnergyPer = Literal["formula_unit", "atom", "cell"]
Reference = Literal["hull", "composition"]
FrameSelection = Literal["even", "random"]
SlotReason = Literal["ground state", "boltzmann"]


class TrainingSetError(SSEFlowsError):
    """The training set cannot be built as asked."""


# ------------------------------------------------------------------ hull and window
def atoms_per_formula_unit(composition: Composition) -> int:
    """Atoms in one reduced formula unit (Li3YCl6: 10)."""
    return round(composition.reduced_composition.num_atoms)


def hull_energies(
    compositions: Sequence[Composition], energies_per_atom: Sequence[float]
) -> np.ndarray:
    """Lower convex hull of energy per atom over composition, at each composition.

    The lowest energy per atom of any mixture of the entries with the same overall
    composition: a linear programme per distinct composition (no elemental
    references needed, unlike ``PhaseDiagram``).
    """
    from scipy.optimize import linprog

    elements = sorted({el for c in compositions for el in c.elements})
    fractions = np.array(
        [[c.get_atomic_fraction(el) for el in elements] for c in compositions]
    )
    energies = np.asarray(energies_per_atom, dtype=float)
    hull = np.empty(len(energies))
    solved: dict[str, float] = {}
    for i, composition in enumerate(compositions):
        key = composition.reduced_formula
        if key not in solved:
            result = linprog(
                energies,
                A_eq=fractions.T,
                b_eq=fractions[i],
                bounds=(0, None),
                method="highs",
            )
            if result.status != 0:  # pragma: no cover  (the entry itself is feasible)
                raise TrainingSetError(f"hull at {key} not found: {result.message}")
            solved[key] = min(float(result.fun), float(energies[i]))
        hull[i] = solved[key]
    return hull


def energies_above_ground(
    compositions: Sequence[Composition], energies_per_atom: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Energy above the lowest entry of the same composition, and which is lowest.

    Ties go to the first entry, so exactly one ground state per composition.
    """
    energies = np.asarray(energies_per_atom, dtype=float)
    lowest: dict[str, int] = {}
    for i, composition in enumerate(compositions):
        key = composition.reduced_formula
        if key not in lowest or energies[i] < energies[lowest[key]] - TOLERANCE:
            lowest[key] = i
    above = np.array(
        [
            energies[i] - energies[lowest[c.reduced_formula]]
            for i, c in enumerate(compositions)
        ]
    )
    ground = np.zeros(len(energies), dtype=bool)
    ground[list(lowest.values())] = True
    return np.maximum(above, 0.0), ground


# ------------------------------------------------------------------ Boltzmann draw
def boltzmann_probabilities(
    delta_eV: Sequence[float] | np.ndarray, temperature: float
) -> np.ndarray:
    """Normalised ``exp(-dE / kT)`` (``dE`` in eV per whatever unit was chosen)."""
    if temperature <= 0:
        raise TrainingSetError(f"boltzmann_temperature must be positive, not {temperature}")
    delta = np.asarray(delta_eV, dtype=float)
    weights = np.exp(-(delta - delta.min()) / (KB_EV_K * temperature))
    return weights / weights.sum()


def draw_indices(
    probabilities: Sequence[float] | np.ndarray, n: int, seed: int, replace: bool
) -> list[int]:
    """Draw ``n`` indices with the given probabilities (numpy, seeded).

    Without replacement numpy draws one after the other, each time from what is left
    in proportion to its weight, so the first draw follows ``probabilities`` exactly.
    """
    p = np.asarray(probabilities, dtype=float)
    if n <= 0 or len(p) == 0:
        return []
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(len(p), size=n, replace=replace, p=p)]


@dataclass
class DrawResult:
    """What :func:`draw_candidates` decided for each candidate, and the slots."""

    e_above_ground: np.ndarray  # eV/atom, nan without energy
    e_hull: np.ndarray  # eV/atom, nan without energy
    kept: np.ndarray  # inside the window (and with an energy)
    ground: np.ndarray  # lowest of its composition
    probability: np.ndarray  # single-draw probability in the pool, nan outside it
    slots: list[tuple[int, SlotReason]]
    notes: list[str] = field(default_factory=list)


def draw_candidates(
    compositions: Sequence[Composition],
    energies_per_atom: Sequence[float | None],
    nsites: Sequence[int],
    *,
    n_structures: int,
    temperature: float,
    window_meV_atom: float | None = None,
    energy_per: EnergyPer = "formula_unit",
    reference: Reference = "hull",
    include_ground_states: bool = True,
    replace: bool = False,
    seed: int = 0,
) -> DrawResult:
    """Window, ground states and the Boltzmann draw, on energies alone.

    ``energy_per`` scales the per-atom energy in the exponent: atoms per formula unit
    (paper 001), 1 (per atom) or the atoms of the cell. ``reference``: E_hull over all
    candidates (paper 001) or the energy above the lowest of the same composition.
    """
    n = len(compositions)
    valid = np.array([e is not None and math.isfinite(e) for e in energies_per_atom])
    e_above = np.full(n, np.nan)
    e_hull = np.full(n, np.nan)
    ground = np.zeros(n, dtype=bool)
    notes: list[str] = []
    index = [int(i) for i in np.flatnonzero(valid)]
    if len(index) == 0:
        raise TrainingSetError(
            "No candidate has an energy (every energy job failed); see their jobs."
        )
    comps = [compositions[i] for i in index]
    energies = [float(energies_per_atom[i] or 0.0) for i in index]
    above, is_ground = energies_above_ground(comps, energies)
    e_above[index] = above
    ground[index] = is_ground
    e_hull[index] = np.maximum(np.asarray(energies) - hull_energies(comps, energies), 0.0)
    kept = valid.copy()
    if window_meV_atom is not None:
        kept &= np.nan_to_num(e_above, nan=np.inf) * 1000.0 <= window_meV_atom + 1e-9
    forced = ground & kept if include_ground_states else np.zeros(n, dtype=bool)
    pool = [int(i) for i in np.flatnonzero(kept & ~forced)]
    n_draw = max(0, n_structures - int(forced.sum()))
    probability = np.full(n, np.nan)
    probability[forced] = 0.0
    slots: list[tuple[int, SlotReason]] = [
        (int(i), "ground state") for i in np.flatnonzero(forced)
    ]
    if len(pool):
        delta = (e_hull if reference == "hull" else e_above)[pool]
        scale = np.array(
            [
                {
                    "formula_unit": atoms_per_formula_unit(compositions[i]),
                    "atom": 1,
                    "cell": nsites[i],
                }[energy_per]
                for i in pool
            ],
            dtype=np.float64,
        )
        p = boltzmann_probabilities(delta * scale, temperature)
        probability[pool] = p
        if not replace and n_draw > len(pool):
            notes.append(
                f"{n_draw} draws asked, {len(pool)} candidates left to draw from "
                "(without replacement): all of them were taken."
            )
            n_draw = len(pool)
        drawn = draw_indices(p, n_draw, seed, replace)
        slots += [(pool[k], "boltzmann") for k in drawn]
    elif n_draw:
        notes.append(f"{n_draw} draws asked, but no candidate was left to draw from.")
    if int(forced.sum()) > n_structures:
        notes.append(
            f"{int(forced.sum())} compositions: each lowest structure was taken, more "
            f"than n_structures={n_structures}."
        )
    return DrawResult(e_above, e_hull, kept, ground, probability, slots, notes)


# ------------------------------------------------------------------ frames and strain
def pick_frames(
    n_stored: int, n_take: int, mode: FrameSelection, rng: np.random.Generator
) -> list[int]:
    """Return the stored frames to take: evenly spaced (ending at the last) or random."""
    if n_stored <= n_take:
        return list(range(n_stored))
    if mode == "random":
        return sorted(int(i) for i in rng.choice(n_stored, size=n_take, replace=False))
    return [(k + 1) * n_stored // n_take - 1 for k in range(n_take)]


def frame_shares(total: int, parts: int) -> list[int]:
    """Split ``total`` frames between ``parts`` structures as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def random_strain(rng: np.random.Generator, max_strain: float) -> np.ndarray:
    """Symmetric strain tensor, each of its 6 components uniform in [-max, +max]."""
    xx, yy, zz, yz, xz, xy = rng.uniform(-max_strain, max_strain, size=6)
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def apply_strain(structure: Structure, strain: np.ndarray) -> Structure:
    """Deform the cell by ``I + strain``; atoms keep their fractional coordinates."""
    deformation = np.eye(3) + np.asarray(strain)
    lattice = Lattice(structure.lattice.matrix @ deformation.T)
    return Structure(
        lattice,
        structure.species,
        structure.frac_coords,
        site_properties=structure.site_properties or None,
    )


def voigt(strain: list[list[float]]) -> list[float]:
    """Return a strain tensor's components as xx, yy, zz, yz, xz, xy."""
    s = strain
    return [s[0][0], s[1][1], s[2][2], s[1][2], s[0][2], s[0][1]]
