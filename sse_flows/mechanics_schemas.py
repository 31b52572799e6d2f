"""Output documents of the mechanics makers: elastic tensor and equation of state.

Units: GPa for stresses and moduli, A^3 for volumes, eV for energies. Stresses follow
the physics (and ASE) sign: positive is tensile, so C = d(stress)/d(strain) > 0.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from sse_flows.schemas import TaskOutput


class BornStability(BaseModel):
    """Mechanical (Born) stability of an elastic tensor.

    A crystal is stable when its strain energy is positive for every small strain,
    i.e. when the 6x6 Voigt matrix C is positive definite (Mouhat and Coudert, PRB 90,
    224104, 2014); the named cubic criteria are that condition spelled out.
    """

    stable: bool = Field(description="True when every eigenvalue of C is positive.")
    eigenvalues_GPa: list[float] = Field(
        description="Eigenvalues of the 6x6 Voigt matrix C in GPa, ascending."
    )
    failed: list[str] = Field(
        default_factory=list,
        description="Each failed criterion, with its value (empty when stable).",
    )


class RelaxSummary(BaseModel):
    """How the reference cell was relaxed before the strains were applied."""

    converged: bool = Field(description="Whether the relaxation reached its fmax.")
    n_steps: int = Field(description="Optimizer steps taken.")
    volume_change: float = Field(description="Relative volume change (final/initial - 1).")
    spacegroup_initial: str = Field(description="Space group before relaxation.")
    spacegroup_final: str = Field(description="Space group after relaxation.")
    settings: dict = Field(description="Settings of the relax maker that ran.")


class ElasticOutput(TaskOutput):
    """Second-order elastic tensor fitted to stress-strain data, and derived moduli.

    The tensor is in the Cartesian frame of ``structure`` (the relaxed cell as given,
    not rotated to the IEEE standard orientation).
    """

    C_ij_GPa: list[list[float]] = Field(
        description="6x6 elastic tensor in Voigt notation (engineering shear), GPa, "
        "symmetrised, in the Cartesian frame of the structure."
    )
    K_VRH_GPa: float = Field(description="Voigt-Reuss-Hill bulk modulus, GPa.")
    G_VRH_GPa: float = Field(description="Voigt-Reuss-Hill shear modulus, GPa.")
    K_Voigt_GPa: float = Field(description="Voigt bound of the bulk modulus, GPa.")
    K_Reuss_GPa: float | None = Field(
        description="Reuss bound of the bulk modulus, GPa (None if C is singular)."
    )
    G_Voigt_GPa: float = Field(description="Voigt bound of the shear modulus, GPa.")
    G_Reuss_GPa: float | None = Field(
        description="Reuss bound of the shear modulus, GPa (None if C is singular)."
    )
    E_GPa: float = Field(description="Young's modulus 9KG/(3K+G) from K_VRH, G_VRH, GPa.")
    poisson: float = Field(
        description="Isotropic Poisson ratio (3K-2G)/(6K+2G) from K_VRH, G_VRH."
    )
    born_stable: bool = Field(description="Whether C is positive definite.")
    born_failed: list[str] = Field(
        default_factory=list, description="Born criteria that failed, with values."
    )
    eigenvalues_GPa: list[float] = Field(
        description="Eigenvalues of the Voigt matrix C in GPa, ascending."
    )
    fit_residual_GPa: float = Field(
        description="RMS over all strained cells and Voigt components of observed minus "
        "fitted stress (C e + reference stress), GPa."
    )
    asymmetry_GPa: float = Field(
        description="Largest |C_ij - C_ji| of the raw fit before symmetrising, GPa."
    )
    fitting_method: str = Field(description="pymatgen fit used: 'independent'.")
    normal_strains: list[float] = Field(description="Normal strain magnitudes applied.")
    shear_strains: list[float] = Field(
        description="Engineering shear strain magnitudes (gamma = 2 e_ij) applied."
    )
    strains_voigt: list[list[float]] = Field(
        description="Green-Lagrange strain of each cell, Voigt (engineering shear)."
    )
    stresses_voigt_GPa: list[list[float]] = Field(
        description="Second Piola-Kirchhoff stress of each cell, Voigt order "
        "(xx, yy, zz, yz, xz, xy), GPa, positive = tensile."
    )
    reference_stress_GPa: list[list[float]] = Field(
        description="Stress of the unstrained reference cell, GPa (ideally ~0)."
    )
    ions_relaxed: bool = Field(description="Whether ions were relaxed in strained cells.")
    relax: RelaxSummary | None = Field(
        None, description="The relaxation of the input (None when it was not relaxed)."
    )
    warnings: list[str] = Field(default_factory=list, description="Things to check.")


class EOSOutput(TaskOutput):
    """Energy-volume curve of isotropically scaled cells and its equation-of-state fit."""

    eos_name: str = Field(description="pymatgen EOS model, e.g. 'birch_murnaghan'.")
    volume_factors: list[float] = Field(
        description="Volumes relative to the reference (relaxed) cell."
    )
    volumes_A3_per_atom: list[float] = Field(description="Cell volume per atom, A^3.")
    energies_eV_atom: list[float] = Field(description="Energy per atom, eV/atom.")
    pressures_GPa: list[float] = Field(
        description="Pressure -tr(stress)/3 of each cell from the potential, GPa."
    )
    V0_A3_per_atom: float = Field(description="Fitted equilibrium volume, A^3/atom.")
    B0_GPa: float = Field(description="Fitted bulk modulus at V0, GPa.")
    B1: float = Field(description="Fitted pressure derivative of the bulk modulus.")
    E0_eV_atom: float = Field(description="Fitted minimum energy, eV/atom.")
    fit_residual_eV_atom: float = Field(
        description="RMS of observed minus fitted energy, eV/atom."
    )
    reference_volume_A3_per_atom: float = Field(
        description="Volume per atom of the reference cell (relaxed when relaxed)."
    )
    ions_relaxed: bool = Field(description="Whether ions were relaxed in each cell.")
    relax: RelaxSummary | None = Field(
        None, description="The relaxation of the input (None when it was not relaxed)."
    )
    plot: str | None = Field(None, description="PNG of E(V) with the fit.")
    warnings: list[str] = Field(default_factory=list, description="Things to check.")
