"""DFT settings presets: data files, one per preset, read by the code's backend.

A preset fixes everything that makes labels comparable (functional, cutoff, k-point
rule, smearing, SCF tolerance, pseudopotentials), so frames labeled months apart, or
by different people, belong in one training set only if their preset names match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from sse_flows.presets import PresetError, load_preset, preset_names


class DftPresetError(PresetError):
    """A DFT preset is unknown or malformed."""


class DftPreset(BaseModel):
    """A named set of DFT settings for one code."""

    name: str
    code: Literal["cp2k", "vasp"]
    functional: str = Field(description="Exchange-correlation functional, e.g. PBE.")
    description: str = ""
    source: str = Field("", description="Where the settings come from (paper, MP).")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Code settings, read by the code's backend."
    )


def available_presets() -> list[str]:
    """Names of the shipped presets."""
    return preset_names("dft")


def load_dft_preset(name_or_path: str | Path) -> DftPreset:
    """Load a shipped preset by name, or a preset YAML file by path."""
    data = load_preset("dft", name_or_path, DftPresetError)
    try:
        return DftPreset.model_validate(data)
    except ValidationError as exc:
        raise DftPresetError(f"DFT preset {name_or_path} is malformed: {exc}") from exc
