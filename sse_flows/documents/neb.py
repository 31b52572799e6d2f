"""Document of a nudged-elastic-band calculation: barrier, profile, files.

A band that did not converge is stored with ``converged: false``, its largest force,
its profile and a warning, and with ``barrier_eV`` and ``reverse_barrier_eV`` null:
no query or table ever reads an unconverged band's highest image as a barrier.
The images (energies and forces per image) are an extended XYZ file next to the job,
and the profile a PNG; the document holds their paths.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from sse_flows.calc.neb import NEBResult, NEBSettings
from sse_flows.calc.relax import RelaxResult
from sse_flows.documents.base import TaskOutput
from sse_flows.potentials import LoadedPotential
from sse_flows.provenance import RunProvenance
from sse_flows.structures.io import to_structure


class EndpointRelaxation(BaseModel):
    """How an endpoint was relaxed at the fixed cell before the band."""

    energy_start_eV: float = Field(description="Energy of the endpoint as given, eV.")
    energy_relaxed_eV: float = Field(description="Energy after relaxation, eV.")
    converged: bool = Field(description="Whether endpoint_fmax was reached.")
    n_steps: int = Field(description="Optimizer steps taken.")

    @classmethod
    def of(cls, result: RelaxResult | None) -> EndpointRelaxation | None:
        """Summarise an endpoint relaxation (None when the endpoints were not relaxed)."""
        if result is None:
            return None
        return cls(
            energy_start_eV=result.energies[0] if result.energies else result.final.energy,
            energy_relaxed_eV=result.final.energy,
            converged=result.converged,
            n_steps=result.n_steps,
        )


class NEBOutput(TaskOutput):
    """Minimum-energy path of a hop between two endpoints and its barrier.

    ``structure`` is the highest image (the saddle point when converged with a
    climbing image); ``input_structure`` and ``final_input_structure`` are the
    endpoints as given. Energies are relative to the (relaxed) initial endpoint.
    """

    task_type: Literal["neb"] = "neb"
    final_input_structure: Structure = Field(description="Final endpoint as given.")
    converged: bool = Field(
        description="Whether every moving image's NEB force fell below fmax."
    )
    barrier_eV: float | None = Field(
        description="Forward barrier: highest image minus initial endpoint, eV. Null "
        "when the band did not converge."
    )
    reverse_barrier_eV: float | None = Field(
        description="Reverse barrier: highest image minus final endpoint, eV. Null when "
        "the band did not converge."
    )
    highest_image_eV: float = Field(
        description="Highest image above the initial endpoint, eV: the barrier when "
        "converged, only the state of the band otherwise."
    )
    reaction_energy_eV: float = Field(description="Final minus initial endpoint, eV.")
    energies_eV: list[float] = Field(
        description="Energy of each image relative to the initial endpoint, eV."
    )
    absolute_energies_eV: list[float] = Field(
        description="Total energy of each image, eV (the potential's own reference)."
    )
    reaction_coordinate_A: list[float] = Field(
        description="Cumulative minimum-image distance along the band, A (all atoms)."
    )
    max_force_eV_A: float = Field(
        description="Largest NEB force on a moving image at the end, eV/A."
    )
    fmax_eV_A: float = Field(description="Force tolerance asked for, eV/A.")
    n_steps: int = Field(description="Optimizer steps taken on the band.")
    n_images: int = Field(description="Moving images between the endpoints.")
    climb: bool = Field(description="Whether the highest image climbed to the saddle.")
    saddle_index: int = Field(
        description="Index of the highest image (0 = initial endpoint)."
    )
    neb_method: str = Field(description="ASE's NEB tangent/spring method.")
    interpolation: str = Field(description="Initial band: idpp or linear.")
    optimizer: str = Field(description="ASE optimizer of the band.")
    spring_constant: float = Field(description="Spring constant, eV/A^2.")
    reordered: bool = Field(
        description="Whether the final endpoint's atoms were paired with the initial's "
        "by nearest positions."
    )
    initial_relax: EndpointRelaxation | None = Field(
        None, description="Relaxation of the initial endpoint (None: not relaxed)."
    )
    final_relax: EndpointRelaxation | None = Field(
        None, description="Relaxation of the final endpoint (None: not relaxed)."
    )
    images_file: str = Field(
        description="Extended XYZ of the band (energy and forces per image)."
    )
    plot_file: str | None = Field(None, description="PNG of the energy profile.")
    warnings: list[str] = Field(default_factory=list, description="Things to check.")

    shown_columns: ClassVar[tuple[str, ...]] = ("barrier_eV", "converged")

    @classmethod
    def from_result(
        cls,
        result: NEBResult,
        initial: Structure,
        final: Structure,
        settings: NEBSettings,
        files: tuple[str, str | None],
        loaded: LoadedPotential,
        provenance: RunProvenance,
    ) -> NEBOutput:
        """Build the document of an NEB between ``initial`` and ``final`` as given."""
        saddle = to_structure(result.images[result.saddle_index])
        return cls(
            **cls.fields_of(saddle, initial, loaded, provenance),
            final_input_structure=final,
            converged=result.converged,
            barrier_eV=result.barrier_eV,
            reverse_barrier_eV=result.reverse_barrier_eV,
            highest_image_eV=result.highest_image_eV,
            reaction_energy_eV=result.reaction_energy_eV,
            energies_eV=result.relative_energies_eV,
            absolute_energies_eV=result.energies_eV,
            reaction_coordinate_A=result.reaction_coordinate_A,
            max_force_eV_A=result.max_force_eV_A,
            fmax_eV_A=settings.fmax,
            n_steps=result.n_steps,
            n_images=settings.n_images,
            climb=settings.climb,
            saddle_index=result.saddle_index,
            neb_method=settings.neb_method,
            interpolation=settings.interpolation,
            optimizer=settings.optimizer,
            spring_constant=settings.spring_constant,
            reordered=result.reordered,
            initial_relax=EndpointRelaxation.of(result.initial_relax),
            final_relax=EndpointRelaxation.of(result.final_relax),
            images_file=files[0],
            plot_file=files[1],
            warnings=result.warnings,
        )

    def summary_lines(self) -> list[str]:
        """Barrier (or why there is none), profile, files and warnings."""
        lines = super().summary_lines()
        if self.converged and self.barrier_eV is not None:
            lines.append(
                f"  barrier: {self.barrier_eV:.3f} eV forward, "
                f"{self.reverse_barrier_eV:.3f} eV reverse (converged: max force "
                f"{self.max_force_eV_A:.3f} < fmax {self.fmax_eV_A} eV/A in "
                f"{self.n_steps} steps)"
            )
        else:
            lines.append(
                f"  NOT CONVERGED: max force {self.max_force_eV_A:.3f} eV/A > fmax "
                f"{self.fmax_eV_A} eV/A after {self.n_steps} steps; no barrier "
                f"(highest image {self.highest_image_eV:.3f} eV, not a saddle point)"
            )
        lines += [
            f"  profile (eV): {' '.join(f'{e:.3f}' for e in self.energies_eV)} "
            f"({self.n_images} images, climb={self.climb}, reaction energy "
            f"{self.reaction_energy_eV:+.3f} eV)",
            f"  images: {self.images_file}",
        ]
        if self.plot_file:
            lines.append(f"  plot: {self.plot_file}")
        return lines + [f"  warning: {w}" for w in self.warnings]

    @classmethod
    def query_columns(cls, output: dict[str, Any]) -> dict[str, Any]:
        """Barrier (null unless converged) and whether the band converged."""
        return {
            "barrier_eV": output.get("barrier_eV"),
            "converged": output.get("converged"),
        }
