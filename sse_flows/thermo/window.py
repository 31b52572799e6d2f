"""Electrochemical stability window from the Li grand-potential phase diagram.

The phase diagram is opened to Li at mu_Li = mu_Li0 - eV, with mu_Li0 the energy
per atom of the lowest Li entry of the same diagram (bcc Li from the same potential),
as in Zhu, He and Mo (ACS Appl. Mater. Interfaces 7, 23685, 2015) and Richards et
al. (Chem. Mater. 28, 266, 2016). pymatgen's ``PhaseDiagram.get_element_profile``
walks the Li content of the target composition from Li metal to the Li-free end and
returns each transition chemical potential with the equilibrium phases and the Li
exchanged per formula unit; this module turns it into voltage ranges.

Conventions: V = (mu_Li0 - mu_Li)/e, in V vs Li/Li+. ``li_uptake`` is Li atoms taken
up per formula unit of the target (negative: released). The window is the voltage
range where the equilibrium of the target composition exchanges no Li. For a target
above the hull this is the window of its Li-neutral decomposition products (the
convention of Zhu et al.). When no voltage range is Li-neutral (the composition lies
between a Li-richer and a Li-poorer phase), the window is the single voltage of that
step, reported as [V, V].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Element
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.thermo.hull import StabilityError, label_of

#: Li exchanged per formula unit below which the equilibrium counts as Li-neutral.
UPTAKE_TOLERANCE = 1e-6


class VoltageRange(BaseModel):
    """One voltage range with a fixed phase equilibrium."""

    v_low: float = Field(description="Lower bound, V vs Li/Li+.")
    v_high: float | None = Field(description="Upper bound, V vs Li/Li+ (None: no bound).")
    phases: list[str] = Field(description="Reduced formulas of the equilibrium phases.")
    labels: list[str] = Field(description="Labels of the equilibrium entries.")
    li_uptake: float = Field(
        description="Li taken up per formula unit of the target (negative: released)."
    )
    reaction: str = Field(description="Reaction of the target with Li, per formula unit.")


class WindowResult(BaseModel):
    """Electrochemical window and the Li evolution profile behind it."""

    open_element: str = Field(description="The element the diagram is open to (Li).")
    reference_label: str = Field(description="Entry giving mu_Li0 (lowest-energy Li).")
    mu_ref_eV: float = Field(description="mu_Li0: energy per atom of that entry, eV.")
    formula_unit: str = Field(description="Formula unit the Li uptake refers to.")
    window_V: list[float] | None = Field(
        description="[reduction limit, oxidation limit] in V vs Li/Li+; equal values "
        "when the composition exchanges Li at every voltage except one."
    )
    reduction_products: list[str] = Field(
        description="Phases formed just below the reduction limit."
    )
    oxidation_products: list[str] = Field(
        description="Phases formed just above the oxidation limit."
    )
    ranges: list[VoltageRange] = Field(description="Ranges from 0 V upwards.")
    plot: str | None = Field(None, description="PNG of Li uptake vs voltage.")


def electrochemical_window(
    target: ComputedEntry,
    others: Sequence[ComputedEntry],
    open_element: str = "Li",
) -> WindowResult:
    """Compute the window of ``target`` against the ``others`` (which need an Li entry)."""
    element = Element(open_element)
    comp = target.composition.reduced_composition
    if element not in comp:
        raise StabilityError(
            f"{comp.reduced_formula} holds no {open_element}: no window vs "
            f"{open_element}/{open_element}+."
        )
    diagram = PhaseDiagram([target, *others])
    reference = diagram.el_refs[element]
    mu_ref = float(reference.energy_per_atom)
    profile = diagram.get_element_profile(element, comp)
    ranges: list[VoltageRange] = []
    for i, step in enumerate(profile):
        v_low = mu_ref - float(step["chempot"])
        v_high = mu_ref - float(profile[i + 1]["chempot"]) if i + 1 < len(profile) else None
        entries = step["entries"]
        ranges.append(
            VoltageRange(
                v_low=max(v_low, 0.0) if abs(v_low) < 1e-9 else v_low,
                v_high=v_high,
                phases=[e.composition.reduced_formula for e in entries],
                labels=[label_of(e) for e in entries],
                li_uptake=float(step["evolution"]),
                reaction=str(step["reaction"]),
            )
        )
    neutral = [r for r in ranges if abs(r.li_uptake) < UPTAKE_TOLERANCE]
    window: list[float] | None
    if neutral:
        low = min(r.v_low for r in neutral)
        highs = [r.v_high for r in neutral]
        window = (
            [low, max(h for h in highs if h is not None)] if None not in highs else None
        )
        if window is None:
            raise StabilityError(
                f"{comp.reduced_formula} exchanges no {open_element} at any voltage up to "
                "the Li-free end; the system has no oxidation limit (check the entries)."
            )
    else:  # Li content jumps across the target: stable at a single voltage only
        crossing = next(r for r in ranges if r.li_uptake < 0)
        window = [crossing.v_low, crossing.v_low]
    below = [r for r in ranges if r.li_uptake >= UPTAKE_TOLERANCE]
    above = [r for r in ranges if r.li_uptake <= -UPTAKE_TOLERANCE]
    return WindowResult(
        open_element=open_element,
        reference_label=label_of(reference),
        mu_ref_eV=mu_ref,
        formula_unit=comp.reduced_formula,
        window_V=window,
        reduction_products=below[-1].phases if below else [],
        oxidation_products=above[0].phases if above else [],
        ranges=ranges,
    )


def plot_window(result: WindowResult, path: Path, title: str | None = None) -> Path:
    """Draw Li uptake per formula unit vs voltage (paper 000 Fig. 16 style) as PNG."""
    from matplotlib.figure import Figure

    finite = [r.v_high for r in result.ranges if r.v_high is not None]
    v_max = max([*finite, *(result.window_V or [0.0])]) + 1.0
    xs: list[float] = []
    ys: list[float] = []
    for r in result.ranges:
        high = r.v_high if r.v_high is not None else v_max
        xs += [r.v_low, high]
        ys += [r.li_uptake, r.li_uptake]
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.add_subplot()
    ax.plot(xs, ys, color="k", lw=1.5)
    if result.window_V is not None:
        ax.axvspan(*result.window_V, color="tab:green", alpha=0.2, label="stable")
    for r in result.ranges:
        high = r.v_high if r.v_high is not None else v_max
        ax.text(
            (r.v_low + high) / 2,
            r.li_uptake,
            "\n".join(r.phases),
            fontsize=6,
            ha="center",
            va="bottom",
        )
    ax.axhline(0.0, color="0.6", lw=0.5)
    ax.set_xlim(0.0, v_max)
    ax.set_xlabel(f"Voltage vs {result.open_element}/{result.open_element}$^+$ (V)")
    ax.set_ylabel(f"{result.open_element} uptake per {result.formula_unit}")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
