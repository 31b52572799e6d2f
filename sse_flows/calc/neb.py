"""Nudged elastic band between two endpoints: ASE's climbing-image NEB at a fixed cell.

The endpoints are checked (same atoms, order and cell: :mod:`.neb_endpoints`) and
relaxed at their cell, the band is interpolated with IDPP (Smidstrup et al. 2014) and
relaxed with an ASE optimizer; the climbing image (Henkelman et al. 2000) climbs to
the saddle. One calculator serves every image (``allow_shared_calculator``): it may be
a proxy to a model in another process, and one model per image would load it N times.
The endpoints' energies and forces are frozen on them, so the optimizer evaluates only
the moving images.

A band that does not reach ``fmax`` in ``max_steps`` is a result, not an error, but an
unconverged one: ``converged`` is False, ``max_force_eV_A`` says how far it is, and
``barrier_eV``/``reverse_barrier_eV`` are None. Its highest image
(``highest_image_eV``) is kept for inspection only; it is not a saddle-point energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.mep import NEB

from sse_flows.calc.neb_endpoints import (
    SAME_STRUCTURE_A,
    AtomOrderError,
    EndpointMismatchError,
    check_endpoints,
    displacements,
    formula,
    reorder_to_match,
)
from sse_flows.calc.relax import (
    RelaxationNotConvergedError,
    RelaxResult,
    RelaxSettings,
    relax,
)
from sse_flows.errors import SSEFlowsError
from sse_flows.structures.io import to_atoms

__all__ = [
    "AtomOrderError",
    "EndpointMismatchError",
    "NEBResult",
    "NEBSettings",
    "NEBSettingsError",
    "neb",
    "plot_neb",
    "reorder_to_match",
    "write_images",
]

#: ASE optimizers that suit an NEB (no line searches: the band's energy is not
#: the objective the forces derive from)
OPTIMIZERS = ("FIRE", "BFGS", "LBFGS", "MDMin")


class NEBSettingsError(SSEFlowsError):
    """The NEB settings cannot describe a band."""


@dataclass
class NEBSettings:
    """How to run an NEB.

    ``n_images`` counts the moving images between the two endpoints. ``fmax`` (eV/A)
    applies to the NEB forces of every moving image (spring and perpendicular force;
    the climbing image's inverted force). ``neb_method`` is ASE's: the improved
    tangent of Henkelman & Jonsson (ASE's recommended default). The cell is fixed:
    both endpoints must be in one cell, and are relaxed at it (positions only,
    ``endpoint_*`` settings) unless ``relax_endpoints`` is False. ``reorder`` pairs
    the final endpoint's atoms with the initial's by nearest positions instead of
    refusing endpoints listed in another order.
    """

    n_images: int = 5
    climb: bool = True
    fmax: float = 0.05
    max_steps: int = 300
    optimizer: str = "FIRE"
    interpolation: Literal["idpp", "linear"] = "idpp"
    spring_constant: float = 0.1
    neb_method: Literal["improvedtangent", "aseneb", "eb"] = "improvedtangent"
    relax_endpoints: bool = True
    endpoint_fmax: float = 0.02
    endpoint_max_steps: int = 500
    endpoint_optimizer: str = "BFGS"
    reorder: bool = False

    def check(self) -> None:
        """Refuse settings that cannot run, saying which value to change."""
        problems = []
        if self.n_images < 1:
            problems.append(f"n_images must be at least 1 (got {self.n_images})")
        if self.fmax <= 0 or self.endpoint_fmax <= 0:
            problems.append("fmax and endpoint_fmax must be positive")
        if self.max_steps < 1 or self.endpoint_max_steps < 1:
            problems.append("max_steps and endpoint_max_steps must be at least 1")
        if self.spring_constant <= 0:
            problems.append("spring_constant must be positive (eV/A^2)")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if not _is_optimizer(self.endpoint_optimizer):
            problems.append(
                f"endpoint_optimizer {self.endpoint_optimizer!r} is not an ASE optimizer"
            )
        if problems:
            raise NEBSettingsError("Invalid NEB settings: " + "; ".join(problems) + ".")


@dataclass
class NEBResult:
    """The relaxed band, its energy profile and how the optimisation went.

    Energies are absolute (eV) in ``energies_eV`` and relative to the initial
    endpoint in ``relative_energies_eV``. ``reaction_coordinate_A`` is the cumulative
    minimum-image distance along the band (A, all atoms). ``images`` carry their
    energy and forces (true forces, not NEB forces) as single-point results.
    """

    images: list[Atoms]
    energies_eV: list[float]
    relative_energies_eV: list[float]
    reaction_coordinate_A: list[float]
    converged: bool
    max_force_eV_A: float
    n_steps: int
    saddle_index: int
    highest_image_eV: float
    barrier_eV: float | None
    reverse_barrier_eV: float | None
    reaction_energy_eV: float
    initial_relax: RelaxResult | None
    final_relax: RelaxResult | None
    reordered: bool
    warnings: list[str] = field(default_factory=list)


def neb(
    initial: Atoms,
    final: Atoms,
    calculator: Calculator,
    settings: NEBSettings | None = None,
) -> NEBResult:
    """Find the minimum-energy path from ``initial`` to ``final`` and its barrier."""
    settings = settings or NEBSettings()
    settings.check()
    checked = check_endpoints(initial, final, settings.reorder)
    reordered = not np.array_equal(checked.positions, final.positions)
    start, initial_relax = _endpoint(initial, calculator, settings, "initial")
    end, final_relax = _endpoint(checked, calculator, settings, "final")
    moved = float(np.linalg.norm(displacements(start, end), axis=1).max())
    if moved < SAME_STRUCTURE_A:
        raise EndpointMismatchError(
            f"After relaxation both NEB endpoints of {formula(start)} are the same "
            f"structure (no atom differs by more than {moved:.3f} A): the final site "
            "is not a local minimum, and the ion relaxed back. Choose another site, "
            "or set relax_endpoints: false to keep the endpoints as given."
        )
    # the final endpoint made continuous with the initial one across the boundaries
    unwrapped = end.copy()
    unwrapped.positions = start.positions + displacements(start, end)
    end = _frozen(unwrapped, end.get_potential_energy(), end.get_forces())

    images = [start] + [start.copy() for _ in range(settings.n_images)] + [end]
    band_settings = {
        "k": settings.spring_constant,
        "climb": settings.climb,
        "method": settings.neb_method,
        "allow_shared_calculator": True,
    }
    # interpolated by a plain NEB: IDPP relaxes a band of its own pair potential
    NEB(images, **band_settings).interpolate(
        method=settings.interpolation, mic=True, apply_constraint=False
    )
    for image in images[1:-1]:
        image.calc = calculator
    band = _OnceNEB(images, **band_settings)
    optimizer = _optimizer(settings.optimizer)(band, logfile=None)
    converged = bool(optimizer.run(fmax=settings.fmax, steps=settings.max_steps))

    forces = band.get_forces()  # the band as it ended: NEB forces, energies, true forces
    max_force = float(np.sqrt((forces**2).sum(axis=1).max()))
    energies = np.asarray(band.energies, dtype=float)
    assert band.real_forces is not None  # set by get_forces
    true_forces = [start.get_forces(), *band.real_forces[1:-1], end.get_forces()]
    frozen = [
        _frozen(image, e, f)
        for image, e, f in zip(images, energies, true_forces, strict=True)
    ]
    return _result(
        frozen,
        energies,
        np.asarray(true_forces),
        converged=converged,
        max_force=max_force,
        n_steps=int(optimizer.nsteps),
        settings=settings,
        relaxations=(initial_relax, final_relax),
        reordered=reordered,
    )


class _OnceNEB(NEB):
    """ASE's NEB that evaluates each configuration of the band once.

    A shared calculator remembers only the last image it computed, and ASE's FIRE asks
    for the band's forces in its step and again after it, so ASE's NEB would compute
    every image two or three times per step. The forces are kept until the band
    moves, so the images' calculators must not change while it is in use (IDPP's
    interpolation runs on a plain NEB for that reason).
    """

    _last: tuple[np.ndarray, np.ndarray] | None = None

    def get_forces(self) -> np.ndarray:
        """Return the NEB forces, computed only when the band has moved."""
        positions = self.get_positions()
        if self._last is not None and np.array_equal(positions, self._last[0]):
            return self._last[1].copy()
        forces = super().get_forces()
        self._last = (positions, forces.copy())
        return forces


def _result(
    images: list[Atoms],
    energies: np.ndarray,
    forces: np.ndarray,
    converged: bool,
    max_force: float,
    n_steps: int,
    settings: NEBSettings,
    relaxations: tuple[RelaxResult | None, RelaxResult | None],
    reordered: bool,
) -> NEBResult:
    """Assemble the result: profile, path length, saddle, barriers and warnings."""
    from ase.utils.forcecurve import fit_raw

    positions = np.array([image.positions for image in images])
    fit = fit_raw(energies, forces, positions, images[0].cell, images[0].pbc)
    relative = energies - energies[0]
    saddle = int(np.argmax(energies))
    highest = float(relative[saddle])
    warnings = []
    if not converged:
        warnings.append(
            f"NEB not converged: largest NEB force {max_force:.3f} eV/A > fmax "
            f"{settings.fmax} eV/A after {n_steps} steps, so no barrier is reported. "
            f"The highest image lies {highest:.3f} eV above the initial endpoint, "
            "which is not a saddle-point energy. Raise max_steps, use more images, "
            "or check the endpoints."
        )
    if saddle in (0, len(images) - 1):
        which = "initial" if saddle == 0 else "final"
        warnings.append(
            f"The highest energy is the {which} endpoint: no image lies above both "
            "endpoints, so the band has no saddle between them and the climbing image "
            "found none."
        )
    return NEBResult(
        images=images,
        energies_eV=[float(e) for e in energies],
        relative_energies_eV=[float(e) for e in relative],
        reaction_coordinate_A=[float(s) for s in fit.path],
        converged=converged,
        max_force_eV_A=max_force,
        n_steps=n_steps,
        saddle_index=saddle,
        highest_image_eV=highest,
        barrier_eV=highest if converged else None,
        reverse_barrier_eV=float(energies[saddle] - energies[-1]) if converged else None,
        reaction_energy_eV=float(energies[-1] - energies[0]),
        initial_relax=relaxations[0],
        final_relax=relaxations[1],
        reordered=reordered,
        warnings=warnings,
    )


def _is_optimizer(name: str) -> bool:
    """Whether ``name`` is an optimizer class of :mod:`ase.optimize`."""
    import ase.optimize

    return isinstance(getattr(ase.optimize, name, None), type)


def _optimizer(name: str) -> type:
    """Return the ASE optimizer class of that name."""
    import ase.optimize

    optimizer: type = getattr(ase.optimize, name)
    return optimizer


def _frozen(atoms: Atoms, energy: float, forces: np.ndarray) -> Atoms:
    """Return a copy of ``atoms`` carrying ``energy`` and ``forces`` as its results."""
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, energy=float(energy), forces=np.array(forces))
    return copy


def _endpoint(
    atoms: Atoms, calculator: Calculator, settings: NEBSettings, which: str
) -> tuple[Atoms, RelaxResult | None]:
    """Relax an endpoint at its cell (if asked); return it with energy and forces frozen."""
    if not settings.relax_endpoints:
        atoms = atoms.copy()
        atoms.calc = calculator
        return _frozen(atoms, atoms.get_potential_energy(), atoms.get_forces()), None
    relax_settings = RelaxSettings(
        optimizer=settings.endpoint_optimizer,
        fmax=settings.endpoint_fmax,
        max_steps=settings.endpoint_max_steps,
        relax_cell=False,
    )
    try:
        result = relax(atoms.copy(), calculator, relax_settings)
    except RelaxationNotConvergedError as exc:
        raise RelaxationNotConvergedError(
            f"The {which} NEB endpoint did not relax: {exc} (endpoint_max_steps and "
            "endpoint_fmax set them for an NEB)."
        ) from exc
    relaxed = to_atoms(result.structure)
    return _frozen(relaxed, result.final.energy, result.final.forces), result


def write_images(images: list[Atoms], path: Path) -> Path:
    """Write the band (energies and forces per image) as one extended XYZ file."""
    from ase.io import write

    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, images, format="extxyz")
    return path


def plot_neb(result: NEBResult, path: Path, title: str) -> Path:
    """Draw the energy profile with ASE's force-based cubic fit; save as PNG (Agg)."""
    from ase.utils.forcecurve import fit_images
    from matplotlib.figure import Figure

    fit = fit_images(result.images)
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fit.fit_path, fit.fit_energies, color="C0", lw=1.5)
    ax.plot(fit.path, fit.energies, "o", color="k", ms=5)
    ax.plot(
        fit.path[result.saddle_index],
        fit.energies[result.saddle_index],
        "o",
        color="C3",
        ms=7,
        label="highest image",
    )
    ax.set_xlabel(r"reaction coordinate ($\mathrm{\AA}$)")
    ax.set_ylabel("energy relative to the initial endpoint (eV)")
    ax.set_title(title, fontsize=10)
    if result.converged and result.barrier_eV is not None:
        text = f"barrier {result.barrier_eV:.3f} eV (converged)"
    else:
        text = (
            f"NOT CONVERGED (max force {result.max_force_eV_A:.2f} eV/A)\n"
            f"highest image {result.highest_image_eV:.3f} eV: not a barrier"
        )
    ax.text(0.5, 0.04, text, transform=ax.transAxes, ha="center", va="bottom")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
