"""Flows that compute what a paper table needs, for one potential and one preset."""

from sse_flows.flows.paper_tables.maker import (
    PaperTableMaker,
    TablePropertiesMaker,
    weights_missing,
)
from sse_flows.flows.paper_tables.recipes import (
    TablePreset,
    TableRecipe,
    table_preset,
    table_recipe,
)
from sse_flows.flows.paper_tables.run import TableRun, run_table_flow
from sse_flows.flows.paper_tables.structures import (
    MissingStructureError,
    parse_structure_args,
    resolve_structures,
)

__all__ = [
    "MissingStructureError",
    "PaperTableMaker",
    "TablePreset",
    "TablePropertiesMaker",
    "TableRecipe",
    "TableRun",
    "parse_structure_args",
    "resolve_structures",
    "run_table_flow",
    "table_preset",
    "table_recipe",
    "weights_missing",
]
