"""Spec kind ``neb``: a hop's barrier from two endpoints, or a structure and a hop.

```yaml
flow: neb
potential: chgnet
initial: initial.cif          # endpoints in one cell, atoms in one order
final: final.cif
neb: {n_images: 5, fmax: 0.05, climb: true, reorder: false}
```

or, endpoints built by :mod:`sse_flows.structures.hops`:

```yaml
flow: neb
structure: prototype:Li2S
supercell: [[0, 1, 1], [1, 0, 1], [1, 1, 0]]   # 24 atoms
hop: {kind: vacancy, sites: [14, 0]}  # Li 14 hops into a vacancy at Li 0 (2.85 A)
```

or the most frequent jump of an MD run in that cell (``kind: observed``,
``trajectory: run/trajectory.h5``, ``species: [Li]``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np
from jobflow import Job
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymatgen.core import Structure

from sse_flows.calc.neb_endpoints import check_endpoints
from sse_flows.errors import SpecError
from sse_flows.kinds.base import FlowSpec, StructureFlowSpec
from sse_flows.makers.neb import NEBMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.structures import to_atoms
from sse_flows.structures.hops import hops_from_sites, interstitial_hop, vacancy_hop


class HopSettings(BaseModel):
    """Which hop to build from the spec's structure (site indices after the supercell)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vacancy", "interstitial", "observed"] = Field(
        description="vacancy: the ion at sites[0] hops into a vacancy made at "
        "sites[1]; interstitial: the ion at 'ion' hops to the empty 'target'; "
        "observed: the most frequent jump of an MD run ('trajectory') between the "
        "sites of 'species' in the structure (the run's cell)."
    )
    sites: list[int] | None = Field(
        None, description="vacancy: [A, B], site indices of the structure."
    )
    ion: int | None = Field(None, description="interstitial: index of the hopping ion.")
    target: list[float] | None = Field(
        None, description="interstitial: fractional coordinates of the empty site."
    )
    trajectory: str | None = Field(
        None, description="observed: the MD trajectory (our HDF5, or any ASE file)."
    )
    species: list[str] = Field(
        default_factory=lambda: ["Li"], description="observed: the mobile species."
    )
    radius: float = Field(1.0, description="observed: site radius, A.")
    extra_sites: list[list[float]] = Field(
        default_factory=list,
        description="observed: more sites (fractional), e.g. interstitial ones.",
    )

    def endpoints(
        self, structure: Structure, base_dir: Path | None = None
    ) -> tuple[Structure, Structure]:
        """Build the initial and final endpoints from ``structure``."""
        if self.kind == "observed":
            return self.observed(structure, base_dir or Path())
        if self.kind == "vacancy":
            if self.sites is None or len(self.sites) != 2:
                raise SpecError("hop: {kind: vacancy} needs sites: [A, B] (two indices)")
            return vacancy_hop(structure, self.sites[0], self.sites[1])
        if self.ion is None or self.target is None or len(self.target) != 3:
            raise SpecError(
                "hop: {kind: interstitial} needs ion: INDEX and target: [x, y, z] "
                "(fractional coordinates of the empty site)"
            )
        return interstitial_hop(structure, self.ion, self.target)

    def observed(self, structure: Structure, base_dir: Path) -> tuple[Structure, Structure]:
        """Endpoints of the most frequent jump in the trajectory (site analysis).

        The sites are the structure's sites of ``species`` (labelled by Wyckoff
        position) and ``extra_sites``; the structure must be the run's cell.
        """
        from sse_flows.analysis.data import load_md
        from sse_flows.analysis.density import site_analysis

        if self.trajectory is None:
            raise SpecError("hop: {kind: observed} needs trajectory: FILE (the MD run)")
        indices = [
            i for i, site in enumerate(structure) if site.specie.symbol in self.species
        ]
        if not indices:
            raise SpecError(f"the structure has no {'/'.join(self.species)} sites")
        wyckoffs = wyckoff_labels(structure)
        frac = np.array(
            [structure[i].frac_coords for i in indices] + list(self.extra_sites)
        ).reshape(-1, 3)
        labels = [wyckoffs[i] for i in indices] + ["extra"] * len(self.extra_sites)
        data = load_md(base_dir / self.trajectory)
        analysis = site_analysis(data, frac, self.species, self.radius, labels)
        hop = hops_from_sites(structure, analysis)
        return hop.initial, hop.final


def wyckoff_labels(structure: Structure) -> list[str]:
    """Return each site's element and Wyckoff letter (e.g. 'Li8c')."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    dataset = SpacegroupAnalyzer(structure, symprec=0.01).get_symmetry_dataset()
    return [
        f"{site.specie.symbol}{w}"
        for site, w in zip(structure, dataset.wyckoffs, strict=True)
    ]


class NEBSpec(StructureFlowSpec):
    """Climbing-image NEB between two endpoints (files, or a structure and a hop)."""

    flow: Literal["neb"]
    initial: str | None = Field(
        None, description="Initial endpoint: file (relative to the spec) or prototype:."
    )
    final: str | None = Field(None, description="Final endpoint, in the same cell.")
    hop: HopSettings | None = Field(
        None, description="Build both endpoints from 'structure' instead."
    )
    neb: NEBMaker = Field(default_factory=NEBMaker)

    @model_validator(mode="before")
    @classmethod
    def _neb_potential(cls, data: Any) -> Any:
        """Give a neb section without a potential of its own the spec's."""
        if isinstance(data, dict) and "potential" in data:
            section = data.get("neb", {})
            if isinstance(section, dict) and "potential" not in section:
                data = {**data, "neb": {**section, "potential": data["potential"]}}
        return data

    def endpoints(self) -> tuple[Structure, Structure]:
        """Read both endpoint files, or build them from the structure and the hop."""
        if self.hop is not None:
            if self.initial or self.final:
                raise SpecError(
                    f"Spec '{self.name}': give either initial and final, or structure "
                    "and hop, not both"
                )
            return self.hop.endpoints(self.load_structure(), self.base_dir)
        if not (self.initial and self.final):
            raise SpecError(
                f"Spec '{self.name}' (flow neb) needs initial and final endpoint files, "
                "or a structure and hop: {kind: vacancy, sites: [A, B]}"
            )
        return (
            self.model_copy(update={"structure": self.initial}).load_structure(),
            self.model_copy(update={"structure": self.final}).load_structure(),
        )

    def build_one(self) -> Job:
        """Build the NEB job; bad endpoints and settings fail here, before any work."""
        initial, final = self.endpoints()
        self.neb.check()
        check_endpoints(to_atoms(initial), to_atoms(final), self.neb.reorder)
        return self.neb.make(initial, final)

    def for_potential(self, potential: PotentialSpec) -> FlowSpec:
        """Return a copy whose every potential, the neb section's too, is ``potential``."""
        spec = super().for_potential(potential)
        return spec.model_copy(
            update={"neb": dataclasses.replace(self.neb, potential=potential)}
        )

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the spec's potentials and the neb section's."""
        found = super().used_potentials()
        if not self.potentials:
            found.append(self.neb.potential)
        return list({p.model_dump_json(): p for p in found}.values())
