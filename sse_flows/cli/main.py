"""The ``sse-flows`` command line: the app with every command module registered.

Each command module registers its commands on :data:`sse_flows.cli.app.app` when
imported; nothing imports this module but the entry points.
"""

from __future__ import annotations

from sse_flows.cli import (  # noqa: F401  (each module registers its commands)
    analyze,
    benchmark,
    catalog,
    cluster,
    elastic,
    env,
    evaluate,
    label,
    neb,
    order,
    query,
    stability,
    store,
    table,
    train,
)
from sse_flows.cli.app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    """Entry point for ``sse-flows`` and ``python -m sse_flows``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
