"""Document of a multi-model benchmark: one row per potential, a leaderboard.

Paper 000's framework: errors against labelled frames (overall, near-equilibrium
against heated, per composition), properties of named structures (E_f, E_hull, K, G)
and diffusion (D(T), Ea) against reference values or a reference model. Per-frame
errors and parity plots stay in files named by each row's evaluation.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from sse_flows.documents.base import Document
from sse_flows.documents.training import SplitMetrics
from sse_flows.provenance import RunProvenance

#: properties a benchmark compares, with the document column each comes from
PROPERTY_COLUMNS = {
    "e_form_eV_atom": "stability",
    "e_hull_eV_atom": "stability",
    "K_VRH_GPa": "elastic",
    "G_VRH_GPa": "elastic",
    "Ea_eV": "diffusion",
}


class DiffusionCurve(BaseModel):
    """D(T) of one structure and potential, and its Arrhenius fit."""

    temperatures_K: list[float] = Field(description="MD temperatures.")
    D_cm2_s: list[float] = Field(description="Tracer D of the mobile species per T.")
    Ea_eV: float | None = Field(None, description="Arrhenius activation energy.")


class BenchmarkRow(BaseModel):
    """One potential: its errors, its properties, and their deviations."""

    potential: str = Field(description="The potential string.")
    available: bool = Field(description="False: package or weights not on this machine.")
    reason: str | None = Field(None, description="Why it did not run, or what failed.")
    n_frames: int | None = Field(None, description="Frames evaluated.")
    energy_mae_meV_atom: float | None = None
    energy_rmse_meV_atom: float | None = None
    force_mae_meV_A: float | None = None
    force_rmse_meV_A: float | None = None
    stress_mae_GPa: float | None = None
    stress_rmse_GPa: float | None = None
    subsets: dict[str, SplitMetrics] = Field(
        default_factory=dict, description="Errors per subset (near_equilibrium, heated)."
    )
    by_formula: dict[str, SplitMetrics] = Field(
        default_factory=dict, description="Errors per reduced formula."
    )
    inference_path: str | None = Field(None, description="How frames were evaluated.")
    evaluation_uuid: str | None = Field(
        None, description="Job of the evaluation (per-frame errors, parity plots)."
    )
    parity_plots: dict[str, str] = Field(default_factory=dict, description="PNG files.")
    properties: dict[str, dict[str, float | None]] = Field(
        default_factory=dict,
        description="Per structure: e_form_eV_atom, e_hull_eV_atom, K_VRH_GPa, "
        "G_VRH_GPa, Ea_eV (None: not computed or failed).",
    )
    property_errors: dict[str, float] = Field(
        default_factory=dict,
        description="Mean absolute deviation from the reference per property, over the "
        "structures both have.",
    )
    diffusion: dict[str, DiffusionCurve] = Field(
        default_factory=dict, description="D(T) per structure."
    )
    log10_D_mae: float | None = Field(
        None,
        description="Mean |log10 D - log10 D_ref| over structures and temperatures.",
    )
    failed: list[str] = Field(
        default_factory=list, description="Parts that failed (structure/property)."
    )


class Benchmark(Document):
    """Potentials against labelled frames and reference properties: a leaderboard."""

    task_type: Literal["benchmark"] = "benchmark"
    data: str | None = Field(None, description="The labelled frames (absolute path).")
    data_sha256: str | None = Field(None, description="sha256 of that file.")
    properties: list[str] = Field(description="What was compared (errors, stability, ...).")
    structures: list[str] = Field(description="Named structures of the property columns.")
    reference: str | None = Field(
        None,
        description="Where reference properties come from: 'values', a potential, or "
        "'values + <potential>' (given values win).",
    )
    reference_properties: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="Reference per structure and property."
    )
    reference_diffusion: dict[str, DiffusionCurve] = Field(
        default_factory=dict, description="The reference model's D(T) per structure."
    )
    rows: list[BenchmarkRow] = Field(description="One row per potential, as given.")
    ranking: list[str] = Field(
        description="Potentials ranked by force MAE (then energy MAE); unavailable last."
    )
    plots: dict[str, str] = Field(
        default_factory=dict,
        description="PNG files: D(T) of every potential and the reference per structure.",
    )
    provenance: RunProvenance = Field(description="Software, host, times, inputs.")

    shown_columns: ClassVar[tuple[str, ...]] = ("n_potentials", "best")

    def summary_lines(self) -> list[str]:
        """Show one line per potential, best first."""
        by_label = {row.potential: row for row in self.rows}
        lines = [
            f"benchmark of {len(self.rows)} potentials"
            + (f" on {self.data}" if self.data else "")
            + f" ({', '.join(self.properties)})"
        ]
        for rank, label in enumerate(self.ranking, 1):
            row = by_label[label]
            if not row.available:
                lines.append(f"  {rank}. {label}: {row.reason}")
                continue
            parts = []
            if row.force_mae_meV_A is not None:
                parts.append(f"F MAE {row.force_mae_meV_A:.1f} meV/A")
            if row.energy_mae_meV_atom is not None:
                parts.append(f"E MAE {row.energy_mae_meV_atom:.1f} meV/atom")
            parts += [f"{k} dev {v:.3g}" for k, v in row.property_errors.items()]
            if row.failed:
                parts.append(f"failed: {', '.join(row.failed)}")
            lines.append(f"  {rank}. {label}: " + ("; ".join(parts) or "no results"))
        return lines

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the number of potentials and the best one."""
        ranking = output.get("ranking") or []
        return {
            "n_potentials": len(output.get("rows") or []),
            "best": next(iter(ranking), None),
        }
