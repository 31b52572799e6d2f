"""Every output document of sse-flows, one module per property, and their registry.

``DOCUMENTS`` maps a task type to its document class; :func:`as_document` validates a
stored output into it, and each document gives its summary lines (``sse-flows show``)
and its query columns (``sse-flows query``, ``results_frame``, tables).
"""

from sse_flows.documents.base import (
    DOCUMENTS,
    Document,
    StructureSummary,
    TaskOutput,
    as_document,
    coerce,
    document_class,
)
from sse_flows.documents.dft import (
    DatasetFiles,
    FailedFrame,
    LabelBatchOutput,
    LabeledDataset,
)
from sse_flows.documents.evaluation import EvaluationOutput
from sse_flows.documents.md import MDOutput, MDStatistics, TrajectoryReference
from sse_flows.documents.mechanics import ElasticOutput, EOSOutput, RelaxSummary
from sse_flows.documents.ordering import CandidateEntry, OrderingDocument, SupercellReport
from sse_flows.documents.stability import (
    EntryRecord,
    FailedPhase,
    PhaseFraction,
    StabilityOutput,
)
from sse_flows.documents.static import RelaxOutput, StaticOutput
from sse_flows.documents.transport import (
    ConductivityOutput,
    DiffusionOutput,
    TemperaturePoint,
)

__all__ = [
    "DOCUMENTS",
    "CandidateEntry",
    "ConductivityOutput",
    "DatasetFiles",
    "DiffusionOutput",
    "Document",
    "EOSOutput",
    "ElasticOutput",
    "EntryRecord",
    "EvaluationOutput",
    "FailedFrame",
    "FailedPhase",
    "LabelBatchOutput",
    "LabeledDataset",
    "MDOutput",
    "MDStatistics",
    "OrderingDocument",
    "PhaseFraction",
    "RelaxOutput",
    "RelaxSummary",
    "StabilityOutput",
    "StaticOutput",
    "StructureSummary",
    "SupercellReport",
    "TaskOutput",
    "TemperaturePoint",
    "TrajectoryReference",
    "as_document",
    "coerce",
    "document_class",
]
