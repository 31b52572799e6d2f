"""Spec kinds that start from files other than one structure: DFT labels, paper tables."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from jobflow import Flow
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows import LabelingMaker
from sse_flows.kinds.base import FlowSpec
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
