"""Spec kind ``finetune_ramp``: paper 002's iterative temperature-ramp fine-tuning.

A spec names the start structures (files relative to the spec, or
``prototype:NAME``), the model to fine-tune (``potential``) and one ``ramp`` section,
which is :class:`~sse_flows.flows.finetune_ramp.IterativeFineTuneMaker` field by
field: temperatures, frames per step, the stop threshold, ``reference`` (a potential
that labels instead of DFT) or ``labeling`` (the DFT preset), ``md`` and ``train``::

    flow: finetune_ramp
    potential: chgnet
    structures: [Li3YCl6.cif, Li3YBr6.cif]
    ramp:
      t_start: 200
      t_step: 200
      t_max: 800
      frames_per_step: 40
      labeling: {preset: cp2k-pbe-small}
      train: {settings: {epochs: 20, freeze: backbone}}

A section given replaces the whole sub-maker: ``md: {production_steps: 2000}`` is an
``MDMaker`` with its own defaults for the other keys (Langevin, 2 fs), not the ramp's
(Nose-Hoover, 1 fs, as in the paper); name every MD setting that matters.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from jobflow import Flow
from pydantic import Field

from sse_flows.flows.finetune_ramp import IterativeFineTuneMaker
from sse_flows.kinds.base import StructuresFlowSpec
from sse_flows.potentials import PotentialSpec


class FineTuneRampSpec(StructuresFlowSpec):
    """Fine-tune the spec's potential up a temperature ramp on the given structures."""

    flow: Literal["finetune_ramp"]
    purpose: ClassVar[str] = "the ramp"
    ramp: IterativeFineTuneMaker = Field(default_factory=IterativeFineTuneMaker)

    def maker(self) -> IterativeFineTuneMaker:
        """Return the ramp maker with the spec's name, potential and preset path."""
        labeling = self.ramp.labeling
        return dataclasses.replace(
            self.ramp,
            name=self.name,
            potential=self.potential,
            labeling=dataclasses.replace(
                labeling, preset=self.preset_value(labeling.preset)
            ),
        )

    def build_one(self) -> Flow:
        """Build the ramp's flow (its first job builds the rest as it runs)."""
        return self.maker().make(self.load_structures())

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the model fine-tuned and the reference labeler, if any."""
        found = [self.potential]
        if self.ramp.reference is not None:
            found.append(self.ramp.reference)
        return found

    def preflight(self) -> None:
        """Refuse a family without a trainer before anything runs."""
        from sse_flows.training.trainer import trainer_for

        super().preflight()
        trainer_for(self.potential.family)
