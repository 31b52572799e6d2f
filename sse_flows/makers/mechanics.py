"""Elastic tensor and equation of state: thin jobs over :mod:`sse_flows.calc`.

Both are single jobs. With a potential a strained cell costs milliseconds to
seconds, so a fan-out of one job per deformation (as atomate2 does for DFT) would
spend more time on job bookkeeping than on physics; one job also keeps the relaxed
reference, every strained cell and the fit in one consistent document, and a killed
run simply reruns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jobflow import job
from pymatgen.core import Structure

from sse_flows.calc.elastic import (
    DEFAULT_NORMAL_STRAINS,
    DEFAULT_SHEAR_STRAINS,
    ElasticSettings,
    elastic_tensor,
    ion_relax_settings,
    reference_relax_settings,
)
from sse_flows.calc.eos import (
    DEFAULT_VOLUME_FACTORS,
    EOSSettings,
    equation_of_state,
    plot_eos,
)
from sse_flows.documents import ElasticOutput, EOSOutput
from sse_flows.makers.base import PotentialJobMaker, closes_potentials, current_job_dir
from sse_flows.makers.relax import RelaxMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.settings import get_settings
from sse_flows.structures import to_atoms


def default_reference_relax() -> RelaxMaker:
    """Tight cell relaxation, symmetry kept: residual stress ~0.02 GPa, not ~0.5."""
    return RelaxMaker.of("reference relax", reference_relax_settings())


def default_ion_relax() -> RelaxMaker:
    """Fixed-cell relaxation of the ions in a strained cell (internal strain)."""
    return RelaxMaker.of("ion relax", ion_relax_settings())


@dataclass
class ElasticMaker(PotentialJobMaker):
    """Elastic tensor, VRH moduli and Born stability from strained cells.

    The input is relaxed first (``relax_maker``; cell and ions, symmetry kept; None to
    use the input as it is), and the tensor refers to the relaxed cell. Each of the six
    Voigt strain components is applied alone at each magnitude of ``normal_strains``
    (e_xx, e_yy, e_zz) or ``shear_strains`` (engineering gamma = 2 e_ij), the ions are
    relaxed in the strained cell (``ion_relax_maker``, fixed cell; None for clamped
    ions), and each column of C is a linear fit of stress against its strain through
    the reference stress. The sub-makers' settings are used; their potential is this
    maker's. ``engine="matcalc"`` strains and fits with matcalc's ElasticityCalc
    (simple shear, Cauchy stresses), the method paper 000 used.
    """

    name: str = "elastic"
    relax_maker: RelaxMaker | None = field(default_factory=default_reference_relax)
    ion_relax_maker: RelaxMaker | None = field(default_factory=default_ion_relax)
    normal_strains: list[float] = field(
        default_factory=lambda: list(DEFAULT_NORMAL_STRAINS)
    )
    shear_strains: list[float] = field(default_factory=lambda: list(DEFAULT_SHEAR_STRAINS))
    engine: Literal["sse-flows", "matcalc"] = "sse-flows"

    @job(output_schema=ElasticOutput)
    @closes_potentials
    def make(
        self, structure: Structure, potential: PotentialSpec | None = None
    ) -> ElasticOutput:
        """Relax, strain, evaluate and fit."""
        loaded, provenance = self.prepare(structure, potential)
        settings = ElasticSettings(
            reference_relax=self.relax_maker,
            ion_relax=self.ion_relax_maker,
            normal_strains=self.normal_strains,
            shear_strains=self.shear_strains,
            engine=self.engine,
        )
        result = elastic_tensor(to_atoms(structure), loaded.calculator, settings)
        return ElasticOutput.from_result(
            result,
            structure,
            self.normal_strains,
            self.shear_strains,
            self.relax_maker,
            self.ion_relax_maker is not None,
            loaded,
            provenance,
        )


@dataclass
class EOSMaker(PotentialJobMaker):
    """Energy-volume curve of the relaxed cell scaled isotropically, and its EOS fit.

    ``volume_factors`` multiply the reference volume (the relaxed one unless
    ``relax_maker`` is None); the ions are relaxed in each scaled cell by
    ``ion_relax_maker`` (None: fractional coordinates kept, enough when symmetry fixes
    them). ``eos`` names a pymatgen EOS model. A plot of E(V) goes to ``plot_dir`` or,
    by default, to this job's directory under the work dir.
    """

    name: str = "eos"
    relax_maker: RelaxMaker | None = field(default_factory=default_reference_relax)
    ion_relax_maker: RelaxMaker | None = field(default_factory=default_ion_relax)
    volume_factors: list[float] = field(
        default_factory=lambda: list(DEFAULT_VOLUME_FACTORS)
    )
    eos: str = "birch_murnaghan"
    plot: bool = True
    plot_dir: str | None = None

    def settings(self) -> EOSSettings:
        """Return the calculation's settings (check them with ``checked_factors``)."""
        return EOSSettings(
            reference_relax=self.relax_maker,
            ion_relax=self.ion_relax_maker,
            volume_factors=self.volume_factors,
            eos=self.eos,
        )

    @job(output_schema=EOSOutput)
    @closes_potentials
    def make(
        self, structure: Structure, potential: PotentialSpec | None = None
    ) -> EOSOutput:
        """Relax, scale, evaluate, fit and plot."""
        loaded, provenance = self.prepare(structure, potential)
        result = equation_of_state(to_atoms(structure), loaded.calculator, self.settings())
        plot_path = None
        if self.plot:
            folder = (
                Path(self.plot_dir).expanduser()
                if self.plot_dir
                else current_job_dir(
                    get_settings().work_dir,
                    fallback=f"eos-{provenance.started_at:%Y%m%d-%H%M%S-%f}",
                )
            )
            title = (
                f"{result.reference.composition.reduced_formula} "
                f"({loaded.provenance.name}, {self.eos})"
            )
            plot_path = str(
                plot_eos(
                    result.fit, result.volumes, result.energies, folder / "eos.png", title
                )
            )
        return EOSOutput.from_result(
            result,
            structure,
            self.eos,
            self.relax_maker,
            self.ion_relax_maker is not None,
            plot_path,
            loaded,
            provenance,
        )
