"""The stability analysis job: relaxed energies -> hull, formation energy, window.

The flow that relaxes the target and every competing phase is
:class:`sse_flows.flows.stability.StabilityMaker`. Failure policy: a failed
relaxation of the target or of an elemental reference fails the analysis; a failed
competing compound fails it too unless ``allow_incomplete`` is set, in which case the
hull is built without it and the document says ``complete: false`` and names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from jobflow import Maker, job
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry

from sse_flows.documents import (
    EntryRecord,
    FailedPhase,
    PhaseFraction,
    RelaxOutput,
    StabilityOutput,
    StructureSummary,
    coerce,
)
from sse_flows.makers.base import SpecSection, current_job_dir
from sse_flows.provenance import RunProvenance, package_version
from sse_flows.settings import get_settings
from sse_flows.thermo.corrections import CorrectionScheme, apply_corrections
from sse_flows.thermo.hull import (
    IncompleteHullError,
    StabilityError,
    analyze_hull,
    make_entry,
    missing_phases,
    require_references,
)
from sse_flows.thermo.phases import entry_from_dict
from sse_flows.thermo.window import WindowResult, electrochemical_window, plot_window


def _as_relax(output: RelaxOutput | dict[str, Any] | None) -> RelaxOutput | None:
    return None if output is None else coerce(output, RelaxOutput)


@dataclass
class StabilityAnalysisMaker(SpecSection, Maker):
    """Collect relaxed energies into a phase diagram and analyse the target.

    ``corrections``: 'auto' (default: MP2020 anion corrections only where the
    potential's energies lack them, see :func:`~sse_flows.thermo.decide_corrections`),
    'none' or 'mp2020_anion' (forced); the document records what was asked, what was
    applied and why. ``window``: compute the Li window when Li is present.
    """

    resource_role: ClassVar[str] = "analysis"

    name: str = "stability analysis"
    corrections: CorrectionScheme = "auto"
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
            entry = entry_from_dict(data)
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
        unconverged = [k for k, v in records_meta.items() if v.get("converged") is False]
        if unconverged:
            notes.append(f"Relaxations not converged to fmax: {', '.join(unconverged)}.")
        corrected, record = apply_corrections(
            [target_entry, *others],
            self.corrections,
            self.oxidation_states,
            energy_reference=relaxed_target.potential.energy_reference,
        )
        target_c, others_c = corrected[0], corrected[1:]
        hull = analyze_hull(target_c, others_c)
        empty, absent = missing_phases([target_c, *others_c], elements)
        lacking = [p.formula for p in absent if p.role == "hull"]
        bound_reasons = []
        if failed:
            bound_reasons.append(f"failed phases {', '.join(f.label for f in failed)}")
        if lacking:
            bound_reasons.append(f"no structure of known phases {', '.join(lacking)}")
        if bound_reasons:
            notes.append(
                "E_hull is a lower bound (a missing phase can only lower the hull): "
                + "; ".join(bound_reasons)
                + "."
            )
        if empty:
            notes.append(f"No compound in subsystems {', '.join(empty)}.")
        side = [f"{p.formula} ({p.role} side)" for p in absent if p.role != "hull"]
        if side:
            notes.append(
                f"Also absent: {', '.join(side)}; they bound the window, not E_hull."
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
            missing_known_phases=[p.formula for p in absent],
            e_hull_lower_bound="; ".join(bound_reasons) or None,
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
