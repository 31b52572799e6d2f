"""One spec language for every flow: a YAML file or a command line -> a spec -> a Flow.

A spec is one of the kinds of :mod:`sse_flows.kinds`, chosen by its ``flow`` key (a
pydantic discriminated union). Its sections are the makers themselves, validated field
by field (unknown keys refused): ``relax: {fmax: 0.01}`` is a :class:`RelaxMaker`.
Paths it names (structure, checkpoints, frames, preset files) are relative to the spec
file. A section's own ``potential`` wins over the spec's; ``potentials: [a, b]`` builds
the flow once per potential. Every command of the CLI builds a spec and runs it here, so
a run recorded by any command can be read back and rerun from the store.
"""

from __future__ import annotations

from sse_flows.kinds.active_learning import ActiveLearningSpec
from sse_flows.kinds.base import KINDS, FlowSpec, StructureFlowSpec, spec_adapter
from sse_flows.kinds.benchmark import BenchmarkSpec
from sse_flows.kinds.datasets import EvaluateSpec, LabelSpec, TableRunSpec
from sse_flows.kinds.distill import DistillSpec
from sse_flows.kinds.finetune_ramp import FineTuneRampSpec
from sse_flows.kinds.neb import NEBSpec
from sse_flows.kinds.ordering import OrderSpec, SeriesSpec
from sse_flows.kinds.structures import (
    ConductivitySpec,
    ElasticSpec,
    EOSSpec,
    MDSpec,
    RelaxMDSpec,
    RelaxSpec,
    StabilitySpec,
    StaticSpec,
)
from sse_flows.kinds.training import TrainSpec
from sse_flows.kinds.training_set import TrainingSetSpec
from sse_flows.records import RunRecord
from sse_flows.runner import run_flow

__all__ = [
    "KINDS",
    "ActiveLearningSpec",
    "BenchmarkSpec",
    "ConductivitySpec",
    "DistillSpec",
    "EOSSpec",
    "ElasticSpec",
    "EvaluateSpec",
    "FineTuneRampSpec",
    "FlowSpec",
    "LabelSpec",
    "MDSpec",
    "NEBSpec",
    "OrderSpec",
    "RelaxMDSpec",
    "RelaxSpec",
    "SeriesSpec",
    "StabilitySpec",
    "StaticSpec",
    "StructureFlowSpec",
    "TableRunSpec",
    "TrainSpec",
    "TrainingSetSpec",
    "run_spec",
    "spec_adapter",
]


def run_spec(spec: FlowSpec) -> RunRecord:
    """Build the spec's flow, check its potentials, run it on the configured store."""
    flow = spec.build()
    spec.preflight()
    return run_flow(flow, spec=spec.record())
