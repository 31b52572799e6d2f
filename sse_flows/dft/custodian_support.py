"""What every custodian-driven DFT backend shares: polling, corrections, frame runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import chdir
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from sse_flows.dft.labels import Correction, LabeledFrame
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


def label_in_steps(
    structure: Structure,
    index: int,
    directory: Path,
    steps: Sequence[tuple[str, Callable[[], Any]]],
    failure_reason: Callable[[Path, str, Exception], str],
    cleanup: Callable[[Path], None],
) -> LabeledFrame:
    """Run a frame's steps (write, run, parse) in ``directory``; never raise.

    The last step returns the parsed labels. A step that raises makes the frame
    'failed' with ``failure_reason``'s words; corrections and wall time are kept
    and ``cleanup`` runs either way.
    """
    directory.mkdir(parents=True, exist_ok=True)
    frame = LabeledFrame(
        index=index,
        status="success",
        structure=structure.as_dict(),
        formula=structure.composition.formula,
        calc_dir=str(directory),
    )
    start = time.perf_counter()
    parsed: dict[str, Any] = {}
    step = steps[0][0]
    try:
        with chdir(directory):
            for name, action in steps:
                step = name
                parsed = action() or {}
    except Exception as exc:  # one frame's failure is data, not a crash
        frame = frame.failed(failure_reason(directory, step, exc))
        parsed = {}
    finally:
        frame.wall_time_s = time.perf_counter() - start
        frame.corrections = read_corrections(directory)
        cleanup(directory)
    return frame.model_copy(update=parsed) if parsed else frame
