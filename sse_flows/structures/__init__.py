"""Structure input/output and preparation."""

from sse_flows.structures.io import read_structure, require_ordered, to_atoms, to_structure

__all__ = ["read_structure", "require_ordered", "to_atoms", "to_structure"]
