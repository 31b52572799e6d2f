"""Flow makers: compositions of job makers."""

from sse_flows.flows.conductivity import ConductivityMaker
from sse_flows.flows.relax_md import RelaxMDMaker

__all__ = ["ConductivityMaker", "RelaxMDMaker"]
