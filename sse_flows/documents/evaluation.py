"""Document of a potential's errors against labelled frames (``sse-flows evaluate``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from sse_flows.documents.base import Document, potential_line
from sse_flows.documents.training import SplitMetrics
from sse_flows.provenance import PotentialProvenance, RunProvenance

#: what `sse-flows evaluate` reports per potential, after the potential's label
METRIC_FIELDS = (
    "n_frames",
    "energy_mae_meV_atom",
    "energy_rmse_meV_atom",
    "force_mae_meV_A",
    "force_rmse_meV_A",
    "stress_mae_GPa",
    "stress_rmse_GPa",
)


class EvaluationOutput(Document):
    """Energy, force and stress errors of one potential on one set of frames.

    The per-frame errors are in a JSON file next to the job (``frames_file``), not in
    the document: a dataset can hold many thousands of frames.
    """

    task_type: Literal["evaluation"] = "evaluation"
    potential_label: str = Field(description="The potential as given (name:checkpoint).")
    data: str = Field(description="The frames file evaluated (absolute path).")
    data_sha256: str = Field(description="sha256 of that file.")
    n_frames: int = Field(description="Frames evaluated.")
    n_atoms: int = Field(description="Atoms in all frames together.")
    formulas: dict[str, int] = Field(description="Frames per reduced formula.")
    labels: list[str] = Field(description="Labels compared (energy, forces, stress).")
    energy_mae_meV_atom: float | None = Field(description="MAE of energy per atom.")
    energy_rmse_meV_atom: float | None = Field(description="RMSE of energy per atom.")
    force_mae_meV_A: float | None = Field(description="MAE of force components.")
    force_rmse_meV_A: float | None = Field(description="RMSE of force components.")
    stress_mae_GPa: float | None = Field(
        description="MAE of the 6 Voigt stress components (None: stress not compared)."
    )
    stress_rmse_GPa: float | None = Field(
        None, description="RMSE of the 6 Voigt stress components."
    )
    subset_rule: str | None = Field(
        None, description="How frames were put into subsets (an info key or a force rule)."
    )
    subsets: dict[str, SplitMetrics] = Field(
        default_factory=dict,
        description="Metrics per subset (e.g. near_equilibrium, heated).",
    )
    by_formula: dict[str, SplitMetrics] = Field(
        default_factory=dict, description="Metrics per reduced formula."
    )
    parity_plots: dict[str, str] = Field(
        default_factory=dict, description="PNG parity plot per label, coloured by subset."
    )
    inference_path: str = Field(
        "one-by-one",
        description="one-by-one, batched:<family> or worker:<path> (how frames ran).",
    )
    frames_file: str = Field(description="JSON file with the errors of every frame.")
    potential: PotentialProvenance = Field(description="The potential that was used.")
    provenance: RunProvenance = Field(description="Software, host, times, resolved inputs.")

    shown_columns: ClassVar[tuple[str, ...]] = ("energy_mae_meV_atom", "force_mae_meV_A")

    def summary_lines(self) -> list[str]:
        """Show the data, the potential and the metrics."""
        lines = [
            f"evaluation of {self.potential_label} on {self.n_frames} frames "
            f"of {self.data}",
            potential_line(self.potential),
        ]
        for name, unit in (
            ("energy_mae_meV_atom", "meV/atom"),
            ("energy_rmse_meV_atom", "meV/atom"),
            ("force_mae_meV_A", "meV/A"),
            ("force_rmse_meV_A", "meV/A"),
            ("stress_mae_GPa", "GPa"),
        ):
            value = getattr(self, name)
            if value is not None:
                lines.append(f"  {name}: {value:.4g} {unit}")
        for title, groups in (("subset", self.subsets), ("formula", self.by_formula)):
            for group, metrics in groups.items():
                lines.append(
                    f"  {title} {group} ({metrics.n_frames} frames): "
                    f"E MAE {_shown(metrics.energy_mae_meV_atom)} meV/atom, "
                    f"F MAE {_shown(metrics.force_mae_meV_A)} meV/A"
                )
        return lines

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Return the metrics and the number of frames."""
        return {key: output.get(key) for key in METRIC_FIELDS}


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
