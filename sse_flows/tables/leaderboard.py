"""A stored benchmark as a leaderboard: Markdown, CSV or LaTeX.

Columns appear only when some row has a value in them: the errors (overall and per
subset), then the mean deviations of properties from the reference, then the
diffusion columns. Rows are in the benchmark's ranking; a row whose potential could
not run says why in the last column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from sse_flows.documents.benchmark import Benchmark, BenchmarkRow
from sse_flows.errors import SSEFlowsError
from sse_flows.tables.render import FORMATS, tex_escape

Getter = Callable[[BenchmarkRow], float | None]

#: (header, unit, value of a row)
_ERRORS: list[tuple[str, str, Getter]] = [
    ("E MAE", "meV/atom", lambda r: r.energy_mae_meV_atom),
    ("E RMSE", "meV/atom", lambda r: r.energy_rmse_meV_atom),
    ("F MAE", "meV/A", lambda r: r.force_mae_meV_A),
    ("F RMSE", "meV/A", lambda r: r.force_rmse_meV_A),
    ("S MAE", "GPa", lambda r: r.stress_mae_GPa),
]
_PROPERTIES = {
    "e_form_eV_atom": ("dE_f", "eV/atom"),
    "e_hull_eV_atom": ("dE_hull", "eV/atom"),
    "K_VRH_GPa": ("dK", "GPa"),
    "G_VRH_GPa": ("dG", "GPa"),
    "Ea_eV": ("dEa", "eV"),
}


def _subset_getter(subset: str, name: str) -> Getter:
    def get(row: BenchmarkRow) -> float | None:
        metrics = row.subsets.get(subset)
        return None if metrics is None else getattr(metrics, name)

    return get


def _property_getter(name: str) -> Getter:
    return lambda row: row.property_errors.get(name)


def columns(doc: Benchmark) -> list[tuple[str, str, Getter]]:
    """Return the columns with at least one value, in display order."""
    found: list[tuple[str, str, Getter]] = list(_ERRORS)
    subsets = sorted({s for row in doc.rows for s in row.subsets})
    for subset in subsets:
        force = _subset_getter(subset, "force_mae_meV_A")
        energy = _subset_getter(subset, "energy_mae_meV_atom")
        found.append((f"F MAE {subset}", "meV/A", force))
        found.append((f"E MAE {subset}", "meV/atom", energy))
    for name, (header, unit) in _PROPERTIES.items():
        found.append((header, unit, _property_getter(name)))
    found.append(("log10 D MAE", "", lambda r: r.log10_D_mae))
    return [c for c in found if any(c[2](row) is not None for row in doc.rows)]


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _table(doc: Benchmark) -> tuple[list[str], list[list[str]]]:
    chosen = columns(doc)
    header = ["rank", "potential"] + [
        f"{name} ({unit})" if unit else name for name, unit, _ in chosen
    ]
    header.append("note")
    by_label = {row.potential: row for row in doc.rows}
    rows = []
    for rank, label in enumerate(doc.ranking, 1):
        row = by_label[label]
        cells = [str(rank), label] + [_cell(get(row)) for _, _, get in chosen]
        cells.append(row.reason or "")
        rows.append(cells)
    return header, rows


def _caption(doc: Benchmark) -> str:
    parts = [f"{len(doc.rows)} potentials"]
    if doc.data:
        parts.append(f"errors on {doc.data}")
    if doc.reference:
        parts.append(f"property deviations from {doc.reference}")
    return "Benchmark: " + "; ".join(parts) + " (ranked by force MAE)."


def render_leaderboard(doc: Benchmark | dict[str, Any], fmt: str = "md") -> str:
    """Render a benchmark document as md, csv or tex."""
    if not isinstance(doc, Benchmark):
        doc = Benchmark.model_validate(doc)
    header, rows = _table(doc)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "md":
        lines = [
            _caption(doc),
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt == "tex":
        lines = [
            r"\begin{table}",
            r"\centering",
            r"\caption{" + tex_escape(_caption(doc)) + "}",
            r"\begin{tabular}{" + "l" * len(header) + "}",
            r"\toprule",
            " & ".join(tex_escape(h) for h in header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(tex_escape(c) for c in r) + r" \\" for r in rows]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"
    raise SSEFlowsError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
