"""One settings object, read from ``SSE_FLOWS_*`` variables and an optional YAML file.

Precedence (highest first): keyword arguments, environment variables, the YAML file
named by ``SSE_FLOWS_CONFIG_FILE`` (default ``~/.sse_flows.yaml``), field defaults.
Settings are read where a job runs (``get_settings()`` at run time), not frozen into
the job when it is made, so a flow built on a laptop uses the cluster's paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

DEFAULT_HOME = Path("~/.sse_flows")
CONFIG_FILE_ENV = "SSE_FLOWS_CONFIG_FILE"


def config_file_path() -> Path:
    """Return the YAML settings file path (it need not exist)."""
    return Path(os.environ.get(CONFIG_FILE_ENV, "~/.sse_flows.yaml")).expanduser()


class SSEFlowsSettings(BaseSettings):
    """Run-time settings of sse-flows."""

    model_config = SettingsConfigDict(
        env_prefix="SSE_FLOWS_", case_sensitive=False, extra="forbid"
    )

    store: Literal["embedded", "mongo", "memory"] = Field(
        "embedded",
        description="Which JobStore to use: embedded MontyStore (sqlite), MongoDB, memory.",
    )
    db: Path = Field(
        DEFAULT_HOME / "db",
        description="Directory of the embedded MontyStore database (env SSE_FLOWS_DB).",
    )
    work_dir: Path = Field(
        DEFAULT_HOME / "runs",
        description="Where jobs write files: MD trajectories, checkpoints, logs.",
    )
    weights_dir: Path = Field(
        DEFAULT_HOME / "weights",
        description="Also searched for model weights: <weights_dir>/<potential name>/.",
    )
    envs_dir: Path = Field(
        DEFAULT_HOME / "envs",
        description="Where `sse-flows env create` builds the Python environments of "
        "model families that cannot share the main one (env SSE_FLOWS_ENVS_DIR).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Default device for potentials when a spec does not set one."
    )
    progress: bool = Field(True, description="Show progress bars for MD runs.")
    mongo_uri: str | None = Field(
        None, description="MongoDB URI for the production store (overrides host/port)."
    )
    mongo_host: str = Field("localhost", description="MongoDB host.")
    mongo_port: int = Field(27017, description="MongoDB port.")
    mongo_database: str = Field("sse_flows", description="MongoDB database name.")
    mongo_username: str | None = Field(None, description="MongoDB user name.")
    mongo_password: str | None = Field(None, description="MongoDB password.")
    cp2k_cmd: str = Field(
        "mpirun -np 1 cp2k.psmp",
        description="Command running CP2K on the frame's input (cp2k.inp); under "
        "SLURM e.g. 'srun cp2k.psmp'. '--allow-run-as-root' is added for root.",
    )
    cp2k_data_dir: Path = Field(
        Path("/usr/share/cp2k"),
        description="CP2K's basis set and pseudopotential files (Debian cp2k-data).",
    )
    vasp_cmd: str = Field(
        "mpirun vasp_std",
        description="Command running VASP in the frame's folder, e.g. 'srun vasp_std'.",
    )
    vasp_gamma_cmd: str | None = Field(
        None,
        description="Gamma-only VASP build custodian uses for 1x1x1 Gamma k-point "
        "grids (e.g. 'srun vasp_gam'); None: vasp_cmd.",
    )
    custodian_polling_s: int = Field(
        2,
        description="Seconds between custodian's checks of a running DFT code "
        "(custodian's default, 10 s, adds up to 10 s to every small frame).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Insert the YAML file below the environment variables."""
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=config_file_path())
        return init_settings, env_settings, yaml_source

    def resolved(self) -> SSEFlowsSettings:
        """Return a copy with ``~`` expanded in every path."""
        return self.model_copy(
            update={
                "db": self.db.expanduser(),
                "work_dir": self.work_dir.expanduser(),
                "weights_dir": self.weights_dir.expanduser(),
                "envs_dir": self.envs_dir.expanduser(),
            }
        )


def get_settings(**overrides: object) -> SSEFlowsSettings:
    """Read the settings now (environment and YAML file as they are at this moment)."""
    return SSEFlowsSettings(**overrides).resolved()  # type: ignore[arg-type]
