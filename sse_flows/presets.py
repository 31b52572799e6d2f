"""One loader for every kind of preset: shipped YAML data files, or a user's YAML file.

A preset kind is a folder of ``sse_flows/data/presets`` (``conductivity``, ``dft``,
``tables``, ``training_set``); a preset is one YAML mapping in it, named by its file
stem. A value with a ``.yaml``/``.yml`` suffix is a user's file instead (relative
paths are resolved by whoever read them from a spec, against the spec's folder).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sse_flows.errors import SSEFlowsError

KINDS = ("active_learning", "conductivity", "dft", "tables", "training_set")


class PresetError(SSEFlowsError):
    """A preset is unknown, missing or malformed."""


def preset_dir(kind: str) -> Path:
    """Return the folder of the shipped presets of a kind."""
    if kind not in KINDS:
        raise PresetError(f"unknown preset kind '{kind}'; kinds: {', '.join(KINDS)}")
    return Path(str(resources.files("sse_flows") / "data" / "presets" / kind))


def preset_names(kind: str) -> list[str]:
    """Names of the shipped presets of a kind."""
    return sorted(p.stem for p in preset_dir(kind).glob("*.yaml"))


def is_preset_file(value: str | Path) -> bool:
    """Whether a preset value names a YAML file rather than a shipped preset."""
    return Path(value).suffix in (".yaml", ".yml")


def preset_path(
    kind: str, name_or_path: str | Path, error: type[PresetError] = PresetError
) -> Path:
    """Return a shipped preset's file by name, or a user's YAML file; say what exists."""
    if is_preset_file(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise error(f"{kind} preset file not found: {path}")
        return path
    path = preset_dir(kind) / f"{name_or_path}.yaml"
    if not path.is_file():
        raise error(
            f"No {kind} preset {str(name_or_path)!r}: name one of the shipped presets "
            "(below) or give a preset YAML file; shipped presets are in "
            f"{preset_dir(kind)}; shipped: {', '.join(preset_names(kind))}"
        )
    return path


def load_preset(
    kind: str, name_or_path: str | Path, error: type[PresetError] = PresetError
) -> dict[str, Any]:
    """Read a preset as a mapping (its ``name`` defaults to the file's stem).

    ``error`` is the kind's own subclass of :class:`PresetError` to raise.
    """
    path = preset_path(kind, name_or_path, error)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{kind} preset {path} is malformed (not valid YAML): {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{kind} preset {path} is malformed: it must hold a mapping")
    data.setdefault("name", path.stem)
    return data
