"""Requests that fit the cluster a project is written for.

With SLURM reachable, ``cluster init`` reads its partitions: requests the user left
out are chosen to fit (at most 4 CPUs and 1 GPU per job, within a node), and a request
the user gave that no node can meet is refused with the limit it breaks. Without
SLURM (writing a project for another site) the defaults stay, unchecked, and the
output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sse_flows.cluster.slurm import PartitionInfo, SlurmInfo
from sse_flows.errors import SSEFlowsError

DEFAULT_TIME = "24:00:00"
DEFAULT_CPUS = 4  # per potential job, and MPI ranks per DFT job
DEFAULT_GPUS = 1


class RequestError(SSEFlowsError):
    """A request no node of the cluster can meet."""


@dataclass
class Requests:
    """What each worker asks SLURM for; None = choose."""

    gpu_partition: str | None = None
    gpus: int | None = None
    gpu_cpus: int | None = None
    gpu_time: str | None = None
    cpu_partition: str | None = None
    dft_ranks: int | None = None
    cpu_time: str | None = None
    notes: list[str] = field(default_factory=list)


def _partition(
    info: SlurmInfo, name: str | None, option: str, fallback: PartitionInfo | None
) -> PartitionInfo:
    if name is None:
        if fallback is None:
            raise RequestError(
                f"the cluster has no partition for this worker; give {option}"
            )
        return fallback
    if name not in info.partitions:
        raise RequestError(
            f"{option} {name}: SLURM has no such partition; it has "
            f"{', '.join(info.partitions)}"
        )
    return info.partitions[name]


def _count(
    asked: int | None,
    limit: int,
    default: int,
    option: str,
    what: str,
    where: PartitionInfo,
) -> int:
    if asked is None:
        return min(default, limit)
    if asked > limit:
        raise RequestError(
            f"{option} {asked} asks {asked} {what} per job, but the nodes of partition "
            f"'{where.name}' have {limit}: SLURM would never start such a job. Use "
            f"{option} {limit} or fewer."
        )
    return asked


def _time(asked: str | None, option: str, where: PartitionInfo) -> str:
    if asked is None:
        return DEFAULT_TIME if where.time_allows(DEFAULT_TIME) else where.max_time
    if not where.time_allows(asked):
        raise RequestError(
            f"{option} {asked} is longer than partition '{where.name}' allows "
            f"({where.max_time})."
        )
    return asked


def fit_requests(asked: Requests, info: SlurmInfo | None) -> Requests:
    """Fill the requests left out and check the ones given against the cluster."""
    if info is None:
        return Requests(
            gpu_partition=asked.gpu_partition or "gpu",
            gpus=DEFAULT_GPUS if asked.gpus is None else asked.gpus,
            gpu_cpus=asked.gpu_cpus or DEFAULT_CPUS,
            gpu_time=asked.gpu_time or DEFAULT_TIME,
            cpu_partition=asked.cpu_partition or "cpu",
            dft_ranks=asked.dft_ranks or DEFAULT_CPUS,
            cpu_time=asked.cpu_time or DEFAULT_TIME,
            notes=[
                "SLURM is not reachable from here (scontrol failed): the requests were "
                "not checked against the cluster; check partitions, CPUs and GPUs there"
            ],
        )
    gpu = _partition(
        info,
        asked.gpu_partition,
        "--gpu-partition",
        info.gpu_partition() or info.cpu_partition(),
    )
    cpu = _partition(info, asked.cpu_partition, "--cpu-partition", info.cpu_partition())
    notes = []
    if gpu.gpus_per_node == 0 and asked.gpus is None:
        notes.append(f"partition '{gpu.name}' has no GPUs: potential jobs run on its CPUs")
    fitted = Requests(
        gpu_partition=gpu.name,
        gpus=_count(asked.gpus, gpu.gpus_per_node, DEFAULT_GPUS, "--gpus", "GPUs", gpu),
        gpu_cpus=_count(
            asked.gpu_cpus, gpu.cpus_per_node, DEFAULT_CPUS, "--gpu-cpus", "CPUs", gpu
        ),
        gpu_time=_time(asked.gpu_time, "--gpu-time", gpu),
        cpu_partition=cpu.name,
        dft_ranks=_count(
            asked.dft_ranks,
            cpu.cpus_per_node,
            DEFAULT_CPUS,
            "--dft-ranks",
            "MPI ranks (CPUs)",
            cpu,
        ),
        cpu_time=_time(asked.cpu_time, "--cpu-time", cpu),
        notes=notes,
    )
    fitted.notes.append(
        "checked against SLURM: "
        + "; ".join(
            f"{p.name}: {len(p.nodes)} node(s), {p.cpus_per_node} CPUs"
            + (f", {p.gpus_per_node} GPU(s)" if p.gpus_per_node else "")
            + (f", {p.mem_mb_per_node / 1024:.0f} GB" if p.mem_mb_per_node else "")
            + f", max time {p.max_time}"
            for p in info.partitions.values()
        )
    )
    return fitted
