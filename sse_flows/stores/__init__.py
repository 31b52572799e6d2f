"""Where outputs go: embedded MontyStore (default), MongoDB (production), memory (tests)."""

from sse_flows.stores.factory import get_job_store, get_runs_store

__all__ = ["get_job_store", "get_runs_store"]
