"""The model families shipped with sse-flows, one module each.

Third-party families register under the ``sse_flows.potentials`` entry-point group
instead (see :mod:`sse_flows.potentials.registry`).
"""

#: modules of the built-in families, in the order ``sse-flows potentials`` lists them
BUILTIN_MODULES = (
    "chgnet",
    "sevennet",
    "mattersim",
    "mace",
    "m3gnet",
    "orb",
    "deepmd",
    "emt",
    "calculator",
)
