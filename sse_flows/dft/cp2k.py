"""CP2K backend: atomate2 writes the input, custodian runs CP2K, pymatgen parses it.

Why not atomate2's ``StaticMaker`` end to end: its ``TaskDocument`` parser crashes on
closed-shell runs with current pymatgen (``CalculationInput.cleanup_dft`` calls
``.upper()`` on integer values), and it keeps CP2K's 100 MB k-point restart file.
So the job runs atomate2's own pieces (``write_cp2k_input_set``, ``run_cp2k`` with
custodian's CP2K handlers and validator) and reads ``cp2k.out`` with pymatgen's
``Cp2kOutput``, the parser atomate2 uses.

Basis sets and pseudopotentials are looked up by name in one named file of CP2K's
data directory and written into the frame's own BASIS and POTENTIAL files (atomate2
does that), so a name matching entries in several files cannot pick a different one;
each choice is recorded with its pymatgen hash.

custodian's ``Cp2kJob.terminate`` runs ``killall cp2k.psmp``, which would kill every
CP2K on the node; frames therefore run one at a time per node (a file lock).
"""

from __future__ import annotations

import fcntl
import gzip
import os
import shlex
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pymatgen.core import Element, Structure

from sse_flows.dft.cp2k_output import failure_reason, parse_output
from sse_flows.dft.custodian_support import (
    custodian_kwargs,
    label_in_steps,
)
from sse_flows.dft.labels import DftSettingsRecord, LabeledFrame
from sse_flows.dft.presets import DftPreset, DftPresetError
from sse_flows.errors import SSEFlowsError
from sse_flows.settings import get_settings

LOCK_FILE = Path("/tmp/sse_flows_cp2k.lock")
KEEP_PATTERNS = ("*.kp", "*.wfn", "*.wfn.bak-*", "*-RESTART.*", "*.bak*")


class Cp2kNotAvailableError(SSEFlowsError):
    """CP2K, its data files, or a basis/pseudopotential for an element is missing."""


class Cp2kSettings(BaseModel):
    """The ``settings`` block of a CP2K preset."""

    basis_file: str = Field("BASIS_MOLOPT", description="File in CP2K's data dir.")
    basis: str = Field("DZVP-MOLOPT-SR-GTH", description="Basis set name.")
    potential_file: str = Field("GTH_POTENTIALS", description="File in CP2K's data dir.")
    potential: str = Field(
        "GTH-PBE",
        description="Pseudopotential name, or a prefix: the entry with the most valence "
        "electrons (semicore) whose name starts with it, e.g. GTH-PBE -> GTH-PBE-q3 (Li).",
    )
    elements: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per-element overrides: {El: {basis: NAME, potential: NAME}}.",
    )
    xc: str = Field("PBE", description="Functional (CP2K XC_FUNCTIONAL section).")
    cutoff_Ry: float = Field(400.0, description="Plane-wave cutoff of the finest grid.")
    rel_cutoff_Ry: float = Field(50.0, description="Relative cutoff (grid mapping).")
    ngrids: int = 4
    kpoint_density: int | None = Field(
        30,
        description="k-points per reciprocal volume (pymatgen reciprocal_density); "
        "None: Gamma only.",
    )
    eps_scf: float = Field(1e-6, description="SCF convergence (Hartree).")
    max_scf: int = Field(100, description="SCF steps before CP2K gives up.")
    spin_polarized: bool = False
    smearing: bool = False
    max_errors: int = Field(3, description="custodian corrections before a frame fails.")
    input_overrides: dict[str, Any] = Field(
        default_factory=dict, description="Sections merged into the input last."
    )


def cp2k_settings(preset: DftPreset) -> Cp2kSettings:
    """Validate a preset's settings block for CP2K."""
    if preset.code != "cp2k":
        raise DftPresetError(f"preset {preset.name} is for {preset.code}, not cp2k")
    return Cp2kSettings.model_validate(preset.settings)


def cp2k_command() -> str:
    """Return the CP2K command, with mpirun's root flag when running as root."""
    command = get_settings().cp2k_cmd
    words = shlex.split(command)
    if (
        words
        and Path(words[0]).name == "mpirun"
        and os.geteuid() == 0
        and "--allow-run-as-root" not in words
    ):
        words.insert(1, "--allow-run-as-root")
    return shlex.join(words)


def _data_entries(path: Path, kind: Any) -> Iterator[Any]:
    from pymatgen.io.cp2k.utils import chunk

    for block in chunk(path.read_text()):
        try:
            entry = kind.from_str(block)
        except (ValueError, IndexError, KeyError):
            continue
        if entry.element is not None:
            entry.filename = path.name
            yield entry


def _pick(entries: list[Any], name: str, element: str, what: str, path: Path) -> Any:
    exact = [e for e in entries if e.element.symbol == element and e.name == name]
    if exact:
        return exact[0]
    prefixed = [
        e
        for e in entries
        if e.element.symbol == element and e.name and e.name.startswith(name + "-")
    ]
    if not prefixed:
        raise Cp2kNotAvailableError(
            f"No {what} {name!r} for {element} in {path}. Give one for {element} in "
            f"the preset's settings.elements, or choose another {what} file."
        )

    return max(prefixed, key=_valence)


def _valence(entry: Any) -> int:
    """Valence electrons a basis set or pseudopotential is made for (0: unknown)."""
    return int(getattr(entry.info, "electrons", None) or 0)


def basis_and_potentials(
    settings: Cp2kSettings, elements: Sequence[str], data_dir: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Basis set and pseudopotential objects per element, read from CP2K's files."""
    from pymatgen.io.cp2k.inputs import GaussianTypeOrbitalBasisSet, GthPotential

    data_dir = data_dir or get_settings().cp2k_data_dir
    chosen: dict[str, dict[str, Any]] = {}
    cache: dict[Path, list[Any]] = {}
    for element in sorted(set(elements)):
        Element(element)  # a typo in an element symbol fails here, clearly
        override = settings.elements.get(element, {})
        for role, file_name, name, kind in (
            ("basis", settings.basis_file, settings.basis, GaussianTypeOrbitalBasisSet),
            ("potential", settings.potential_file, settings.potential, GthPotential),
        ):
            path = data_dir / override.get(f"{role}_file", file_name)
            if not path.is_file():
                raise Cp2kNotAvailableError(
                    f"CP2K data file {path} is missing: install Debian's cp2k-data, or "
                    "set SSE_FLOWS_CP2K_DATA_DIR to the folder holding it."
                )
            if path not in cache:
                cache[path] = list(_data_entries(path, kind))
            entry = _pick(cache[path], override.get(role, name), element, role, path)
            chosen.setdefault(element, {})[role] = entry
        basis, potential = chosen[element]["basis"], chosen[element]["potential"]
        if (
            _valence(basis)
            and _valence(potential)
            and _valence(basis) != _valence(potential)
        ):
            raise Cp2kNotAvailableError(
                f"{element}: basis {basis.name} is made for {_valence(basis)} valence "
                f"electrons, pseudopotential {potential.name} has {_valence(potential)}. "
                f"Pick a matching pair in the preset's settings.elements.{element}."
            )
    return chosen


def input_generator(preset: DftPreset, elements: Sequence[str]) -> Any:
    """atomate2's CP2K static input generator for this preset and these elements."""
    from atomate2.cp2k.sets.core import StaticSetGenerator

    settings = cp2k_settings(preset)
    overrides = {"FORCE_EVAL": {"DFT": {"SCF": {"MAX_SCF": settings.max_scf}}}}
    overrides = _merge(overrides, settings.input_overrides)
    config = {
        "KPOINTS": (
            {"reciprocal_density": settings.kpoint_density}
            if settings.kpoint_density
            else None
        ),
        "cp2k_input": {
            "basis_and_potential": basis_and_potentials(settings, elements),
            "xc_functionals": [settings.xc],
            "cutoff": settings.cutoff_Ry,
            "rel_cutoff": settings.rel_cutoff_Ry,
            "ngrids": settings.ngrids,
            "eps_scf": settings.eps_scf,
            "max_scf": settings.max_scf,
            "ot": False,  # k-points need diagonalisation
            "spin_polarized": settings.spin_polarized,
            "smearing": settings.smearing,
            "print_bandstructure": False,
            "print_dos": False,
            "print_pdos": False,
            "print_e_density": False,
            "print_v_hartree": False,
            "print_mo_cubes": False,
            "override_default_params": overrides,
        },
    }
    return StaticSetGenerator(config_dict=config)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@contextmanager
def node_lock() -> Iterator[None]:
    """One monitored CP2K per node: custodian's terminate kills every cp2k.psmp."""
    LOCK_FILE.touch(exist_ok=True)
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cleanup(directory: Path) -> None:
    """Drop restart files (a k-point run writes ~100 MB) and gzip the output."""
    for pattern in KEEP_PATTERNS:
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)
    output = directory / "cp2k.out"
    if output.is_file():
        with output.open("rb") as src, gzip.open(f"{output}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        output.unlink()


class Cp2kBackend:
    """Label frames with CP2K (see the module docstring)."""

    code = "cp2k"

    def check_ready(self, preset: DftPreset, elements: Sequence[str]) -> None:
        """Fail early, with what to install, if CP2K or a data entry is missing."""
        cp2k_settings(preset)
        words = shlex.split(cp2k_command())
        missing = [w for w in words if ("cp2k" in w or w == words[0]) and not _found(w)]
        if missing:
            raise Cp2kNotAvailableError(
                f"{', '.join(missing)} not found: install CP2K (Debian: apt install "
                "cp2k cp2k-data openmpi-bin) or set SSE_FLOWS_CP2K_CMD."
            )
        basis_and_potentials(cp2k_settings(preset), elements)

    def settings_record(
        self, preset: DftPreset, elements: Sequence[str]
    ) -> DftSettingsRecord:
        """Return the preset with the basis sets and potentials it resolves to."""
        settings = cp2k_settings(preset)
        chosen = basis_and_potentials(settings, elements)
        resolved = {
            element: {
                role: {
                    "name": entry.name,
                    "file": entry.filename,
                    "pymatgen_hash": entry.get_hash(),
                }
                for role, entry in entries.items()
            }
            for element, entries in chosen.items()
        }
        return DftSettingsRecord(
            code="cp2k",
            preset=preset.name,
            functional=preset.functional,
            description=preset.description,
            settings={
                **settings.model_dump(),
                "resolved": resolved,
                "data_dir": str(get_settings().cp2k_data_dir),
            },
            command=cp2k_command(),
        )

    def label(
        self, structure: Structure, index: int, preset: DftPreset, directory: Path
    ) -> LabeledFrame:
        """Write, run under custodian, parse; a failure gives a failed frame."""
        from atomate2.cp2k.files import write_cp2k_input_set
        from atomate2.cp2k.run import run_cp2k

        settings = cp2k_settings(preset)
        elements = [el.symbol for el in structure.composition.elements]

        def run() -> None:
            with node_lock():
                run_cp2k(
                    cp2k_cmd=cp2k_command(),
                    max_errors=settings.max_errors,
                    custodian_kwargs=custodian_kwargs(),
                )

        return label_in_steps(
            structure,
            index,
            directory,
            [
                (
                    "writing the CP2K input",
                    lambda: write_cp2k_input_set(
                        structure, input_generator(preset, elements), directory="."
                    ),
                ),
                ("running CP2K under custodian", run),
                ("parsing cp2k.out", lambda: parse_output(directory, structure)),
            ],
            failure_reason,
            _cleanup,
        )


def _found(word: str) -> bool:
    return shutil.which(word) is not None or Path(word).is_file()


BACKEND = Cp2kBackend()
