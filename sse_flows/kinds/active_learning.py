"""Spec kind ``active_learning``: DP-GEN's concurrent learning for any family.

::

    flow: active_learning
    structures: [Cu.cif]                 # files or prototype:NAME
    initial_data: init.extxyz            # labelled frames
    test_data: heated.extxyz             # optional: every committee measured on it
    committee: {potential: mace, size: 4, diversity: seed, train: {epochs: 50}}
    oracle: {potential: emt}             # or {dft: {code: cp2k, preset: cp2k-pbe-small}}
    exploration:                         # one stage per iteration, the last repeats
      - {temperatures: [300, 600], ensemble: nvt, steps: 2000, timestep_fs: 1}
      - {temperatures: [900], pressures_GPa: [0, 1], ensemble: npt, steps: 5000}
    trust: {lo: 0.12, hi: 0.25}          # eV/A
    max_candidates: 50                   # per system and iteration
    converge: {accurate_ratio: 0.9, patience: 1}
    max_iterations: 10

``preset: paper000`` (or ``paper004``, or a YAML file) fills every key the spec does
not give; a section the spec gives updates the preset's (``committee: {size: 2}``
keeps the preset's potential). A DP-GEN ``param.json`` given to ``sse-flows run`` is
turned into this kind first (:mod:`sse_flows.kinds.dpgen`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from jobflow import Flow
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sse_flows.errors import SpecError
from sse_flows.flows.active_learning import ActiveLearningMaker
from sse_flows.kinds.base import StructuresFlowSpec
from sse_flows.potentials import PotentialSpec
from sse_flows.training.settings import TrainSettings


class CommitteeSection(BaseModel):
    """The committee: which potential(s), how many, how they differ, how trained."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    potential: PotentialSpec | list[PotentialSpec] = Field(
        description="FAMILY or FAMILY:PARENT; a list mixes families (members cycle)."
    )
    size: int = Field(4, description="Models in the committee (dpgen2: 4).")
    diversity: Literal["seed", "bootstrap"] = "seed"
    train: TrainSettings = Field(default_factory=TrainSettings)
    models: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per family, the model section of its members (e.g. deepmd: "
        "{descriptor: ...}); overrides train.model for that family.",
    )

    def potentials(self) -> list[PotentialSpec]:
        """Return the committee's potential(s) as a list."""
        return self.potential if isinstance(self.potential, list) else [self.potential]


class DftOracle(BaseModel):
    """DFT labels: the code and preset of the labeling flow."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = None
    preset: str | None = None
    frames_per_job: int = 20


class OracleSection(BaseModel):
    """Who labels the candidates: a potential, or DFT."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    potential: PotentialSpec | None = None
    dft: DftOracle | None = None

    @model_validator(mode="after")
    def _one(self) -> OracleSection:
        if (self.potential is None) == (self.dft is None):
            raise ValueError("oracle takes exactly one of 'potential' or 'dft'")
        return self


class TrustSection(BaseModel):
    """Trust levels of the maximum force deviation, eV/A (papers 000 and 004)."""

    model_config = ConfigDict(extra="forbid")

    lo: float = 0.12
    hi: float = 0.25


class ConvergeSection(BaseModel):
    """When the loop stops as converged (dpgen2's conv_accuracy)."""

    model_config = ConfigDict(extra="forbid")

    accurate_ratio: float = 0.9
    patience: int = 1


class ActiveLearningSpec(StructuresFlowSpec):
    """Run the active-learning loop on the given structures."""

    flow: Literal["active_learning"]
    purpose: ClassVar[str] = "exploration"
    preset: str | None = Field(
        None, description="paper000, paper004 or a YAML file; the spec's keys win."
    )
    initial_data: str | None = Field(None, description="Labelled frames (extxyz).")
    test_data: str | None = Field(None, description="Fixed labelled test frames.")
    committee: CommitteeSection | None = None
    oracle: OracleSection | None = None
    exploration: list[dict[str, Any]] | None = None
    trust: TrustSection = Field(default_factory=TrustSection)
    max_candidates: int = 50
    min_frame_gap: int = 2
    converge: ConvergeSection = Field(default_factory=ConvergeSection)
    max_iterations: int = 10
    fatal_at_max: bool = True
    md: dict[str, Any] = Field(
        default_factory=dict,
        description="Exploration MD settings besides the schedule (thermostat, "
        "taut_fs, min_distance, ...): ExploreMaker fields.",
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """Fill the keys the spec leaves out from its preset."""
        if not isinstance(data, dict) or not data.get("preset"):
            return data
        from sse_flows.presets import PresetError, is_preset_file, load_preset

        name = data["preset"]
        if is_preset_file(name):
            name = str(Path(data.get("base_dir", ".")) / name)
        try:
            preset = load_preset("active_learning", name)
        except PresetError as exc:
            raise ValueError(str(exc)) from exc
        for key in ("name", "description"):
            preset.pop(key, None)
        merged = dict(preset)
        for key, value in data.items():
            base = merged.get(key)
            merged[key] = (
                {**base, **value}
                if isinstance(base, dict) and isinstance(value, dict)
                else value
            )
        return merged

    def maker(self) -> ActiveLearningMaker:
        """Return the loop's flow maker, sections turned into its fields."""
        if self.committee is None:
            raise SpecError(
                f"Spec '{self.name}' has no 'committee' (e.g. committee: "
                "{potential: mace, size: 4})"
            )
        if self.oracle is None:
            raise SpecError(
                f"Spec '{self.name}' has no 'oracle' ({{potential: NAME}} or "
                "{dft: {code: cp2k}})"
            )
        from sse_flows.flows.labeling import LabelingMaker
        from sse_flows.makers.explore import ExploreMaker
        from sse_flows.makers.training import TrainMaker

        fields: dict[str, Any] = {}
        if self.oracle.dft is not None:
            fields["labeling"] = LabelingMaker(
                preset=self.preset_value(self.oracle.dft.preset),
                code=self.oracle.dft.code,
                frames_per_job=self.oracle.dft.frames_per_job,
            )
        if self.exploration is not None:
            fields["exploration"] = self.exploration
        if self.md:
            defaults = ActiveLearningMaker().explore
            fields["explore"] = ExploreMaker(**{**defaults.protocol_dict(), **self.md})
        try:
            return ActiveLearningMaker(
                name=self.name,
                committee=self.committee.potentials(),
                committee_size=self.committee.size,
                diversity=self.committee.diversity,
                family_models=self.committee.models,
                initial_data=_path(self, self.initial_data),
                test_data=_path(self, self.test_data),
                trust_lo=self.trust.lo,
                trust_hi=self.trust.hi,
                max_candidates=self.max_candidates,
                min_frame_gap=self.min_frame_gap,
                accurate_ratio=self.converge.accurate_ratio,
                patience=self.converge.patience,
                max_iterations=self.max_iterations,
                fatal_at_max=self.fatal_at_max,
                oracle=self.oracle.potential,
                train=TrainMaker(settings=self.committee.train),
                **fields,
            )
        except ValueError as exc:
            raise SpecError(f"Spec '{self.name}': {exc}") from exc

    def build_one(self) -> Flow:
        """Build the loop's flow (its first job builds the rest as it runs)."""
        maker = self.maker()
        try:
            return maker.make(self.load_structures())
        except ValueError as exc:
            raise SpecError(f"Spec '{self.name}': {exc}") from exc

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the committee's parents (none from scratch) and an oracle potential."""
        found = []
        if self.committee is not None and not self.committee.train.from_scratch:
            found += self.committee.potentials()
        if self.oracle is not None and self.oracle.potential is not None:
            found.append(self.oracle.potential)
        return found

    def preflight(self) -> None:
        """Refuse a family without a trainer or an environment before anything runs."""
        from sse_flows.potentials.registry import require_installed
        from sse_flows.training.trainer import trainer_for

        super().preflight()
        for potential in self.committee.potentials() if self.committee else []:
            trainer_for(potential.family)
            require_installed(potential.family)


def _path(spec: StructuresFlowSpec, value: str | None) -> str | None:
    return None if value is None else str(spec.spec_path(value))
