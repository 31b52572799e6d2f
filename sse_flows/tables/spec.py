"""Paper tables as data: ``sse_flows/data/tables/NAME.yaml`` read into a :class:`TableSpec`.

A table spec names the paper, the table caption, its columns (key, label, unit,
meaning, the :func:`~sse_flows.query.results_frame` field it maps to, the ``scale``
taking our stored unit to the paper's unit, the deviation shown: ``difference`` or
``log10_ratio``, and optional fields that mark ours as a lower bound or qualify it)
and its rows (label, formula, potential, optional checkpoint, the
paper's values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sse_flows.errors import SSEFlowsError


def tables_dir() -> Path:
    """Return the folder of the table specs shipped with the package."""
    return Path(str(resources.files("sse_flows") / "data" / "tables"))


def table_names() -> list[str]:
    """Return the names of the available table specs."""
    return sorted(p.stem for p in tables_dir().glob("*.yaml"))


@dataclass
class TableColumn:
    """One quantity of a paper table and where our value of it is stored."""

    key: str
    label: str
    unit: str
    meaning: str
    field: str
    scale: float = 1.0
    deviation: str = "difference"
    aliases: dict[str, float] = dataclasses.field(default_factory=dict)
    bound_field: str | None = None
    """Frame column saying why our value is only a lower bound (shown as >= x)."""
    qualifier_field: str | None = None
    """Frame column whose value qualifies ours (shown after it, e.g. clamped ions)."""


@dataclass
class TableRow:
    """One row of a paper table: what it matches and the paper's values."""

    label: str
    formula: str
    potential: str
    values: dict[str, Any]
    checkpoint: str | None = None
    uncertainties: dict[str, float] = dataclasses.field(default_factory=dict)
    reference: bool = False
    rank: int | None = None
    also_match: list[str] = dataclasses.field(default_factory=list)
    compared_to: str | None = None


@dataclass
class TableSpec:
    """A paper table as data."""

    name: str
    paper: dict[str, Any]
    table: str
    caption: str
    columns: list[TableColumn]
    rows: list[TableRow]
    notes: list[str] = dataclasses.field(default_factory=list)


def load_table(name: str) -> TableSpec:
    """Load a table spec by name (e.g. ``paper000-table1``) or from a YAML path."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = tables_dir() / f"{name}.yaml"
    if not path.is_file():
        raise SSEFlowsError(
            f"unknown table '{name}'. Available: {', '.join(table_names())}"
        )
    data = yaml.safe_load(path.read_text())
    columns = [TableColumn(**c) for c in data["columns"]]
    keys = {c.key for c in columns}
    rows = []
    for raw in data["rows"]:
        row = TableRow(
            **{k: v for k, v in raw.items() if k in TableRow.__dataclass_fields__}
        )
        unknown = set(row.values) - keys
        if unknown:
            raise SSEFlowsError(
                f"{path.name}: row '{row.label}' has unknown keys {unknown}"
            )
        rows.append(row)
    return TableSpec(
        name=data["name"],
        paper=data["paper"],
        table=data["table"],
        caption=" ".join(str(data["caption"]).split()),
        columns=columns,
        rows=rows,
        notes=[" ".join(str(n).split()) for n in data.get("notes", [])],
    )
