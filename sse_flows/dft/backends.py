"""The interface every DFT code implements, and the lookup by code name.

A backend writes the code's inputs for one frame, runs the code under custodian (as
atomate2 does), and parses the result into a :class:`LabeledFrame` in eV, eV/A and
GPa with positive = tensile. Everything above it (batching, validation, datasets,
exports) is code-independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Protocol

from pymatgen.core import Structure

from sse_flows.dft.labels import DftSettingsRecord, LabeledFrame
from sse_flows.dft.presets import DftPreset

BACKEND_MODULES = {"cp2k": "sse_flows.dft.cp2k", "vasp": "sse_flows.dft.vasp"}


class DftBackend(Protocol):
    """What the labeling jobs need from a DFT code."""

    def check_ready(self, preset: DftPreset, elements: Sequence[str]) -> None:
        """Raise a clear error if the code, its data files or an element is missing."""

    def settings_record(
        self, preset: DftPreset, elements: Sequence[str]
    ) -> DftSettingsRecord:
        """Return the settings as resolved for these elements (dataset provenance)."""

    def label(
        self, structure: Structure, index: int, preset: DftPreset, directory: Path
    ) -> LabeledFrame:
        """Run one static calculation in ``directory`` and return the labeled frame.

        A calculation that fails (custodian gives up, unconverged SCF, unreadable
        output) returns a frame with status 'failed' and the reason; it does not raise.
        """


def get_backend(code: str) -> DftBackend:
    """Return the backend of a DFT code ('cp2k' or 'vasp')."""
    try:
        module = import_module(BACKEND_MODULES[code])
    except KeyError:
        raise ValueError(
            f"Unknown DFT code {code!r}; known: {', '.join(BACKEND_MODULES)}"
        ) from None
    backend: DftBackend = module.BACKEND
    return backend
