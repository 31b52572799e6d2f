"""A stand-in for the VASP executable: the only part of VASP labeling the tests replace.

custodian starts it exactly like VASP (``SSE_FLOWS_VASP_CMD="python fake_vasp.py"``),
in the folder the backend wrote. It reads INCAR, KPOINTS (or KSPACING), POSCAR and
POTCAR.spec like VASP, computes energy, forces and stress with a Lennard-Jones pair
potential (ASE) in the POSCAR's atom order, and writes what VASP writes: vasprun.xml
(forces in eV/A, stress in kBar with VASP's sign, positive = compressive), OUTCAR,
OSZICAR, CONTCAR and its standard output. custodian's handlers and validators then
read those files as they would VASP's.

What goes wrong, per frame, comes from a JSON plan (``FAKE_VASP_PLAN``) keyed by the
cell volume in A^3 with two decimals: ``ok`` (default), ``converges_on_retry`` (the
first run hits NELM, the next converges), ``never_converges``, ``crash`` (VASP dies
mid-write: truncated vasprun.xml, no error message).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from ase.calculators.lj import LennardJones
from ase.units import GPa
from pymatgen.io.vasp import Incar, Kpoints, Poscar

VERSION = "6.4.2"
OFFSET_PER_ATOM = -3.0  # eV: VASP energies of these cells are negative


def behaviour(volume: float) -> str:
    """What this run should do, from the plan file."""
    plan_file = os.environ.get("FAKE_VASP_PLAN")
    if not plan_file:
        return "ok"
    plan = json.loads(Path(plan_file).read_text())
    return str(plan.get(f"{volume:.2f}", "ok"))


def labels(poscar: Poscar) -> tuple[float, np.ndarray, np.ndarray]:
    """Energy (eV), forces (eV/A) and stress (kBar, VASP sign) in POSCAR order."""
    atoms = poscar.structure.to_ase_atoms()
    atoms.calc = LennardJones(sigma=2.0, epsilon=0.05, rc=6.0, smooth=True)
    energy = atoms.get_potential_energy() + OFFSET_PER_ATOM * len(atoms)
    forces = atoms.get_forces()
    stress_vasp_kbar = -atoms.get_stress(voigt=False) / GPa * 10.0
    return float(energy), forces, stress_vasp_kbar


def kpoint_grid(incar: Incar, poscar: Poscar) -> tuple[str, list[int]]:
    """The k-point grid VASP would use: KPOINTS, or KSPACING (2 pi included)."""
    if Path("KPOINTS").is_file():
        kpoints = Kpoints.from_file("KPOINTS")
        return kpoints.style.name, [int(k) for k in kpoints.kpts[0]]
    if "KSPACING" not in incar:
        sys.exit("ERROR: no KPOINTS file and no KSPACING in INCAR")
    reciprocal = poscar.structure.lattice.reciprocal_lattice.abc
    return "Gamma", [max(1, int(np.ceil(b / incar["KSPACING"]))) for b in reciprocal]


def _v(values: np.ndarray | list[float]) -> str:
    return "<v>" + " ".join(f"{x: .8f}" for x in values) + " </v>"


def _structure_xml(poscar: Poscar, name: str | None) -> str:
    attribute = f' name="{name}"' if name else ""
    lattice = poscar.structure.lattice
    basis = "\n".join(_v(row) for row in lattice.matrix)
    rec = "\n".join(_v(row) for row in lattice.reciprocal_lattice_crystallographic.matrix)
    positions = "\n".join(_v(site.frac_coords) for site in poscar.structure)
    return (
        f'<structure{attribute}>\n<crystal>\n<varray name="basis">\n{basis}\n</varray>\n'
        f'<i name="volume"> {lattice.volume:.8f} </i>\n'
        f'<varray name="rec_basis">\n{rec}\n</varray>\n</crystal>\n'
        f'<varray name="positions">\n{positions}\n</varray>\n</structure>'
    )


def _energy_xml(energy: float) -> str:
    return (
        f'<energy>\n<i name="e_fr_energy"> {energy:.8f} </i>\n'
        f'<i name="e_wo_entrp"> {energy:.8f} </i>\n'
        f'<i name="e_0_energy"> {energy:.8f} </i>\n</energy>'
    )


def _incar_xml(incar: Incar) -> str:
    rows = []
    for key, value in incar.items():
        if isinstance(value, bool):
            rows.append(f'<i type="logical" name="{key}"> {"T" if value else "F"} </i>')
        elif isinstance(value, int):
            rows.append(f'<i type="int" name="{key}"> {value} </i>')
        elif isinstance(value, float):
            rows.append(f'<i name="{key}"> {value} </i>')
        elif isinstance(value, list):
            rows.append(f'<v name="{key}"> {" ".join(str(v) for v in value)} </v>')
        else:
            rows.append(f'<i type="string" name="{key}">{value}</i>')
    return "<incar>\n" + "\n".join(rows) + "\n</incar>"


def vasprun_xml(
    incar: Incar,
    poscar: Poscar,
    potcars: list[str],
    grid: tuple[str, list[int]],
    energies: list[float],
    forces: np.ndarray,
    stress: np.ndarray,
) -> str:
    """A vasprun.xml with the sections pymatgen, ASE and custodian read."""
    species = [str(s) for s in poscar.site_symbols]
    counts = poscar.natoms
    atoms_rows = "\n".join(
        f"<rc><c>{symbol:2s}</c><c>{species.index(symbol) + 1}</c></rc>"
        for symbol, count in zip(species, counts, strict=True)
        for _ in range(count)
    )
    type_rows = "\n".join(
        f"<rc><c>{count}</c><c>{symbol:2s}</c><c> 1.0 </c><c> 1.0 </c>"
        f"<c>  PAW_PBE {potcar} 01Jan2000</c></rc>"
        for symbol, count, potcar in zip(species, counts, potcars, strict=True)
    )
    scsteps = "\n".join(f"<scstep>\n{_energy_xml(e)}\n</scstep>" for e in energies)
    nelm = int(incar.get("NELM", 60))
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
<generator>
<i name="program" type="string">vasp </i>
<i name="version" type="string">{VERSION}  </i>
<i name="subversion" type="string">fake (sse-flows tests) </i>
<i name="platform" type="string">LinuxGNU </i>
</generator>
{_incar_xml(incar)}
<kpoints>
<generation param="{grid[0]}">
<v type="int" name="divisions"> {" ".join(str(k) for k in grid[1])} </v>
</generation>
<varray name="kpointlist">
<v> 0.0 0.0 0.0 </v>
</varray>
<varray name="weights">
<v> 1.0 </v>
</varray>
</kpoints>
<parameters>
<separator name="electronic">
<i type="int" name="NELM"> {nelm} </i>
<i type="int" name="ISPIN"> {int(incar.get("ISPIN", 1))} </i>
</separator>
<separator name="ionic">
<i type="int" name="NSW"> {int(incar.get("NSW", 0))} </i>
<i type="int" name="IBRION"> {int(incar.get("IBRION", -1))} </i>
<i type="int" name="ISIF"> {int(incar.get("ISIF", 2))} </i>
</separator>
</parameters>
<atominfo>
<atoms> {sum(counts)} </atoms>
<types> {len(species)} </types>
<array name="atoms">
<dimension dim="1">ion</dimension>
<field type="string">element</field>
<field type="int">atomtype</field>
<set>
{atoms_rows}
</set>
</array>
<array name="atomtypes">
<dimension dim="1">type</dimension>
<field type="int">atomspertype</field>
<field type="string">element</field>
<field>mass</field>
<field>valence</field>
<field type="string">pseudopotential</field>
<set>
{type_rows}
</set>
</array>
</atominfo>
{_structure_xml(poscar, "initialpos")}
<calculation>
{scsteps}
{_structure_xml(poscar, None)}
<varray name="forces">
{chr(10).join(_v(row) for row in forces)}
</varray>
<varray name="stress">
{chr(10).join(_v(row) for row in stress)}
</varray>
{_energy_xml(energies[-1])}
</calculation>
{_structure_xml(poscar, "finalpos")}
</modeling>
"""


def main() -> None:
    """Run like VASP in the current folder."""
    incar = Incar.from_file("INCAR")
    poscar = Poscar.from_file("POSCAR")
    spec = Path("POTCAR.spec")
    potcars = spec.read_text().split() if spec.is_file() else []
    if len(potcars) != len(poscar.site_symbols):
        sys.exit("ERROR: POTCAR has a different number of species than POSCAR")
    grid = kpoint_grid(incar, poscar)
    mode = behaviour(poscar.structure.volume)
    tried = Path("fake_vasp_runs")
    runs = int(tried.read_text()) + 1 if tried.is_file() else 1
    tried.write_text(str(runs))
    energy, forces, stress = labels(poscar)
    nelm = int(incar.get("NELM", 60))
    converged = mode == "ok" or (mode == "converges_on_retry" and runs > 1)
    n_steps = 12 if converged else nelm
    energies = [energy + 2.0 * 0.5**i for i in range(n_steps - 1)] + [energy]
    print(f" vasp.{VERSION} (fake) running on 1 total cores")
    print(" POSCAR found :  " + " ".join(poscar.site_symbols))
    dav = [
        f"DAV:  {i:3d}    {e: .12E}   {-(0.5**i): .5E}   {-(0.5**i): .5E}   40   0.1E+00"
        for i, e in enumerate(energies, 1)
    ]
    final = f"   1 F= {energy: .8E} E0= {energy: .8E}  d E = 0.0"
    print("\n".join([*dav, final]))
    header = "       N       E                     dE             d eps       ncg     rms"
    Path("OSZICAR").write_text("\n".join([header, *dav, final]) + "\n")
    Path("OUTCAR").write_text(
        f" vasp.{VERSION} (fake)\n"
        + "".join(
            f"----- Iteration      1(  {i:3d})  -----\n"
            f"  free energy    TOTEN  = {e:.8f} eV\n"
            for i, e in enumerate(energies, 1)
        )
        + f"  energy  without entropy= {energy:.8f}  energy(sigma->0) = {energy:.8f}\n"
        + " General timing and accounting informations for this job:\n"
    )
    Path("CONTCAR").write_text(Path("POSCAR").read_text())
    xml = vasprun_xml(incar, poscar, potcars, grid, energies, forces, stress)
    if mode == "crash":
        xml = xml[: len(xml) // 2]
    Path("vasprun.xml").write_text(xml)


if __name__ == "__main__":
    main()
