"""What a SLURM cluster offers, and what its queue says about our jobs.

``cluster init`` reads the partitions and nodes (``scontrol show partition/node``) so
that its default requests fit and an impossible explicit request is refused before
anything is queued. ``submit`` reads ``squeue`` for the jobs it submitted, to show
their state and to stop at once when SLURM says a job can never start.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

#: pending reasons after which SLURM will never start the job, with what they mean
FATAL_REASONS: dict[str, str] = {
    "PartitionConfig": "the request exceeds what the partition's nodes have (CPUs, "
    "GPUs, memory)",
    "BadConstraints": "the constraints of the request cannot be satisfied",
    "PartitionNodeLimit": "more nodes than the partition allows",
    "PartitionTimeLimit": "a wall time beyond the partition's limit",
    "InvalidAccount": "an account SLURM does not know",
    "InvalidQOS": "a QOS SLURM does not know",
    "QOSMaxWallDurationPerJobLimit": "a wall time beyond the QOS limit",
    "QOSMaxCpuPerJobLimit": "more CPUs than the QOS allows",
    "QOSMaxGRESPerJob": "more GPUs than the QOS allows",
    "ReqNodeNotAvail": "a node that does not exist or is down for good",
}


@dataclass
class PartitionInfo:
    """One partition, seen through its largest node."""

    name: str
    nodes: list[str]
    cpus_per_node: int
    mem_mb_per_node: int | None
    gpus_per_node: int
    max_time: str
    max_nodes: int | None
    default: bool = False
    state: str = "UP"

    def time_allows(self, requested: str) -> bool:
        """Whether ``requested`` (D-HH:MM:SS, HH:MM:SS...) fits the partition's MaxTime."""
        if self.max_time in ("UNLIMITED", "infinite", ""):
            return True
        return minutes(requested) <= minutes(self.max_time)


@dataclass
class SlurmInfo:
    """The partitions of a reachable cluster."""

    partitions: dict[str, PartitionInfo] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)

    def gpu_partition(self) -> PartitionInfo | None:
        """Return the partition for GPU work: one named 'gpu', else one with GPU nodes."""
        if "gpu" in self.partitions:
            return self.partitions["gpu"]
        with_gpus = [p for p in self.partitions.values() if p.gpus_per_node > 0]
        return with_gpus[0] if with_gpus else None

    def cpu_partition(self) -> PartitionInfo | None:
        """Return the partition for CPU work: one named 'cpu', else the default one."""
        if "cpu" in self.partitions:
            return self.partitions["cpu"]
        defaults = [p for p in self.partitions.values() if p.default]
        return defaults[0] if defaults else next(iter(self.partitions.values()), None)


def minutes(text: str) -> float:
    """Minutes of a SLURM time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)."""
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        days = int(head)
        parts = [int(p) for p in text.split(":")]
        parts += [0] * (3 - len(parts))
        hours, mins, secs = parts
    else:
        parts = [int(p) for p in text.split(":")]
        if len(parts) == 1:
            hours, mins, secs = 0, parts[0], 0
        elif len(parts) == 2:
            hours, mins, secs = 0, parts[0], parts[1]
        else:
            hours, mins, secs = parts
    return days * 1440 + hours * 60 + mins + secs / 60


def _records(text: str) -> list[dict[str, str]]:
    """Parse ``scontrol -o`` lines of key=value pairs (values may hold spaces)."""
    records = []
    for line in text.splitlines():
        record: dict[str, str] = {}
        key = None
        for token in line.split():
            name, sep, value = token.partition("=")
            if sep and re.fullmatch(r"[A-Za-z][\w/]*", name):
                key = name
                record[key] = value
            elif key is not None:
                record[key] += " " + token
        if record:
            records.append(record)
    return records


def _gpus(gres: str) -> int:
    """GPUs of a node's Gres field ('gpu:2', 'gpu:a100:4(S:0-1)', '(null)')."""
    total = 0
    for item in gres.split(","):
        fields = item.split("(")[0].split(":")
        if fields[0] == "gpu" and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def _scontrol(*args: str) -> str | None:
    if shutil.which("scontrol") is None:
        return None
    try:
        done = subprocess.run(
            ["scontrol", *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def probe_slurm() -> SlurmInfo | None:
    """Read the cluster's partitions and nodes, or None when SLURM is not reachable."""
    partitions_text = _scontrol("show", "partition", "-o")
    nodes_text = _scontrol("show", "node", "-o")
    if partitions_text is None or nodes_text is None:
        return None
    nodes = {r["NodeName"]: r for r in _records(nodes_text) if "NodeName" in r}
    info = SlurmInfo(nodes=sorted(nodes))
    for record in _records(partitions_text):
        members = [n for n in nodes if record["PartitionName"] in nodes[n].get(
            "Partitions", "").split(",")]  # fmt: skip
        cpus = max((int(nodes[n].get("CPUTot", 0)) for n in members), default=0)
        mems = [int(nodes[n]["RealMemory"]) for n in members if nodes[n].get("RealMemory")]
        max_nodes = record.get("MaxNodes", "UNLIMITED")
        info.partitions[record["PartitionName"]] = PartitionInfo(
            name=record["PartitionName"],
            nodes=members,
            cpus_per_node=cpus,
            mem_mb_per_node=max(mems) if mems else None,
            gpus_per_node=max(
                (_gpus(nodes[n].get("Gres", "")) for n in members), default=0
            ),
            max_time=record.get("MaxTime", "UNLIMITED"),
            max_nodes=int(max_nodes) if max_nodes.isdigit() else None,
            default=record.get("Default") == "YES",
            state=record.get("State", "UP"),
        )
    return info if info.partitions else None


@dataclass
class QueueState:
    """What ``squeue`` says of one job (nothing once the job has left the queue)."""

    job_id: str
    state: str
    reason: str


def queue_states(job_ids: list[str]) -> dict[str, QueueState]:
    """Return the SLURM state and pending reason of each job still in the queue."""
    if not job_ids or shutil.which("squeue") is None:
        return {}
    done = subprocess.run(
        ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i|%T|%r"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    states = {}
    for line in done.stdout.splitlines():
        job_id, _, rest = line.partition("|")
        state, _, reason = rest.partition("|")
        states[job_id] = QueueState(job_id, state, reason)
    return states


def fatal_reason(state: QueueState, known_nodes: list[str] | None = None) -> str | None:
    """Why a pending job can never start, or None while it may still start."""
    if state.state != "PENDING":
        return None
    reason = state.reason.split(",")[0].strip()
    if reason not in FATAL_REASONS:
        return None
    if reason == "ReqNodeNotAvail" and known_nodes is not None:
        wanted = re.findall(r"UnavailableNodes:(\S+)", state.reason)
        if not wanted or all(n in known_nodes for n in wanted[0].split(",")):
            return None  # a node that exists and is only busy or reserved
    return f"{reason}: {FATAL_REASONS[reason]}"


def cancel(job_ids: list[str], wait: float = 60) -> list[str]:
    """Cancel SLURM jobs and wait until they left the queue; return those still there.

    scancel only asks: a running job stays listed (COMPLETING) until its processes are
    killed, so a caller that reports "cancelled" waits for the queue to agree.
    """
    if not job_ids or shutil.which("scancel") is None:
        return []
    subprocess.run(["scancel", *job_ids], capture_output=True, timeout=30, check=False)
    deadline = time.monotonic() + wait
    while (left := list(queue_states(job_ids))) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
