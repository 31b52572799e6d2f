"""ASE's EMT: a fast analytic potential for tests and tutorials (metals, H, C, N, O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.family import PotentialFamily

_ELEMENTS = frozenset({"H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"})


class EMTFamily(PotentialFamily):
    """``ase.calculators.emt.EMT``: no weights, no torch."""

    name = "emt"
    package = "ase"
    module = "ase"
    extra = ""
    description = "ASE's EMT (metals, H, C, N, O): fast, for tests and tutorials"
    needs_torch = False
    default_energy_reference = "none"

    def needs_weights(self) -> bool:
        """EMT has no weights."""
        return False

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """Return a new EMT calculator."""
        from ase.calculators.emt import EMT

        return EMT(**options)

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """EMT's parametrised elements."""
        return _ELEMENTS


FAMILY = EMTFamily()
