"""Which family a model file belongs to, read from its contents.

Suffixes do not tell: CHGNet, SevenNet, DeePMD and MatterSim all write ``.pth``. When a
family fails to load a file, this names the family that wrote it, so the error can
say which ``--potential`` to use instead of showing a bare ``KeyError``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path


def guess_model_family(path: Path) -> str | None:
    """Name the family a model file belongs to, from its contents (or None)."""
    if path.suffix == ".model":
        return "mace"
    try:
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") for name in archive.namelist()):
                return "deepmd"  # a TorchScript archive: dp's frozen format
        import torch

        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # not a torch file at all: nothing to say
        return None
    if not isinstance(state, dict):
        return None
    if "model_state_dict" in state and "config" in state:
        return "sevennet"
    if isinstance(state.get("model"), dict) and "model_args" in state["model"]:
        return "chgnet"
    return None
