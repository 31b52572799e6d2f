"""Structure input/output and preparation."""

from sse_flows.structures.io import read_structure, require_ordered, to_atoms, to_structure

__all__ = ["read_structure", "require_ordered", "to_atoms", "to_structure"]

from sse_flows.structures.prototypes import (
    PrototypeInfo,
    ValidationReport,
    get_prototype_info,
    list_prototypes,
    load_prototype,
    read_and_validate,
    validate_structure,
    write_prototype,
)

__all__ += [
    "PrototypeInfo",
    "ValidationReport",
    "get_prototype_info",
    "list_prototypes",
    "load_prototype",
    "read_and_validate",
    "validate_structure",
    "write_prototype",
]
