"""Resolve a potential to an ASE calculator, with checks and provenance.

The order of checks is the order of what a user must fix: a known name, an installed
package, weights on disk, a usable device, then elements covered by the model.

Which families exist is :mod:`sse_flows.potentials.catalog`'s business.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.errors import (
    CheckpointNotFoundError,
    PotentialError,
    PotentialNotInstalledError,
    UnsupportedElementError,
)
from sse_flows.potentials.batch import BatchPredictor, OneByOne, WorkerBatch
from sse_flows.potentials.catalog import families
from sse_flows.potentials.family import EnergyReference, PotentialFamily
from sse_flows.potentials.spec import PotentialSpec
from sse_flows.provenance import PotentialProvenance, package_version, sha256_of
from sse_flows.quiet import harmless
from sse_flows.settings import SSEFlowsSettings, get_settings


@dataclass
class LoadedPotential:
    """A ready calculator with the facts that go into every output document."""

    spec: PotentialSpec
    family: PotentialFamily
    calculator: Calculator
    elements: frozenset[str]
    provenance: PotentialProvenance

    @property
    def energy_reference(self) -> EnergyReference:
        """The label scheme of the model's training energies."""
        return self.spec.resolved_energy_reference

    def close(self) -> None:
        """Stop the model's worker process, if it runs in another environment."""
        from sse_flows.potentials.proxy import ProxyCalculator

        if isinstance(self.calculator, ProxyCalculator):
            self.calculator.close()

    def __enter__(self) -> LoadedPotential:
        """Use as ``with load_potential(spec) as loaded:`` to stop a worker after."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the worker, if any."""
        self.close()

    def check_elements(self, symbols: Iterable[str]) -> None:
        """Raise UnsupportedElementError if any symbol is outside the model's coverage."""
        missing = sorted(set(symbols) - self.elements)
        if missing:
            raise UnsupportedElementError(
                f"Potential '{self.spec.label()}' was not trained on {', '.join(missing)}; "
                f"it covers {len(self.elements)} elements. Choose another potential "
                "(`sse-flows potentials` lists them) or fine-tune one on these elements."
            )


def install_hint(family: PotentialFamily) -> str:
    """How to install a family's package (its own environment, if it declares one)."""
    if family.environment is not None:
        return f"sse-flows env create {family.environment.name}"
    if not family.extra:
        return "pip install sse-flows"
    hint = f"pip install 'sse-flows[{family.extra}]' -c constraints.txt"
    return f"{hint} ({family.notes})" if family.notes else hint


def runs_in_environment(family: PotentialFamily) -> bool:
    """Whether the family's model runs in its own environment, through a worker.

    A family with an environment of its own whose package is also importable here
    (installed beside the others on purpose) runs in-process.
    """
    return family.environment is not None and not family.installed()


def require_installed(family: PotentialFamily) -> None:
    """Raise PotentialNotInstalledError, naming the extra or environment to install."""
    if runs_in_environment(family):
        from sse_flows.potentials.environments import require_env

        require_env(family)
        return
    if not family.installed():
        raise PotentialNotInstalledError(
            f"Potential '{family.name}' needs the Python package '{family.package}', "
            f"which is not installed. Install it with: {install_hint(family)}"
        )


def check_available(potential: PotentialSpec) -> PotentialSpec:
    """Fail fast, before any work, if a potential's package or weights are missing.

    Element coverage needs the model loaded and is checked when a job runs.
    """
    require_installed(potential.family)
    resolve_checkpoint(potential)
    return potential


def resolve_checkpoint(
    spec: PotentialSpec, settings: SSEFlowsSettings | None = None
) -> tuple[str | None, Path | None]:
    """Return (checkpoint label, weights path) without loading anything.

    A checkpoint that is a path must exist; a name must be found on disk in one of
    the family's known places. Nothing is downloaded.
    """
    settings = settings or get_settings()
    family = spec.family
    name = spec.checkpoint or family.default_checkpoint
    if not family.needs_weights():
        if family.name == "calculator" and not name:
            raise PotentialError(
                "The 'calculator' potential needs an import path: "
                "calculator:ase.calculators.lj.LennardJones"
            )
        return name, None
    if name is None:
        suffix = family.checkpoint_suffixes[0] if family.checkpoint_suffixes else ""
        raise CheckpointNotFoundError(
            f"Potential '{family.name}' needs a model file: set `checkpoint: /path/to/"
            f"model{suffix}` (or --potential {family.name}:/path/to/model{suffix})."
        )
    if family.is_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise CheckpointNotFoundError(
                f"Checkpoint file for '{family.name}' not found: {path}. Check the path."
            )
        check_file_family(family, path)
        return str(path), path.resolve()
    for candidate in family.candidates(name, settings):
        if candidate.exists():
            return name, candidate
    known = ", ".join(family.known_checkpoints) or "none"
    searched = [str(p) for p in family.candidates(name, settings)]
    where = f" Looked in: {', '.join(searched)}." if searched else ""
    raise CheckpointNotFoundError(
        f"Weights '{name}' for potential '{family.name}' are not on this machine.{where} "
        f"Known checkpoint names: {known}. Download the file on a machine with internet "
        f"access and either put it in {settings.weights_dir / family.name} or set "
        "`checkpoint: /path/to/file` in the potential spec."
    )


def check_file_family(family: PotentialFamily, path: Path) -> None:
    """Refuse a model file whose suffix another family reads and this one does not."""
    suffixes = family.checkpoint_suffixes
    if not suffixes or path.is_dir() or any(path.name.endswith(x) for x in suffixes):
        return
    owners = [
        f.name
        for f in families().values()
        if any(path.name.endswith(x) for x in f.checkpoint_suffixes)
    ]
    hint = (
        f" Files ending in {path.suffix} are read by {', '.join(owners)}: e.g. "
        f"--potential {owners[0]}:{path}."
        if owners
        else ""
    )
    raise PotentialError(
        f"{path} is not a {family.name} model file: {family.name} reads "
        f"{', '.join(suffixes)} files.{hint}"
    )


def resolve_device(requested: str | None, settings: SSEFlowsSettings | None = None) -> str:
    """Turn auto/cpu/cuda into the device a model will actually use."""
    device = requested or (settings or get_settings()).device
    if device == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
    if device == "cuda" and not has_cuda:
        raise PotentialError(
            "device 'cuda' was asked for but no CUDA device is visible to torch here; "
            "use device: cpu or auto, or run on a GPU node."
        )
    return "cuda" if has_cuda else "cpu"


_CACHE: dict[tuple[str, str | None, str, str], LoadedPotential] = {}
_CACHE_LOCK = threading.Lock()


def load_potential(
    spec: PotentialSpec,
    elements: Iterable[str] | None = None,
    settings: SSEFlowsSettings | None = None,
) -> LoadedPotential:
    """Resolve and load a potential, checking it covers ``elements``.

    Loaded models are cached per process, keyed by family, weights, device and
    options, so a flow of many jobs in one process loads each model once.
    """
    settings = settings or get_settings()
    family = spec.family
    require_installed(family)
    label, path = resolve_checkpoint(spec, settings)
    device = resolve_device(spec.device, settings) if family.needs_torch else "cpu"
    if runs_in_environment(family):  # a worker per call: the job closes it
        proxied = _build_proxy(family, spec, label, path, device, settings)
        if elements is not None:
            try:
                proxied.check_elements(elements)
            except UnsupportedElementError:
                proxied.close()
                raise
        return proxied
    key = (
        family.name,
        str(path) if path else label,
        device,
        repr(sorted(spec.options.items())),
    )
    with _CACHE_LOCK:
        loaded = _CACHE.get(key)
        if loaded is None:
            loaded = build_in_process(family, spec, label, path, device)
            _CACHE[key] = loaded
    if loaded.spec != spec:  # same model, another energy_reference statement
        loaded = LoadedPotential(
            spec=spec,
            family=family,
            calculator=loaded.calculator,
            elements=loaded.elements,
            provenance=loaded.provenance.model_copy(
                update={"energy_reference": spec.resolved_energy_reference}
            ),
        )
    if elements is not None:
        loaded.check_elements(elements)
    return loaded


@contextlib.contextmanager
def _torch_dtype_kept() -> Iterator[None]:
    """Undo changes to torch's global default dtype (MACE and ORB set it on load)."""
    torch = sys.modules.get("torch")
    dtype = torch.get_default_dtype() if torch is not None else None
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_default_dtype(dtype or torch.float32)


def _quiet_calculations(calculator: Calculator, names: tuple[str, ...]) -> None:
    """Silence the family's known-harmless warnings where they arise: in calculate."""
    if not names:
        return
    calculate = calculator.calculate

    def quiet_calculate(*args: Any, **kwargs: Any) -> Any:
        with harmless(*names):
            return calculate(*args, **kwargs)

    calculator.calculate = quiet_calculate  # type: ignore[method-assign]


def build_in_process(
    family: PotentialFamily,
    spec: PotentialSpec,
    label: str | None,
    path: Path | None,
    device: str,
) -> LoadedPotential:
    """Build the calculator in this interpreter, with its provenance.

    The registry calls it for families importable here; the worker of a family's own
    environment calls it there (:mod:`sse_flows.potentials.worker`).
    """
    try:
        with _torch_dtype_kept(), harmless(*family.harmless_warnings):
            calculator = family.build(label, path, device, dict(spec.options))
        _quiet_calculations(calculator, family.harmless_warnings)
    except (ImportError, OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        note = f" Note: {family.notes}." if family.notes else ""
        raise PotentialError(
            f"Loading potential '{spec.label()}' from {path or label} failed: "
            f"{type(exc).__name__}: {exc}.{note}{_other_family_hint(family, path)}"
        ) from exc
    package = family.package_version_name(label)
    provenance = PotentialProvenance(
        name=family.name,
        checkpoint=label,
        checkpoint_path=str(path) if path else None,
        checkpoint_sha256=sha256_of(path) if path else None,
        package=package,
        package_version=package_version(package),
        torch_version=package_version("torch") if family.needs_torch else None,
        device=device,
        options=dict(spec.options),
        energy_reference=spec.resolved_energy_reference,
    )
    return LoadedPotential(
        spec=spec,
        family=family,
        calculator=calculator,
        elements=family.elements(calculator),
        provenance=provenance,
    )


def _other_family_hint(family: PotentialFamily, path: Path | None) -> str:
    """Say which family wrote a file this family cannot read."""
    from sse_flows.potentials.sniff import guess_model_family

    owner = guess_model_family(path) if path is not None and path.is_file() else None
    if owner is None or owner == family.name:
        return ""
    return f" It looks like a {owner} model: --potential {owner}:{path}."


def _build_proxy(
    family: PotentialFamily,
    spec: PotentialSpec,
    label: str | None,
    path: Path | None,
    device: str,
    settings: SSEFlowsSettings,
) -> LoadedPotential:
    """Start a worker in the family's environment; provenance comes from the worker."""
    from sse_flows.potentials.environments import require_env
    from sse_flows.potentials.proxy import ProxyCalculator

    assert family.environment is not None
    python = require_env(family, settings)
    calculator = ProxyCalculator(
        environment=family.environment.name,
        python=python,
        spec=spec,
        checkpoint=label,
        path=path,
        device=device,
    )
    provenance = calculator.worker_provenance.model_copy(
        update={
            "energy_reference": spec.resolved_energy_reference,
            "environment": family.environment.name,
            "environment_python": str(python),
        }
    )
    return LoadedPotential(
        spec=spec,
        family=family,
        calculator=calculator,
        elements=calculator.elements,
        provenance=provenance,
    )


def clear_cache() -> None:
    """Forget loaded models (tests, or after replacing a checkpoint file)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _environment_ready(family: PotentialFamily, settings: SSEFlowsSettings) -> bool:
    if family.environment is None:
        return False
    from sse_flows.potentials.environments import env_status

    return env_status(family.environment.name, settings).ready


def _version_anywhere(family: PotentialFamily, settings: SSEFlowsSettings) -> str | None:
    """Return the package's version here, or in the family's environment."""
    version = package_version(family.package)
    if version is None and family.environment is not None:
        from sse_flows.potentials.environments import env_status

        version = env_status(family.environment.name, settings).packages.get(family.package)
    return version


@dataclass
class Availability:
    """What `sse-flows potentials` prints for one family."""

    name: str
    installed: bool
    package_version: str | None
    checkpoints: dict[str, bool]
    default_checkpoint: str | None
    description: str
    install_hint: str
    energy_reference: str


def availability(settings: SSEFlowsSettings | None = None) -> list[Availability]:
    """Report each family: package installed, and which named checkpoints are on disk."""
    settings = settings or get_settings()
    rows = []
    for family in families().values():
        installed = family.installed() or _environment_ready(family, settings)
        checkpoints = {
            name: installed and any(p.exists() for p in family.candidates(name, settings))
            for name in family.known_checkpoints
        }
        rows.append(
            Availability(
                name=family.name,
                installed=installed,
                package_version=_version_anywhere(family, settings) if installed else None,
                checkpoints=checkpoints,
                default_checkpoint=family.default_checkpoint,
                description=family.description,
                install_hint=install_hint(family),
                energy_reference=family.energy_reference(None, {}),
            )
        )
    return rows


def batch_predictor(
    calculator: Calculator, batch_size: int | None = None
) -> BatchPredictor:
    """Return the family's batched predictor for this calculator, or one by one.

    ``batch_size`` None takes the family's default (1 on a CPU); a family without a
    batched path ignores it and runs one by one.
    """
    from sse_flows.potentials.proxy import ProxyCalculator

    if isinstance(calculator, ProxyCalculator):
        return WorkerBatch(calculator, batch_size)
    for family in families().values():
        predictor = family.batch_predictor(calculator, batch_size)
        if predictor is not None:
            return predictor
    return OneByOne(calculator)
