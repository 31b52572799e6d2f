"""Job makers: one generic maker per task, taking the potential by name."""

from sse_flows.makers.md import MDMaker
from sse_flows.makers.mechanics import ElasticMaker, EOSMaker
from sse_flows.makers.relax import RelaxMaker
from sse_flows.makers.static import StaticMaker

__all__ = ["EOSMaker", "ElasticMaker", "MDMaker", "RelaxMaker", "StaticMaker"]
