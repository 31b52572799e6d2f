"""The spec kinds, one class per ``flow`` value; :mod:`sse_flows.spec` is their face."""
