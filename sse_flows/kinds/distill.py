"""Spec kind ``distill``: paper 004's distillation of a teacher into a DeePMD student.

A spec names the start structures (files relative to the spec, or
``prototype:NAME``), the ``teacher`` (any potential) and one ``distill`` section,
which is :class:`~sse_flows.flows.distill.DistillMaker` field by field::

    flow: distill
    teacher: mace:finetuned.model
    structures: [Li10GeP2S12.cif]
    supercell: [1, 1, 1]
    distill:
      n_perturbed: 200
      displacement_A: 0.1
      strain_fraction: 0.03
      temperatures: [900]
      md: {production_steps: 2000, sample_interval: 20, timestep_fs: 1}
      held_out_md: {temperature: 900, production_steps: 1000, sample_interval: 20}
      max_force_eV_A: 10
      train: {settings: {epochs: 200, batch_size: 4}}

The student is ``distill.train``: its ``potential`` defaults to ``deepmd`` and its
``settings.from_scratch`` to true here. The spec's ``potential``/``potentials`` keys
are not used by this kind (the teacher is ``teacher``). A section given replaces the
whole sub-maker: ``md: {production_steps: 500}`` keeps MDMaker's own defaults for
the other keys (2 fs, a frame every 10 steps), not the distillation's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from jobflow import Flow
from pydantic import Field, model_validator

from sse_flows.flows.distill import STUDENT_FAMILY, DistillMaker
from sse_flows.kinds.base import StructuresFlowSpec
from sse_flows.potentials import PotentialSpec


class DistillSpec(StructuresFlowSpec):
    """Distil the spec's ``teacher`` into a DeePMD se_e2_a student."""

    flow: Literal["distill"]
    purpose: ClassVar[str] = "distillation"
    teacher: PotentialSpec = Field(description="The potential that labels every frame.")
    distill: DistillMaker = Field(default_factory=DistillMaker)

    @model_validator(mode="before")
    @classmethod
    def _student_defaults(cls, data: Any) -> Any:
        """Default the student to deepmd from scratch; refuse keys this kind ignores."""
        if not isinstance(data, dict):
            return data
        for key in ("potential", "potentials"):
            if data.get(key) is not None:
                raise ValueError(
                    f"flow: distill does not use '{key}': name the teacher with "
                    "'teacher:' (the student is distill.train, a DeePMD se_e2_a)"
                )
        section = data.get("distill") or {}
        if not isinstance(section, dict):
            return data
        if "teacher" in section:
            raise ValueError(
                "name the teacher at the top level ('teacher:'), not in distill"
            )
        train = dict(section.get("train") or {})
        train.setdefault("potential", STUDENT_FAMILY)
        settings = train.get("settings")
        if settings is None or isinstance(settings, dict):
            train["settings"] = {"from_scratch": True, **(settings or {})}
        return {**data, "distill": {**section, "train": train}}

    def maker(self) -> DistillMaker:
        """Return the distillation maker with the spec's name and teacher."""
        return dataclasses.replace(self.distill, name=self.name, teacher=self.teacher)

    def build_one(self) -> Flow:
        """Build the distillation's flow (the teacher's elements are checked first)."""
        return self.maker().make(self.load_structures())

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the teacher (the student is made by the flow)."""
        return [self.teacher]

    def preflight(self) -> None:
        """Refuse a missing teacher package or weights, or no DeePMD to train, early."""
        from sse_flows.potentials.registry import require_installed
        from sse_flows.training.trainer import trainer_for

        super().preflight()
        student = self.distill.train.potential.family
        trainer_for(student)
        require_installed(student)
