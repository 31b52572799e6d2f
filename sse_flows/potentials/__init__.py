"""The potential registry: one place that turns a potential spec into a calculator."""

from sse_flows.potentials.catalog import families, get_family, refresh_families
from sse_flows.potentials.family import (
    ENERGY_REFERENCES,
    EnergyReference,
    FamilyEnvironment,
    PotentialFamily,
)
from sse_flows.potentials.registry import (
    LoadedPotential,
    availability,
    batch_predictor,
    check_available,
    clear_cache,
    load_potential,
    resolve_checkpoint,
)
from sse_flows.potentials.spec import (
    DEFAULT_POTENTIAL_NAME,
    PotentialSpec,
    default_potential,
    optional_potential,
)

__all__ = [
    "DEFAULT_POTENTIAL_NAME",
    "ENERGY_REFERENCES",
    "EnergyReference",
    "FamilyEnvironment",
    "LoadedPotential",
    "PotentialFamily",
    "PotentialSpec",
    "availability",
    "batch_predictor",
    "check_available",
    "clear_cache",
    "default_potential",
    "families",
    "get_family",
    "load_potential",
    "optional_potential",
    "refresh_families",
    "resolve_checkpoint",
]
