"""Provenance records: what ran, with which model and packages, where and when."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

import sse_flows

CORE_PACKAGES = ("sse-flows", "jobflow", "atomate2", "pymatgen", "ase", "numpy", "torch")


def package_version(distribution: str) -> str | None:
    """Return the installed version of a distribution, or None if absent."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    """Return the sha256 of a file (a directory hashes its files in sorted order)."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(sha256_of(child).encode())
        return digest.hexdigest()
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


#: batch-system variables worth keeping: which job, partition and GPUs produced a result
SCHEDULER_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_JOB_NAME",
    "SLURM_JOB_PARTITION",
    "SLURM_JOB_NODELIST",
    "SLURM_NTASKS",
    "SLURM_CPUS_PER_TASK",
    "SLURM_JOB_GPUS",
    "CUDA_VISIBLE_DEVICES",
)


def scheduler_environment() -> dict[str, str]:
    """Return the SLURM job this process runs in (empty outside a batch job)."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    return {k: os.environ[k] for k in SCHEDULER_VARIABLES if k in os.environ}


def now_utc() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class PotentialProvenance(BaseModel):
    """Which potential produced a result, precisely enough to load it again."""

    name: str = Field(description="Registry name of the potential, e.g. 'chgnet'.")
    checkpoint: str | None = Field(None, description="Checkpoint name or path asked for.")
    checkpoint_path: str | None = Field(None, description="Resolved weights file on disk.")
    checkpoint_sha256: str | None = Field(None, description="sha256 of the weights.")
    package: str = Field(description="Python distribution that implements the model.")
    package_version: str | None = Field(None, description="Its installed version.")
    torch_version: str | None = Field(None, description="Installed torch version.")
    device: str = Field(description="Device the model ran on (cpu, cuda).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Other options passed to the model (e.g. modal)."
    )
    energy_reference: str | None = Field(
        None,
        description="Label scheme of the model's training energies (mp2020-corrected, "
        "raw-pbe, ...): decides whether MP2020 corrections apply to its energies.",
    )
    environment: str | None = Field(
        None,
        description="The family's own environment the model ran in, through a worker "
        "process (None: in the job's own interpreter).",
    )
    environment_python: str | None = Field(
        None, description="Interpreter of that environment (the worker's)."
    )


class RunProvenance(BaseModel):
    """Where and when a job ran, with which software, on which resolved inputs."""

    sse_flows_version: str = Field(default=sse_flows.__version__)
    packages: dict[str, str | None] = Field(
        default_factory=dict, description="Versions of the packages that shaped the result."
    )
    python: str = Field(default_factory=platform.python_version)
    host: str = Field(default_factory=socket.gethostname)
    started_at: datetime = Field(default_factory=now_utc)
    ended_at: datetime | None = None
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Resolved maker settings of the job."
    )
    scheduler: dict[str, str] = Field(
        default_factory=scheduler_environment,
        description="SLURM job id, partition, nodes and GPUs, when run by SLURM.",
    )

    @classmethod
    def start(
        cls, inputs: dict[str, Any], extra_packages: tuple[str, ...] = ()
    ) -> RunProvenance:
        """Open a record at the start of a job."""
        names = CORE_PACKAGES + tuple(p for p in extra_packages if p not in CORE_PACKAGES)
        return cls(packages={n: package_version(n) for n in names}, inputs=inputs)

    def finish(self) -> RunProvenance:
        """Close the record at the end of a job."""
        self.ended_at = now_utc()
        return self
