"""Materials-Project-2020 anion corrections, applied where the model's energies lack them.

Whether to correct depends on what the model learned (its energy reference, see
:mod:`sse_flows.potentials.family`): CHGNet learned MP2020-corrected energies, so
correcting its energies counts the corrections twice; models that learned raw
MP-compatible PBE(+U) energies (SevenNet-0, MACE-MP-0, M3GNet-MP, ...) lack them.
:func:`decide_corrections` makes that choice for ``auto`` and says why; a user can
force ``none`` or ``mp2020_anion``, and the record says what was asked and applied.

Why not ``MaterialsProject2020Compatibility`` itself: for entries not computed by VASP
it needs a run type and POTCAR data it cannot check, it guesses oxidation states
(falling back to 'most electronegative element only' when the guess fails), and it
decides from bond lengths whether S is a sulfide. Here the values are read from
pymatgen's own ``MP2020Compatibility.yaml`` and applied by a written rule: every atom
of an element X with a negative oxidation state in a compound (2+ elements) gets the
MP2020 correction of X. Elements (single-element entries) are never corrected. GGA+U
mixing corrections are not applied (uMLIPs do not run GGA+U); systems where MP would
apply them are refused.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry, ConstantEnergyAdjustment

from sse_flows.provenance import package_version, sha256_of
from sse_flows.thermo.hull import StabilityError

CorrectionScheme = Literal["auto", "none", "mp2020_anion"]
SCHEMES: tuple[str, ...] = ("auto", "none", "mp2020_anion")

#: MP2020 composition corrections that are per anion element (oxide types aside).
_ANION_KEYS = ("S", "F", "Cl", "Br", "I", "N", "Se", "Si", "Sb", "Te", "H")
#: Transition metals MP2020 treats with GGA+U (and corrects) in oxides and fluorides.
_U_METALS = ("V", "Cr", "Mn", "Fe", "Co", "Ni", "W", "Mo")


class EntryCorrection(BaseModel):
    """The correction applied to one entry."""

    label: str = Field(description="Entry label.")
    formula: str = Field(description="Full formula of the entry.")
    per_element_eV_atom: dict[str, float] = Field(
        description="Correction per atom of each corrected element (eV per that atom)."
    )
    total_eV: float = Field(description="Correction added to the entry's energy, eV.")
    oxidation_states: dict[str, float] = Field(
        description="Oxidation states that decided which elements are anions."
    )


class CorrectionsRecord(BaseModel):
    """Which corrections were asked for and applied, why, from which file."""

    scheme: str = Field(description="Applied: 'none' or 'mp2020_anion'.")
    requested: str = Field("none", description="Asked for: auto, none or mp2020_anion.")
    energy_reference: str | None = Field(
        None, description="Label scheme of the potential's training energies."
    )
    reason: str = Field("", description="Why this scheme was applied.")
    values_eV_atom: dict[str, float] = Field(
        default_factory=dict, description="Correction per anion atom by element, eV."
    )
    source_file: str | None = Field(None, description="The MP2020 yaml read.")
    source_sha256: str | None = Field(None, description="sha256 of that file.")
    pymatgen_version: str | None = Field(description="Installed pymatgen version.")
    entries: list[EntryCorrection] = Field(
        default_factory=list, description="Corrections entry by entry (nonzero only)."
    )
    rule: str = Field(description="How it was decided which atoms are corrected.")


def mp2020_yaml_path() -> Path:
    """Return the MP2020 correction file shipped with the installed pymatgen."""
    import pymatgen.analysis.compatibility as compat

    path = Path(compat.__file__).parent / "MP2020Compatibility.yaml"
    if not path.is_file():  # pragma: no cover - depends on pymatgen packaging
        raise StabilityError(
            f"pymatgen's MP2020Compatibility.yaml is not at {path}; reinstall pymatgen "
            "or run without corrections."
        )
    return path


@lru_cache(maxsize=1)
def mp2020_anion_values() -> dict[str, float]:
    """Per-atom MP2020 anion corrections (eV/atom) read from pymatgen's yaml."""
    raw = yaml.safe_load(mp2020_yaml_path().read_text())
    table = raw["Corrections"]["CompositionCorrections"]
    values = {key: float(table[key]) for key in _ANION_KEYS if key in table}
    values["O"] = float(table["oxide"])
    return values


def anion_oxidation_states(
    composition: Composition, given: dict[str, float] | None = None
) -> dict[str, float]:
    """Oxidation states for the anion decision: given ones win, else pymatgen's guess.

    When no charge-balanced guess exists, the most electronegative element is taken
    as the only anion (-1), as MP2020 does.
    """
    symbols = [el.symbol for el in composition.elements]
    if given and all(s in given for s in symbols):
        return {s: float(given[s]) for s in symbols}
    guesses = composition.reduced_composition.oxi_state_guesses(max_sites=-50)
    if guesses:
        return {s: float(guesses[0].get(s, 0.0)) for s in symbols}
    most = max(composition.elements, key=lambda el: el.X)
    return {s: (-1.0 if s == most.symbol else 0.0) for s in symbols}


def correction_for(
    composition: Composition, oxidation_states: dict[str, float] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Per-element correction (eV per atom of that element) for one composition."""
    if composition.is_element:
        return {}, {}
    states = anion_oxidation_states(composition, oxidation_states)
    symbols = set(states)
    if symbols & {"O", "F"} and symbols & set(_U_METALS):
        raise StabilityError(
            f"{composition.reduced_formula}: MP2020 would apply GGA+U mixing corrections "
            "to this oxide/fluoride, which do not apply to potential energies. Run "
            "without corrections (corrections='none')."
        )
    values = mp2020_anion_values()
    return {s: values[s] for s, q in states.items() if q < 0 and s in values}, states


def decide_corrections(requested: str, energy_reference: str | None) -> tuple[str, str]:
    """Return the scheme to apply and why, from what was asked and what the model learned.

    ``auto`` applies MP2020 anion corrections only to energies of a model that learned
    raw MP-compatible PBE(+U) energies (``raw-pbe``); ``none`` and ``mp2020_anion`` are
    applied as asked, with a warning in the reason when that counts corrections twice.
    """
    if requested not in SCHEMES:
        raise StabilityError(
            f"Unknown corrections scheme '{requested}'. Use one of: {', '.join(SCHEMES)}."
        )
    reference = energy_reference or "unknown"
    if requested == "none":
        return "none", "asked for: no corrections"
    if requested == "mp2020_anion":
        if reference == "mp2020-corrected":
            return "mp2020_anion", (
                "asked for, although the potential learned MP2020-corrected energies: "
                "the anion corrections are counted twice"
            )
        return "mp2020_anion", f"asked for (potential energies: {reference})"
    if reference == "raw-pbe":
        return "mp2020_anion", (
            "auto: the potential learned raw MP-compatible PBE(+U) energies, which lack "
            "MP2020's anion corrections"
        )
    if reference == "mp2020-corrected":
        return "none", (
            "auto: the potential learned MP2020-corrected energies, so the corrections "
            "are in its energies already"
        )
    if reference in ("unknown", "none"):
        return "none", (
            f"auto: the potential's energy reference is {reference}; no corrections "
            "(state it with the potential's energy_reference to have them applied)"
        )
    return "none", f"auto: MP2020 corrections do not apply to {reference} energies"


def apply_corrections(
    entries: list[ComputedEntry],
    scheme: str = "none",
    oxidation_states: dict[str, float] | None = None,
    energy_reference: str | None = None,
) -> tuple[list[ComputedEntry], CorrectionsRecord]:
    """Return corrected copies of ``entries`` and the record of what was applied.

    ``scheme`` is what is asked for (see :func:`decide_corrections`); with ``none``
    the entries are returned unchanged.
    """
    requested = scheme
    scheme, reason = decide_corrections(requested, energy_reference)
    decision = {
        "requested": requested,
        "energy_reference": energy_reference,
        "reason": reason,
    }
    version = package_version("pymatgen")
    if scheme == "none":
        return list(entries), CorrectionsRecord(
            scheme="none", pymatgen_version=version, rule="no corrections", **decision
        )
    out: list[ComputedEntry] = []
    applied: list[EntryCorrection] = []
    for entry in entries:
        per_element, states = correction_for(entry.composition, oxidation_states)
        copy = ComputedEntry(
            entry.composition,
            entry.uncorrected_energy,
            entry_id=entry.entry_id,
            data=dict(entry.data),
            energy_adjustments=[
                ConstantEnergyAdjustment(
                    value * entry.composition[symbol],
                    name=f"MP2020 anion correction ({symbol})",
                    description=f"{value} eV per {symbol} atom, MP2020Compatibility.yaml",
                )
                for symbol, value in sorted(per_element.items())
            ],
        )
        out.append(copy)
        if per_element:
            applied.append(
                EntryCorrection(
                    label=str(entry.data.get("label", entry.entry_id)),
                    formula=entry.composition.formula,
                    per_element_eV_atom=per_element,
                    total_eV=float(copy.correction),
                    oxidation_states=states,
                )
            )
    path = mp2020_yaml_path()
    return out, CorrectionsRecord(
        scheme=scheme,
        **decision,
        values_eV_atom=mp2020_anion_values(),
        source_file=str(path),
        source_sha256=sha256_of(path),
        pymatgen_version=version,
        entries=applied,
        rule="MP2020 CompositionCorrections per atom of each element with a negative "
        "oxidation state (given, else pymatgen's first guess, else the most "
        "electronegative element) in compounds; elements uncorrected; O uses the "
        "'oxide' value (no peroxide detection); no GGA+U mixing corrections.",
    )
