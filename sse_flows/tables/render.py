"""A filled table as Markdown, CSV or LaTeX."""

from __future__ import annotations

import csv
import io
from typing import Any

from sse_flows.errors import SSEFlowsError
from sse_flows.tables.fill import NOT_COMPUTED, Cell, FilledRow
from sse_flows.tables.spec import TableSpec

FORMATS = ("md", "csv", "tex")


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
            if cell.ours is not None and cell.bound:
                ours = f">= {ours}"
            if cell.ours is not None and cell.qualifier:
                ours += f" ({cell.qualifier})"
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
