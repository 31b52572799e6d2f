"""VASP backend: pymatgen input sets, custodian with atomate2's handlers, Vasprun.

The job runs the pieces atomate2's VASP makers run (``write_vasp_input_set``, then
``run_vasp``: custodian with atomate2's default error handlers and validators) and
reads ``vasprun.xml`` with pymatgen. The input set is a pymatgen set named by the
preset: atomate2's own static set is PBEsol, while labels for fine-tuning the
foundation models must match the Materials Project's PBE(+U) set (``MPStaticSet``).
atomate2's ``~/.atomate2.yaml`` INCAR updates are not applied: a preset alone fixes
the settings, so labels made on two clusters agree.

Every preset is turned into a static labeling run (NSW = 0, IBRION = -1, ISIF = 2 so
VASP computes the stress; no WAVECAR, CHGCAR or volumetric files). The input set
sorts atoms by electronegativity; forces are put back in the frame's site order.
"""

from __future__ import annotations

import gzip
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Element, Structure

from sse_flows.dft.custodian_support import (
    custodian_kwargs,
    label_in_steps,
    read_corrections,
)
from sse_flows.dft.labels import DftSettingsRecord, LabeledFrame
from sse_flows.dft.presets import DftPreset, DftPresetError
from sse_flows.dft.sites import match_sites, to_frame_order
from sse_flows.errors import SSEFlowsError
from sse_flows.settings import get_settings

#: INCAR tags every labeling run has: a single point with the stress computed
STATIC_TAGS: dict[str, Any] = {"NSW": 0, "IBRION": -1, "ISIF": 2}
#: outputs a labeling run does not need (large files); a preset may turn one back on
OFF_BY_DEFAULT: dict[str, Any] = {
    "LWAVE": False,
    "LCHARG": False,
    "LAECHG": None,
    "LVHAR": None,
    "LVTOT": None,
    "LELF": None,
    "LORBIT": None,
}
LARGE_OUTPUTS = (
    "WAVECAR",
    "CHGCAR",
    "CHG",
    "LOCPOT",
    "ELFCAR",
    "AECCAR0",
    "AECCAR1",
    "AECCAR2",
    "PROCAR",
    "DOSCAR",
    "EIGENVAL",
    "WAVEDER",
    "vaspout.h5",
)
KBAR_IN_GPA = 0.1

#: Write POTCAR.spec (symbols) instead of POTCAR. Off in production; the tests turn
#: it on, as atomate2's mock_vasp does, because POTCARs are licensed and absent there.
POTCAR_SPEC_ONLY = False


class VaspNotAvailableError(SSEFlowsError):
    """VASP, or a POTCAR for an element, is not available."""


class VaspSettings(BaseModel):
    """The ``settings`` block of a VASP preset."""

    input_set: str = Field(
        "MPStaticSet",
        description="Class in pymatgen.io.vasp.sets the inputs start from "
        "(MPStaticSet: Materials Project PBE(+U); MPScanStaticSet: PBE_54 POTCARs).",
    )
    incar: dict[str, Any] = Field(
        default_factory=dict,
        description="INCAR tags over the set's (null removes a tag). NSW, IBRION and "
        "ISIF are fixed by the labeling job.",
    )
    reciprocal_density: int | None = Field(
        None,
        description="k-points per reciprocal volume (KPOINTS file); leave out when "
        "the INCAR sets KSPACING.",
    )
    potcar_functional: str | None = Field(
        None, description="POTCAR set (PBE, PBE_54, PBE_64); None: the input set's."
    )
    potcar: dict[str, str] = Field(
        default_factory=dict, description="POTCAR per element over the set's choice."
    )
    max_errors: int = Field(5, description="custodian corrections before a frame fails.")


def vasp_settings(preset: DftPreset) -> VaspSettings:
    """Validate a preset's settings block for VASP."""
    if preset.code != "vasp":
        raise DftPresetError(f"preset {preset.name} is for {preset.code}, not vasp")
    settings = VaspSettings.model_validate(preset.settings)
    fixed = {k: v for k, v in settings.incar.items() if k.upper() in STATIC_TAGS}
    if any(STATIC_TAGS[k.upper()] != v for k, v in fixed.items()):
        raise DftPresetError(
            f"preset {preset.name} sets {fixed}: labeling runs are single points "
            f"({STATIC_TAGS}); remove these tags."
        )
    if settings.reciprocal_density and settings.incar.get("KSPACING"):
        raise DftPresetError(
            f"preset {preset.name} sets both KSPACING and reciprocal_density: keep one."
        )
    return settings


def input_generator(preset: DftPreset) -> Any:
    """Return the pymatgen input set of a preset, with the labeling run's fixed tags."""
    from pymatgen.io.vasp import sets

    settings = vasp_settings(preset)
    generator_class = getattr(sets, settings.input_set, None)
    if not (
        isinstance(generator_class, type) and issubclass(generator_class, sets.VaspInputSet)
    ):
        raise DftPresetError(
            f"preset {preset.name}: {settings.input_set!r} is not a VASP input set "
            "in pymatgen.io.vasp.sets (e.g. MPStaticSet, MPScanStaticSet)."
        )
    incar = {**OFF_BY_DEFAULT, **settings.incar, **STATIC_TAGS}
    kwargs: dict[str, Any] = {
        "user_incar_settings": incar,
        "user_potcar_settings": settings.potcar or None,
        "user_potcar_functional": settings.potcar_functional,
    }
    if settings.reciprocal_density:
        kwargs["user_kpoints_settings"] = {
            "reciprocal_density": settings.reciprocal_density
        }
    return generator_class(**kwargs)


def potcar_choices(preset: DftPreset, elements: Sequence[str]) -> dict[str, str]:
    """POTCAR symbol per element for this preset; an element without one is an error."""
    generator = input_generator(preset)
    table = {**generator.config_dict.get("POTCAR", {}), **vasp_settings(preset).potcar}
    chosen = {}
    for element in sorted(set(elements)):
        Element(element)
        symbol = table.get(element)
        if symbol is None:
            raise VaspNotAvailableError(
                f"preset {preset.name} has no POTCAR for {element}: add "
                f"settings.potcar.{element} (e.g. {element}_pv) to the preset."
            )
        chosen[element] = symbol
    return chosen


def vasp_command() -> str:
    """Return the VASP command from the settings."""
    return get_settings().vasp_cmd


def check_potcars(preset: DftPreset, elements: Sequence[str]) -> dict[str, dict]:
    """Each element's POTCAR title and hash; fails if a POTCAR is not installed."""
    from pymatgen.io.vasp.inputs import PotcarSingle

    functional = input_generator(preset).potcar_functional
    found = {}
    for element, symbol in potcar_choices(preset, elements).items():
        try:
            potcar = PotcarSingle.from_symbol_and_functional(symbol, functional)
        except (OSError, ValueError, RuntimeError) as exc:
            raise VaspNotAvailableError(
                f"POTCAR {symbol} ({functional}) for {element} not found ({exc}). "
                "Point pymatgen at your VASP POTCARs: `pmg config -p SRC DIR` and "
                "PMG_VASP_PSP_DIR=DIR."
            ) from exc
        found[element] = {
            "symbol": symbol,
            "titel": potcar.TITEL,
            "sha256": potcar.sha256_hash,
        }
    return found


def parse_output(directory: Path, structure: Structure) -> dict[str, Any]:
    """Energy (eV), forces (eV/A, frame's site order), stress (GPa, tensile +).

    VASP writes the stress in kBar with positive = compressive; it is converted here
    and nowhere else. The energy is VASP's energy(sigma->0), the one pymatgen and the
    Materials Project report.
    """
    from pymatgen.io.vasp.outputs import Vasprun

    run = Vasprun(
        str(directory / "vasprun.xml"),
        parse_dos=False,
        parse_eigen=False,
        parse_potcar_file=False,
    )
    step = run.ionic_steps[-1]
    atoms = [(site.specie.symbol, site.coords) for site in run.initial_structure]
    forces = to_frame_order(
        np.asarray(step["forces"], dtype=float), match_sites(structure, atoms)
    )
    stress = -KBAR_IN_GPA * np.asarray(step["stress"], dtype=float)
    return {
        "energy_eV": float(run.final_energy),
        "forces_eV_A": forces.tolist(),
        "stress_GPa": stress.tolist(),
        "scf_converged": bool(run.converged_electronic),
        "n_scf_steps": len(step["electronic_steps"]),
        "code_version": run.vasp_version,
    }


def failure_reason(directory: Path, step: str, exc: Exception) -> str:
    """Say why a frame failed, in the user's terms."""
    corrections = read_corrections(directory)
    handlers = [c.handler for c in corrections]
    name = type(exc).__name__
    if name == "ValidationError":
        tail = _tail(directory / "vasp.out")
        return (
            f"VASP output failed custodian's validation ({exc}); vasprun.xml is "
            f"missing or unreadable: VASP died mid-run? Last output: {tail}"
        )
    tried = f" after {len(handlers)} custodian correction(s)" if handlers else ""
    if any(h in ("UnconvergedErrorHandler", "NonConvergingErrorHandler") for h in handlers):
        return f"SCF did not converge{tried}; custodian could not fix it ({exc})"
    errors = sorted({e for c in corrections for e in c.errors})
    if errors:
        return f"VASP error(s) {', '.join(errors)} not fixed{tried} ({exc})"
    return f"{step} failed: {name}: {exc}"


def _tail(path: Path, lines: int = 3) -> str:
    if not path.is_file():
        return "(no vasp.out)"
    return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])


def _cleanup(directory: Path) -> None:
    """Drop wavefunctions, densities and the licensed POTCAR; gzip the text outputs."""
    for name in (*LARGE_OUTPUTS, "POTCAR"):
        (directory / name).unlink(missing_ok=True)
    for name in ("vasprun.xml", "OUTCAR"):
        path = directory / name
        if path.is_file():
            with path.open("rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            path.unlink()


class VaspBackend:
    """Label frames with VASP (see the module docstring)."""

    code = "vasp"

    def check_ready(self, preset: DftPreset, elements: Sequence[str]) -> None:
        """Fail early, with what to do, if VASP or a POTCAR is missing."""
        input_generator(preset)
        potcar_choices(preset, elements)
        words = shlex.split(vasp_command())
        program = next((w for w in words if "vasp" in Path(w).name), words[-1])
        if shutil.which(program) is None and not Path(program).is_file():
            raise VaspNotAvailableError(
                f"{program} not found: VASP is not installed here. Set "
                "SSE_FLOWS_VASP_CMD (e.g. 'srun vasp_std') on a machine with VASP, "
                "or label with CP2K (--preset cp2k-pbe-small)."
            )
        if not POTCAR_SPEC_ONLY:
            check_potcars(preset, elements)

    def settings_record(
        self, preset: DftPreset, elements: Sequence[str]
    ) -> DftSettingsRecord:
        """Return the preset with the input set, INCAR and POTCARs it resolves to."""
        settings = vasp_settings(preset)
        generator = input_generator(preset)
        potcars: dict[str, Any] = (
            {e: {"symbol": s} for e, s in potcar_choices(preset, elements).items()}
            if POTCAR_SPEC_ONLY
            else check_potcars(preset, elements)
        )
        incar = {
            **generator.config_dict.get("INCAR", {}),
            **generator.user_incar_settings,
        }
        return DftSettingsRecord(
            code="vasp",
            preset=preset.name,
            functional=preset.functional,
            description=preset.description,
            settings={
                **settings.model_dump(),
                "incar": {k: v for k, v in incar.items() if v is not None},
                "potcar_functional": generator.potcar_functional,
                "resolved": {"potcars": potcars},
                "potcar_spec_only": POTCAR_SPEC_ONLY,
            },
            command=vasp_command(),
        )

    def label(
        self, structure: Structure, index: int, preset: DftPreset, directory: Path
    ) -> LabeledFrame:
        """Write, run under custodian, parse; a failure gives a failed frame."""
        from atomate2.vasp.files import write_vasp_input_set
        from atomate2.vasp.run import run_vasp

        settings = vasp_settings(preset)
        command = vasp_command()
        return label_in_steps(
            structure,
            index,
            directory,
            [
                (
                    "writing the VASP input",
                    lambda: write_vasp_input_set(
                        structure,
                        input_generator(preset),
                        directory=".",
                        apply_incar_updates=False,
                        potcar_spec=POTCAR_SPEC_ONLY,
                    ),
                ),
                (
                    "running VASP under custodian",
                    lambda: run_vasp(
                        vasp_cmd=command,
                        vasp_gamma_cmd=get_settings().vasp_gamma_cmd or command,
                        max_errors=settings.max_errors,
                        custodian_kwargs=custodian_kwargs(),
                    ),
                ),
                ("parsing vasprun.xml", lambda: parse_output(directory, structure)),
            ],
            failure_reason,
            _cleanup,
        )


BACKEND = VaspBackend()
