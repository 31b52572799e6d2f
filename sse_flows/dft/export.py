"""Write labeled frames as training files: extended XYZ and DeePMD npy (via dpdata).

extxyz carries the labels twice: as ASE's calculator results (``energy``, ``forces``,
``stress``: what CHGNet's and SevenNet's ASE-based loaders read) and under MACE's
``REF_energy`` / ``REF_forces`` / ``REF_stress`` keys (MACE's default
``--energy_key`` etc. since 0.3.10), so one file trains any of them. Stress is in
eV/A^3 with ASE's sign there, as those readers expect; documents keep GPa.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.units import GPa
from pymatgen.io.ase import AseAtomsAdaptor

from sse_flows.dft.labels import LabeledFrame, frame_arrays


def frame_atoms(frame: LabeledFrame) -> Atoms:
    """Return ASE Atoms with the frame's labels as single-point results (eV, eV/A^3)."""
    energy, forces, stress_gpa = frame_arrays(frame)
    atoms = AseAtomsAdaptor.get_atoms(frame.pymatgen_structure())
    stress = stress_gpa * GPa  # GPa -> eV/A^3, same (tensile +) sign as ASE
    atoms.calc = SinglePointCalculator(
        atoms, energy=energy, forces=forces, stress=_voigt(stress)
    )
    atoms.info.update(
        {"REF_energy": energy, "REF_stress": _voigt(stress), "frame_index": frame.index}
    )
    atoms.arrays["REF_forces"] = forces.copy()
    return atoms


def _voigt(stress: np.ndarray) -> np.ndarray:
    """ASE's Voigt order: xx, yy, zz, yz, xz, xy."""
    return np.array(
        [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
    )


def write_extxyz(frames: Sequence[LabeledFrame], path: Path) -> Path:
    """Write the successful frames to one extended XYZ file."""
    images = [frame_atoms(f) for f in frames if f.ok]
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, images, format="extxyz")
    return path


def write_deepmd(frames: Sequence[LabeledFrame], folder: Path) -> Path:
    """Write the successful frames as DeePMD npy systems (one per formula), via dpdata.

    dpdata converts ASE's stress to DeePMD's virial (virial = -stress x volume, eV).
    """
    import dpdata

    systems = dpdata.MultiSystems()
    for frame in frames:
        if frame.ok:
            systems.append(dpdata.LabeledSystem(frame_atoms(frame), fmt="ase/structure"))
    folder.mkdir(parents=True, exist_ok=True)
    systems.to_deepmd_npy(str(folder))  # type: ignore[attr-defined]  # plugin method
    return folder
