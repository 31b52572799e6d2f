"""Flow makers: every maker that returns a Flow (compositions of job makers)."""

from sse_flows.flows.active_learning import ActiveLearningMaker
from sse_flows.flows.conductivity import ConductivityMaker
from sse_flows.flows.dataset_size import DatasetSizeConvergenceMaker
from sse_flows.flows.distill import DistillMaker
from sse_flows.flows.finetune_ramp import IterativeFineTuneMaker
from sse_flows.flows.labeling import LabelingMaker
from sse_flows.flows.ordering import OrderingMaker
from sse_flows.flows.relax_md import RelaxMDMaker
from sse_flows.flows.series import OrderingSeriesMaker
from sse_flows.flows.stability import StabilityMaker
from sse_flows.flows.training_set import TrainingSetMaker

__all__ = [
    "ActiveLearningMaker",
    "ConductivityMaker",
    "DatasetSizeConvergenceMaker",
    "DistillMaker",
    "IterativeFineTuneMaker",
    "LabelingMaker",
    "OrderingMaker",
    "OrderingSeriesMaker",
    "RelaxMDMaker",
    "StabilityMaker",
    "TrainingSetMaker",
]
