"""Spec kinds on one structure: single jobs, relax + MD, transport, stability."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from jobflow import Flow, Job
from pydantic import Field

from sse_flows.flows import ConductivityMaker, RelaxMDMaker, StabilityMaker
from sse_flows.kinds.base import StructureFlowSpec
from sse_flows.makers import ElasticMaker, EOSMaker, MDMaker, RelaxMaker, StaticMaker
from sse_flows.potentials import PotentialSpec


class StaticSpec(StructureFlowSpec):
    """One single point."""

    flow: Literal["static"]
    static: StaticMaker = Field(default_factory=StaticMaker)

    def build_one(self) -> Job:
        """Build the static job."""
        return self.static.make(self.load_structure())


class RelaxSpec(StructureFlowSpec):
    """One relaxation."""

    flow: Literal["relax"]
    relax: RelaxMaker = Field(default_factory=RelaxMaker)

    def build_one(self) -> Job:
        """Build the relax job."""
        return self.relax.make(self.load_structure())


class MDSpec(StructureFlowSpec):
    """One MD run."""

    flow: Literal["md"]
    md: MDMaker = Field(default_factory=MDMaker)

    def build_one(self) -> Job:
        """Build the MD job."""
        return self.md.make(self.load_structure())


class RelaxMDSpec(StructureFlowSpec):
    """Relax, then MD on the relaxed cell (each job with its section's potential)."""

    flow: Literal["relax_md"]
    relax: RelaxMaker = Field(default_factory=RelaxMaker)
    md: MDMaker = Field(default_factory=MDMaker)

    def build_one(self) -> Flow:
        """Build the two-job flow."""
        return RelaxMDMaker(relax_maker=self.relax, md_maker=self.md).make(
            self.load_structure()
        )


class ElasticSpec(StructureFlowSpec):
    """Elastic tensor, moduli and Born stability."""

    flow: Literal["elastic"]
    elastic: ElasticMaker = Field(default_factory=ElasticMaker)

    def build_one(self) -> Job:
        """Build the elastic job (its strain set checked first)."""
        from sse_flows.calc.elastic import elastic_strains

        elastic_strains(self.elastic.normal_strains, self.elastic.shear_strains)
        return self.elastic.make(self.load_structure())


class EOSSpec(StructureFlowSpec):
    """Energy-volume curve and its equation of state."""

    flow: Literal["eos"]
    eos: EOSMaker = Field(default_factory=EOSMaker)

    def build_one(self) -> Job:
        """Build the EOS job (its settings checked first)."""
        self.eos.settings().checked_factors()
        return self.eos.make(self.load_structure())


class ConductivitySpec(StructureFlowSpec):
    """MD over temperatures, D(T), sigma(T), Arrhenius: a preset and overrides."""

    flow: Literal["conductivity"]
    conductivity: dict[str, Any] = Field(
        default_factory=dict,
        description="'preset' (quick, paper000, ...) and ConductivityMaker fields; "
        "nvt/npt dicts update the preset's MD settings.",
    )

    def build_one(self) -> Flow:
        """ConductivityMaker.from_preset with the overrides."""
        settings = dict(self.conductivity)
        preset = self.preset_value(settings.pop("preset", None))
        settings["potential"] = PotentialSpec.parse(
            settings.get("potential", self.potential), base_dir=self.base_dir
        )
        maker = ConductivityMaker.from_preset(preset, **settings)
        return maker.make(self.load_structure())


class StabilitySpec(StructureFlowSpec):
    """E_f, E_hull, decomposition and Li window against competing phases."""

    flow: Literal["stability"]
    stability: StabilityMaker = Field(default_factory=StabilityMaker)
    competing: str | None = Field(
        None, description="Folder of extra competing-phase structure files."
    )

    def build_one(self) -> Flow:
        """Relaxations of the target and every phase, then the hull."""
        maker = dataclasses.replace(self.stability, potential=self.potential)
        competing = self.spec_path(self.competing) if self.competing else None
        return maker.make(self.load_structure(), competing=competing)
