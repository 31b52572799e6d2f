"""Reading structures with errors a user can act on."""

from __future__ import annotations

import warnings
from pathlib import Path

from ase import Atoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from sse_flows.errors import DisorderedStructureError, StructureInputError


def read_structure(path: str | Path) -> Structure:
    """Read a periodic structure from any format pymatgen or ASE reads.

    Raises StructureInputError naming the file and the problem, instead of the
    parser's own traceback (pymatgen answers a broken CIF with an empty list or a
    ValueError deep in its parser).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise StructureInputError(f"Structure file not found: {path}")
    errors: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            structure = Structure.from_file(str(path))
        except Exception as exc:
            errors.append(f"pymatgen: {type(exc).__name__}: {exc}")
            try:
                from ase.io import read

                atoms = read(str(path))
                if not isinstance(atoms, Atoms) or not atoms.pbc.any():
                    raise ValueError("not a periodic structure") from None
                structure = AseAtomsAdaptor.get_structure(atoms)
            except Exception as exc2:
                errors.append(f"ase: {type(exc2).__name__}: {exc2}")
                structure = None
    if structure is None or len(structure) == 0:
        detail = "; ".join(errors) if errors else "no sites found"
        raise StructureInputError(
            f"Could not read a structure from {path} ({detail}). Check that the file is a "
            "complete CIF/POSCAR/extxyz with a cell and at least one site."
        )
    return structure


def require_ordered(structure: Structure, what: str = "this calculation") -> Structure:
    """Return the structure if every site is fully occupied by one species.

    A potential needs one element per site; partial occupancies must be resolved
    into an ordered supercell first.
    """
    if structure.is_ordered:
        return structure
    disordered = [
        f"{i}:{site.species}" for i, site in enumerate(structure) if not site.is_ordered
    ]
    shown = ", ".join(disordered[:5]) + (" ..." if len(disordered) > 5 else "")
    raise DisorderedStructureError(
        f"{what} needs an ordered cell, but {structure.composition.reduced_formula} has "
        f"{len(disordered)} partially occupied sites ({shown}). Order it first: "
        "`sse-flows order FILE --supercell a,b,c` (or sse_flows.ordering.search_orderings) "
        "ranks the symmetry-distinct ordered cells; pymatgen's "
        "OrderDisorderedStructureTransformation also works but rounds occupancies. "
        "Then pass the ordered structure."
    )


def to_atoms(structure: Structure | Atoms) -> Atoms:
    """Convert to ASE Atoms, refusing disordered structures."""
    if isinstance(structure, Atoms):
        return structure.copy()
    return AseAtomsAdaptor.get_atoms(require_ordered(structure))


def to_structure(atoms: Atoms) -> Structure:
    """Convert ASE Atoms to a pymatgen Structure (drops calculators and constraints)."""
    clean = atoms.copy()
    clean.calc = None
    clean.set_constraint()
    return AseAtomsAdaptor.get_structure(clean)


def spacegroup_symbol(structure: Structure, symprec: float = 0.01) -> str:
    """Return the space-group symbol, or 'unknown' when spglib cannot decide."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return str(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_symbol())
    except Exception:
        return "unknown"
