"""MACE: foundation models or any local .model file; needs its own environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from sse_flows.potentials.family import FamilyEnvironment, PotentialFamily
from sse_flows.settings import SSEFlowsSettings

# Cache file names used by mace.calculators.foundations_models for the named models.
_FILES = {
    "mace-mp-0-small": "2023-12-10-mace-128-L0_energy_epoch-249.model",
    "mace-mp-0-medium": "2023-12-03-mace-128-L1_epoch-199.model",
    "mace-mp-0-large": "2024-01-07-mace-128-L2_epoch-199.model",
    "mace-mpa-0-medium": "mace-mpa-0-medium.model",
    "mace-omat-0-medium": "mace-omat-0-medium.model",
}


class MACEFamily(PotentialFamily):
    """MACE through ``mace.calculators.MACECalculator``."""

    name = "mace"
    package = "mace-torch"
    module = "mace"
    extra = "mace"
    description = "MACE foundation models or any local .model file (own environment)"
    trainer = "sse_flows.training.mace:MACETrainer"
    default_checkpoint = "mace-mp-0-medium"
    known_checkpoints = tuple(_FILES)
    checkpoint_suffixes = (".model",)
    notes = "mace-torch pins e3nn==0.4.4: install it in its own environment"
    # mace README: "The MACE-MP models are trained on MPTrj raw DFT energies from
    # VASP outputs, and are not directly comparable to ... CHGNet's energies".
    default_energy_reference = "raw-pbe"
    checkpoint_energy_references = {"mace-omat-0-medium": "raw-pbe-omat24"}
    energy_reference_source = (
        "mace README: 'The MACE-MP models are trained on MPTrj raw DFT energies'"
    )
    environment = FamilyEnvironment(
        name="mace",
        reason="mace-torch pins e3nn==0.4.4, which sevenn and mattersim cannot share",
        packages=("mace-torch==0.3.16",),
        imports=("mace", "mace.calculators", "e3nn"),
    )

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """MACE's cache file of a named model, then the weights directory."""
        file = _FILES.get(checkpoint)
        if file is None:
            return []
        return [
            Path("~/.cache/mace").expanduser() / file,
            settings.weights_dir / "mace" / file,
            settings.weights_dir / "mace" / f"{checkpoint}.model",
        ]

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """MACECalculator in float64 (the registry restores torch's default dtype)."""
        from mace.calculators import MACECalculator

        opts = {"default_dtype": "float64", **options}
        return MACECalculator(model_paths=str(path), device=device, **opts)

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """From the model's atomic-number table."""
        zs = calculator.z_table.zs  # type: ignore[attr-defined]
        return frozenset(chemical_symbols[int(z)] for z in zs)


FAMILY = MACEFamily()
