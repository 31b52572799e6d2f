"""A calculator whose model runs in another Python environment (a worker process).

Why a framed pipe and not ASE's socket (i-PI) protocol: i-PI fixes the atoms and
species when the client connects and carries only positions, cell, energy, forces
and virial. A job here also needs the model's elements and provenance from the other
side, errors with their messages, and frames of several compositions in one worker
(``evaluate``). The pipe needs no port or socket file, and the worker's life is tied
to the job's: it exits when its stdin closes, so a job that dies leaves no worker
behind (:mod:`sse_flows.potentials.framing`, :mod:`sse_flows.potentials.worker`).

The worker starts when the calculator is made and stops on :meth:`close` (makers
close the potentials of a job when it ends, failed or not), at garbage collection,
or at interpreter exit, whichever comes first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

import sse_flows
from sse_flows.errors import ProxyWorkerError
from sse_flows.potentials.framing import pack_array, receive, send, unpack_array
from sse_flows.potentials.spec import PotentialSpec
from sse_flows.provenance import PotentialProvenance

LOG_TAIL_LINES = 15


def _stop(process: subprocess.Popen[bytes], folder: str, log: IO[bytes]) -> None:
    """Stop the worker (politely, then by force) and remove its scratch folder."""
    if process.poll() is None:
        try:
            assert process.stdin is not None
            send(process.stdin, {"op": "stop"})
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None and not stream.closed:
            stream.close()
    log.close()
    shutil.rmtree(folder, ignore_errors=True)


class ProxyCalculator(Calculator):
    """ASE calculator forwarding every evaluation to a worker in ``python``'s env."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        environment: str,
        python: Path,
        spec: PotentialSpec,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        log_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.environment = environment
        self.python = Path(python)
        folder = tempfile.mkdtemp(prefix="sse_flows_worker_")
        # only this package on the worker's path: not the main env's site-packages
        (Path(folder) / "sse_flows").symlink_to(Path(sse_flows.__file__).parent)
        self.log_path = log_path or Path(folder) / "worker.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("VIRTUAL_ENV", "PYTHONHOME")
        }
        env.update({"PYTHONPATH": folder, "PYTHONNOUSERSITE": "1"})
        try:
            self.process = subprocess.Popen(
                [str(self.python), "-u", "-m", "sse_flows.potentials.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
            )
        except OSError as exc:
            log.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise ProxyWorkerError(
                f"Cannot start the worker of environment '{environment}' ({python}): "
                f"{exc}. run: sse-flows env create {environment} --force"
            ) from exc
        self._finalizer = weakref.finalize(self, _stop, self.process, folder, log)
        reply = self._request(
            {
                "op": "load",
                "spec": spec.model_dump(mode="json"),
                "checkpoint": checkpoint,
                "path": str(path) if path else None,
                "device": device,
            },
            loading=True,
        )
        self.elements: frozenset[str] = frozenset(reply["elements"])
        self.worker_provenance = PotentialProvenance.model_validate(reply["provenance"])

    # ------------------------------------------------------------------ protocol
    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"

    def _request(self, message: dict[str, Any], loading: bool = False) -> dict[str, Any]:
        """Send a request and return the reply; a dead worker or an error raises."""
        if not self._finalizer.alive:
            raise ProxyWorkerError(
                f"The worker of environment '{self.environment}' was already stopped."
            )
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            send(self.process.stdin, message)
            reply = receive(self.process.stdout)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            code = self.process.wait(timeout=30)
            self.close()
            raise ProxyWorkerError(
                f"The worker of environment '{self.environment}' ({self.python}) exited "
                f"with code {code} during '{message['op']}'. Its log "
                f"({self.log_path}) ends with:\n{self._log_tail()}"
            )
        if not reply.get("ok"):
            error, text = reply.get("error"), reply.get("message")
            if loading:
                self.close()
                fix = (
                    f" The environment cannot import its package: check it with "
                    f"`sse-flows env check {self.environment}` or rebuild it with "
                    f"`sse-flows env create {self.environment} --force`."
                    if {error, reply.get("cause")} & {"ImportError", "ModuleNotFoundError"}
                    else ""
                )
                raise ProxyWorkerError(
                    f"Loading the model in environment '{self.environment}' failed: "
                    f"{error}: {text}.{fix}"
                )
            raise ProxyWorkerError(
                f"The model in environment '{self.environment}' failed on "
                f"'{message['op']}': {error}: {text}"
            )
        return reply

    # ------------------------------------------------------------------ ASE
    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Evaluate in the worker; energy, forces and (periodic cells) stress."""
        super().calculate(atoms, list(properties), list(system_changes))
        assert self.atoms is not None
        wanted = [p for p in properties if p in self.implemented_properties]
        reply = self._request(
            {
                "op": "calculate",
                "numbers": pack_array(self.atoms.numbers, "int64"),
                "positions": pack_array(self.atoms.positions),
                "cell": pack_array(self.atoms.cell.array),
                "pbc": [bool(p) for p in self.atoms.pbc],
                "properties": wanted or ["energy"],
            }
        )
        results = {key: unpack_array(value) for key, value in reply["results"].items()}
        for key in ("energy", "free_energy"):
            if key in results:
                results[key] = float(results[key].reshape(-1)[0])  # type: ignore[assignment]
        self.results = results

    def predict_many(
        self, frames: Sequence[Atoms], stress: bool, batch_size: int | None
    ) -> tuple[list[dict[str, Any]], str, int]:
        """Evaluate many frames in one request; return results, path and batch size."""
        reply = self._request(
            {
                "op": "predict",
                "frames": [
                    {
                        "numbers": pack_array(atoms.numbers, "int64"),
                        "positions": pack_array(atoms.positions),
                        "cell": pack_array(atoms.cell.array),
                        "pbc": [bool(p) for p in atoms.pbc],
                    }
                    for atoms in frames
                ],
                "stress": stress,
                "batch_size": batch_size,
            }
        )
        results = [
            {
                key: value if key == "energy" else unpack_array(value)
                for key, value in result.items()
            }
            for result in reply["results"]
        ]
        return results, str(reply["path"]), int(reply["batch_size"])

    def close(self) -> None:
        """Stop the worker now (idempotent)."""
        self._finalizer()

    @property
    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self._finalizer.alive and self.process.poll() is None
