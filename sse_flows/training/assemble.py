"""The training set's file and document, from labelled frames and where they came from.

Every labelled frame gets its candidate (the split group), MD run, temperature, MD
step and strain in ``atoms.info``; the document counts frames per group, composition
and temperature, and records each MD run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition

from sse_flows.documents import LabeledDataset, MDOutput, coerce
from sse_flows.documents.training_set import (
    TrainingDatasetDoc,
    TrainingFrames,
    TrainingSelection,
    TrajectoryRecord,
)
from sse_flows.provenance import RunProvenance, sha256_of
from sse_flows.training.data import label_statistics, read_training_frames, write_frames
from sse_flows.training.sampling import TrainingSetError, voigt


def assemble_training_set(
    name: str,
    chosen: TrainingSelection,
    md_outputs: Sequence[Any],
    frame_sets: Sequence[Any],
    labeled: LabeledDataset,
    folder: Path,
    dataset_uuid: str | None,
    settings: dict[str, Any],
    provenance: RunProvenance,
) -> TrainingDatasetDoc:
    """Write ``folder/training_set.extxyz`` (frames grouped by candidate); describe it.

    ``md_outputs`` and ``frame_sets`` are one per MD slot, as the jobs gave them (None
    where a job failed).
    """
    sets = [coerce(s, TrainingFrames) for s in frame_sets if s is not None]
    where = {index: (s, k) for s in sets for k, index in enumerate(s.indices)}
    if labeled.n_success == 0:
        raise TrainingSetError(
            f"No frame was labelled ({labeled.n_frames} given); see the dataset "
            f"{labeled.files.frames_json}."
        )
    frames = read_training_frames(labeled.files.extxyz)
    for frame in frames:
        index = int(frame.atoms.info["frame_index"])
        frame_set, k = where[index]
        frame.atoms.info.update(
            {
                "group": frame_set.group,
                "candidate": frame_set.candidate,
                "slot": frame_set.slot,
                "md_temperature": frame_set.temperature,
                "md_step": frame_set.md_steps[k],
                "strain_voigt": np.array(voigt(frame_set.strains[k])),
            }
        )
    path = write_frames(frames, folder / "training_set.extxyz")
    groups = Counter(str(f.atoms.info["group"]) for f in frames)
    formulas = Counter(
        Composition(f.atoms.get_chemical_formula()).reduced_formula for f in frames
    )
    temperatures = Counter(f"{float(f.atoms.info['md_temperature']):g}" for f in frames)
    labeled_per_slot = Counter(int(f.atoms.info["slot"]) for f in frames)
    trajectories = []
    for value, md_value in zip(frame_sets, md_outputs, strict=True):
        s = coerce(value, TrainingFrames) if value is not None else None
        if s is None or s.candidate is None or s.temperature is None:
            continue
        md = coerce(md_value, MDOutput) if md_value is not None else None
        trajectories.append(
            TrajectoryRecord(
                slot=s.slot,
                candidate=s.candidate,
                group=s.group or s.candidate,
                formula=s.formula or "",
                md_job_uuid=s.md_job_uuid,
                temperature=s.temperature,
                temperature_mean=(
                    md.statistics.temperature_mean if md and md.statistics else None
                ),
                trajectory=s.trajectory,
                frames_taken=len(s.indices),
                frames_labeled=labeled_per_slot.get(s.slot, 0),
            )
        )
    strain_max = max(
        float(np.abs(np.asarray(f.atoms.info["strain_voigt"])).max()) for f in frames
    )
    notes = list(chosen.notes) + [n for s in sets for n in s.notes]
    if labeled.n_failed:
        notes.append(
            f"{labeled.n_failed} frames failed DFT and are left out (see the "
            f"dft_dataset {dataset_uuid})."
        )
    dft = labeled.dft
    return TrainingDatasetDoc(
        name=name,
        path=str(path.resolve()),
        sha256=sha256_of(path),
        n_frames=len(frames),
        n_structures=len(groups),
        n_candidates=len(chosen.candidates),
        n_kept=sum(c.kept for c in chosen.candidates),
        n_md_runs=len(trajectories),
        groups=dict(sorted(groups.items())),
        composition_coverage=dict(sorted(formulas.items())),
        temperature_coverage=dict(sorted(temperatures.items())),
        label_statistics=label_statistics(frames),
        strain_max_abs=strain_max,
        candidates=chosen.candidates,
        trajectories=trajectories,
        labeling_dataset_uuid=dataset_uuid,
        labeled_extxyz=labeled.files.extxyz,
        n_label_failed=labeled.n_failed,
        dft={
            "code": dft.code,
            "functional": dft.functional,
            "preset": dft.preset,
            "code_version": dft.code_version,
        },
        potential=chosen.potential,
        settings=settings,
        notes=notes,
        provenance=provenance.finish(),
    )
