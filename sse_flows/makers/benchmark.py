"""The report job of a benchmark: every potential's results -> one leaderboard document.

Its inputs are the outputs of the evaluation and property jobs; a part that failed
arrives as None (the job runs with ``on_missing_references`` NONE), so one potential
whose MD exploded still leaves a leaderboard, its row naming what failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from jobflow import Maker, job

from sse_flows.documents.benchmark import (
    PROPERTY_COLUMNS,
    Benchmark,
    BenchmarkRow,
    DiffusionCurve,
)
from sse_flows.documents.evaluation import METRIC_FIELDS
from sse_flows.documents.training import SplitMetrics
from sse_flows.makers.base import SpecSection, current_job_dir
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.settings import get_settings


def _output(value: Any) -> dict[str, Any] | None:
    """Return a job output as a dict (documents come as dicts or models)."""
    if value is None:
        return None
    return value if isinstance(value, dict) else value.model_dump()


def structure_properties(parts: Mapping[str, Any]) -> dict[str, float | None]:
    """E_f, E_hull, K, G and Ea of one structure from its property documents."""
    from sse_flows.documents import document_class

    values: dict[str, float | None] = {}
    for part in ("stability", "elastic", "conductivity"):
        value = parts.get(part)
        doc = _output(value[0] if isinstance(value, list) else value)  # + extra species
        if doc is None:
            continue
        cls = document_class(doc.get("task_type"))
        columns = cls.query_columns(doc) if cls is not None else {}
        for name in PROPERTY_COLUMNS:
            if name in columns:
                values[name] = columns[name]
    return values


def diffusion_curve(parts: Mapping[str, Any]) -> DiffusionCurve | None:
    """D(T) and Ea of a structure's conductivity document, if it has one."""
    value = parts.get("conductivity")
    doc = _output(value[0] if isinstance(value, list) else value)
    if doc is None or not doc.get("points"):
        return None
    points = sorted(doc["points"], key=lambda p: float(p["temperature"]))
    return DiffusionCurve(
        temperatures_K=[float(p["temperature"]) for p in points],
        D_cm2_s=[float(p["D"]) for p in points],
        Ea_eV=doc.get("Ea_eV"),
    )


def log10_d_error(curve: DiffusionCurve, reference: DiffusionCurve) -> list[float]:
    """|log10 D - log10 D_ref| at the temperatures both have (D > 0)."""
    ref = dict(zip(reference.temperatures_K, reference.D_cm2_s, strict=True))
    return [
        abs(float(np.log10(d) - np.log10(ref[t])))
        for t, d in zip(curve.temperatures_K, curve.D_cm2_s, strict=True)
        if t in ref and d > 0 and ref[t] > 0
    ]


def property_deviations(
    properties: Mapping[str, Mapping[str, float | None]],
    reference: Mapping[str, Mapping[str, float | None]],
) -> dict[str, float]:
    """Mean |value - reference| per property over the structures both have."""
    deviations: dict[str, list[float]] = {}
    for structure, values in properties.items():
        for name, value in values.items():
            ref = reference.get(structure, {}).get(name)
            if value is not None and ref is not None:
                deviations.setdefault(name, []).append(abs(float(value) - float(ref)))
    return {name: float(np.mean(found)) for name, found in deviations.items()}


def diffusion_plots(
    rows: list[BenchmarkRow],
    reference: Mapping[str, DiffusionCurve],
    reference_label: str | None,
) -> dict[str, str]:
    """Write D(T) of every potential (and the reference) per structure; return paths."""
    from sse_flows.analysis.plots import plot_diffusion_comparison

    structures = sorted({s for row in rows for s in row.diffusion})
    if not structures:
        return {}
    folder = current_job_dir(get_settings().work_dir, "benchmark")
    plots = {}
    for structure in structures:
        curves = {
            row.potential: (
                row.diffusion[structure].temperatures_K,
                row.diffusion[structure].D_cm2_s,
            )
            for row in rows
            if structure in row.diffusion
        }
        ref = reference.get(structure)
        try:
            path = plot_diffusion_comparison(
                curves,
                folder / f"diffusion_{structure}.png",
                (reference_label or "reference", ref.temperatures_K, ref.D_cm2_s)
                if ref is not None
                else None,
                title=f"{structure}: D(T) per potential",
            )
        except ValueError:  # no D resolved at any temperature: nothing to draw
            continue
        plots[f"diffusion {structure}"] = str(path)
    return plots


def _ranking(rows: list[BenchmarkRow]) -> list[str]:
    def key(row: BenchmarkRow) -> tuple[int, float, float]:
        force = row.force_mae_meV_A if row.force_mae_meV_A is not None else np.inf
        energy = row.energy_mae_meV_atom
        return (not row.available, force, energy if energy is not None else np.inf)

    return [row.potential for row in sorted(rows, key=key)]


@dataclass
class BenchmarkReportMaker(SpecSection, Maker):
    """Build the leaderboard from the evaluations and property flows of each potential."""

    resource_role: ClassVar[str] = "analysis"

    name: str = "benchmark report"

    @job(output_schema=Benchmark)
    def make(
        self,
        results: dict[str, dict[str, Any]],
        skipped: dict[str, str],
        data: str | None,
        properties: list[str],
        structures: list[str],
        reference_values: dict[str, dict[str, float]],
        reference: dict[str, Any] | None = None,
        reference_label: str | None = None,
    ) -> Benchmark:
        """Gather each potential's row; deviations from the reference; rank."""
        provenance = RunProvenance.start(
            {
                **asdict(self),
                "properties": properties,
                "structures": structures,
                "reference_values": reference_values,
                "reference_potential": reference_label,
            }
        )
        ref_props: dict[str, dict[str, float | None]] = {}
        ref_diffusion: dict[str, DiffusionCurve] = {}
        for structure, parts in (reference or {}).items():
            ref_props[structure] = structure_properties(parts or {})
            curve = diffusion_curve(parts or {})
            if curve is not None:
                ref_diffusion[structure] = curve
        for structure, values in reference_values.items():  # given values win
            ref_props.setdefault(structure, {}).update(values)
        rows = []
        for label, found in results.items():
            rows.append(
                self.row(label, found, structures, properties, ref_props, ref_diffusion)
            )
        rows += [
            BenchmarkRow(potential=label, available=False, reason=reason)
            for label, reason in skipped.items()
        ]
        kinds = [
            name
            for name, present in (
                ("values", bool(reference_values)),
                (reference_label, reference_label is not None),
            )
            if present
        ]
        plots = diffusion_plots(rows, ref_diffusion, reference_label)
        return Benchmark(
            data=data,
            data_sha256=sha256_of(Path(data)) if data else None,
            properties=properties,
            structures=structures,
            reference=" + ".join(str(k) for k in kinds) or None,
            reference_properties=ref_props,
            reference_diffusion=ref_diffusion,
            rows=rows,
            ranking=_ranking(rows),
            plots=plots,
            provenance=provenance.finish(),
        )

    @staticmethod
    def row(
        label: str,
        found: Mapping[str, Any],
        structures: list[str],
        properties: list[str],
        ref_props: Mapping[str, Mapping[str, float | None]],
        ref_diffusion: Mapping[str, DiffusionCurve],
    ) -> BenchmarkRow:
        """One potential's row; what it was asked for and lacks is named in ``failed``."""
        failed: list[str] = []
        fields: dict[str, Any] = {}
        evaluation = _output(found.get("errors"))
        if "errors" in properties:
            if evaluation is None:
                failed.append("errors")
            else:
                fields = {k: evaluation.get(k) for k in METRIC_FIELDS}
                fields["subsets"] = {
                    k: SplitMetrics.model_validate(v)
                    for k, v in (evaluation.get("subsets") or {}).items()
                }
                fields["by_formula"] = {
                    k: SplitMetrics.model_validate(v)
                    for k, v in (evaluation.get("by_formula") or {}).items()
                }
                fields["inference_path"] = evaluation.get("inference_path")
                fields["parity_plots"] = evaluation.get("parity_plots") or {}
                fields["evaluation_uuid"] = found.get("errors_uuid")
        values: dict[str, dict[str, float | None]] = {}
        curves: dict[str, DiffusionCurve] = {}
        for structure in structures:
            parts = (found.get("structures") or {}).get(structure)
            if parts is None:
                failed.append(structure)
                continue
            values[structure] = structure_properties(parts)
            for part in ("stability", "elastic", "diffusion"):
                key = "conductivity" if part == "diffusion" else part
                if part in properties and parts.get(key) is None:
                    failed.append(f"{structure}/{part}")
            curve = diffusion_curve(parts)
            if curve is not None:
                curves[structure] = curve
        log_errors = [
            e
            for structure, curve in curves.items()
            if structure in ref_diffusion
            for e in log10_d_error(curve, ref_diffusion[structure])
        ]
        return BenchmarkRow(
            potential=label,
            available=True,
            reason=f"failed: {', '.join(failed)}" if failed else None,
            properties=values,
            property_errors=property_deviations(values, ref_props),
            diffusion=curves,
            log10_D_mae=float(np.mean(log_errors)) if log_errors else None,
            failed=failed,
            **fields,
        )
