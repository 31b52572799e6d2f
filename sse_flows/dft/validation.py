"""Checks a labeled frame must pass before it may enter a training set.

custodian's validators check that a run finished; these check that the labels are
usable: a frame can finish with an unconverged SCF (VASP stops at NELM and says so
only in the output), or with a runaway energy that would wreck a fine-tune.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from sse_flows.dft.labels import LabeledFrame


class FrameChecks(BaseModel):
    """Limits a frame's labels must respect."""

    require_scf_converged: bool = True
    max_abs_force_eV_A: float = Field(
        50.0, description="Larger forces mean overlapping atoms or a broken SCF."
    )
    max_abs_stress_GPa: float = Field(500.0, description="Same, for the stress.")
    energy_per_atom_window_eV: tuple[float, float] = Field(
        (-1.0e4, 10.0),
        description="Energy per atom must lie inside (codes differ in their zero: "
        "pseudopotential total energies are large and negative).",
    )


def frame_problem(frame: LabeledFrame, checks: FrameChecks | None = None) -> str | None:
    """Return why a labeled frame must not be used, or None if it is fine."""
    checks = checks or FrameChecks()
    if frame.status == "failed":
        return frame.reason or "failed"
    if checks.require_scf_converged and frame.scf_converged is False:
        steps = f" after {frame.n_scf_steps} steps" if frame.n_scf_steps else ""
        return f"SCF did not converge{steps}"
    if frame.energy_eV is None or frame.forces_eV_A is None or frame.stress_GPa is None:
        missing = [
            name
            for name, value in (
                ("energy", frame.energy_eV),
                ("forces", frame.forces_eV_A),
                ("stress", frame.stress_GPa),
            )
            if value is None
        ]
        return f"no {', '.join(missing)} in the output"
    nsites = len(frame.structure.get("sites", []))
    forces = np.asarray(frame.forces_eV_A, dtype=float)
    stress = np.asarray(frame.stress_GPa, dtype=float)
    if forces.shape != (nsites, 3):
        return f"forces have shape {forces.shape}, expected ({nsites}, 3)"
    if stress.shape != (3, 3):
        return f"stress has shape {stress.shape}, expected (3, 3)"
    values = np.concatenate([[frame.energy_eV], forces.ravel(), stress.ravel()])
    if not np.all(np.isfinite(values)):
        return "non-finite energy, force or stress"
    low, high = checks.energy_per_atom_window_eV
    per_atom = frame.energy_eV / max(nsites, 1)
    if not low <= per_atom <= high:
        return f"energy {per_atom:.3f} eV/atom outside [{low}, {high}]"
    fmax = float(np.abs(forces).max()) if forces.size else 0.0
    if fmax > checks.max_abs_force_eV_A:
        return f"max |force| {fmax:.1f} eV/A > {checks.max_abs_force_eV_A}"
    smax = float(np.abs(stress).max())
    if smax > checks.max_abs_stress_GPa:
        return f"max |stress| {smax:.1f} GPa > {checks.max_abs_stress_GPa}"
    return None


def validated(frame: LabeledFrame, checks: FrameChecks | None = None) -> LabeledFrame:
    """Return the frame if usable, else a copy marked failed with the reason."""
    problem = frame_problem(frame, checks)
    if problem is None or frame.status == "failed":
        return frame
    return frame.failed(problem)
