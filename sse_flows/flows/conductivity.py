"""Ionic conductivity over a temperature grid: MD per temperature, analysis, Arrhenius.

Settings come from a preset file (``sse_flows/data/presets/conductivity/*.yaml``:
the papers' protocols and a ``quick`` one) or from the fields directly. Per
temperature: optional NPT run whose mean cell becomes the NVT cell, an NVT run
(equilibration steps are not stored, production is), the diffusion analysis; then
one job fits Arrhenius over the diffusive temperatures.

With ``precision_target`` the analysis of each temperature continues the NVT run in
segments of its production length until the relative 95 % CI half-width of D is at
or below the target, or one more segment would pass ``max_production_ps``
(:mod:`sse_flows.makers.precision`); each point says which ended it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker
from pymatgen.core import Structure

from sse_flows.analysis.diffusion import DEFAULT_ESTIMATOR, default_fit_window
from sse_flows.errors import SpecError, SSEFlowsError
from sse_flows.makers.base import PotentialField
from sse_flows.makers.md import MDMaker
from sse_flows.makers.precision import PrecisionDiffusionMaker, check_precision_settings
from sse_flows.makers.transport import ArrheniusMaker, DiffusionMaker, MeanCellMaker
from sse_flows.potentials import PotentialSpec, default_potential
from sse_flows.presets import PresetError, load_preset
from sse_flows.structures import require_ordered
from sse_flows.structures.supercell import choose_supercell


def _npt_default() -> MDMaker:
    return MDMaker(
        name="npt",
        ensemble="npt",
        thermostat="berendsen",
        npt_cell="anisotropic",
        equilibration_steps=2000,
        production_steps=2000,
        sample_interval=20,
    )


def _nvt_default() -> MDMaker:
    return MDMaker(name="nvt", ensemble="nvt", thermostat="berendsen", taut_fs=100.0)


@dataclass
class ConductivityMaker(PotentialField, Maker):
    """Structure + potential + temperatures -> D(T), sigma(T), Ea, sigma(300 K)."""

    name: str = "conductivity"
    potential: PotentialSpec = field(default_factory=default_potential)
    temperatures: list[float] = field(default_factory=lambda: [800.0, 1000.0, 1200.0])
    species: list[str] = field(default_factory=lambda: ["Li"])
    supercell: list[int] | None = None
    min_atoms: int | None = None
    min_length: float | None = None
    npt_equilibration: bool = False
    npt_maker: MDMaker = field(default_factory=_npt_default)
    nvt_maker: MDMaker = field(default_factory=_nvt_default)
    rules: list[dict[str, Any]] = field(default_factory=list)
    sequential: bool = False
    #: lag window of the D fit as fractions of the run; None: the estimator's default
    fit_window: tuple[float, float] | None = None
    #: "gls" (generalised least squares, default) or "ols" (the earlier estimator)
    estimator: str = DEFAULT_ESTIMATOR
    write_density: bool = True
    preset: str | None = None
    #: relative 95 % CI half-width of D to reach per temperature (0.1: +-10 %);
    #: None runs the NVT production once, as set
    precision_target: float | None = None
    #: most production time per temperature with a target, ps (required with one)
    max_production_ps: float | None = None

    def __post_init__(self) -> None:
        """Parse the potential; refuse a precision target without a cap, or not > 0.

        The cap is checked against the segment length when the flow is built (the NVT
        maker may still be changed, and rules change it per temperature).
        """
        super().__post_init__()
        try:
            default_fit_window(self.estimator)
        except SSEFlowsError as exc:
            raise SpecError(f"conductivity '{self.name}': {exc}") from exc
        check_precision_settings(
            self.precision_target,
            self.max_production_ps,
            0.0,
            f"conductivity '{self.name}'",
        )

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> ConductivityMaker:
        """Build from a preset name (paper000, paper001, paper002, quick) or YAML path.

        ``overrides`` replace top-level keys; ``nvt``/``npt`` dicts update the preset's.
        With ``preset=None`` the overrides alone are used (on the field defaults).
        """
        try:
            data = load_preset("conductivity", preset) if preset else {}
        except PresetError as exc:
            raise SpecError(str(exc)) from exc
        for key in ("nvt", "npt"):
            if key in overrides:
                data[key] = {**data.get(key, {}), **overrides.pop(key)}
        data.update(overrides)
        data.pop("description", None)
        name = data.pop("name", preset)
        data.pop("preset", None)
        try:
            nvt = MDMaker(**{"name": "nvt", "ensemble": "nvt", **data.pop("nvt", {})})
            npt_settings = data.pop("npt", None)
            npt = (
                MDMaker(**{"name": "npt", "ensemble": "npt", **npt_settings})
                if npt_settings
                else _npt_default()
            )
            return cls(nvt_maker=nvt, npt_maker=npt, preset=name, **data)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"conductivity preset '{preset}': {exc}") from exc

    def prepare_structure(self, structure: Structure) -> Structure:
        """Apply the supercell (explicit, or chosen from min_atoms / min_length)."""
        require_ordered(structure, "a conductivity MD cell")
        if self.supercell is not None:
            return structure.make_supercell(self.supercell, in_place=False)
        if self.min_atoms or self.min_length:
            repeat = choose_supercell(structure, self.min_atoms, self.min_length)
            return structure.make_supercell(list(repeat), in_place=False)
        return structure

    def nvt_for(self, temperature: float) -> MDMaker:
        """Return the NVT maker at one temperature, with the first matching rule applied."""
        settings: dict[str, Any] = {}
        for rule in self.rules:
            low = rule.get("min_temperature", float("-inf"))
            high = rule.get("max_temperature", float("inf"))
            if low <= temperature < high:
                settings = dict(rule.get("nvt", {}))
                break
        return dataclasses.replace(
            self.nvt_maker,
            temperature=temperature,
            name=f"nvt {temperature:g} K",
            **settings,
        )

    def diffusion_maker(
        self, name: str, species: list[str] | None = None
    ) -> DiffusionMaker:
        """Return the analysis of one MD run (other species sets reuse the runs)."""
        return DiffusionMaker(
            name=name,
            species=list(species or self.species),
            fit_window=self.fit_window,
            estimator=self.estimator,
            write_density=self.write_density if species is None else False,
        )

    def make(self, structure: Structure, potential: PotentialSpec | None = None) -> Flow:
        """Return the flow; its output is the ConductivityOutput document."""
        chosen = potential if potential is not None else self.potential
        cell: Any = self.prepare_structure(structure)
        jobs: list[Job | Flow] = []
        analyses = []
        for temperature in sorted(self.temperatures):
            start = cell
            if self.npt_equilibration:
                npt = dataclasses.replace(
                    self.npt_maker, temperature=temperature, name=f"npt {temperature:g} K"
                ).make(start, potential=chosen)
                averaged = MeanCellMaker(name=f"mean cell {temperature:g} K").make(
                    npt.output.structure, npt.output.statistics
                )
                jobs += [npt, averaged]
                start = averaged.output
            segment = self.nvt_for(temperature)
            check_precision_settings(
                self.precision_target,
                self.max_production_ps,
                segment.production_steps * segment.timestep_fs / 1000.0,
                f"conductivity at {temperature:g} K",
            )
            nvt = segment.make(start, potential=chosen)
            diffusion = self.diffusion_maker(f"diffusion {temperature:g} K")
            if self.precision_target is None:
                analysis = analyze_run(diffusion, nvt)
            else:  # analyse, then continue the NVT run until precise or capped
                analysis = PrecisionDiffusionMaker(
                    name=diffusion.name,
                    diffusion=diffusion,
                    segment=segment,
                    precision_target=self.precision_target,
                    max_production_ps=self.max_production_ps or 0.0,
                ).make([nvt.output], potential=chosen, md_job=nvt.uuid)
            jobs += [nvt, analysis]
            analyses.append(analysis.output)
            if self.sequential:  # heating ramp: the next temperature starts from the
                cell = analysis.output.final_structure  # end of this one's last segment
        summary = ArrheniusMaker(species=self.species, preset=self.preset).make(analyses)
        jobs.append(summary)
        return Flow(jobs, output=summary.output, name=self.name)


def analyze_run(maker: DiffusionMaker, md_job: Job) -> Job:
    """Build the diffusion job of an MD job from the parts of its output it needs."""
    output = md_job.output
    return maker.make(
        output.trajectory.path,
        output.structure,
        output.protocol["temperature"],
        potential=output.potential,
        trajectory_sha256=output.trajectory.sha256,
        md_job=md_job.uuid,
        production_ps=output.simulated_time_ps,
    )
