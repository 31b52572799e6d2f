"""Transport analysis of MD trajectories: usable on its own, on any file ASE reads."""

from sse_flows.analysis.data import (
    MDData,
    TrajectoryInputError,
    load_md,
    remove_drift,
    unwrap,
)

__all__ = ["MDData", "TrajectoryInputError", "load_md", "remove_drift", "unwrap"]
