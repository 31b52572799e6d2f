"""The model worker: runs one family's calculator inside that family's environment.

Started by :class:`sse_flows.potentials.proxy.ProxyCalculator` as ``python -m
sse_flows.potentials.worker`` in the environment's interpreter, with only this package
on its path. It reads requests from stdin and answers on stdout (see
:mod:`sse_flows.potentials.framing`); anything a model prints goes to stderr, the
job's worker log. It exits on ``stop`` or when stdin closes, so a job that dies takes
its worker with it.

Requests: ``load`` (potential spec, checkpoint, path, device) -> elements and
provenance; ``calculate`` (numbers, positions, cell, pbc, properties) -> results;
``predict`` (many frames, stress, batch size) -> one result per frame, through the
family's batched predictor here in its environment; ``stop``.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from sse_flows.potentials.framing import pack_array, receive, send, unpack_array

RESULT_KEYS = ("energy", "free_energy", "forces", "stress")


class Worker:
    """State of one worker: the calculator and the Atoms it last evaluated."""

    def __init__(self) -> None:
        self.calculator: Calculator | None = None
        self.atoms: Atoms | None = None

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        """Build the calculator exactly as the registry does in-process."""
        from sse_flows.potentials.registry import build_in_process
        from sse_flows.potentials.spec import PotentialSpec

        spec = PotentialSpec.model_validate(request["spec"])
        path = Path(request["path"]) if request.get("path") else None
        loaded = build_in_process(
            spec.family, spec, request.get("checkpoint"), path, request["device"]
        )
        self.calculator = loaded.calculator
        return {
            "elements": sorted(loaded.elements),
            "provenance": loaded.provenance.model_dump(mode="json"),
        }

    def calculate(self, request: dict[str, Any]) -> dict[str, Any]:
        """Evaluate one configuration; reuse the Atoms when the species are the same."""
        if self.calculator is None:
            raise RuntimeError("calculate before load")
        numbers = unpack_array(request["numbers"]).astype(int)
        positions = unpack_array(request["positions"])
        cell = unpack_array(request["cell"])
        pbc = [bool(p) for p in request["pbc"]]
        same = self.atoms is not None and np.array_equal(self.atoms.numbers, numbers)
        if not same:
            self.atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
            self.atoms.calc = self.calculator
        else:
            assert self.atoms is not None
            self.atoms.set_cell(cell)
            self.atoms.set_positions(positions)
            self.atoms.pbc = pbc
        for name in request["properties"]:
            self.calculator.get_property(name, self.atoms)
        results = self.calculator.results
        return {
            "results": {
                key: pack_array(results[key]) for key in RESULT_KEYS if key in results
            }
        }

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        """Evaluate many frames in one request, batched where the family can."""
        from sse_flows.potentials.registry import batch_predictor

        if self.calculator is None:
            raise RuntimeError("predict before load")
        frames = [
            Atoms(
                numbers=unpack_array(frame["numbers"]).astype(int),
                positions=unpack_array(frame["positions"]),
                cell=unpack_array(frame["cell"]),
                pbc=[bool(p) for p in frame["pbc"]],
            )
            for frame in request["frames"]
        ]
        predictor = batch_predictor(self.calculator, request.get("batch_size"))
        results = predictor.predict(frames, stress=bool(request["stress"]))
        return {
            "path": predictor.path,
            "batch_size": predictor.batch_size,
            "results": [
                {
                    "energy": r.energy,
                    "forces": pack_array(r.forces),
                    **({"stress": pack_array(r.stress)} if r.stress is not None else {}),
                }
                for r in results
            ],
        }


def serve(requests: IO[bytes], replies: IO[bytes]) -> int:
    """Answer requests until ``stop`` or end of input; return the exit code."""
    worker = Worker()
    while True:
        request = receive(requests)
        if request is None or request.get("op") == "stop":
            if request is not None:
                send(replies, {"ok": True})
            return 0
        try:
            handler = {
                "load": worker.load,
                "calculate": worker.calculate,
                "predict": worker.predict,
            }[request["op"]]
            send(replies, {"ok": True, **handler(request)})
        except Exception as exc:  # every failure goes back to the job, named
            send(
                replies,
                {
                    "ok": False,
                    "error": type(exc).__name__,
                    "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
                    "message": str(exc),
                    "traceback": traceback.format_exc(),
                },
            )


def main() -> int:
    """Keep stdout for replies only: what models print goes to stderr."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
