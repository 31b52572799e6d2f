"""Ordered cells from disordered structures: enumeration, Ewald ranking, series."""

from sse_flows.ordering.problem import OrderingError, OrderingProblem, build_problem
from sse_flows.ordering.search import (
    Candidate,
    CellReport,
    OrderingSearch,
    search_orderings,
)

__all__ = [
    "Candidate",
    "CellReport",
    "OrderingError",
    "OrderingProblem",
    "OrderingSearch",
    "build_problem",
    "search_orderings",
]
