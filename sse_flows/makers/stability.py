"""Phase stability as a flow: relax target and competing phases with one potential.

The analysis job places the target on the hull (E_f, E_hull, decomposition) and, for
Li compounds, computes the electrochemical window from the Li grand-potential diagram.

Competing phases come from the shipped prototypes (all whose elements lie in the
target's system), from user structures, and from precomputed entries (used as given:
their energies must be on the same scale as the potential's). Solid Cl2 and Br2, which
the library lacks, can be derived from the shipped I2 (Cmca) cell, with which they are
isostructural. Failure policy: a failed relaxation of the target or of an elemental
reference fails the analysis; a failed competing compound fails it too unless
``allow_incomplete`` is set, in which case the hull is built without it and the
document says ``complete: false`` and names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Maker, OnMissing, job
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Composition, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.makers.base import PotentialInput, current_job_dir
from sse_flows.makers.relax import RelaxMaker
from sse_flows.provenance import PotentialProvenance, RunProvenance, package_version
from sse_flows.schemas import RelaxOutput, StructureSummary
from sse_flows.settings import get_settings
from sse_flows.thermo.corrections import CorrectionsRecord, apply_corrections
from sse_flows.thermo.hull import (
    IncompleteHullError,
    StabilityError,
    analyze_hull,
    make_entry,
    missing_phases,
    missing_references,
    require_references,
)
from sse_flows.thermo.window import WindowResult, electrochemical_window, plot_window

#: Experimental volumes per atom (A^3) of solid Cl2 and Br2 (Cmca, low temperature),
#: used to scale the I2 cell before the potential relaxes it.
HALOGEN_VOLUMES = {"Cl": 28.9, "Br": 32.5}


class EntryRecord(BaseModel):
    """One phase of the hull: where its energy came from and where it lies."""

    label: str = Field(description="Name of the phase (prototype name, file stem, ...).")
    formula: str = Field(description="Reduced formula.")
    composition: str = Field(description="Full formula of the computed cell.")
    energy_eV: float = Field(description="Total energy from the potential (uncorrected).")
    energy_per_atom_eV: float = Field(description="Uncorrected energy per atom, eV.")
    correction_eV_atom: float = Field(description="Correction applied per atom, eV.")
    e_above_hull_eV_atom: float = Field(description="Energy above the hull, eV/atom.")
    source: str = Field(
        description="'target', 'prototype', 'user', 'derived' (built by sse-flows) or "
        "'entry' (precomputed energy, used as given)."
    )
    detail: str | None = Field(None, description="Prototype name, file, or derivation.")
    job_uuid: str | None = Field(None, description="uuid of the relax job, if relaxed.")
    converged: bool | None = Field(None, description="Whether the relaxation converged.")


class PhaseFraction(BaseModel):
    """A decomposition product and its share of the target's atoms."""

    label: str = Field(description="Label of the product entry.")
    formula: str = Field(description="Reduced formula of the product.")
    fraction: float = Field(description="Fraction of the target's atoms in this phase.")


class FailedPhase(BaseModel):
    """A competing phase whose relaxation failed."""

    label: str = Field(description="Label of the phase.")
    formula: str = Field(description="Reduced formula.")
    job_uuid: str | None = Field(None, description="uuid of the failed relax job.")


class StabilityOutput(BaseModel):
    """Formation energy, hull distance, decomposition and window of one target."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task_type: str = Field("stability", description="Always 'stability'.")
    summary: StructureSummary = Field(description="Query keys of the relaxed target.")
    structure: Structure | None = Field(None, description="Relaxed target structure.")
    chemsys: str = Field(description="Chemical system of the hull, e.g. Cl-Li.")
    e_form_eV_atom: float = Field(
        description="Formation energy per atom vs the elemental references (corrected "
        "energies when corrections apply)."
    )
    e_hull_eV_atom: float = Field(description="Energy above the hull, eV/atom (>= 0).")
    e_decomp_eV_atom: float | None = Field(
        None,
        description="Phase-separation energy: negative when the target lies below the "
        "hull of the other phases, equal to E_hull otherwise.",
    )
    stable: bool = Field(description="Whether the target is on the hull.")
    decomposition: list[PhaseFraction] = Field(
        description="Equilibrium phases at the target composition (itself if stable)."
    )
    window_V: list[float] | None = Field(
        description="[reduction, oxidation] limits in V vs Li/Li+ (None without Li)."
    )
    window: WindowResult | None = Field(
        None, description="Voltage ranges, phase equilibria, Li uptake, plot path."
    )
    entries: list[EntryRecord] = Field(description="Every entry of the phase diagram.")
    complete: bool = Field(
        description="False when failed competing phases were left out (allow_incomplete)."
    )
    failed_phases: list[FailedPhase] = Field(
        default_factory=list, description="Competing phases whose relaxation failed."
    )
    missing_subsystems: list[str] = Field(
        default_factory=list, description="Subsystems (2+ elements) with no compound."
    )
    missing_known_phases: list[str] = Field(
        default_factory=list,
        description="Phases often on DFT hulls of this system that the entry set lacks "
        "(a hint, not exhaustive).",
    )
    notes: list[str] = Field(default_factory=list, description="Caveats of this result.")
    corrections: CorrectionsRecord = Field(description="Energy corrections applied.")
    pymatgen_version: str | None = Field(description="pymatgen used for the hull.")
    potential: PotentialProvenance | None = Field(
        None, description="Potential of the relaxations."
    )
    provenance: RunProvenance = Field(description="Software, host, times, inputs.")


@dataclass
class CompetingPhase:
    """A structure to relax as a competing phase, with where it came from."""

    label: str
    structure: Structure
    source: str = "user"
    detail: str | None = None


def _as_relax(output: RelaxOutput | dict[str, Any] | None) -> RelaxOutput | None:
    if output is None or isinstance(output, RelaxOutput):
        return output
    return RelaxOutput.model_validate(output)


def _entry_from_dict(data: ComputedEntry | dict[str, Any]) -> ComputedEntry:
    if isinstance(data, ComputedEntry):
        entry = data
    elif "@class" in data:
        entry = ComputedEntry.from_dict(data)
    else:
        label = str(data.get("label", data["composition"]))
        entry = make_entry(data["composition"], float(data["energy"]), label, "entry")
    entry.data.setdefault("label", entry.entry_id or entry.composition.reduced_formula)
    entry.data["source"] = "entry"
    return entry


@dataclass
class StabilityAnalysisMaker(Maker):
    """Collect relaxed energies into a phase diagram and analyse the target.

    ``corrections``: 'none' (default: one potential's energies compared among
    themselves) or 'mp2020_anion' (MP2020 anion corrections from pymatgen's yaml,
    recorded entry by entry). ``window``: compute the Li window when Li is present.
    """

    name: str = "stability analysis"
    corrections: str = "none"
    oxidation_states: dict[str, float] | None = None
    window: bool = True
    open_element: str = "Li"
    allow_incomplete: bool = False

    @job(output_schema=StabilityOutput)
    def make(
        self,
        target: RelaxOutput | dict[str, Any] | None,
        competing: Sequence[RelaxOutput | dict[str, Any] | None],
        meta: Sequence[dict[str, Any]],
        entries: Sequence[dict[str, Any]] | None = None,
    ) -> StabilityOutput:
        """Build the hull from relaxed outputs (``meta`` describes each) and entries."""
        provenance = RunProvenance.start(asdict(self))
        relaxed_target = _as_relax(target)
        if relaxed_target is None:
            raise StabilityError(
                "The relaxation of the target failed; see its relax job in the store."
            )
        tcomp = relaxed_target.structure.composition
        elements = sorted(el.symbol for el in tcomp.elements)
        target_entry = make_entry(
            tcomp,
            relaxed_target.energy,
            tcomp.reduced_formula,
            "target",
            job_uuid=meta[0].get("job_uuid") if meta else None,
        )
        others: list[ComputedEntry] = []
        failed: list[FailedPhase] = []
        records_meta: dict[str, dict[str, Any]] = {
            target_entry.data["label"]: {
                "source": "target",
                "job_uuid": meta[0].get("job_uuid") if meta else None,
                "converged": relaxed_target.converged,
            }
        }
        for output, info in zip(competing, meta[1:], strict=True):
            out = _as_relax(output)
            if out is None:
                failed.append(
                    FailedPhase(
                        label=info["label"],
                        formula=info["formula"],
                        job_uuid=info.get("job_uuid"),
                    )
                )
                continue
            label = _unique(info["label"], records_meta)
            records_meta[label] = {**info, "converged": out.converged}
            others.append(
                make_entry(out.structure.composition, out.energy, label, info["source"])
            )
        for data in entries or []:
            entry = _entry_from_dict(data)
            label = _unique(str(entry.data["label"]), records_meta)
            entry.data["label"] = label
            records_meta[label] = {"source": "entry", "detail": "precomputed entry"}
            others.append(entry)
        failed_refs = [f for f in failed if Composition(f.formula).is_element]
        if failed_refs:
            raise StabilityError(
                "Relaxation of elemental reference(s) "
                f"{', '.join(f.label for f in failed_refs)} failed, so formation energies "
                "cannot be computed; see their relax jobs, or supply the references as "
                "precomputed entries."
            )
        require_references([target_entry, *others], elements)
        notes: list[str] = []
        if failed and not self.allow_incomplete:
            raise IncompleteHullError(
                f"Relaxation of competing phase(s) {', '.join(f.label for f in failed)} "
                "failed; without them E_hull may be too low. See their relax jobs, or set "
                "allow_incomplete=True (CLI --allow-incomplete) to build the hull without "
                "them (the result is then flagged complete: false)."
            )
        if failed:
            notes.append(
                "Hull built without failed phases "
                f"{', '.join(f.label for f in failed)}: E_hull is a lower bound."
            )
        unconverged = [k for k, v in records_meta.items() if v.get("converged") is False]
        if unconverged:
            notes.append(f"Relaxations not converged to fmax: {', '.join(unconverged)}.")
        corrected, record = apply_corrections(
            [target_entry, *others], self.corrections, self.oxidation_states
        )
        target_c, others_c = corrected[0], corrected[1:]
        hull = analyze_hull(target_c, others_c)
        empty, absent = missing_phases([target_c, *others_c], elements)
        if empty or absent:
            notes.append(
                "The hull may be incomplete: "
                + (f"no compound in {', '.join(empty)}; " if empty else "")
                + (f"known phases absent: {', '.join(absent)}." if absent else "")
            )
        window: WindowResult | None = None
        if self.window and self.open_element in elements and len(elements) > 1:
            window = electrochemical_window(target_c, others_c, self.open_element)
            folder = current_job_dir(get_settings().work_dir, "stability")
            window.plot = str(
                plot_window(window, folder / "window.png", title=tcomp.reduced_formula)
            )
        records = []
        for entry in corrected:
            label = str(entry.data["label"])
            info = records_meta[label]
            records.append(
                EntryRecord(
                    label=label,
                    formula=entry.composition.reduced_formula,
                    composition=entry.composition.formula,
                    energy_eV=float(entry.uncorrected_energy),
                    energy_per_atom_eV=float(entry.uncorrected_energy_per_atom),
                    correction_eV_atom=float(entry.correction_per_atom),
                    e_above_hull_eV_atom=hull.e_above_hull[label],
                    source=str(info["source"]),
                    detail=info.get("detail"),
                    job_uuid=info.get("job_uuid"),
                    converged=info.get("converged"),
                )
            )
        return StabilityOutput(
            summary=StructureSummary.of(relaxed_target.structure),
            structure=relaxed_target.structure,
            chemsys="-".join(elements),
            e_form_eV_atom=hull.e_form_eV_atom,
            e_hull_eV_atom=hull.e_hull_eV_atom,
            e_decomp_eV_atom=hull.e_decomp_eV_atom,
            stable=hull.stable,
            decomposition=[PhaseFraction(**asdict(p)) for p in hull.decomposition],
            window_V=window.window_V if window else None,
            window=window,
            entries=records,
            complete=not failed,
            failed_phases=failed,
            missing_subsystems=empty,
            missing_known_phases=absent,
            notes=notes,
            corrections=record,
            pymatgen_version=package_version("pymatgen"),
            potential=relaxed_target.potential,
            provenance=provenance.finish(),
        )


def _unique(label: str, taken: dict[str, Any]) -> str:
    if label not in taken:
        return label
    i = 2
    while f"{label}-{i}" in taken:
        i += 1
    return f"{label}-{i}"


def prototype_phases(
    elements: Sequence[str], exclude_formula: str | None = None
) -> list[CompetingPhase]:
    """Ordered shipped prototypes whose elements all lie in ``elements``."""
    from sse_flows.structures import list_prototypes, load_prototype

    out = []
    for info in list_prototypes():
        structure = load_prototype(info.name)
        symbols = {el.symbol for el in structure.composition.elements}
        if not symbols <= set(elements) or not structure.is_ordered:
            continue
        if structure.composition.reduced_formula == exclude_formula:
            continue
        out.append(CompetingPhase(info.name, structure, "prototype", info.name))
    return out


def derived_halogen(symbol: str) -> CompetingPhase:
    """Solid X2 (Cmca) from the shipped I2 cell: I -> X, scaled to X2's volume."""
    from sse_flows.structures import load_prototype

    if symbol not in HALOGEN_VOLUMES:
        raise StabilityError(f"No derived reference for {symbol}; supply its structure.")
    structure = load_prototype("I2").copy()
    structure.replace_species({"I": symbol})
    structure.scale_lattice(HALOGEN_VOLUMES[symbol] * len(structure))
    return CompetingPhase(
        f"{symbol}2", structure, "derived", f"I2 (Cmca) prototype with I->{symbol}"
    )


def read_competing_dir(directory: str | Path) -> list[CompetingPhase]:
    """Read every structure file of a directory as a user competing phase."""
    from sse_flows.structures import read_structure

    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise StabilityError(f"Competing-phase directory not found: {folder}")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
    )
    return [CompetingPhase(p.stem, read_structure(p), "user", str(p)) for p in files]


def _relax_default() -> RelaxMaker:
    return RelaxMaker(name="relax phase", fmax=0.05, max_steps=500)


@dataclass
class StabilityMaker(Maker):
    """Target + competing phases, relaxed with one potential -> hull and window.

    ``use_prototypes`` adds every ordered shipped prototype of the target's system;
    ``derive_halogens`` adds solid Cl2/Br2 built from the I2 cell when no reference
    for Cl or Br is given; ``primitive`` relaxes primitive cells (same energy per
    atom, fewer atoms). Missing elemental references fail when the flow is built.
    """

    name: str = "stability"
    potential: PotentialInput = "chgnet"
    use_prototypes: bool = True
    derive_halogens: bool = True
    primitive: bool = True
    relax_maker: RelaxMaker = field(default_factory=_relax_default)
    analysis_maker: StabilityAnalysisMaker = field(default_factory=StabilityAnalysisMaker)

    def make(
        self,
        structure: Structure,
        competing: Sequence[Structure | CompetingPhase] | str | Path | None = None,
        entries: Sequence[ComputedEntry | dict[str, Any]] | None = None,
    ) -> Flow:
        """Build the flow; ``competing`` is structures, phases, or a directory of files."""
        phases = self.phases(structure, competing, entries)
        target_job = self.relax_maker.make(structure, potential=self.potential)
        target_job.name = f"{self.relax_maker.name} target"
        jobs: list[Job | Flow] = [target_job]
        meta: list[dict[str, Any]] = [
            {
                "label": structure.composition.reduced_formula,
                "formula": structure.composition.reduced_formula,
                "source": "target",
                "detail": None,
                "job_uuid": target_job.uuid,
            }
        ]
        outputs = []
        for phase in phases:
            cell = phase.structure
            if self.primitive:
                cell = cell.get_primitive_structure()
            relax_job = self.relax_maker.make(cell, potential=self.potential)
            relax_job.name = f"{self.relax_maker.name} {phase.label}"
            jobs.append(relax_job)
            outputs.append(relax_job.output)
            meta.append(
                {
                    "label": phase.label,
                    "formula": cell.composition.reduced_formula,
                    "source": phase.source,
                    "detail": phase.detail,
                    "job_uuid": relax_job.uuid,
                }
            )
        serial = [
            e.as_dict() if isinstance(e, ComputedEntry) else dict(e) for e in entries or []
        ]
        analysis = self.analysis_maker.make(target_job.output, outputs, meta, serial)
        analysis.config.on_missing_references = OnMissing.NONE
        jobs.append(analysis)
        return Flow(jobs, output=analysis.output, name=self.name)

    def phases(
        self,
        structure: Structure,
        competing: Sequence[Structure | CompetingPhase] | str | Path | None = None,
        entries: Sequence[ComputedEntry | dict[str, Any]] | None = None,
    ) -> list[CompetingPhase]:
        """Competing phases the flow will relax; raise if an element has no reference."""
        elements = sorted(el.symbol for el in structure.composition.elements)
        target_formula = structure.composition.reduced_formula
        phases: list[CompetingPhase] = []
        if self.use_prototypes:
            phases += prototype_phases(elements, exclude_formula=target_formula)
        if isinstance(competing, str | Path):
            phases += read_competing_dir(competing)
        else:
            for item in competing or []:
                if isinstance(item, CompetingPhase):
                    phases.append(item)
                else:
                    phases.append(CompetingPhase(item.composition.reduced_formula, item))
        outside = [
            p.label
            for p in phases
            if not {el.symbol for el in p.structure.composition.elements} <= set(elements)
        ]
        if outside:
            raise StabilityError(
                f"Competing phases {', '.join(outside)} hold elements outside "
                f"{'-'.join(elements)}; give only phases of the target's system."
            )
        disordered = [p.label for p in phases if not p.structure.is_ordered]
        if disordered:
            raise StabilityError(
                f"Competing phases {', '.join(disordered)} have partial occupancies; "
                "order them first (`sse-flows order`) or give their energies as entries."
            )
        fake = [
            make_entry(p.structure.composition, 0.0, p.label, p.source) for p in phases
        ] + [_entry_from_dict(e) for e in entries or []]
        missing = missing_references(fake, elements)
        if self.derive_halogens:
            for symbol in [s for s in missing if s in HALOGEN_VOLUMES]:
                phases.append(derived_halogen(symbol))
                missing.remove(symbol)
        if missing:
            require_references(
                fake,
                elements,
                hint="Shipped element prototypes: `sse-flows prototypes` (role element)."
                + (
                    " Cl and Br can be derived from I2 (derive_halogens)."
                    if not self.derive_halogens
                    else ""
                ),
            )
        return phases
