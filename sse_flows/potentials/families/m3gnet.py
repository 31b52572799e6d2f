"""M3GNet through matgl: model directories from matgl's cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.family import PotentialFamily
from sse_flows.settings import SSEFlowsSettings


class M3GNetFamily(PotentialFamily):
    """M3GNet through ``matgl.ext.ase.PESCalculator``."""

    name = "m3gnet"
    package = "matgl"
    module = "matgl"
    extra = "matgl"
    description = "M3GNet through matgl (model directories from its cache)"
    default_checkpoint = "M3GNet-MP-2021.2.8-PES"
    known_checkpoints = ("M3GNet-MP-2021.2.8-PES", "M3GNet-MatPES-PBE-v2025.1-PES")
    aliases = ("matgl",)
    # matbench-discovery join_m3gnet_preds.py: "cse._energy is the uncorrected
    # energy" (then MP2020 is applied); MatPES PBE has no +U, so MP2020 does not fit.
    default_energy_reference = "raw-pbe"
    checkpoint_energy_references = {"M3GNet-MatPES-PBE-v2025.1-PES": "raw-pbe-no-u"}
    energy_reference_source = (
        "matbench-discovery join_m3gnet_preds.py: M3GNet predicts the uncorrected "
        "energy; MatPES-PBE is PBE without Hubbard U"
    )

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """Matgl's cache, then the weights directory (model directories)."""
        return [
            Path("~/.cache/matgl").expanduser() / checkpoint,
            settings.weights_dir / "m3gnet" / checkpoint,
        ]

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """PESCalculator with stress in eV/A^3 (matgl >= 1.2 defaults to GPa)."""
        import matgl
        from matgl.ext.ase import PESCalculator

        model = matgl.load_model(str(path))
        return PESCalculator(model, **{"stress_unit": "eV/A3", **options})

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """From the model's element types."""
        return frozenset(calculator.potential.model.element_types)  # type: ignore[attr-defined]


FAMILY = M3GNetFamily()
