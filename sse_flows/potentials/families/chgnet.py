"""CHGNet: weights ship with the package (0.3.0, 0.2.0, r2scan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.family import PotentialFamily, package_dir
from sse_flows.settings import SSEFlowsSettings

_DIRS = {"0.3.0": "0.3.0", "0.2.0": "0.2.0", "r2scan": "r2scan"}


class CHGNetFamily(PotentialFamily):
    """CHGNet through ``chgnet.model.dynamics.CHGNetCalculator``."""

    name = "chgnet"
    package = "chgnet"
    module = "chgnet"
    extra = "chgnet"
    description = "CHGNet (weights ship with the package)"
    trainer = "sse_flows.training.chgnet:CHGNetTrainer"
    default_checkpoint = "0.3.0"
    known_checkpoints = tuple(_DIRS)
    checkpoint_suffixes = (".pth.tar", ".tar", ".pt", ".pth")
    # MPtrj 'energy_per_atom' is after the MP2020 correction (chgnet README, "Notes
    # for Training"; MPtrj figshare page); r2scan was fine-tuned on MP r2SCAN data.
    default_energy_reference = "mp2020-corrected"
    checkpoint_energy_references = {"r2scan": "raw-r2scan"}
    harmless_warnings = ("requires-grad", "fix-atoms")
    energy_reference_source = (
        "chgnet README: 'The pretrained dataset of CHGNet comes from GGA+U DFT with "
        "MaterialsProject2020Compatibility corrections applied'"
    )

    def is_path(self, checkpoint: str) -> bool:
        """Treat a name ending in .tar (CHGNet's .pth.tar) as a file too."""
        return super().is_path(checkpoint) or checkpoint.endswith(".tar")

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """List the package's pretrained folder, then the weights directory."""
        found: list[Path] = []
        root = package_dir("chgnet")
        if root is not None and checkpoint in _DIRS:
            found += sorted((root / "pretrained" / _DIRS[checkpoint]).glob("*.pth.tar"))
        found += sorted((settings.weights_dir / "chgnet").glob(f"*{checkpoint}*.pth.tar"))
        return found

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """Load a shipped checkpoint by name (its flags) or any file."""
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        assert path is not None
        root = package_dir("chgnet")
        if root is not None and path.parent.parent == root / "pretrained":
            # shipped checkpoints differ in architecture flags that only load() knows
            model = CHGNet.load(model_name=path.parent.name, verbose=False)
        else:
            model = CHGNet.from_file(str(path))
        return CHGNetCalculator(model=model, use_device=device, **options)


FAMILY = CHGNetFamily()
