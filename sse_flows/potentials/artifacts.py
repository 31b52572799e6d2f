"""``artifact:<ref>``: a trained model named by its document instead of its file.

``<ref>`` is the uuid of the training job (its ``trained_model`` output in the job
store) or the ``model.json`` that ``sse-flows train`` writes next to the model. Either
resolves to the family and the model file; the file's sha256 is checked against the
document, so a model overwritten since it was trained is refused, not silently used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sse_flows.errors import CheckpointNotFoundError, PotentialError

PREFIX = "artifact"


def _stored(uuid: str) -> dict[str, Any]:
    from sse_flows.stores import get_job_store

    store = get_job_store()
    store.connect()
    try:
        doc = store.query_one(
            {"uuid": uuid, "output.task_type": "trained_model"},
            properties=["output.family", "output.checkpoint", "output.sha256"],
            sort={"index": -1},
        )
    finally:
        store.close()
    if doc is None:
        raise PotentialError(
            f"artifact:{uuid}: no trained model with that job uuid in the store "
            "(`sse-flows query --property trained_model` lists them), and no such "
            "model.json file."
        )
    return dict(doc["output"])


def resolve_artifact(ref: str) -> dict[str, Any]:
    """Return the potential fields (name, checkpoint) of a trained model."""
    from sse_flows.provenance import sha256_of

    ref = ref.strip()
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "model.json"
    if path.suffix == ".json" or path.exists():
        if not path.exists():
            raise PotentialError(f"artifact:{ref}: file not found: {path}")
        record = json.loads(path.read_text())
    else:
        record = _stored(ref)
    checkpoint = Path(record["checkpoint"])
    if not checkpoint.exists():
        raise CheckpointNotFoundError(
            f"artifact:{ref}: its model file {checkpoint} is gone; copy it back or retrain."
        )
    if sha256_of(checkpoint) != record["sha256"]:
        raise PotentialError(
            f"artifact:{ref}: {checkpoint} changed since it was trained (sha256 differs "
            "from the training document); it is not the model the document describes."
        )
    return {"name": record["family"], "checkpoint": str(checkpoint)}
