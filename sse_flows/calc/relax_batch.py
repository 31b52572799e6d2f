"""Relax many structures in lockstep, their forces predicted together each step.

Each structure keeps its own ASE optimizer (and cell filter), exactly as
:func:`sse_flows.calc.relax.relax` sets it up, so a structure follows the same path it
would alone; only the force calls are gathered: every step, the unconverged structures
are predicted in one :class:`~sse_flows.potentials.batch.BatchPredictor` call, then
each optimizer takes its step. Written here because ASE's optimizers drive one
structure each and atomate2's ``AseRelaxer`` calls the calculator itself;
torch-sim's batched optimizers need Python 3.12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.optimize.optimize import Optimizer

from sse_flows.calc.relax import CELL_FILTERS, RelaxResult, RelaxSettings
from sse_flows.calc.static import StaticResult
from sse_flows.constants import GPA
from sse_flows.potentials.batch import BatchPredictor, FrameResult
from sse_flows.quiet import harmless
from sse_flows.structures.io import to_structure


@dataclass
class _Relaxing:
    """One structure on its way: atoms, what the optimizer moves, its step count."""

    atoms: Atoms
    optimizer: Optimizer
    energies: list[float]
    done: bool = False
    converged: bool = False


def _optimizer(atoms: Atoms, settings: RelaxSettings) -> Optimizer:
    """Build the optimizer ``relax`` would: same class, filter and symmetry constraint."""
    from ase import optimize

    if settings.fix_symmetry:
        from ase.constraints import FixSymmetry

        atoms.set_constraint(FixSymmetry(atoms, symprec=settings.symprec))
    target = CELL_FILTERS[settings.cell_filter](atoms) if settings.relax_cell else atoms
    optimizer: Optimizer = getattr(optimize, settings.optimizer)(target, logfile=None)
    optimizer.fmax = settings.fmax  # type: ignore[assignment]  # as run(fmax=) sets it
    return optimizer


def _attach(atoms: Atoms, result: FrameResult) -> None:
    """Give the atoms the predicted results (read by the filter and the optimizer)."""
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=result.energy,
        free_energy=result.energy,
        forces=result.forces,
        **({"stress": result.stress} if result.stress is not None else {}),
    )


def relax_many(
    structures: Sequence[Atoms], predictor: BatchPredictor, settings: RelaxSettings
) -> list[RelaxResult]:
    """Relax every structure; one prediction call per step for all unconverged ones.

    A structure that has not converged after ``max_steps`` is returned with
    ``converged=False`` (the caller decides; nothing here raises for one of many).
    """
    runs = []
    for atoms in structures:
        atoms = atoms.copy()
        runs.append(_Relaxing(atoms, _optimizer(atoms, settings), []))
    with harmless("logm", "fix-atoms"):
        while True:
            active = [run for run in runs if not run.done]
            if not active:
                break
            predicted = predictor.predict(
                [run.atoms for run in active], stress=settings.relax_cell
            )
            for run, result in zip(active, predicted, strict=True):
                _attach(run.atoms, result)
                run.energies.append(result.energy)
                optimizer = run.optimizer
                gradient = optimizer.optimizable.get_gradient()
                if optimizer.gradient_converged(gradient):
                    run.done = run.converged = True
                elif optimizer.nsteps >= settings.max_steps:
                    run.done = True
                else:
                    optimizer.step()
                    optimizer.nsteps += 1
    return [_result(run) for run in runs]


def _result(run: _Relaxing) -> RelaxResult:
    atoms = run.atoms
    forces = np.asarray(atoms.get_forces(apply_constraint=False), dtype=float)
    calc = atoms.calc
    stress = (
        np.asarray(atoms.get_stress(voigt=False), dtype=float) / GPA
        if calc is not None and "stress" in calc.results
        else np.full((3, 3), np.nan)
    )
    final = StaticResult(
        energy=float(atoms.get_potential_energy()),
        forces=forces,
        stress_GPa=stress,
        n_atoms=len(atoms),
    )
    atoms.set_constraint()
    return RelaxResult(
        structure=to_structure(atoms),
        final=final,
        converged=run.converged,
        n_steps=run.optimizer.nsteps,
        energies=run.energies,
    )
