"""DeePMD-kit: a frozen model file trained by the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.families.sevennet import type_map_elements
from sse_flows.potentials.family import PotentialFamily


class DeePMDFamily(PotentialFamily):
    """DeePMD through ``deepmd.calculator.DP``.

    Its energy scale is that of the labels it was trained on: ``unknown`` unless the
    potential spec states it (``energy_reference: raw-pbe``, say).
    """

    name = "deepmd"
    package = "deepmd-kit"
    module = "deepmd"
    extra = "deepmd"
    description = "DeePMD-kit frozen model (.pth or .pb file)"
    checkpoint_suffixes = (".pth", ".pb")
    aliases = ("dp",)

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """DP on the frozen model file."""
        from deepmd.calculator import DP

        return DP(model=str(path), **options)

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """From the model's type map."""
        return type_map_elements(calculator)


FAMILY = DeePMDFamily()
