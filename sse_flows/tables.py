"""Rebuild a paper's table from the stored outputs, beside the paper's own values.

A table spec is a YAML file in ``sse_flows/data/tables/`` (``NAME.yaml``): the paper,
the table caption, its columns (key, label, unit, meaning, the :func:`results_frame`
field it maps to, the ``scale`` taking our stored unit to the paper's unit, and the
deviation shown: ``difference`` or ``log10_ratio``) and its rows (label, formula,
potential, optional checkpoint, the paper's values). Rows are matched to stored
results by composition and potential name; a row with no stored result keeps the
paper's values and says "not computed" (and "weights not on this machine" when the
potential cannot run here). A potential the paper did not tabulate for a formula (CHGNet
in Table 3, whose rows are MatterSim's) gets rows of its own when the store holds
results for it or when it is asked for: copies of the paper's reference row, or else of
the rows of the paper's model, labelled ``LABEL [potential]``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sse_flows.errors import SSEFlowsError
from sse_flows.query import formula_key, results_frame
from sse_flows.settings import SSEFlowsSettings

if TYPE_CHECKING:
    import pandas as pd
    from jobflow import JobStore

FORMATS = ("md", "csv", "tex")
NOT_COMPUTED = "not computed"
NO_WEIGHTS = "weights not on this machine"


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


@dataclass
class Cell:
    """Paper value, our value (in the paper's unit) and their deviation."""

    paper: Any
    paper_uncertainty: float | None
    ours: float | None
    deviation: float | None
    relative: float | None
    kind: str


@dataclass
class FilledRow:
    """A table row with our values filled in where the store has them."""

    row: TableRow
    cells: dict[str, Cell]
    status: str
    checkpoint: str | None = None


def _paper_number(value: Any, column: TableColumn) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in column.aliases:
        return float(column.aliases[value])
    return None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _cell(column: TableColumn, paper: Any, uncertainty: Any, ours: float | None) -> Cell:
    reference = _paper_number(paper, column)
    deviation = relative = None
    if ours is not None and reference is not None:
        if column.deviation == "log10_ratio":
            if ours > 0 and reference > 0:
                deviation = math.log10(ours / reference)
                relative = ours / reference
        else:
            deviation = ours - reference
            relative = deviation / abs(reference) if reference else None
    return Cell(
        paper=paper,
        paper_uncertainty=_number(uncertainty),
        ours=ours,
        deviation=deviation,
        relative=relative,
        kind=column.deviation,
    )


def _available() -> dict[str, tuple[bool, dict[str, bool]]]:
    from sse_flows.potentials import availability

    return {a.name: (a.installed, a.checkpoints) for a in availability()}


def weights_here(
    potential: str,
    checkpoint: str | None,
    available: dict[str, tuple[bool, dict[str, bool]]],
) -> bool:
    """Return whether the potential (and checkpoint, if named) can run on this machine."""
    installed, checkpoints = available.get(potential, (False, {}))
    if not installed:
        return False
    if checkpoint:
        return checkpoints.get(checkpoint, False) or Path(checkpoint).is_file()
    return not checkpoints or any(checkpoints.values())


def _matches(frame: pd.DataFrame, row: TableRow) -> pd.DataFrame:
    if frame.empty:
        return frame
    targets = {formula_key(f) for f in [row.formula, *row.also_match]}
    mask = frame["formula"].map(lambda f: bool(f) and formula_key(f) in targets)
    mask &= frame["potential"] == row.potential
    if row.checkpoint:
        mask &= frame["checkpoint"] == row.checkpoint
    return frame[mask]


def _potential_name(potential: str) -> str:
    return potential.partition(":")[0].strip().lower()


def extra_rows(
    spec: TableSpec, frame: pd.DataFrame, potentials: Sequence[str] = ()
) -> list[TableRow]:
    """Return rows for untabulated potentials: asked for, or with a value in ``frame``.

    Per formula of the table, each such potential gets a copy of the paper's reference
    row(s), or else of the matchable rows of the paper's first model, so our value
    stands beside a paper value of the same quantity.
    """
    groups: dict[str, list[TableRow]] = {}
    for row in spec.rows:
        groups.setdefault(formula_key(row.formula), []).append(row)
    asked = [_potential_name(p) for p in potentials]
    fields = [c.field for c in spec.columns if c.field in frame.columns]
    if not frame.empty:  # results holding a value of this table (not bare orderings)
        frame = frame[frame[fields].notna().any(axis=1)] if fields else frame.iloc[0:0]
    extra = []
    for rows in groups.values():
        matchable = [r for r in rows if r.rank in (None, 0)]
        if not matchable:
            continue
        templates = [r for r in matchable if r.reference] or [
            r for r in matchable if r.potential == matchable[0].potential
        ]
        keys = {formula_key(f) for r in rows for f in [r.formula, *r.also_match]}
        stored = sorted(
            {
                str(potential)
                for formula, potential in zip(
                    frame.get("formula", []), frame.get("potential", []), strict=True
                )
                if formula and formula_key(formula) in keys
            }
        )
        tabulated = {r.potential for r in rows}
        for potential in dict.fromkeys([*asked, *stored]):
            if potential in tabulated:
                continue
            extra += [
                dataclasses.replace(
                    t,
                    label=f"{t.label} [{potential}]",
                    potential=potential,
                    checkpoint=None,
                    reference=False,
                    compared_to=t.label,
                )
                for t in templates
            ]
    return extra


def fill_table(
    spec: TableSpec,
    frame: pd.DataFrame | None = None,
    store: JobStore | None = None,
    settings: SSEFlowsSettings | None = None,
    potentials: Sequence[str] = (),
) -> list[FilledRow]:
    """Fill our values of every row from the joined results (read from the store).

    ``potentials`` get rows even without stored results (see :func:`extra_rows`).
    """
    if frame is None:
        frame = results_frame(store=store, settings=settings)
    available = _available()
    filled = []
    for row in [*spec.rows, *extra_rows(spec, frame, potentials)]:
        ours: dict[str, float | None] = dict.fromkeys((c.key for c in spec.columns), None)
        checkpoint = None
        matched = _matches(frame, row) if row.rank in (None, 0) else frame.iloc[0:0]
        for _, hit in matched.iterrows():
            for column in spec.columns:
                value = _number(hit.get(column.field))
                if ours[column.key] is None and value is not None:
                    ours[column.key] = value * column.scale
                    checkpoint = checkpoint or str(hit.get("checkpoint") or "") or None
        cells = {
            c.key: _cell(
                c, row.values.get(c.key), row.uncertainties.get(c.key), ours[c.key]
            )
            for c in spec.columns
        }
        computed = sum(v is not None for v in ours.values())
        if computed == len(ours):
            status = "computed"
        elif computed:
            status = "partly computed"
        elif row.rank not in (None, 0):
            status = f"{NOT_COMPUTED} (only the lowest-energy arrangement is matched)"
        else:
            status = NOT_COMPUTED
        if computed < len(ours) and not weights_here(
            row.potential, row.checkpoint, available
        ):
            status += f"; {row.potential}: {NO_WEIGHTS}"
        filled.append(FilledRow(row=row, cells=cells, status=status, checkpoint=checkpoint))
    return filled


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}"


def _paper_text(cell: Cell, pm: str) -> str:
    text = "" if cell.paper is None else str(cell.paper)
    if cell.paper_uncertainty is not None:
        text += f" {pm} {cell.paper_uncertainty:g}"
    return text


def _deviation_text(cell: Cell) -> str:
    if cell.deviation is None:
        return ""
    if cell.kind == "log10_ratio":
        return f"log10 {cell.deviation:+.2f} (x{cell.relative:.3g})"
    if cell.relative is None:
        return f"{cell.deviation:+.4g}"
    return f"{cell.deviation:+.4g} ({100 * cell.relative:+.1f}%)"


def _header(spec: TableSpec) -> list[str]:
    header = ["row", "potential"]
    for c in spec.columns:
        unit = f" [{c.unit}]"
        header += [f"{c.label} paper{unit}", f"{c.label} ours{unit}", f"{c.label} dev"]
    return [*header, "status"]


def _text_rows(spec: TableSpec, filled: list[FilledRow], pm: str) -> list[list[str]]:
    rows = []
    for f in filled:
        potential = f.row.potential + (f":{f.checkpoint}" if f.checkpoint else "")
        cells = [f.row.label, potential]
        for c in spec.columns:
            cell = f.cells[c.key]
            ours = _fmt(cell.ours) if cell.ours is not None else NOT_COMPUTED
            cells += [_paper_text(cell, pm), ours, _deviation_text(cell)]
        rows.append([*cells, f.status])
    return rows


def render_csv(spec: TableSpec, filled: list[FilledRow]) -> str:
    """Render as CSV with numbers only: paper, ours, deviation and relative per column."""
    header = ["row", "formula", "potential", "checkpoint"]
    for c in spec.columns:
        second = "ratio" if c.deviation == "log10_ratio" else "rel_dev"
        first = "log10_ratio" if c.deviation == "log10_ratio" else "dev"
        header += [
            f"{c.key}_paper",
            f"{c.key}_paper_pm",
            f"{c.key}_ours",
            f"{c.key}_{first}",
            f"{c.key}_{second}",
        ]
    header += ["unit_" + c.key for c in spec.columns] + ["status"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for f in filled:
        line: list[Any] = [f.row.label, f.row.formula, f.row.potential, f.checkpoint or ""]
        for c in spec.columns:
            cell = f.cells[c.key]
            line += [
                "" if cell.paper is None else cell.paper,
                "" if cell.paper_uncertainty is None else cell.paper_uncertainty,
                NOT_COMPUTED if cell.ours is None else repr(cell.ours),
                "" if cell.deviation is None else repr(cell.deviation),
                "" if cell.relative is None else repr(cell.relative),
            ]
        line += [c.unit for c in spec.columns] + [f.status]
        writer.writerow(line)
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_md(spec: TableSpec, filled: list[FilledRow]) -> str:
    """Render as a Markdown section: title, caption, table, column meanings, notes."""
    header = _header(spec)
    lines = [
        f"## {spec.name}: {spec.table} of paper {spec.paper['id']}",
        "",
        f"{spec.caption}",
        "",
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    for cells in _text_rows(spec, filled, "±"):
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    lines += ["", "Columns:"]
    for c in spec.columns:
        dev = "log10(ours/paper)" if c.deviation == "log10_ratio" else "ours - paper"
        lines.append(
            f"- {c.label} [{c.unit}]: {c.meaning}; ours from `{c.field}`; dev {dev}"
        )
    notes = list(spec.notes)
    if any(f.row.compared_to for f in filled):
        notes.append(
            "Rows 'LABEL [potential]' hold our values for a potential the paper did not "
            "tabulate for that formula, beside the paper's values of row LABEL."
        )
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_TEX.get(ch, ch) for ch in text)


def render_tex(spec: TableSpec, filled: list[FilledRow]) -> str:
    """Render as a LaTeX table (booktabs rules) with the caption and a label."""
    header = _header(spec)
    body = [
        [tex_escape(c).replace("PLUSMINUS", r"$\pm$") for c in cells]
        for cells in _text_rows(spec, filled, "PLUSMINUS")
    ]
    lines = [
        r"\begin{table}",
        r"\centering",
        r"\caption{"
        + tex_escape(f"{spec.table} (paper {spec.paper['id']}): ")
        + tex_escape(spec.caption)
        + "}",
        r"\label{tab:" + spec.name + "}",
        r"\begin{tabular}{" + "l" * len(header) + "}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cells) + r" \\" for cells in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def render(spec: TableSpec, filled: list[FilledRow], fmt: str = "md") -> str:
    """Render a filled table as md, csv or tex."""
    if fmt == "md":
        return render_md(spec, filled)
    if fmt == "csv":
        return render_csv(spec, filled)
    if fmt == "tex":
        return render_tex(spec, filled)
    raise SSEFlowsError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")


def build_table(
    name: str,
    fmt: str = "md",
    store: JobStore | None = None,
    settings: SSEFlowsSettings | None = None,
    potentials: Sequence[str] = (),
) -> str:
    """Load a table spec, fill ours from the store and render it.

    ``potentials`` get rows even when the paper did not tabulate them (see
    :func:`extra_rows`).
    """
    if fmt not in FORMATS:
        raise SSEFlowsError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    spec = load_table(name)
    filled = fill_table(spec, store=store, settings=settings, potentials=potentials)
    return render(spec, filled, fmt)
