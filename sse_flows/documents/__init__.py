"""Every output document of sse-flows, one module per property, and their registry.

``DOCUMENTS`` maps a task type to its document class; :func:`as_document` validates a
stored output into it, and each document gives its summary lines (``sse-flows show``)
and its query columns (``sse-flows query``, ``results_frame``, tables).
"""

from sse_flows.documents.active_learning import ActiveLearning, IterationRecord
from sse_flows.documents.base import (
    DOCUMENTS,
    Document,
    StructureSummary,
    TaskOutput,
    as_document,
    coerce,
    document_class,
)
from sse_flows.documents.benchmark import Benchmark, BenchmarkRow, DiffusionCurve
from sse_flows.documents.dataset_size import DatasetSizeConvergence, SizePoint
from sse_flows.documents.dft import (
    DatasetFiles,
    FailedFrame,
    LabelBatchOutput,
    LabeledDataset,
)
from sse_flows.documents.distillation import Distillation
from sse_flows.documents.evaluation import EvaluationOutput
from sse_flows.documents.finetune_ramp import FineTuneRamp, FineTuneStep
from sse_flows.documents.md import MDOutput, MDStatistics, TrajectoryReference
from sse_flows.documents.mechanics import ElasticOutput, EOSOutput, RelaxSummary
from sse_flows.documents.neb import EndpointRelaxation, NEBOutput
from sse_flows.documents.ordering import CandidateEntry, OrderingDocument, SupercellReport
from sse_flows.documents.stability import (
    EntryRecord,
    FailedPhase,
    PhaseFraction,
    StabilityOutput,
)
from sse_flows.documents.static import RelaxOutput, StaticOutput
from sse_flows.documents.training import (
    DatasetRecord,
    EnergyReferenceRecord,
    ParentModel,
    SplitMetrics,
    TrainedModel,
)
from sse_flows.documents.training_set import (
    CandidateRecord,
    TrainingDatasetDoc,
    TrainingFrames,
    TrainingSelection,
)
from sse_flows.documents.transport import (
    ConductivityOutput,
    DiffusionOutput,
    TemperaturePoint,
)

__all__ = [
    "DOCUMENTS",
    "ActiveLearning",
    "Benchmark",
    "BenchmarkRow",
    "CandidateEntry",
    "CandidateRecord",
    "ConductivityOutput",
    "DatasetFiles",
    "DatasetRecord",
    "DatasetSizeConvergence",
    "DiffusionCurve",
    "DiffusionOutput",
    "Distillation",
    "Document",
    "EOSOutput",
    "ElasticOutput",
    "EndpointRelaxation",
    "EnergyReferenceRecord",
    "EntryRecord",
    "EvaluationOutput",
    "FailedFrame",
    "FailedPhase",
    "FineTuneRamp",
    "FineTuneStep",
    "IterationRecord",
    "LabelBatchOutput",
    "LabeledDataset",
    "MDOutput",
    "MDStatistics",
    "NEBOutput",
    "OrderingDocument",
    "ParentModel",
    "PhaseFraction",
    "RelaxOutput",
    "RelaxSummary",
    "SizePoint",
    "SplitMetrics",
    "StabilityOutput",
    "StaticOutput",
    "StructureSummary",
    "SupercellReport",
    "TaskOutput",
    "TemperaturePoint",
    "TrainedModel",
    "TrainingDatasetDoc",
    "TrainingFrames",
    "TrainingSelection",
    "TrajectoryReference",
    "as_document",
    "coerce",
    "document_class",
]
