"""How a user names a potential: registry name, checkpoint, device, options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Device = Literal["auto", "cpu", "cuda"]


class PotentialSpec(BaseModel):
    """A potential as asked for; resolved to a calculator by the registry.

    ``"sevennet:7net-l3i5"`` is shorthand for ``name="sevennet", checkpoint="7net-l3i5"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Registry name: chgnet, sevennet, mace, ...")
    checkpoint: str | None = Field(
        None, description="Checkpoint name known to the family, or a path to weights."
    )
    device: Device | None = Field(
        None, description="auto, cpu or cuda; None takes SSE_FLOWS_DEVICE."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Family-specific options (e.g. SevenNet modal)."
    )

    @classmethod
    def parse(cls, value: str | dict[str, Any] | PotentialSpec) -> PotentialSpec:
        """Accept a spec, a dict, or 'name[:checkpoint]'."""
        if isinstance(value, PotentialSpec):
            return value
        if isinstance(value, dict):
            return cls.model_validate(value)
        name, _, checkpoint = value.partition(":")
        return cls(name=name.strip().lower(), checkpoint=checkpoint.strip() or None)

    def label(self) -> str:
        """Return 'name' or 'name:checkpoint' for messages and tables."""
        return f"{self.name}:{self.checkpoint}" if self.checkpoint else self.name
