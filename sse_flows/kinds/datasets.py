"""Spec kinds that start from files other than one structure: DFT labels, paper tables."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from jobflow import Flow, Job
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows import LabelingMaker
from sse_flows.kinds.base import FlowSpec
from sse_flows.makers import EvaluateMaker
from sse_flows.potentials import PotentialSpec


class LabelSettings(BaseModel):
    """The labeling section: frame files, every N-th frame, and the labeling flow."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    frames: list[str] = Field(
        default_factory=list, description="Files, relative to the spec."
    )
    every: int = Field(1, ge=1, description="Take every N-th frame.")
    labeling: LabelingMaker = Field(default_factory=LabelingMaker)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("frames"), str):
            data["frames"] = [data["frames"]]
        rest = {
            k: data.pop(k) for k in list(data) if k not in ("frames", "every", "labeling")
        }
        return {**data, "labeling": rest} if rest else data


class LabelSpec(FlowSpec):
    """DFT labels for frames, as a dataset."""

    flow: Literal["label"]
    label: LabelSettings = Field(default_factory=LabelSettings)

    def used_potentials(self) -> list[PotentialSpec]:
        """DFT needs no potential."""
        return []

    def frames(self) -> list[Structure]:
        """Read the frames the spec names."""
        from sse_flows.dft.frames import read_frames

        if not self.label.frames:
            raise SpecError(f"Spec '{self.name}': label.frames lists no frame files")
        return [
            frame
            for name in self.label.frames
            for frame in read_frames(self.spec_path(name), self.label.every)
        ]

    def build_one(self) -> Flow:
        """Build the labeling flow: frames read here, labeled in batches."""
        frames = self.frames()
        maker = self.label.labeling
        return dataclasses.replace(
            maker, name=self.name, preset=self.preset_value(maker.preset)
        ).make(frames)


class EvaluateSpec(FlowSpec):
    """Errors of each potential on labelled frames (an extxyz, or a labeled dataset).

    ``data``: an extxyz file (relative to the spec), a folder holding one extxyz (a
    labeling export), or the uuid of a stored dataset (labeling or training set flow).
    """

    flow: Literal["evaluate"]
    data: str = Field(description="Frames file, export folder or dataset job uuid.")
    evaluate: EvaluateMaker = Field(default_factory=EvaluateMaker)

    def data_file(self) -> Path:
        """Resolve ``data`` to the extxyz file to read."""
        return frames_file(self.spec_path(self.data), self.data)

    def build_one(self) -> Job:
        """Build the evaluation job for the spec's potential."""
        maker = dataclasses.replace(self.evaluate, potential=self.potential)
        return maker.make(str(self.data_file()))


def frames_file(path: Path, data: str) -> Path:
    """Return the extxyz ``data`` names: a file, a folder holding one, a dataset uuid."""
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(path.glob("*.extxyz")) + sorted(path.glob("*.xyz"))
        if len(found) != 1:
            raise SpecError(f"{path} holds {len(found)} extxyz files; name the one to use")
        return found[0]
    return stored_dataset_file(data)


def stored_dataset_file(uuid: str) -> Path:
    """Return the extxyz of a stored dataset (labeling or training set flow, job uuid)."""
    from sse_flows.stores import get_job_store

    store = get_job_store()
    store.connect()
    try:
        doc = store.query_one(
            {
                "uuid": uuid,
                "output.task_type": {"$in": ["dft_dataset", "training_dataset"]},
            },
            properties=["output.task_type", "output.files.extxyz", "output.path"],
        )
    finally:
        store.close()
    if doc is None:
        raise SpecError(
            f"'{uuid}' is neither a file nor a folder, nor the uuid of a stored dataset "
            "(`sse-flows query --property dft_dataset` or `training_dataset` lists them)"
        )
    output = doc["output"]
    if output["task_type"] == "training_dataset":
        return Path(output["path"])
    return Path(output["files"]["extxyz"])


class TableRunSpec(FlowSpec):
    """What a paper table needs, computed with each potential and a preset."""

    flow: Literal["table"]
    table: str = Field(description="Table name, e.g. paper000-table2.")
    preset: str = Field("small", description="small, paper, or a preset YAML file.")
    structures: dict[str, str] = Field(
        default_factory=dict, description="FORMULA: file for rows not shipped."
    )
    formulas: list[str] | None = Field(None, description="Only these rows.")
    properties: list[Literal["stability", "elastic", "conductivity"]] | None = Field(
        None, description="Only these of the table's properties (None: all)."
    )

    def build_one(self) -> Flow:
        """Build the table's flow for one potential (empty when its weights are missing)."""
        from sse_flows.flows.paper_tables import PaperTableMaker

        preset = str(self.preset_value(self.preset))
        structures = {f: str(self.spec_path(p)) for f, p in self.structures.items()}
        return PaperTableMaker(
            table=self.table,
            preset=preset,
            potential=self.potential,
            formulas=self.formulas,
            properties=list(self.properties) if self.properties else None,
        ).make(structures)

    def used_potentials(self) -> list[PotentialSpec]:
        """Potentials without weights are skipped, not refused (rows say so)."""
        return []
