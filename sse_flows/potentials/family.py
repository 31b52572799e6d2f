"""The interface every model family implements: weights, build, coverage, energy scale.

A family is one Python package behind one kind of calculator (CHGNet, MACE, ...). The
registry asks it, in order: is the package installed, where are a checkpoint's weights
on disk, how to build a calculator, which elements it covers and on which energy scale
its training labels were. A third-party family subclasses :class:`PotentialFamily`
and registers an instance under the ``sse_flows.potentials`` entry-point group.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from sse_flows.settings import SSEFlowsSettings

if TYPE_CHECKING:
    from sse_flows.potentials.batch import BatchPredictor

#: The label scheme of a model's training energies, which decides corrections:
#: ``mp2020-corrected`` learned MP2020-compatible energies (anion and GGA/GGA+U
#: corrections already in, e.g. CHGNet); ``raw-pbe`` learned raw MP-compatible
#: PBE(+U) energies, to which MP2020 anion corrections apply; ``raw-pbe-omat24`` raw
#: PBE(+U) at OMat24 settings (OMat24's own corrections, not MP2020's);
#: ``raw-pbe-no-u`` raw PBE without U (MatPES: MP2020 does not fit);
#: ``raw-r2scan`` raw r2SCAN; ``none`` not a DFT model (EMT); ``unknown``.
EnergyReference = Literal[
    "mp2020-corrected",
    "raw-pbe",
    "raw-pbe-omat24",
    "raw-pbe-no-u",
    "raw-r2scan",
    "none",
    "unknown",
]
ENERGY_REFERENCES: tuple[str, ...] = EnergyReference.__args__  # type: ignore[attr-defined]

# Training sets of the universal potentials (MPtrj, Alexandria, OMat24) span H..Pu.
Z_UP_TO_PU = frozenset(chemical_symbols[1:95])


def package_dir(module: str) -> Path | None:
    """Return the directory of an installed package without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


#: what the worker of an environment imports besides the model's package
WORKER_PACKAGES = ("numpy", "ase", "pydantic", "pydantic-settings", "pyyaml")
#: the torch every environment is built against (the CPU build sse-flows tests with;
#: without it pip resolves a newer torch and its CUDA wheels)
TORCH_PIN = "torch==2.13.0"


@dataclass(frozen=True)
class BuildStep:
    """One step of building an environment: ``python -m pip ARGS`` in it.

    ``env`` adds environment variables; the environment's ``bin`` is always first on
    PATH (build tools installed by an earlier step, such as ninja, are found there).
    """

    name: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FamilyEnvironment:
    """A Python environment of its own that a family needs (packages it cannot share).

    Jobs of such a family run their model in a worker process in that environment
    (:mod:`sse_flows.potentials.proxy`); the cluster code derives the worker's venv
    from here, not from the family's name. ``packages`` are installed in one pip step
    with :data:`WORKER_PACKAGES` under :data:`TORCH_PIN`, then ``steps`` run in order;
    ``imports`` are what ``sse-flows env check`` imports.
    """

    name: str
    reason: str
    packages: tuple[str, ...] = field(default_factory=tuple)
    steps: tuple[BuildStep, ...] = field(default_factory=tuple)
    imports: tuple[str, ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """Hash of everything that decides the build (a change rebuilds the env)."""
        text = repr((self.packages, self.steps, self.imports, WORKER_PACKAGES, TORCH_PIN))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class PotentialFamily:
    """One model family. Subclasses set the class attributes and implement ``build``.

    ``candidates`` lists where a named checkpoint may lie on disk (first existing one
    wins); it never calls a package's download function, which on an offline machine
    hangs for half a minute before failing.
    """

    name: ClassVar[str]
    package: ClassVar[str]  # distribution, for versions
    module: ClassVar[str]  # import name, for installed()
    extra: ClassVar[str]  # sse-flows extra that installs it ("" if none)
    description: ClassVar[str]
    default_checkpoint: ClassVar[str | None] = None
    known_checkpoints: ClassVar[tuple[str, ...]] = ()
    checkpoint_suffixes: ClassVar[tuple[str, ...]] = ()
    needs_torch: ClassVar[bool] = True
    notes: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    #: energy scale of the default checkpoint and of checkpoints not listed below
    default_energy_reference: ClassVar[EnergyReference] = "unknown"
    #: per named checkpoint, where it differs from the default
    checkpoint_energy_references: ClassVar[dict[str, EnergyReference]] = {}
    #: where the energy scale is documented (shown with the corrections decision)
    energy_reference_source: ClassVar[str] = ""
    #: known-harmless warnings (names of :data:`sse_flows.quiet.KNOWN`) that the
    #: package raises while loading or evaluating; silenced around those calls only
    harmless_warnings: ClassVar[tuple[str, ...]] = ()
    #: the family's trainer as "module:Class" (see sse_flows.training.trainer), and
    #: the environment it runs in when it cannot share the main one
    trainer: ClassVar[str | None] = None
    environment: ClassVar[FamilyEnvironment | None] = None

    def installed(self) -> bool:
        """Return whether the family's package can be imported."""
        return importlib.util.find_spec(self.module) is not None

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """Where a named checkpoint's weights may be on disk."""
        return []

    def needs_weights(self) -> bool:
        """Whether a checkpoint (name or file) is required to build a calculator."""
        return True

    def is_path(self, checkpoint: str) -> bool:
        """Whether a checkpoint value names a file rather than a known checkpoint."""
        suffix = Path(checkpoint).suffix
        return "/" in checkpoint or suffix in self.checkpoint_suffixes

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """Return the calculator; import the package here, not at module level."""
        raise NotImplementedError

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """Return the elements the model was trained on (H..Pu for universal models)."""
        return Z_UP_TO_PU

    def energy_reference(
        self, checkpoint: str | None, options: dict[str, Any]
    ) -> EnergyReference:
        """Return the label scheme of a checkpoint's training energies.

        A checkpoint file (a fine-tuned model, say) learned whatever its labels were:
        ``unknown`` unless the potential spec states it (``energy_reference``).
        """
        if checkpoint and self.is_path(checkpoint):
            return "unknown"
        key = checkpoint or self.default_checkpoint or ""
        return self.checkpoint_energy_references.get(key, self.default_energy_reference)

    def batch_predictor(
        self, calculator: Calculator, batch_size: int | None
    ) -> BatchPredictor | None:
        """Return a predictor that evaluates many frames per model call, if any.

        None (the default) when the family has no batched path or ``calculator`` is
        not this family's; the caller then runs the calculator frame by frame.
        """
        return None

    def package_version_name(self, checkpoint: str | None) -> str:
        """Distribution whose version goes into provenance."""
        return self.package
