"""How a user names a potential, parsed and checked once where it enters the program.

``"sevennet:7net-l3i5"`` is shorthand for ``name="sevennet", checkpoint="7net-l3i5"``;
``"artifact:<uuid>"`` names a trained model by its document (see
:mod:`sse_flows.potentials.artifacts`).
Validation turns an alias into the family's name (``7net`` -> ``sevennet``), refuses
unknown names, and makes a relative checkpoint path absolute against the directory of
the file that names it (pydantic context ``base_dir``; the working directory when a
command-line option or Python code names it). Inside the program a potential is a
frozen :class:`PotentialSpec`; jobs never resolve paths again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sse_flows.potentials.catalog import get_family
from sse_flows.potentials.family import EnergyReference, PotentialFamily

Device = Literal["auto", "cpu", "cuda"]

#: the potential used when none is named
DEFAULT_POTENTIAL_NAME = "chgnet"


class PotentialSpec(BaseModel):
    """A potential as asked for; the registry turns it into a calculator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Family name: chgnet, sevennet, mace, emt, ...")
    checkpoint: str | None = Field(
        None,
        description="Checkpoint name known to the family, a path to weights, or the "
        "import path of an ASE calculator (family 'calculator').",
    )
    device: Device | None = Field(
        None, description="auto, cpu or cuda; None takes SSE_FLOWS_DEVICE."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Family-specific options (e.g. SevenNet modal)."
    )
    energy_reference: EnergyReference | None = Field(
        None,
        description="Label scheme of the model's training energies when it differs from "
        "what the family knows (a fine-tuned checkpoint, a user's DeePMD model).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        """Accept 'name[:checkpoint]', and 'artifact:<uuid or model.json>'."""
        if isinstance(value, str):
            name, _, checkpoint = value.strip().partition(":")
            value = {"name": name, "checkpoint": checkpoint.strip() or None}
        if isinstance(value, dict) and str(value.get("name", "")).lower() == "artifact":
            from sse_flows.potentials.artifacts import resolve_artifact

            if not value.get("checkpoint"):
                raise ValueError("artifact: needs a job uuid or a model.json path")
            return {**value, **resolve_artifact(str(value["checkpoint"]))}
        return value

    @field_validator("name")
    @classmethod
    def _family_name(cls, name: str) -> str:
        """Aliases become the family name; an unknown name is refused here."""
        return family_of(name).name

    @model_validator(mode="after")
    def _absolute_checkpoint(self, info: ValidationInfo) -> PotentialSpec:
        """Make a relative checkpoint path absolute against the naming file's folder."""
        checkpoint = self.checkpoint
        if not checkpoint or not self.family.is_path(checkpoint):
            return self
        path = Path(checkpoint).expanduser()
        if path.is_absolute():
            return self if str(path) == checkpoint else self._with_checkpoint(path)
        base = (info.context or {}).get("base_dir") if info.context else None
        return self._with_checkpoint(Path(base or Path.cwd()) / path)

    def _with_checkpoint(self, path: Path) -> PotentialSpec:
        object.__setattr__(self, "checkpoint", str(path))
        return self

    @classmethod
    def parse(
        cls, value: PotentialSpec | str | dict[str, Any], base_dir: Path | None = None
    ) -> PotentialSpec:
        """Parse a spec, a dict or 'name[:checkpoint]' (a spec passes through)."""
        if isinstance(value, PotentialSpec):
            return value
        context = {"base_dir": base_dir} if base_dir is not None else None
        return cls.model_validate(value, context=context)

    def as_dict(self) -> dict[str, Any]:
        """Return the MSONable form (``@module``, ``@class`` and the fields).

        jobflow serialises makers with monty, which reads pydantic models; FireWorks
        calls ``as_dict`` on whatever it meets (else it keeps ``str(obj)``).
        """
        return {
            "@module": type(self).__module__,
            "@class": type(self).__name__,
            **self.model_dump(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PotentialSpec:
        """Rebuild from :meth:`as_dict` (monty's decoder calls this)."""
        return cls.model_validate({k: v for k, v in data.items() if not k.startswith("@")})

    @property
    def family(self) -> PotentialFamily:
        """The model family of this potential."""
        return family_of(self.name)

    @property
    def resolved_energy_reference(self) -> EnergyReference:
        """The stated energy scale, else the one the family knows for the checkpoint."""
        return self.energy_reference or self.family.energy_reference(
            self.checkpoint, self.options
        )

    def label(self) -> str:
        """Return 'name' or 'name:checkpoint': a string every command accepts."""
        return f"{self.name}:{self.checkpoint}" if self.checkpoint else self.name


def family_of(name: str) -> PotentialFamily:
    """Return the family of a name or alias."""
    return get_family(name)


def default_potential() -> PotentialSpec:
    """Return the potential used when none is named (CHGNet 0.3.0: weights ship)."""
    return PotentialSpec(name=DEFAULT_POTENTIAL_NAME)


def optional_potential(
    value: PotentialSpec | str | dict[str, Any] | None,
) -> PotentialSpec | None:
    """Parse a potential that may be absent ('none' or None: no potential)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return PotentialSpec.parse(value)
