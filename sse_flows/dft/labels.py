"""Labeled frames: one unit system and one stress sign for every DFT code.

Units: energy eV, forces eV/A, stress GPa. Sign: positive stress is tensile (the
ASE convention, sigma = (1/V) dE/d(strain)), so a compressed cell has negative
diagonal stress. VASP prints kBar and CP2K GPa, both with positive = compressive;
each code's parser converts to this convention, and nothing downstream converts.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator
from pymatgen.core import Structure

ENERGY_UNIT = "eV"
FORCE_UNIT = "eV/A"
STRESS_UNIT = "GPa"
STRESS_SIGN = "positive = tensile (ASE convention)"


class Correction(BaseModel):
    """One custodian correction applied to a calculation."""

    handler: str = Field(description="custodian error handler that fired.")
    errors: list[str] = Field(default_factory=list, description="Errors it detected.")
    actions: list[dict[str, Any]] = Field(
        default_factory=list, description="What it changed (custodian action dicts)."
    )


class LabeledFrame(BaseModel):
    """DFT energy, forces and stress of one frame, or why there are none.

    A failed frame keeps its structure, its reason and its directory, so it can be
    inspected or relabeled; it never enters a dataset.
    """

    index: int = Field(description="Position of the frame in the labeling flow's input.")
    status: Literal["success", "failed"]
    reason: str | None = Field(None, description="Why the frame failed (None: success).")
    structure: dict[str, Any] = Field(description="The frame as labeled (pymatgen dict).")
    formula: str = Field(description="Formula of the cell, e.g. Li8 S4.")
    energy_eV: float | None = Field(None, description="Total energy, eV.")
    forces_eV_A: list[list[float]] | None = Field(None, description="Forces, eV/A.")
    stress_GPa: list[list[float]] | None = Field(
        None, description=f"3x3 stress, GPa, {STRESS_SIGN}."
    )
    scf_converged: bool | None = Field(None, description="Electronic SCF converged.")
    n_scf_steps: int | None = Field(None, description="SCF steps of the last run.")
    corrections: list[Correction] = Field(
        default_factory=list, description="custodian corrections, in order."
    )
    calc_dir: str | None = Field(None, description="Directory with the code's files.")
    wall_time_s: float | None = Field(None, description="Wall time of the calculation.")
    code_version: str | None = Field(None, description="Version the DFT code reported.")

    @field_validator("structure", mode="before")
    @classmethod
    def _structure_as_dict(cls, value: Any) -> Any:
        """Accept a Structure: the store's decoder rebuilds them from their dicts."""
        return value.as_dict() if isinstance(value, Structure) else value

    @property
    def ok(self) -> bool:
        """True for a frame that may enter a dataset."""
        return self.status == "success"

    def pymatgen_structure(self) -> Structure:
        """Return the frame as a pymatgen Structure."""
        return Structure.from_dict(self.structure)

    def failed(self, reason: str) -> LabeledFrame:
        """Return a copy marked failed with ``reason`` (labels kept for inspection)."""
        return self.model_copy(update={"status": "failed", "reason": reason})


class DftSettingsRecord(BaseModel):
    """The DFT settings a frame was labeled with, as resolved (for provenance)."""

    code: Literal["cp2k", "vasp"]
    preset: str = Field(description="Preset name, e.g. cp2k-pbe-small.")
    functional: str = Field(description="Exchange-correlation functional, e.g. PBE.")
    description: str = Field("", description="What the preset is for.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Resolved code settings: INCAR and k-point rule for VASP; the "
        "CP2K input updates, basis set and pseudopotential names, files and hashes.",
    )
    command: str | None = Field(None, description="Command that ran the code.")
    code_version: str | None = Field(None, description="Version the code reported.")


def frame_arrays(frame: LabeledFrame) -> tuple[float, np.ndarray, np.ndarray]:
    """Energy (eV), forces (N x 3, eV/A) and stress (3 x 3, GPa) of a labeled frame."""
    if frame.energy_eV is None or frame.forces_eV_A is None or frame.stress_GPa is None:
        raise ValueError(f"frame {frame.index} has no labels ({frame.reason})")
    return (
        float(frame.energy_eV),
        np.asarray(frame.forces_eV_A, dtype=float),
        np.asarray(frame.stress_GPa, dtype=float),
    )
