"""Documents of the mechanics jobs: elastic tensor and equation of state.

Units: GPa for stresses and moduli, A^3 for volumes, eV for energies. Stresses follow
the physics (and ASE) sign: positive is tensile, so C = d(stress)/d(strain) > 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.calc.elastic import ElasticResult
from sse_flows.calc.eos import EOSResult
from sse_flows.calc.relax import RelaxResult, RelaxSettings
from sse_flows.documents.base import TaskOutput
from sse_flows.potentials import LoadedPotential
from sse_flows.provenance import RunProvenance
from sse_flows.structures.io import spacegroup_symbol


class RelaxSummary(BaseModel):
    """How the reference cell was relaxed before the strains were applied."""

    converged: bool = Field(description="Whether the relaxation reached its fmax.")
    n_steps: int = Field(description="Optimizer steps taken.")
    volume_change: float = Field(description="Relative volume change (final/initial - 1).")
    spacegroup_initial: str = Field(description="Space group before relaxation.")
    spacegroup_final: str = Field(description="Space group after relaxation.")
    settings: dict = Field(description="Settings of the relaxation that ran.")

    @classmethod
    def of(
        cls, result: RelaxResult | None, start: Structure, settings: RelaxSettings | None
    ) -> RelaxSummary | None:
        """Summarise a relaxation of ``start`` (None when there was none)."""
        if result is None or settings is None:
            return None
        fields = {
            f.name: getattr(settings, f.name) for f in dataclasses.fields(RelaxSettings)
        }
        return cls(
            converged=result.converged,
            n_steps=result.n_steps,
            volume_change=float(result.structure.volume / start.volume - 1.0),
            spacegroup_initial=spacegroup_symbol(start, settings.symprec),
            spacegroup_final=spacegroup_symbol(result.structure, settings.symprec),
            settings=fields,
        )


def _matrix(rows: list[list[float]]) -> list[str]:
    return ["    " + " ".join(f"{v:8.2f}" for v in row) for row in rows]


class ElasticOutput(TaskOutput):
    """Second-order elastic tensor fitted to stress-strain data, and derived moduli.

    The tensor is in the Cartesian frame of ``structure`` (the relaxed cell as given,
    not rotated to the IEEE standard orientation).
    """

    task_type: Literal["elastic"] = "elastic"
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
    fitting_method: str = Field(
        description="How C was fitted: this package's independent-strain fit or "
        "matcalc's ElasticityCalc (with its version)."
    )
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

    shown_columns: ClassVar[tuple[str, ...]] = ("K_VRH_GPa", "G_VRH_GPa")

    @classmethod
    def from_result(
        cls,
        result: ElasticResult,
        structure: Structure,
        normal_strains: list[float],
        shear_strains: list[float],
        reference_relax: RelaxSettings | None,
        ions_relaxed: bool,
        loaded: LoadedPotential,
        provenance: RunProvenance,
    ) -> ElasticOutput:
        """Build the document of an elastic calculation that started from ``structure``."""
        fit, born = result.fit, result.born
        return cls(
            **cls.fields_of(result.reference, structure, loaded, provenance),
            C_ij_GPa=fit.C.tolist(),
            **result.moduli,
            born_stable=born.stable,
            born_failed=born.failed,
            eigenvalues_GPa=born.eigenvalues_GPa,
            fit_residual_GPa=fit.residual,
            asymmetry_GPa=fit.asymmetry,
            fitting_method=result.method,
            normal_strains=[float(v) for v in normal_strains],
            shear_strains=[float(v) for v in shear_strains],
            strains_voigt=fit.strains_voigt.tolist(),
            stresses_voigt_GPa=fit.stresses_voigt.tolist(),
            reference_stress_GPa=result.reference_stress_GPa.tolist(),
            ions_relaxed=ions_relaxed,
            relax=RelaxSummary.of(result.reference_relax, structure, reference_relax),
            warnings=result.warnings,
        )

    def summary_lines(self) -> list[str]:
        """Show the tensor, moduli, Born check and warnings."""
        frame = "relaxed" if self.relax else "input"
        lines = [
            f"elastic tensor of {self.summary.formula_pretty} with {self.potential.name} "
            f"(GPa, Voigt, frame of the {frame} cell):",
            *_matrix(self.C_ij_GPa),
            f"  K_VRH = {self.K_VRH_GPa:.2f} GPa   G_VRH = {self.G_VRH_GPa:.2f} GPa   "
            f"E = {self.E_GPa:.2f} GPa   Poisson = {self.poisson:.3f}",
            f"  Born stable: {self.born_stable}   eigenvalues: "
            + ", ".join(f"{v:.1f}" for v in self.eigenvalues_GPa),
            f"  fit residual {self.fit_residual_GPa:.3f} GPa; ions relaxed in strained "
            f"cells: {self.ions_relaxed}",
        ]
        lines += [f"  failed: {f}" for f in self.born_failed]
        return lines + [f"  warning: {w}" for w in self.warnings]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Bulk and shear moduli, and whether the ions were relaxed in strained cells."""
        relaxed = output.get("ions_relaxed")
        return {
            "K_VRH_GPa": output.get("K_VRH_GPa"),
            "G_VRH_GPa": output.get("G_VRH_GPa"),
            "elastic_ions": None
            if relaxed is None
            else ("relaxed" if relaxed else "clamped"),
        }


class EOSOutput(TaskOutput):
    """Energy-volume curve of isotropically scaled cells and its equation-of-state fit."""

    task_type: Literal["eos"] = "eos"
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

    shown_columns: ClassVar[tuple[str, ...]] = ("B0_GPa", "V0_A3_per_atom")

    @classmethod
    def from_result(
        cls,
        result: EOSResult,
        structure: Structure,
        eos_name: str,
        reference_relax: RelaxSettings | None,
        ions_relaxed: bool,
        plot: str | None,
        loaded: LoadedPotential,
        provenance: RunProvenance,
    ) -> EOSOutput:
        """Build the document of an E(V) scan that started from ``structure``."""
        fit, reference = result.fit, result.reference
        return cls(
            **cls.fields_of(reference, structure, loaded, provenance),
            eos_name=eos_name,
            volume_factors=result.factors,
            volumes_A3_per_atom=result.volumes,
            energies_eV_atom=result.energies,
            pressures_GPa=result.pressures,
            V0_A3_per_atom=fit.V0,
            B0_GPa=fit.B0_GPa,
            B1=fit.B1,
            E0_eV_atom=fit.E0,
            fit_residual_eV_atom=fit.residual,
            reference_volume_A3_per_atom=reference.volume / len(reference),
            ions_relaxed=ions_relaxed,
            relax=RelaxSummary.of(result.reference_relax, structure, reference_relax),
            plot=plot,
            warnings=result.warnings,
        )

    def summary_lines(self) -> list[str]:
        """Show the fitted parameters and the fit's quality."""
        lines = [
            f"{self.eos_name} EOS of {self.summary.formula_pretty} with "
            f"{self.potential.name}:",
            f"  V0 = {self.V0_A3_per_atom:.4f} A^3/atom (reference cell "
            f"{self.reference_volume_A3_per_atom:.4f})   B0 = {self.B0_GPa:.2f} GPa   "
            f"B' = {self.B1:.2f}   E0 = {self.E0_eV_atom:.5f} eV/atom",
            f"  fit residual {1000 * self.fit_residual_eV_atom:.3f} meV/atom over "
            f"{len(self.volumes_A3_per_atom)} volumes",
        ]
        if self.plot:
            lines.append(f"  plot: {self.plot}")
        return lines + [f"  warning: {w}" for w in self.warnings]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Bulk modulus and volume at the minimum."""
        return {
            "B0_GPa": output.get("B0_GPa"),
            "V0_A3_per_atom": output.get("V0_A3_per_atom"),
        }
