"""What the dynamic flows (fine-tuning ramp, active learning, precision MD) share.

Each of these flows is a chain of jobs that build the next one as they run. Three
things make such a chain resumable: rebuilt jobs get the uuids of their first build
(:func:`stable_uuids`), the jobs read their flow maker back from the dict the store
holds (:func:`decode_plan`), and the flow's document job can tell a chain that failed
in this process from one whose process was killed (:data:`PROCESS`,
:func:`chain_ran_here`). :class:`ReferenceLabelMaker` labels frames with a potential
(an oracle or a teacher) and reuses its labels when run again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Maker, job
from monty.json import MontyDecoder, MontyEncoder
from pymatgen.core import Structure

from sse_flows.documents import coerce
from sse_flows.errors import SSEFlowsError
from sse_flows.makers.base import PotentialJobMaker, closes_potentials
from sse_flows.potentials.registry import batch_predictor
from sse_flows.provenance import sha256_of

#: differs in every process: tells a document job whether the chain ran in this
#: process (then it failed: say so) or in an earlier one that was killed
PROCESS = str(uuid.uuid4())


#: marks the stored output of a check that replaced itself (its chain goes on);
#: :class:`sse_flows.makers.transport.ArrheniusMaker` rebuilds a chain whose process
#: was killed from what the marker holds
UNFINISHED = "precision chain unfinished"


def chain_ran_here(chain: dict[str, Any] | None) -> bool:
    """Whether the chain whose first output is ``chain`` ran in this process."""
    return (chain or {}).get("process") == PROCESS


def decode_plan(value: Any, kind: type, what: str) -> Any:
    """Return the flow maker a job was given (a dict with its class, read back)."""
    if isinstance(value, dict):
        value = MontyDecoder().process_decoded(value)
    if not isinstance(value, kind):
        raise TypeError(
            f"the {what}'s jobs need its flow maker, not {type(value).__name__}"
        )
    return value


def as_structures(values: Sequence[Any]) -> list[Structure]:
    """Return job arguments (objects or the store's dicts) as Structures."""
    return [coerce(v, Structure) for v in values]


@dataclass
class ReferenceLabelMaker(PotentialJobMaker):
    """Label frames with a reference potential (energy, forces, stress) instead of DFT.

    The labels are written next to a note of the frames' and model's hashes; run again
    on the same frames with the same model, the job reuses them (a resumed ramp).
    Frames go through the family's batched predictor (one call per frame with every
    property otherwise: a model in a worker is asked once, not once per property).
    """

    name: str = "reference labels"

    @job
    @closes_potentials
    def make(self, frames_file: str, out_file: str) -> str:
        """Label every frame of ``frames_file``; write them to ``out_file``."""
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.io import read, write

        out = Path(out_file)
        note = out.with_suffix(".json")
        key = {"frames_sha256": sha256_of(frames_file), "potential": self.potential.label()}
        if out.exists() and note.exists() and json.loads(note.read_text()) == key:
            return str(out)
        read_back = read(frames_file, index=":")
        frames = read_back if isinstance(read_back, list) else [read_back]
        elements = sorted({s for atoms in frames for s in atoms.get_chemical_symbols()})
        loaded, _ = self.prepare_for(elements, None)
        stress = "stress" in getattr(loaded.calculator, "implemented_properties", ())
        stress = stress and all(all(atoms.pbc) for atoms in frames)
        predicted = batch_predictor(loaded.calculator).predict(frames, stress=stress)
        for atoms, result in zip(frames, predicted, strict=True):
            results: dict[str, Any] = {"energy": result.energy, "forces": result.forces}
            if result.stress is not None:
                results["stress"] = result.stress
            atoms.calc = SinglePointCalculator(atoms, **results)
        out.parent.mkdir(parents=True, exist_ok=True)
        write(str(out), frames, format="extxyz")
        note.write_text(json.dumps(key))
        return str(out)


def stable_uuids(flow: Flow, namespace: str, key: str) -> Flow:
    """Return ``flow`` with uuids derived from ``namespace`` and ``key``, not random.

    A dynamic flow rebuilt when a run is resumed then has the uuids of the first
    build, so every job finds the folder (``work_dir/<uuid>``) of its earlier attempt.
    Every job and flow uuid in ``flow`` is replaced (and every reference to one);
    references to jobs outside it are left alone. The flow is returned without an
    output: a replacement with one adds a job under its creator's uuid, and the
    runner's resume could no longer trace a failed job back to the ramp's first job.
    """
    found: list[str] = []

    def collect(item: Flow | Job) -> None:
        found.append(item.uuid)
        if isinstance(item, Flow):
            for child in item.jobs:
                collect(child)

    collect(flow)
    base = uuid.UUID(namespace)
    text = json.dumps(flow.as_dict(), cls=MontyEncoder)
    for position, old in enumerate(found):
        text = text.replace(old, str(uuid.uuid5(base, f"{key}/{position}")))
    rebuilt = Flow.from_dict(json.loads(text))
    assert isinstance(rebuilt, Flow)
    rebuilt.output = None
    return rebuilt


def is_unfinished(value: Any) -> bool:
    """Whether a stored check output is the marker of a chain that went on."""
    return isinstance(value, dict) and value.get("unfinished") == UNFINISHED


def rebuild_chain(marker: dict[str, Any]) -> Job:
    """Return the check that wrote ``marker`` again, to take its chain up from there.

    It gets the uuid of the chain's checks at the next index, so the first check's
    stored output becomes the final document as in an unbroken run. Its segments
    keep their uuids (and run directories): a finished one returns at once, a
    killed one resumes from its checkpoint.
    """
    plan = marker.get("rebuild")
    if plan is None:
        raise SSEFlowsError("this precision check's output holds no plan to rebuild it")
    maker = decode_plan(plan["maker"], Maker, "precision chain")
    again = maker.make(
        plan["segments"],
        potential=plan["potential"],
        md_job=plan["md_job"],
        history=plan["history"],
        chain=plan["chain"],
    )
    again.name = f"{maker.name} (resumed)"
    again.set_uuid(marker["uuid"])
    again.index = int(marker["index"]) + 1
    return again
