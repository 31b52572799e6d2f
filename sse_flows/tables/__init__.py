"""Rebuild a paper's table from the stored outputs, beside the paper's own values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sse_flows.errors import SSEFlowsError
from sse_flows.settings import SSEFlowsSettings
from sse_flows.tables.fill import NO_WEIGHTS, NOT_COMPUTED, FilledRow, fill_table
from sse_flows.tables.render import FORMATS, render, tex_escape
from sse_flows.tables.spec import TableSpec, load_table, table_names

if TYPE_CHECKING:
    from jobflow import JobStore

__all__ = [
    "FORMATS",
    "NOT_COMPUTED",
    "NO_WEIGHTS",
    "FilledRow",
    "TableSpec",
    "build_table",
    "fill_table",
    "load_table",
    "render",
    "table_names",
    "tex_escape",
]


def build_table(
    name: str,
    fmt: str = "md",
    store: JobStore | None = None,
    settings: SSEFlowsSettings | None = None,
    potentials: Sequence[str] = (),
    preset: str | None = None,
) -> str:
    """Load a table spec, fill ours from the store and render it.

    ``potentials`` get rows even when the paper did not tabulate them (see
    :func:`extra_rows`); ``preset`` shows only results of that table preset.
    """
    if fmt not in FORMATS:
        raise SSEFlowsError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    spec = load_table(name)
    filled = fill_table(
        spec, store=store, settings=settings, potentials=potentials, preset=preset
    )
    return render(spec, filled, fmt)
