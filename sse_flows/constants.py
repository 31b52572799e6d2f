"""Physical constants and unit conversions, defined once for the whole package.

Values are CODATA 2018, the set ASE uses, so numbers agree with ASE's ``units``.
"""

from __future__ import annotations

from ase import units

#: Boltzmann constant in eV/K
KB_EV: float = float(units.kB)
#: Boltzmann constant in J/K (exact since 2019)
KB_J: float = 1.380649e-23
#: Elementary charge in C (exact since 2019)
ELEMENTARY_CHARGE: float = 1.602176634e-19
#: 1 GPa in eV/A^3 (divide an ASE stress by it to get GPa)
GPA: float = float(units.GPa)
#: 1 A^2/fs in cm^2/s ((1e-8 cm)^2 / 1e-15 s)
A2_PER_FS_TO_CM2_PER_S: float = 0.1
#: 1 Hartree/bohr in eV/A
HARTREE_PER_BOHR_IN_EV_PER_A: float = 27.211386245988 / 0.529177210903
