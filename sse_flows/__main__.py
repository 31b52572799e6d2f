"""``python -m sse_flows`` runs the command line."""

from sse_flows.cli.main import app

app()
