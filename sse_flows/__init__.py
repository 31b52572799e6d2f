"""sse-flows: workflows for solid-state electrolytes with machine-learning potentials."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sse-flows")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
