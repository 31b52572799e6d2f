"""The physics settings of an MD run, shared by the MD maker and the MD engine."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

Ensemble = Literal["nve", "nvt", "npt"]
Thermostat = Literal["berendsen", "langevin", "nose_hoover", "bussi", "mtk"]

ALLOWED_THERMOSTATS: dict[str, tuple[str | None, ...]] = {
    "nve": (None,),
    "nvt": ("langevin", "berendsen", "nose_hoover", "bussi"),
    "npt": ("berendsen", "mtk"),
}
DEFAULT_THERMOSTAT = {"nve": None, "nvt": "langevin", "npt": "berendsen"}


@dataclass
class MDProtocol:
    """Everything that determines an MD trajectory apart from structure and potential.

    Units: K, GPa, fs. Steps count time steps; ``sample_interval`` steps separate stored
    frames; ``checkpoint_interval`` steps separate restart points.
    """

    ensemble: Ensemble = "nvt"
    thermostat: Thermostat | None = None
    temperature: float = 300.0
    pressure_gpa: float = 0.0
    timestep_fs: float = 2.0
    equilibration_steps: int = 0
    production_steps: int = 1000
    sample_interval: int = 10
    checkpoint_interval: int = 500
    seed: int = 42
    initialize_velocities: bool = True
    taut_fs: float = 100.0
    taup_fs: float = 1000.0
    friction_per_fs: float = 0.01
    bulk_modulus_gpa: float = 30.0
    chain_length: int = 3
    npt_cell: Literal["isotropic", "anisotropic"] = "isotropic"
    fix_com: bool = True
    store_velocities: bool = False
    #: keep the driving model's forces per stored frame (a committee scores them
    #: without evaluating the driver again)
    store_forces: bool = False
    min_distance: float = 0.5
    max_temperature_factor: float = 5.0

    def __post_init__(self) -> None:
        """Fill the default thermostat and refuse settings that cannot run."""
        if self.ensemble not in ALLOWED_THERMOSTATS:
            raise ValueError(f"ensemble must be one of {list(ALLOWED_THERMOSTATS)}")
        if self.thermostat is None:
            self.thermostat = DEFAULT_THERMOSTAT[self.ensemble]  # type: ignore[assignment]
        if self.thermostat not in ALLOWED_THERMOSTATS[self.ensemble]:
            raise ValueError(
                f"thermostat '{self.thermostat}' does not fit ensemble '{self.ensemble}'; "
                f"choose one of {ALLOWED_THERMOSTATS[self.ensemble]}"
            )
        positive = {
            "timestep_fs": self.timestep_fs,
            "sample_interval": self.sample_interval,
            "checkpoint_interval": self.checkpoint_interval,
            "taut_fs": self.taut_fs,
            "taup_fs": self.taup_fs,
            "bulk_modulus_gpa": self.bulk_modulus_gpa,
        }
        for key, value in positive.items():
            if value <= 0:
                raise ValueError(f"{key} must be positive, got {value}")
        if (
            self.temperature < 0
            or self.equilibration_steps < 0
            or self.production_steps < 0
        ):
            raise ValueError("temperature and step counts must not be negative")

    @property
    def total_steps(self) -> int:
        """Equilibration plus production steps."""
        return self.equilibration_steps + self.production_steps

    def protocol_dict(self) -> dict[str, Any]:
        """Return only the protocol fields (subclasses may add others)."""
        return {k: v for k, v in asdict(self).items() if k in _PROTOCOL_FIELDS}

    def fingerprint(self, extra: dict[str, Any] | None = None) -> str:
        """Hash of everything that shapes the trajectory, to match checkpoints to runs."""
        payload = {**self.protocol_dict(), **(extra or {})}
        payload.pop("checkpoint_interval", None)  # restart spacing does not change physics
        if not payload.get("store_forces"):
            payload.pop("store_forces", None)  # runs from before the field keep their hash
        return _digest(payload)

    def physics_fingerprint(self, extra: dict[str, Any] | None = None) -> str:
        """Hash of what a continued run must share with the run it continues.

        Run lengths, velocity initialisation and what is stored per frame may differ
        between segments; ensemble, thermostat, temperature, time step, sampling and
        the potential (in ``extra``) may not.
        """
        payload = {**self.protocol_dict(), **(extra or {})}
        for key in _SEGMENT_FIELDS:
            payload.pop(key, None)
        return _digest(payload, prefix="physics/")


def _digest(payload: dict[str, Any], prefix: str = "") -> str:
    """Return a short, order-independent hash of a settings dict."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(f"{prefix}{text}".encode()).hexdigest()[:16]


_PROTOCOL_FIELDS = frozenset(MDProtocol.__dataclass_fields__)
#: fields a continuation may change (see MDProtocol.physics_fingerprint)
_SEGMENT_FIELDS = (
    "equilibration_steps",
    "production_steps",
    "checkpoint_interval",
    "initialize_velocities",
    "store_velocities",
    "store_forces",
)
