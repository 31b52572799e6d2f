"""The jobs of DFT labeling: one batch of frames, then the dataset.

Inside a batch each frame runs in its own folder and leaves ``label.json`` when done:
a killed batch job, rerun, skips those frames. A frame that fails (custodian gives
up, SCF unconverged, labels fail validation) is recorded with its reason and kept out
of the dataset; the dataset job succeeds only if the fraction of good frames reaches
``min_success_fraction``. The flow is :class:`sse_flows.flows.labeling.LabelingMaker`.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from sse_flows.dft.backends import get_backend
from sse_flows.dft.export import write_deepmd, write_extxyz
from sse_flows.dft.labels import LabeledFrame
from sse_flows.dft.presets import DftPreset, DftPresetError, load_dft_preset
from sse_flows.dft.validation import FrameChecks, validated
from sse_flows.documents import (
    DatasetFiles,
    FailedFrame,
    LabelBatchOutput,
    LabeledDataset,
    coerce,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.makers.base import SpecSection, current_job_dir
from sse_flows.provenance import RunProvenance
from sse_flows.settings import get_settings


class LabelingThresholdError(SSEFlowsError):
    """Too few frames were labeled for the dataset to be used."""


#: the preset used when only the code is given
DEFAULT_PRESETS = {"cp2k": "cp2k-pbe-small", "vasp": "vasp-mp-pbe"}


def resolve_preset(preset: str | dict[str, Any] | None, code: str | None) -> DftPreset:
    """Load the preset and check it is for the code.

    ``preset`` is a shipped name, a YAML file, a resolved preset (dict, as the batch
    jobs carry it) or None for the code's default.
    """
    if preset is None:
        if (code or "cp2k") not in DEFAULT_PRESETS:
            raise DftPresetError(
                f"Unknown DFT code {code!r}; known: {', '.join(DEFAULT_PRESETS)}"
            )
        preset = DEFAULT_PRESETS[code or "cp2k"]
    if isinstance(preset, dict):
        loaded = DftPreset.model_validate(preset)
    else:
        loaded = load_dft_preset(preset)
    if code is not None and loaded.code != code:
        raise DftPresetError(
            f"DFT preset {loaded.name} is for {loaded.code}, not {code}; choose a "
            f"{code} preset or leave the code out."
        )
    return loaded


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass
class LabelBatchMaker(SpecSection, Maker):
    """Label one batch of frames with one DFT code and preset, frame after frame."""

    resource_role: ClassVar[str] = "dft"

    name: str = "dft label batch"
    preset: str | dict[str, Any] | None = None
    code: str | None = None
    require_scf_converged: bool = True
    max_abs_force_eV_A: float = 50.0
    max_abs_stress_GPa: float = 500.0

    @job
    def make(
        self, frames: list[Structure], indices: list[int], batch: int = 0
    ) -> LabelBatchOutput:
        """Run the code on each frame not labeled yet; return every frame's result."""
        preset = resolve_preset(self.preset, self.code)
        backend = get_backend(preset.code)
        elements = sorted({el.symbol for s in frames for el in s.composition.elements})
        backend.check_ready(preset, elements)
        record = backend.settings_record(preset, elements)
        provenance = RunProvenance.start(
            {
                "name": self.name,
                "preset": preset.model_dump(),
                "code": preset.code,
                "indices": indices,
                "checks": self.checks.model_dump(),
            },
            extra_packages=("atomate2", "custodian"),
        )
        root = current_job_dir(get_settings().work_dir / "dft", fallback=f"batch-{batch}")
        labeled = []
        for structure, index in zip(frames, indices, strict=True):
            labeled.append(self._label_once(backend, structure, index, preset, root))
        versions = {f.code_version for f in labeled if f.code_version}
        record.code_version = ", ".join(sorted(versions)) or None
        return LabelBatchOutput(
            batch=batch, frames=labeled, dft=record, provenance=provenance.finish()
        )

    @property
    def checks(self) -> FrameChecks:
        """The validation limits of this maker."""
        return FrameChecks(
            require_scf_converged=self.require_scf_converged,
            max_abs_force_eV_A=self.max_abs_force_eV_A,
            max_abs_stress_GPa=self.max_abs_stress_GPa,
        )

    def _label_once(
        self,
        backend: Any,
        structure: Structure,
        index: int,
        preset: DftPreset,
        root: Path,
    ) -> LabeledFrame:
        directory = root / f"frame_{index:06d}"
        done = directory / "label.json"
        if done.is_file():  # labeled before this job was killed and rerun
            return LabeledFrame.model_validate_json(done.read_text())
        if directory.exists():  # a half-finished calculation: start it again
            shutil.rmtree(directory)
        frame = validated(backend.label(structure, index, preset, directory), self.checks)
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(done, frame.model_dump_json())
        return frame


@dataclass
class DatasetMaker(SpecSection, Maker):
    """Gather the labeled batches into one dataset, or fail below the threshold."""

    resource_role: ClassVar[str] = "cpu"  # writes beside the DFT frame folders

    name: str = "dataset"
    min_success_fraction: float = 0.9
    export_deepmd: bool = True

    @job(output_schema=LabeledDataset)
    def make(
        self, batches: list[Any], batch_uuids: list[str] | None = None
    ) -> LabeledDataset:
        """Gather the batches' good frames into the dataset."""
        return build_dataset(
            batches,
            self.name,
            self.min_success_fraction,
            self.export_deepmd,
            batch_uuids,
        )


def build_dataset(
    batches: list[Any],
    name: str,
    min_success_fraction: float,
    export_deepmd: bool = True,
    batch_uuids: list[str] | None = None,
) -> LabeledDataset:
    """Gather the batches, write the training files, and apply the success threshold.

    Every frame (failed ones too) is written to ``frames.json`` before the threshold
    is applied, so a dataset that falls short loses nothing.
    """
    outputs = [coerce(b, LabelBatchOutput) for b in batches]
    frames = sorted((f for out in outputs for f in out.frames), key=lambda f: f.index)
    good = [f for f in frames if f.ok]
    folder = current_job_dir(get_settings().work_dir / "datasets", fallback=name)
    folder.mkdir(parents=True, exist_ok=True)
    frames_json = folder / "frames.json"
    _write_atomic(frames_json, json.dumps([f.model_dump() for f in frames]))
    extxyz = write_extxyz(good, folder / "dataset.extxyz")
    deepmd = write_deepmd(good, folder / "deepmd") if export_deepmd and good else None
    fraction = len(good) / len(frames) if frames else 0.0
    failed = [
        FailedFrame(
            index=f.index,
            formula=f.formula,
            reason=f.reason or "failed",
            calc_dir=f.calc_dir,
        )
        for f in frames
        if not f.ok
    ]
    if fraction < min_success_fraction:
        reasons = "; ".join(f"frame {f.index}: {f.reason}" for f in failed[:5])
        raise LabelingThresholdError(
            f"Only {len(good)} of {len(frames)} frames were labeled ({fraction:.0%} < "
            f"{min_success_fraction:.0%}). {reasons}. Every frame is in {frames_json}; "
            "fix the settings (or lower min_success_fraction) and run again."
        )
    energies = [
        f.energy_eV / len(f.structure["sites"]) for f in good if f.energy_eV is not None
    ]
    forces = [np.abs(np.asarray(f.forces_eV_A)).max() for f in good if f.forces_eV_A]
    corrections = Counter(c.handler for f in frames for c in f.corrections)
    return LabeledDataset(
        name=name,
        dft=outputs[0].dft,
        n_frames=len(frames),
        n_success=len(good),
        n_failed=len(failed),
        success_fraction=fraction,
        min_success_fraction=min_success_fraction,
        failed=failed,
        corrections=dict(corrections),
        formulas=dict(
            Counter(f.pymatgen_structure().composition.reduced_formula for f in good)
        ),
        energy_per_atom_range_eV=(min(energies), max(energies)) if energies else None,
        max_abs_force_eV_A=float(max(forces)) if forces else None,
        files=DatasetFiles(
            directory=str(folder),
            extxyz=str(extxyz),
            deepmd=str(deepmd) if deepmd else None,
            frames_json=str(frames_json),
        ),
        batch_uuids=batch_uuids or [],
        provenance=RunProvenance.start(
            {"name": name, "min_success_fraction": min_success_fraction},
            extra_packages=("dpdata",),
        ).finish(),
    )
