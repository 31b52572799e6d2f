"""Errors of a potential against labelled frames, as a job."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobflow import job

from sse_flows.calc.evaluate import (
    EvaluationResult,
    check_labels,
    default_labels,
    evaluate_frames,
    frame_subsets,
    pairs_by_group,
    read_labeled_frames,
)
from sse_flows.documents import EvaluationOutput
from sse_flows.documents.training import SplitMetrics
from sse_flows.makers.base import PotentialJobMaker, closes_potentials, current_job_dir
from sse_flows.potentials import PotentialSpec
from sse_flows.provenance import sha256_of
from sse_flows.settings import get_settings


@dataclass
class EvaluateMaker(PotentialJobMaker):
    """Energy/force/stress MAE and RMSE of a potential on an extxyz of labelled frames.

    ``labels``: which labels to compare; empty = energy and forces, and stress when
    every frame is periodic and has one. A label asked for that a frame lacks fails
    the job, naming the frames. Errors are also given per subset (``subset_key``, an
    ``atoms.info`` key; by default 'subset' or 'config_type' when every frame has
    one, else near-equilibrium against heated frames by the labels' RMS force and
    ``equilibrium_force``) and per reduced formula, with parity plots.
    ``batch_size``: frames per model call where the family batches (None: its
    default).
    """

    name: str = "evaluate"
    labels: list[str] = field(default_factory=list)
    subset_key: str | None = None
    equilibrium_force: float = 0.15
    batch_size: int | None = None

    @job(output_schema=EvaluationOutput)
    @closes_potentials
    def make(self, data: str, potential: PotentialSpec | None = None) -> EvaluationOutput:
        """Read the frames, predict each one, compare."""
        path = Path(data).expanduser().resolve()
        frames = read_labeled_frames(path)
        labels = self.labels or default_labels(frames)
        check_labels(frames, labels, str(path))
        elements = sorted({s for f in frames for s in f.atoms.get_chemical_symbols()})
        loaded, provenance = self.prepare_for(elements, potential)
        subsets, rule = frame_subsets(frames, self.subset_key, self.equilibrium_force)
        result = evaluate_frames(
            frames, loaded.calculator, labels, self.batch_size, subsets=subsets
        )
        folder = current_job_dir(get_settings().work_dir, "evaluate")
        folder.mkdir(parents=True, exist_ok=True)
        frames_file = folder / "frame_errors.json"
        frames_file.write_text(json.dumps([asdict(f) for f in result.frames], indent=1))
        formulas = Counter(errors.formula for errors in result.frames)
        plots = parity_plots(result, subsets, folder, loaded.spec.label())
        return EvaluationOutput(
            potential_label=loaded.spec.label(),
            data=str(path),
            data_sha256=sha256_of(path),
            n_frames=result.n_frames,
            n_atoms=sum(f.natoms for f in result.frames),
            formulas=dict(formulas),
            labels=result.labels,
            energy_mae_meV_atom=result.energy_mae_meV_atom,
            energy_rmse_meV_atom=result.energy_rmse_meV_atom,
            force_mae_meV_A=result.force_mae_meV_A,
            force_rmse_meV_A=result.force_rmse_meV_A,
            stress_mae_GPa=result.stress_mae_GPa,
            stress_rmse_GPa=result.stress_rmse_GPa,
            subset_rule=rule,
            subsets={k: SplitMetrics.of(m) for k, m in result.groups("subset").items()},
            by_formula={k: SplitMetrics.of(m) for k, m in result.groups("formula").items()},
            parity_plots={k: str(v) for k, v in plots.items()},
            inference_path=result.path,
            frames_file=str(frames_file),
            potential=loaded.provenance,
            provenance=provenance.finish(),
        )


def parity_plots(
    result: EvaluationResult, subsets: Sequence[str | None], folder: Path, title: str
) -> dict[str, Path]:
    """Write one parity plot per compared label, one colour per subset."""
    from sse_flows.training.plots import parity_plot

    plots = {}
    for quantity in result.labels:
        groups = pairs_by_group(result, quantity, subsets)
        if groups:
            path = folder / f"parity_{quantity}.png"
            plots[quantity] = parity_plot(groups, quantity, path, title)
    return plots
