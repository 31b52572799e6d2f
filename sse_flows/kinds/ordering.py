"""Spec kinds of ordered cells: one disordered structure, or a series of them."""

from __future__ import annotations

from typing import Any, Literal

from jobflow import Flow
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sse_flows.errors import SpecError
from sse_flows.flows import OrderingMaker, OrderingSeriesMaker
from sse_flows.kinds.base import StructureFlowSpec
from sse_flows.makers.ordering import EnumerateOrderingsMaker, ScreenOrderingsMaker
from sse_flows.potentials import PotentialSpec


class OrderSettings(BaseModel):
    """The ordering section: the flow's own keys, the rest go to the enumeration."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    potential: PotentialSpec | None = Field(
        None, description="Screening/relaxing potential (none: Ewald only)."
    )
    inherit_potential: bool = Field(True, exclude=True)
    top: int = 5
    screen: Literal["auto", "always", "never"] = "auto"
    screen_method: Literal["single_point", "relax"] = Field(
        "single_point",
        description="Screen by single points, or by a loose relaxation of every "
        "candidate (in lockstep, batched where the family can).",
    )
    screen_batch_size: int | None = Field(
        None, description="Frames per model call in the screen (None: the default)."
    )
    enumerate_maker: EnumerateOrderingsMaker = Field(
        default_factory=EnumerateOrderingsMaker
    )

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        own = {
            "potential",
            "top",
            "screen",
            "screen_method",
            "screen_batch_size",
            "enumerate_maker",
        }
        data = dict(data)
        if str(data.get("potential", "")).lower() == "none":
            data["potential"], data["inherit_potential"] = None, False
        elif "potential" in data:
            data["inherit_potential"] = False
        rest = {k: data.pop(k) for k in list(data) if k not in own | {"inherit_potential"}}
        return {**data, "enumerate_maker": rest} if rest else data

    def maker(self, default: PotentialSpec) -> OrderingMaker:
        """Return the ordering flow maker."""
        potential = default if self.inherit_potential else self.potential
        return OrderingMaker(
            potential=potential,
            top=self.top,
            screen=self.screen,
            screen_maker=ScreenOrderingsMaker(
                method=self.screen_method, batch_size=self.screen_batch_size
            ),
            enumerate_maker=self.enumerate_maker,
        )


class OrderSpec(StructureFlowSpec):
    """Ordered cells of a disordered structure."""

    flow: Literal["order"]
    order: OrderSettings = Field(default_factory=OrderSettings)

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the screening potential, if any."""
        maker = self.order.maker(self.potential)
        return [maker.potential] if maker.potential is not None else []

    def build_one(self) -> Flow:
        """Build the ordering flow (occupancies and charges checked first)."""
        from sse_flows.ordering import build_problem

        structure = self.load_structure()
        enumerate_maker = self.order.enumerate_maker
        if enumerate_maker.supercell is not None:
            build_problem(
                structure, enumerate_maker.supercell, enumerate_maker.oxidation_states
            )
        return self.order.maker(self.potential).make(structure)


class SeriesSpec(OrderSpec):
    """An ordering flow per member of a series (anion exchange, substitution, mixing)."""

    flow: Literal["series"]  # type: ignore[assignment]
    series: dict[str, Any] = Field(
        default_factory=dict,
        description="kind (anion_exchange, substitution, halide_mixing) and its "
        "parameters; the ordering settings come from 'order'.",
    )

    def build_one(self) -> Flow:
        """One ordering flow per member."""
        from sse_flows.ordering import series as builders

        params = dict(self.series)
        kind = params.pop("kind", None)
        builder = {
            "anion_exchange": builders.anion_exchange_series,
            "substitution": builders.substitution_series,
            "halide_mixing": builders.halide_mixing_series,
        }.get(str(kind))
        if builder is None:
            raise SpecError(
                "series.kind must be one of ['anion_exchange', 'substitution', "
                f"'halide_mixing'], got {kind!r}"
            )
        members = builder(self.load_structure(), **params)  # type: ignore[operator]
        maker = self.order.maker(self.potential)
        supercell = maker.enumerate_maker.supercell
        return OrderingSeriesMaker(
            name=self.name,
            ordering_maker=maker,
            supercell=list(supercell) if supercell is not None else None,  # type: ignore[arg-type]
        ).make(members)
