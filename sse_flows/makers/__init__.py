"""Job makers: thin ``@job`` wrappers over :mod:`sse_flows.calc` and the analyses.

One generic maker per task takes the potential by name; flows are in
:mod:`sse_flows.flows`.
"""

from sse_flows.makers.evaluate import EvaluateMaker
from sse_flows.makers.md import MDMaker
from sse_flows.makers.mechanics import ElasticMaker, EOSMaker
from sse_flows.makers.relax import RelaxMaker
from sse_flows.makers.static import StaticMaker
from sse_flows.makers.training import TrainMaker

__all__ = [
    "EOSMaker",
    "ElasticMaker",
    "EvaluateMaker",
    "MDMaker",
    "RelaxMaker",
    "StaticMaker",
    "TrainMaker",
]
