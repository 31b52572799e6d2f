"""Ionic conductivity over a temperature grid: MD per temperature, analysis, Arrhenius.

Settings come from a preset file (``sse_flows/data/presets/conductivity/*.yaml``:
the papers' protocols and a ``quick`` one) or from the fields directly. Per
temperature: optional NPT run whose mean cell becomes the NVT cell, an NVT run
(equilibration steps are not stored, production is), the diffusion analysis; then
one job fits Arrhenius over the diffusive temperatures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jobflow import Flow, Job, Maker
from pymatgen.core import Structure

from sse_flows.analysis.diffusion import DEFAULT_FIT_WINDOW
from sse_flows.errors import SpecError
from sse_flows.makers import MDMaker
from sse_flows.makers.base import PotentialInput
from sse_flows.makers.transport import analyze_md, mean_cell, summarise_conductivity
from sse_flows.structures import require_ordered
from sse_flows.structures.supercell import choose_supercell

PRESET_DIR = "data/presets/conductivity"


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
class ConductivityMaker(Maker):
    """Structure + potential + temperatures -> D(T), sigma(T), Ea, sigma(300 K)."""

    name: str = "conductivity"
    potential: PotentialInput = "chgnet"
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
    fit_window: tuple[float, float] = DEFAULT_FIT_WINDOW
    write_density: bool = True
    preset: str | None = None

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> ConductivityMaker:
        """Build from a preset name (paper000, paper001, paper002, quick) or YAML path.

        ``overrides`` replace top-level keys; ``nvt``/``npt`` dicts update the preset's.
        With ``preset=None`` the overrides alone are used (on the field defaults).
        """
        data = load_preset(preset) if preset else {}
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

    def make(self, structure: Structure, potential: PotentialInput | None = None) -> Flow:
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
                averaged = mean_cell(npt.output)
                averaged.name = f"mean cell {temperature:g} K"
                jobs += [npt, averaged]
                start = averaged.output
            nvt = self.nvt_for(temperature).make(start, potential=chosen)
            analysis = analyze_md(
                nvt.output, self.species, self.fit_window, self.write_density, nvt.uuid
            )
            analysis.name = f"diffusion {temperature:g} K"
            jobs += [nvt, analysis]
            analyses.append(analysis.output)
            if self.sequential:  # heating ramp: the next temperature starts from here
                cell = nvt.output.structure
        summary = summarise_conductivity(analyses, self.species, self.preset)
        summary.name = "arrhenius"
        jobs.append(summary)
        return Flow(jobs, output=summary.output, name=self.name)


def load_preset(preset: str) -> dict[str, Any]:
    """Read a preset by name (shipped with the package) or from a YAML path."""
    path = Path(preset).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text = path.read_text()
    else:
        resource = resources.files("sse_flows").joinpath(f"{PRESET_DIR}/{preset}.yaml")
        if not resource.is_file():
            raise SpecError(
                f"unknown conductivity preset '{preset}'; "
                f"shipped: {', '.join(preset_names())}"
            )
        text = resource.read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SpecError(f"preset '{preset}' must be a mapping")
    return data


def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    folder = resources.files("sse_flows").joinpath(PRESET_DIR)
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )
