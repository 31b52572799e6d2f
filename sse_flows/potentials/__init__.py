"""The potential registry: one place that turns a name into a checked ASE calculator."""

from sse_flows.potentials.registry import (
    LoadedPotential,
    availability,
    check_available,
    clear_cache,
    get_family,
    load_potential,
    resolve_checkpoint,
)
from sse_flows.potentials.spec import PotentialSpec

__all__ = [
    "LoadedPotential",
    "PotentialSpec",
    "availability",
    "check_available",
    "clear_cache",
    "get_family",
    "load_potential",
    "resolve_checkpoint",
]
