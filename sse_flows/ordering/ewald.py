"""Electrostatic (Ewald) energies of many decorations of one skeleton, fast.

pymatgen's ``EwaldSummation`` costs ~0.04 s per 150-atom structure, which makes
ranking 10^5 candidates an hour. The Ewald energy of point charges on fixed sites is a
quadratic form, ``E = q^T M q``, so ``M`` is computed once with pymatgen (unit charges on
every skeleton site) and each candidate then costs one matrix-vector product. For
charge-neutral decorations the result equals pymatgen's total energy exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Species, Structure

from sse_flows.ordering.problem import OrderingProblem


@dataclass
class EwaldModel:
    """``E(config) = constant + linear . q_d + q_d^T quadratic q_d`` in eV per supercell."""

    constant: float
    linear: np.ndarray
    quadratic: np.ndarray
    problem: OrderingProblem

    @classmethod
    def for_problem(cls, problem: OrderingProblem) -> EwaldModel:
        """Build the interaction matrix of the skeleton once."""
        skeleton = problem.skeleton
        unit = Structure(
            skeleton.lattice, [Species("H", 1)] * len(skeleton), skeleton.frac_coords
        )
        matrix = np.asarray(EwaldSummation(unit).total_energy_matrix)
        matrix = 0.5 * (matrix + matrix.T)
        fixed = np.array(sorted(problem.fixed_charges), dtype=int)
        q_fixed = np.array([problem.fixed_charges[i] for i in fixed], dtype=float)
        disordered = problem.disordered_sites
        constant = (
            float(q_fixed @ matrix[np.ix_(fixed, fixed)] @ q_fixed) if len(fixed) else 0.0
        )
        linear = (
            2.0 * matrix[np.ix_(disordered, fixed)] @ q_fixed
            if len(fixed)
            else np.zeros(len(disordered))
        )
        quadratic = matrix[np.ix_(disordered, disordered)]
        return cls(constant=constant, linear=linear, quadratic=quadratic, problem=problem)

    def energies(self, configs: np.ndarray) -> np.ndarray:
        """Ewald energies (eV per supercell) of configurations ``(n, n_disordered)``."""
        configs = np.atleast_2d(configs)
        result = np.empty(len(configs))
        for start in range(0, len(configs), 20_000):
            q = self.problem.charge_vector(configs[start : start + 20_000])
            result[start : start + len(q)] = (
                self.constant
                + q @ self.linear
                + np.einsum("bi,ij,bj->b", q, self.quadratic, q)
            )
        return result

    def swap_energy(self, q: np.ndarray, field: np.ndarray, i: int, j: int) -> float:
        """Energy change (eV) of swapping sites i and j; ``field`` is A @ q."""
        a = self.quadratic
        dq = q[j] - q[i]  # q_i += dq, q_j -= dq
        return float(
            dq * (self.linear[i] - self.linear[j])
            + 2.0 * dq * (field[i] - field[j])
            + dq * dq * (a[i, i] + a[j, j] - 2.0 * a[i, j])
        )

    def typical_swap_energy(
        self,
        rng: np.random.Generator,
        offsets: np.ndarray,
        mixing: list[int],
        n_swaps: int = 200,
    ) -> float:
        """Median |energy change| (eV) of random swaps in a random configuration."""
        from sse_flows.ordering.enumeration import random_configs

        config = random_configs(self.problem, 1, rng)[0]
        q = self.problem.charge_vector(config[None, :])[0]
        a = self.quadratic
        field = a @ q
        changes = []
        for _ in range(n_swaps):
            sub = mixing[rng.integers(len(mixing))]
            i, j = rng.integers(offsets[sub], offsets[sub + 1], size=2)
            if q[j] != q[i]:
                changes.append(abs(self.swap_energy(q, field, i, j)))
        return float(np.median(changes)) if changes else 1.0

    def anneal(
        self,
        rng: np.random.Generator,
        n_runs: int = 8,
        sweeps: int = 1000,
        t_start_ev: float | None = None,
        t_end_ev: float | None = None,
        record_every: int | None = None,
    ) -> np.ndarray:
        """Anneal with swaps inside each sublattice and return the configurations visited.

        Used when a cell has too many arrangements to enumerate. Each run cools
        geometrically from ``t_start_ev`` to ``t_end_ev`` (kT per supercell, eV); the
        configuration at the end of every sweep in the colder half is kept, so the
        caller gets many distinct low-energy candidates, not just one minimum.

        By default the run starts at the median energy change of a random swap in a
        random configuration (about half the uphill swaps accepted) and ends 1000 times
        colder. A fixed 1 eV start, below the typical Madelung swap cost of a small
        ionic cell, quenched runs into layered states with antiphase boundaries (rock
        salt in a 4x4x4 cell was missed for some seeds); 1000 sweeps, not 200, for the
        same reason (20 of 20 seeds find it, against 16 of 20). By default every
        (sweeps // 200)-th sweep is kept: about 100 candidates per run to canonicalise.
        """
        problem = self.problem
        offsets = np.cumsum([0] + [len(s.sites) for s in problem.sublattices])
        mixing = [
            k
            for k, s in enumerate(problem.sublattices)
            if len(set(s.species)) > 1 and len(s.sites) > 1
        ]
        n_sites = int(offsets[-1])
        a = self.quadratic
        from sse_flows.ordering.enumeration import random_configs

        if t_start_ev is None:
            t_start_ev = self.typical_swap_energy(rng, offsets, mixing)
        temps = np.geomspace(t_start_ev, t_end_ev or t_start_ev * 1e-3, sweeps)

        linear, diag = self.linear, np.diag(a).copy()
        every = record_every or max(1, sweeps // 200)
        kept: list[np.ndarray] = []
        for _ in range(n_runs):
            config = random_configs(problem, 1, rng)[0].copy()
            q = problem.charge_vector(config[None, :])[0]
            field = a @ q
            for sweep, temp in enumerate(temps):
                for _step in range(n_sites):
                    sub = mixing[rng.integers(len(mixing))]
                    lo, hi = offsets[sub], offsets[sub + 1]
                    i, j = rng.integers(lo, hi, size=2)
                    dq = q[j] - q[i]
                    if config[i] == config[j] or dq == 0.0:
                        continue
                    # swap_energy(q, field, i, j), inlined: this loop is the hot path
                    delta = (
                        dq * (linear[i] - linear[j])
                        + 2.0 * dq * (field[i] - field[j])
                        + dq * dq * (diag[i] + diag[j] - 2.0 * a[i, j])
                    )
                    if delta <= 0.0 or rng.random() < np.exp(-delta / temp):
                        config[i], config[j] = config[j], config[i]
                        q[i], q[j] = q[j], q[i]
                        field += dq * (a[:, i] - a[:, j])
                if sweep >= sweeps // 2 and sweep % every == 0:
                    kept.append(config.copy())
            kept.append(config.copy())
        return np.asarray(kept, dtype=np.int8)
