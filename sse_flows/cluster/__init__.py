"""Submission to SLURM through jobflow-remote: project files, job routing, states."""

from sse_flows.cluster.project import (
    ClusterPlan,
    SlurmWorkerPlan,
    build_project,
    write_project,
)
from sse_flows.cluster.routing import JobRole, job_role, route_flow
from sse_flows.cluster.submit import ClusterJobState, Submission, flow_states, submit

__all__ = [
    "ClusterJobState",
    "ClusterPlan",
    "JobRole",
    "SlurmWorkerPlan",
    "Submission",
    "build_project",
    "flow_states",
    "job_role",
    "route_flow",
    "submit",
    "write_project",
]
