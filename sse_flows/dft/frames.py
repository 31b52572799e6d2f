"""Frames to label, from the files an active-learning loop has: MD runs and datasets."""

from __future__ import annotations

from pathlib import Path

from pymatgen.core import Structure

from sse_flows.errors import StructureInputError


def read_frames(path: Path, every: int = 1) -> list[Structure]:
    """Read the frames of a file, taking every ``every``-th.

    The file is an sse-flows MD trajectory (.h5), any multi-frame file ASE reads
    (extxyz, traj, XDATCAR...), or one structure file (CIF, POSCAR).
    """
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    from sse_flows.md.trajectory import read_trajectory
    from sse_flows.structures import read_structure

    if not path.is_file():
        raise StructureInputError(f"{path}: no such file")
    if path.suffix in (".h5", ".hdf5"):
        trajectory = read_trajectory(path)
        images = [trajectory.atoms(i) for i in range(0, len(trajectory), every)]
    elif path.suffix in (".cif", ".vasp") or path.name.startswith(("POSCAR", "CONTCAR")):
        return [read_structure(path)]
    else:
        try:
            read_back = read(path, index=f"::{every}")
        except Exception as exc:
            raise StructureInputError(f"{path}: cannot read frames ({exc})") from exc
        images = read_back if isinstance(read_back, list) else [read_back]
    for atoms in images:
        atoms.wrap()
    return [AseAtomsAdaptor.get_structure(atoms) for atoms in images]
