"""DFT settings presets: data files, one per preset, read by the code's backend.

A preset fixes everything that makes labels comparable (functional, cutoff, k-point
rule, smearing, SCF tolerance, pseudopotentials), so frames labeled months apart, or
by different people, belong in one training set only if their preset names match.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from sse_flows.errors import SSEFlowsError


class DftPresetError(SSEFlowsError):
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


def _preset_files() -> dict[str, Path]:
    root = resources.files("sse_flows") / "data" / "presets" / "dft"
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in root.iterdir()
        if str(entry).endswith(".yaml")
    }


def available_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(_preset_files())


def load_dft_preset(name_or_path: str | Path) -> DftPreset:
    """Load a shipped preset by name, or a preset YAML file by path."""
    files = _preset_files()
    path = files.get(str(name_or_path)) or Path(name_or_path).expanduser()
    if not path.is_file():
        raise DftPresetError(
            f"No DFT preset {name_or_path!r}: shipped presets are "
            f"{', '.join(available_presets())}, or give a preset YAML file."
        )
    try:
        data = yaml.safe_load(path.read_text())
        data.setdefault("name", path.stem)
        return DftPreset.model_validate(data)
    except (yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise DftPresetError(f"DFT preset {path} is malformed: {exc}") from exc
