"""What every custodian-driven DFT backend shares: polling and the corrections log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sse_flows.dft.documents import Correction
from sse_flows.settings import get_settings

#: seconds between custodian's monitor checks (FrozenJob, StdErr handlers)
MONITOR_INTERVAL_S = 60


def custodian_kwargs() -> dict[str, Any]:
    """Custodian's polling, from the settings.

    custodian waits ``polling_time_step`` (10 s by default) between checks of the
    running code, so a 20 s calculation costs 30 s; small frames poll faster.
    Monitors still run about once a minute.
    """
    step = max(1, int(get_settings().custodian_polling_s))
    return {
        "polling_time_step": step,
        "monitor_freq": max(1, MONITOR_INTERVAL_S // step),
    }


def read_corrections(directory: Path) -> list[Correction]:
    """Return the corrections custodian logged in ``custodian.json``, in order."""
    path = directory / "custodian.json"
    if not path.is_file():
        return []
    found = []
    for run in json.loads(path.read_text()):
        for correction in run.get("corrections", []):
            handler = correction.get("handler") or {}
            found.append(
                Correction(
                    handler=str(handler.get("@class", handler))
                    if isinstance(handler, dict)
                    else str(handler),
                    errors=[str(e) for e in correction.get("errors", [])],
                    actions=list(correction.get("actions") or []),
                )
            )
    return found
