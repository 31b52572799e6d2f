"""Phase stability on energies: hull, formation energy, corrections, window.

Pure functions on pymatgen entries; the jobs that compute the energies with a
potential live in :mod:`sse_flows.makers.stability`.
"""

from sse_flows.thermo.corrections import (
    CorrectionsRecord,
    EntryCorrection,
    apply_corrections,
    decide_corrections,
    mp2020_anion_values,
)
from sse_flows.thermo.hull import (
    DecompositionPhase,
    HullResult,
    IncompleteHullError,
    KnownPhase,
    MissingReferenceError,
    StabilityError,
    analyze_hull,
    known_phases,
    make_entry,
    missing_phases,
    missing_references,
    require_references,
)
from sse_flows.thermo.window import (
    VoltageRange,
    WindowResult,
    electrochemical_window,
    plot_window,
)

__all__ = [
    "CorrectionsRecord",
    "DecompositionPhase",
    "EntryCorrection",
    "HullResult",
    "IncompleteHullError",
    "KnownPhase",
    "MissingReferenceError",
    "StabilityError",
    "VoltageRange",
    "WindowResult",
    "analyze_hull",
    "apply_corrections",
    "decide_corrections",
    "electrochemical_window",
    "known_phases",
    "make_entry",
    "missing_phases",
    "missing_references",
    "mp2020_anion_values",
    "plot_window",
    "require_references",
]
