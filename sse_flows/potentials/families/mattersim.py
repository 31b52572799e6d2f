"""MatterSim: weights are downloaded separately (none ship with the package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.family import BuildStep, FamilyEnvironment, PotentialFamily
from sse_flows.settings import SSEFlowsSettings


class MatterSimFamily(PotentialFamily):
    """MatterSim through ``mattersim.forcefield.MatterSimCalculator``."""

    name = "mattersim"
    package = "mattersim"
    module = "mattersim"
    extra = "mattersim"
    description = "MatterSim (weights downloaded separately)"
    default_checkpoint = "mattersim-v1.0.0-1M"
    known_checkpoints = ("mattersim-v1.0.0-1M", "mattersim-v1.0.0-5M")
    checkpoint_suffixes = (".pth",)
    notes = "mattersim pulls CUDA torchvision/torchaudio, removed after install"
    # mattersim 1.2.4+ need Python 3.12; 1.2.3 pulls CUDA torchvision/torchaudio that
    # break `import torchvision` (and mace/matgl through torchmetrics) beside CPU torch.
    environment = FamilyEnvironment(
        name="mattersim",
        reason="mattersim pulls CUDA torchvision/torchaudio and its own atomate2; kept "
        "apart so they cannot break the main environment",
        packages=("mattersim==1.2.3",),
        steps=(
            BuildStep(
                name="remove CUDA torchvision/torchaudio",
                args=("uninstall", "-y", "torchvision", "torchaudio"),
            ),
        ),
        imports=("mattersim", "mattersim.forcefield"),
    )
    # The MatterSim team's matbench-discovery script applies MP2020 corrections to
    # its predictions (models/mattersim/test_mattersim_discovery.py, PR #104).
    default_energy_reference = "raw-pbe"
    energy_reference_source = (
        "matbench-discovery test_mattersim_discovery.py (MatterSim team) applies "
        "MaterialsProject2020Compatibility to the predicted energies"
    )

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """MatterSim's own cache, then the weights directory."""
        file = checkpoint if checkpoint.endswith(".pth") else f"{checkpoint}.pth"
        return [
            Path("~/.local/mattersim/pretrained_models").expanduser() / file,
            settings.weights_dir / "mattersim" / file,
        ]

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """MatterSimCalculator on the checkpoint file."""
        from mattersim.forcefield import MatterSimCalculator

        return MatterSimCalculator(load_path=str(path), device=device, **options)


FAMILY = MatterSimFamily()
