"""Query stored job outputs and join transport, stability and elastic results.

:func:`query_outputs` returns the stored job documents that pass the filters (formula,
chemical system, potential, task type or property, flow/job name, completion date).
:func:`results_frame` joins the latest conductivity, stability, elastic and ordering
result of each (formula, potential name, checkpoint, table preset) into one pandas
DataFrame row.

Columns of :func:`results_frame` (units in the names, see :data:`FRAME_COLUMNS`):

- ``formula`` (reduced formula), ``chemsys``, ``potential``, ``checkpoint``,
  ``checkpoint_sha256``, ``preset`` (of the paper-table flow that made the row)
- stability: ``e_form_eV_atom``, ``e_hull_eV_atom``, ``e_hull_lower_bound`` (why
  E_hull is only a bound, when it is), ``window_low_V``, ``window_high_V`` (V vs
  Li/Li+), ``stability_uuid``
- elastic: ``K_VRH_GPa``, ``G_VRH_GPa``, ``elastic_ions`` (clamped or relaxed),
  ``elastic_uuid``
- conductivity of the main mobile species (Li when computed, otherwise the only one):
  ``sigma_300K_mS_cm``, ``Ea_eV``, ``D_300K_cm2_s``, planar ``D_ab_cm2_s``,
  ``D_ac_cm2_s`` (at ``D_planes_T_K``, the highest simulated temperature), planar
  activation energies ``Ea_ab_eV``, ``Ea_ac_eV`` (Arrhenius fit of the in-plane D over
  the diffusive temperatures), ``conductivity_uuid``
- the same conductivity columns suffixed with the species (``sigma_300K_mS_cm_Na``,
  ``D_300K_cm2_s_Li``, ...), one set per mobile-species set computed
- ordering: ``ordering_energy_eV`` (relaxed energy of the best ordered cell, eV per
  cell), ``ordering_energy_eV_atom``, ``ordering_nsites``, ``ordering_uuid``
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pymatgen.core import Composition

from sse_flows.documents import DOCUMENTS, document_class
from sse_flows.errors import SSEFlowsError, UnknownPotentialError
from sse_flows.potentials import PotentialSpec
from sse_flows.settings import SSEFlowsSettings, get_settings
from sse_flows.stores import get_job_store, get_runs_store

if TYPE_CHECKING:
    import pandas as pd
    from jobflow import JobStore

#: property names accepted by ``--property`` and the task type holding them
PROPERTIES: dict[str, str] = {
    "sigma": "conductivity",
    "sigma_300k": "conductivity",
    "ea": "conductivity",
    "d": "conductivity",
    "diffusivity": "conductivity",
    "e_hull": "stability",
    "ehull": "stability",
    "e_form": "stability",
    "ef": "stability",
    "window": "stability",
    "k": "elastic",
    "g": "elastic",
    "bulk_modulus": "elastic",
    "shear_modulus": "elastic",
    "b0": "eos",
    "energy": "static",
}

#: columns of :func:`results_frame` with their units
FRAME_COLUMNS: dict[str, str] = {
    "formula": "reduced formula",
    "chemsys": "elements joined by '-'",
    "potential": "registry name of the potential",
    "checkpoint": "checkpoint name or path",
    "checkpoint_sha256": "sha256 of the weights",
    "e_form_eV_atom": "eV/atom",
    "e_hull_eV_atom": "eV/atom",
    "e_hull_lower_bound": "why e_hull is only a lower bound (empty: a value)",
    "window_low_V": "V vs Li/Li+",
    "window_high_V": "V vs Li/Li+",
    "K_VRH_GPa": "GPa",
    "G_VRH_GPa": "GPa",
    "elastic_ions": "clamped or relaxed ions in the strained cells",
    "sigma_300K_mS_cm": "mS/cm (Arrhenius extrapolation to 300 K)",
    "Ea_eV": "eV",
    "D_300K_cm2_s": "cm^2/s (Arrhenius extrapolation to 300 K)",
    "D_ab_cm2_s": "cm^2/s, in-plane D at D_planes_T_K",
    "D_ac_cm2_s": "cm^2/s, in-plane D at D_planes_T_K",
    "D_planes_T_K": "K",
    "Ea_ab_eV": "eV",
    "Ea_ac_eV": "eV",
    "ordering_energy_eV": "eV per ordered cell",
    "ordering_energy_eV_atom": "eV/atom of the best ordered cell",
    "ordering_nsites": "atoms in the ordered cell",
    "preset": "table preset of the flow that made the result (empty: not a table flow)",
}

_KEYS = ("formula", "chemsys", "potential", "checkpoint", "preset")

#: job metadata key a paper-table flow stores its preset under
PRESET_KEY = "sse_preset"
#: task types joined into one row of :func:`results_frame`
JOINED = ("conductivity", "stability", "elastic", "ordering")


def formula_key(formula: str) -> str:
    """Return a formula normalised for matching (fractional composition, sorted)."""
    try:
        comp = Composition(formula).fractional_composition
    except Exception as exc:  # pymatgen raises several types for bad formulas
        raise SSEFlowsError(f"not a chemical formula: '{formula}'") from exc
    return " ".join(f"{el.symbol}{amt:.5f}" for el, amt in sorted(comp.items()))


def chemsys_key(chemsys: str) -> str:
    """Return a chemical system as sorted elements joined by '-' (Y-Cl-Li -> Cl-Li-Y)."""
    return "-".join(sorted(e.strip() for e in chemsys.replace(",", "-").split("-") if e))


def parse_date(text: str | date | datetime | None, end: bool = False) -> datetime | None:
    """Parse an ISO date or datetime; a bare date means its start (or end when ``end``)."""
    if text is None or isinstance(text, datetime):
        return _naive(text)
    if isinstance(text, date):
        text = text.isoformat()
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SSEFlowsError(f"not an ISO date: '{text}' (use YYYY-MM-DD)") from exc
    if end and len(text) <= 10:
        value = value.replace(hour=23, minute=59, second=59, microsecond=999999)
    return _naive(value)


def _naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone().replace(tzinfo=None)


def task_types_for(prop: str) -> list[str]:
    """Return the task types a ``--property`` value selects (a task type or a property)."""
    key = prop.strip().lower()
    if key in DOCUMENTS:
        return [key]
    if key in PROPERTIES:
        return [PROPERTIES[key]]
    known = ", ".join([*sorted(DOCUMENTS), *sorted(PROPERTIES)])
    raise SSEFlowsError(f"unknown property or task type '{prop}'. Known: {known}")


def _potential_criteria(potential: PotentialSpec | str) -> dict[str, Any]:
    """Match a potential; a name no family here knows (a plug-in elsewhere) as written."""
    name, checkpoint = None, None
    if isinstance(potential, str):
        try:
            potential = PotentialSpec.parse(potential)
        except UnknownPotentialError:
            name, _, checkpoint = str(potential).partition(":")
    if isinstance(potential, PotentialSpec):
        name, checkpoint = potential.name, potential.checkpoint
    criteria: dict[str, Any] = {"output.potential.name": str(name).strip()}
    if checkpoint:
        criteria["output.potential.checkpoint"] = checkpoint.strip()
    return criteria


def _flow_job_uuids(flow: str, settings: SSEFlowsSettings) -> set[str]:
    """Return uuids of the jobs of runs whose flow name contains ``flow``."""
    runs = get_runs_store(settings)
    runs.connect()
    try:
        uuids: set[str] = set()
        for record in runs.query({}, properties=["name", "jobs"]):
            if flow.lower() in str(record.get("name", "")).lower():
                uuids.update(j["uuid"] for j in record.get("jobs", []) if "uuid" in j)
        return uuids
    finally:
        runs.close()


def query_outputs(
    formula: str | None = None,
    chemsys: str | None = None,
    potential: PotentialSpec | str | None = None,
    task_type: str | Iterable[str] | None = None,
    prop: str | None = None,
    flow: str | None = None,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    store: JobStore | None = None,
    settings: SSEFlowsSettings | None = None,
) -> list[dict[str, Any]]:
    """Return stored job documents passing every filter given, newest first.

    ``formula`` matches the reduced formula of the output structure (any formula of the
    same composition matches, e.g. Li6Y2Cl12 finds Li3YCl6); ``chemsys`` the chemical
    system in any element order; ``potential`` a registry name, optionally
    ``name:checkpoint``; ``task_type`` one or more task types; ``prop`` a property or task
    type name (see :data:`PROPERTIES`); ``flow`` a case-insensitive part of the job name or
    of the name of the flow run that ran the job; ``since``/``until`` bound
    ``completed_at`` (ISO dates, inclusive). Documents without an output are left out.
    """
    settings = settings or get_settings()
    criteria: dict[str, Any] = {"output": {"$ne": None}}
    types: list[str] = []
    if task_type is not None:
        types = [task_type] if isinstance(task_type, str) else list(task_type)
    if prop is not None:
        wanted = task_types_for(prop)
        types = [t for t in types if t in wanted] if types else wanted
        if not types:
            return []
    if types:
        criteria["output.task_type"] = {"$in": types}
    if chemsys is not None:
        criteria["output.summary.chemsys"] = chemsys_key(chemsys)
    if potential is not None:
        criteria.update(_potential_criteria(potential))
    start, end = parse_date(since), parse_date(until, end=True)
    target = formula_key(formula) if formula is not None else None
    if formula is not None:
        elements = sorted({el.symbol for el in Composition(formula).elements})
        system = "-".join(elements)
        if chemsys is not None and chemsys_key(chemsys) != system:
            return []
        criteria["output.summary.chemsys"] = system  # narrows the scan; formula below
    flow_uuids = _flow_job_uuids(flow, settings) if flow else set()

    own = store is None
    job_store = store if store is not None else get_job_store(settings)
    if own:
        job_store.connect()
    try:
        docs = list(job_store.query(criteria))
    finally:
        if own:
            job_store.close()

    selected = []
    for doc in docs:
        output = doc.get("output")
        if not isinstance(output, dict):
            continue
        if target is not None:
            pretty = (output.get("summary") or {}).get("formula_pretty")
            if not pretty or formula_key(pretty) != target:
                continue
        if flow and not (
            flow.lower() in str(doc.get("name", "")).lower()
            or doc.get("uuid") in flow_uuids
        ):
            continue
        completed = _completed(doc)
        if (start or end) and completed is None:
            continue
        if start and completed and completed < start:
            continue
        if end and completed and completed > end:
            continue
        doc.pop("_id", None)
        selected.append(doc)
    selected.sort(key=lambda d: str(d.get("completed_at", "")), reverse=True)
    return selected


def _completed(doc: dict[str, Any]) -> datetime | None:
    value = doc.get("completed_at")
    if isinstance(value, datetime):
        return _naive(value)
    if isinstance(value, str):
        try:
            return _naive(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _key(doc: dict[str, Any]) -> tuple[str, str, str, str, str]:
    output = doc.get("output") or {}
    summary = output.get("summary") or {}
    potential = output.get("potential") or {}
    return (
        str(summary.get("formula_pretty", "")),
        str(summary.get("chemsys", "")),
        str(potential.get("name") or "unknown"),
        str(potential.get("checkpoint") or ""),
        str((doc.get("metadata") or {}).get(PRESET_KEY) or ""),
    )


def query_columns(output: dict[str, Any]) -> dict[str, Any]:
    """Return the flat values a stored output contributes (its class says which)."""
    cls = document_class(output.get("task_type"))
    return cls.query_columns(output) if cls is not None else {}


def join_results(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join documents (newest first): one record per formula, potential, checkpoint, preset.

    Results of a paper-table flow carry its preset, so a table shows the results of
    the preset asked for, not merely the newest ones.
    """
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for doc in docs:
        output = doc.get("output") or {}
        kind = output.get("task_type")
        if kind not in JOINED:
            continue
        key = _key(doc)
        row = rows.setdefault(key, dict(zip(_KEYS, key, strict=True)))
        sha = (output.get("potential") or {}).get("checkpoint_sha256")
        row.setdefault("checkpoint_sha256", sha)
        uuid_col = f"{kind}_uuid"
        values = query_columns(output)
        if kind == "conductivity":
            species = "_".join(output.get("species") or []) or "unknown"
            values.pop("species", None)
            suffixed = {f"{k}_{species}": v for k, v in values.items()}
            if f"conductivity_uuid_{species}" in row:
                continue  # a newer document for this species set was taken
            row.update(suffixed)
            row[f"conductivity_uuid_{species}"] = doc.get("uuid")
            main = "conductivity_uuid" in row
            if not main or (species == "Li" and row.get("_main_species") != "Li"):
                row.update(values)
                row["conductivity_uuid"] = doc.get("uuid")
                row["_main_species"] = species
            continue
        if uuid_col in row:
            continue
        row.update({k: v for k, v in values.items() if k in FRAME_COLUMNS})
        row[uuid_col] = doc.get("uuid")
    for row in rows.values():
        row.pop("_main_species", None)
    return list(rows.values())


def results_frame(
    formula: str | None = None,
    chemsys: str | None = None,
    potential: str | None = None,
    flow: str | None = None,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    store: JobStore | None = None,
    settings: SSEFlowsSettings | None = None,
    preset: str | None = None,
) -> pd.DataFrame:
    """Return conductivity, stability, elastic and ordering results joined per structure.

    One row per (formula, chemsys, potential, checkpoint, preset); the newest document
    of each kind wins. ``preset`` keeps only the results a paper-table flow of that
    preset made. Other filters are those of :func:`query_outputs`. Columns and units:
    see the module docstring and :data:`FRAME_COLUMNS`; a result not computed is NaN.
    """
    import pandas as pd

    docs = query_outputs(
        formula=formula,
        chemsys=chemsys,
        potential=potential,
        task_type=list(JOINED),
        flow=flow,
        since=since,
        until=until,
        store=store,
        settings=settings,
    )
    rows = join_results(docs)
    if preset is not None:
        rows = [r for r in rows if r["preset"] == preset]
    base = [c for c in FRAME_COLUMNS if c in _KEYS or c == "checkpoint_sha256"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(FRAME_COLUMNS))
    for column in FRAME_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    ordered = base + [c for c in FRAME_COLUMNS if c not in base]
    ordered += [c for c in frame.columns if c not in ordered]
    return frame[ordered].sort_values(
        ["formula", "potential", "checkpoint"], ignore_index=True
    )


def flat_records(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one flat record per document: keys, potential and the main values."""
    records = []
    for doc in docs:
        output = doc.get("output") or {}
        formula, chemsys, potential, checkpoint, preset = _key(doc)
        record: dict[str, Any] = {
            "completed_at": str(doc.get("completed_at", ""))[:19],
            "uuid": doc.get("uuid"),
            "name": doc.get("name"),
            "task_type": output.get("task_type"),
            "formula": formula,
            "chemsys": chemsys,
            "potential": potential,
            "checkpoint": checkpoint,
            "preset": preset,
        }
        cls = document_class(output.get("task_type"))
        if cls is not None:
            values = cls.query_columns(output)
            record.update({c: values.get(c) for c in cls.shown_columns})
        records.append(record)
    return records
