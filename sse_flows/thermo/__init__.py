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
    KNOWN_PHASES,
    DecompositionPhase,
    HullResult,
    IncompleteHullError,
    MissingReferenceError,
    StabilityError,
    analyze_hull,
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
    "KNOWN_PHASES",
    "CorrectionsRecord",
    "DecompositionPhase",
    "EntryCorrection",
    "HullResult",
    "IncompleteHullError",
    "MissingReferenceError",
    "StabilityError",
    "VoltageRange",
    "WindowResult",
    "analyze_hull",
    "apply_corrections",
    "decide_corrections",
    "electrochemical_window",
    "make_entry",
    "missing_phases",
    "missing_references",
    "mp2020_anion_values",
    "plot_window",
    "require_references",
]
