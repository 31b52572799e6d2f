"""What CP2K wrote: energy, forces, stress in the frame's order, SCF steps, failures.

Units and sign are converted here, once: CP2K's forces (Ha/bohr in the output, eV/A
through pymatgen) and stress (GPa, positive = compressive) become eV/A and GPa with
the ASE sign (positive = tensile).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from sse_flows.constants import HARTREE_PER_BOHR_IN_EV_PER_A
from sse_flows.dft.custodian_support import read_corrections
from sse_flows.dft.sites import match_sites, to_frame_order

ABORT_LOCATION = re.compile(r"^\S+\.F:\d+$")
STEP_ROW = re.compile(r"^\s+(\d+)\s+[A-Za-z]")


def abort_message(output: Path) -> str | None:
    """Return the message of CP2K's [ABORT] box, if the run aborted.

    The box is ASCII art in the first 20 columns and the message to its right.
    """
    if not output.is_file():
        return None
    lines = output.read_text(errors="replace").splitlines()
    for number, line in enumerate(lines):
        if "[ABORT]" in line:
            parts = [text[20:].strip(" *") for text in lines[number - 2 : number + 6]]
            message = " ".join(p for p in parts if p and not ABORT_LOCATION.match(p))
            return message or None
    return None


def failure_reason(directory: Path, step: str, exc: Exception) -> str:
    """Say why a frame failed, in the user's terms (not only custodian's exception)."""
    output = directory / "cp2k.out"
    text = output.read_text(errors="replace") if output.is_file() else ""
    handlers = [c.handler for c in read_corrections(directory)]
    aborted = abort_message(output)
    if aborted:
        return f"CP2K aborted: {aborted}"
    if "SCF run NOT converged" in text or "UnconvergedScfErrorHandler" in handlers:
        tried = f" after {len(handlers)} custodian correction(s)" if handlers else ""
        return f"SCF did not converge{tried}; custodian could not fix it ({exc})"
    return f"{step} failed: {type(exc).__name__}: {exc}"


def cp2k_site_order(input_file: Path, structure: Structure) -> list[int]:
    """Map CP2K's atom order to the structure's: ``order[j]`` is the site of atom j.

    The input writer groups atoms by kind, so CP2K's atom j is generally not site j.
    """
    atoms, in_coord = [], False
    for line in input_file.read_text().splitlines():
        words = line.split()
        if words[:1] == ["&COORD"]:
            in_coord = True
        elif words[:2] == ["&END", "COORD"]:
            break
        elif in_coord and len(words) >= 4:
            atoms.append((words[0].split("_")[0], [float(w) for w in words[1:4]]))
    try:
        return match_sites(structure, atoms)
    except ValueError as exc:
        raise ValueError(f"{input_file}: {exc}") from exc


def parse_output(directory: Path, structure: Structure) -> dict[str, Any]:
    """Energy (eV), forces (eV/A, in the frame's site order) and stress (GPa, tensile +).

    CP2K prints forces in Hartree/bohr, in its own atom order, and the stress in GPa
    with positive = compressive; all three are converted here and nowhere else.
    """
    from pymatgen.io.cp2k.outputs import Cp2kOutput

    path = directory / "cp2k.out"
    output = Cp2kOutput(str(path), auto_load=False)
    output.ran_successfully()
    output.convergence()
    output.parse_energies()
    output.parse_forces()
    output.parse_stresses()
    forces = output.data.get("forces") or []
    stresses = output.data.get("stress_tensor") or []
    scf = output.data.get("scf_converged") or []
    force = None
    if forces:
        printed = np.asarray(forces[-1], dtype=float) * HARTREE_PER_BOHR_IN_EV_PER_A
        if printed.shape != (len(structure), 3):
            raise ValueError(
                f"parsed forces have shape {printed.shape}, expected ({len(structure)}, 3)"
            )
        order = cp2k_site_order(directory / "cp2k.inp", structure)
        force = to_frame_order(printed, order)
    stress = -np.asarray(stresses[-1], dtype=float) if stresses else None
    return {
        "energy_eV": float(output.final_energy),
        "forces_eV_A": None if force is None else force.tolist(),
        "stress_GPa": None if stress is None else stress.tolist(),
        "scf_converged": bool(scf[-1]) if scf else None,
        "n_scf_steps": scf_steps(path),
        "code_version": str(output.cp2k_version) if output.cp2k_version else None,
    }


def scf_steps(path: Path) -> int | None:
    """Count the steps of the last SCF in a CP2K output.

    pymatgen's table regex misses rows like ``Kerker/Diag.0.50E-01`` (columns touch).
    """
    steps = None
    in_table = False
    for line in path.read_text(errors="replace").splitlines():
        if "Step     Update method" in line:
            in_table, steps = True, 0
        elif in_table:
            match = STEP_ROW.match(line)
            if match:
                steps = int(match.group(1))
            elif line.strip() and not line.strip().startswith("-"):
                in_table = False
    return steps
