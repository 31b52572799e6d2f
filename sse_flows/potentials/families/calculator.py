"""Any ASE calculator by import path, like atomate2's ``calculator_meta``.

``calculator:ase.calculators.lj.LennardJones`` with ``options`` as keyword arguments
builds that class. Provenance records the import path, the distribution that holds
it and its version; the element coverage and the energy scale are unknown (state
the latter with ``energy_reference`` in the potential spec).
"""

from __future__ import annotations

import importlib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from sse_flows.potentials.family import PotentialFamily


def split_import_path(path: str) -> tuple[str, str]:
    """Return (module, attribute) of 'package.module.Class'."""
    module, _, attribute = path.rpartition(".")
    if not module or not attribute:
        raise ValueError(
            f"'{path}' is not an import path; give module.Class, e.g. "
            "calculator:ase.calculators.lj.LennardJones"
        )
    return module, attribute


class CalculatorFamily(PotentialFamily):
    """An ASE calculator class named by its import path (the checkpoint)."""

    name = "calculator"
    package = "ase"
    module = "ase"
    extra = ""
    description = "any ASE calculator by import path: calculator:module.Class"
    needs_torch = False
    aliases = ("ase",)

    def needs_weights(self) -> bool:
        """No weights: the import path is the checkpoint."""
        return False

    def is_path(self, checkpoint: str) -> bool:
        """Tell that an import path is never a file."""
        return False

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """Import the class the checkpoint names and build it with the options."""
        module_name, attribute = split_import_path(str(checkpoint))
        cls = getattr(importlib.import_module(module_name), attribute)
        calculator = cls(**options)
        if not isinstance(calculator, Calculator) and not hasattr(
            calculator, "get_potential_energy"
        ):
            raise TypeError(f"{module_name}.{attribute} did not give an ASE calculator")
        return calculator

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """Unknown coverage: every element passes."""
        return frozenset(chemical_symbols[1:])

    def package_version_name(self, checkpoint: str | None) -> str:
        """Return the distribution holding the calculator's top-level module."""
        top = (checkpoint or "ase").split(".", 1)[0]
        return (packages_distributions().get(top) or [top])[0]


FAMILY = CalculatorFamily()
