"""Pure calculations on ASE ``Atoms`` with a calculator and typed settings (no jobflow).

Each function here is what one job computes; the makers are thin ``@job`` wrappers
that load the potential, call one of these and build the document. Anything that
needs the same physics (a relaxation inside an elastic job, a candidate's relaxation
in the ordering flow) calls the function, never another maker's job.
"""

from sse_flows.calc.elastic import ElasticResult, ElasticSettings, elastic_tensor
from sse_flows.calc.eos import EOSResult, EOSSettings, equation_of_state
from sse_flows.calc.relax import RelaxResult, RelaxSettings, relax
from sse_flows.calc.static import StaticResult, static

__all__ = [
    "EOSResult",
    "EOSSettings",
    "ElasticResult",
    "ElasticSettings",
    "RelaxResult",
    "RelaxSettings",
    "StaticResult",
    "elastic_tensor",
    "equation_of_state",
    "relax",
    "static",
]
