"""Our values beside the paper's: rows matched to results by composition and potential.

A row with no stored result keeps the paper's values and says "not computed" (and
"weights not on this machine" when the potential cannot run here). A potential the
paper did not tabulate for a formula (CHGNet in Table 3, whose rows are MatterSim's)
gets rows of its own when the store holds results for it or when it is asked for:
copies of the paper's reference row, or else of the rows of the paper's model,
labelled ``LABEL [potential]``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sse_flows.potentials import PotentialSpec
from sse_flows.query import formula_key, results_frame
from sse_flows.settings import SSEFlowsSettings
from sse_flows.tables.spec import TableColumn, TableRow, TableSpec

if TYPE_CHECKING:
    import pandas as pd
    from jobflow import JobStore

NOT_COMPUTED = "not computed"
NO_WEIGHTS = "weights not on this machine"


@dataclass
class Cell:
    """Paper value, our value (in the paper's unit) and their deviation."""

    paper: Any
    paper_uncertainty: float | None
    ours: float | None
    deviation: float | None
    relative: float | None
    kind: str
    bound: str | None = None  # why ours is only a lower bound
    qualifier: str | None = None  # how ours was obtained (e.g. clamped ions)


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
    return PotentialSpec.parse(potential).name


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


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) or None


def fill_table(
    spec: TableSpec,
    frame: pd.DataFrame | None = None,
    store: JobStore | None = None,
    settings: SSEFlowsSettings | None = None,
    potentials: Sequence[str] = (),
    preset: str | None = None,
) -> list[FilledRow]:
    """Fill our values of every row from the joined results (read from the store).

    ``potentials`` get rows even without stored results (see :func:`extra_rows`);
    ``preset`` takes only results of paper-table flows of that preset (None: the
    newest of any).
    """
    if frame is None:
        frame = results_frame(store=store, settings=settings, preset=preset)
    available = _available()
    filled = []
    for row in [*spec.rows, *extra_rows(spec, frame, potentials)]:
        ours: dict[str, float | None] = dict.fromkeys((c.key for c in spec.columns), None)
        marks: dict[str, tuple[str | None, str | None]] = {}
        checkpoint = None
        matched = _matches(frame, row) if row.rank in (None, 0) else frame.iloc[0:0]
        for _, hit in matched.iterrows():
            for column in spec.columns:
                value = _number(hit.get(column.field))
                if ours[column.key] is None and value is not None:
                    ours[column.key] = value * column.scale
                    marks[column.key] = (
                        _text(hit.get(column.bound_field)) if column.bound_field else None,
                        _text(hit.get(column.qualifier_field))
                        if column.qualifier_field
                        else None,
                    )
                    checkpoint = checkpoint or str(hit.get("checkpoint") or "") or None
        cells = {
            c.key: dataclasses.replace(
                _cell(c, row.values.get(c.key), row.uncertainties.get(c.key), ours[c.key]),
                bound=marks.get(c.key, (None, None))[0],
                qualifier=marks.get(c.key, (None, None))[1],
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
        for column in spec.columns:
            bound = cells[column.key].bound
            if bound:
                status += f"; {column.label} is a lower bound ({bound})"
        filled.append(FilledRow(row=row, cells=cells, status=status, checkpoint=checkpoint))
    return filled
