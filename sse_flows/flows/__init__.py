"""Flow makers: compositions of job makers."""

from sse_flows.flows.relax_md import RelaxMDMaker

__all__ = ["RelaxMDMaker"]
