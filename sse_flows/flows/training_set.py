"""A training set as paper 001 built it: candidates -> draw -> MD -> strain -> DFT -> file.

Deng et al. (paper 001, "Results", first section; SI 003 adds no settings):

1. candidate structures of each composition (orderings, polymorphs) get an energy from
   the potential (a single point, or a relaxation whose cell then starts the MD);
2. a hull over the candidates' own energies: ``E_hull`` per atom above the lower
   convex hull of energy per atom over composition (found without elemental
   references: :mod:`sse_flows.training.sampling`). Candidates more than
   ``hull_window_meV_atom`` above the lowest candidate *of their composition* are left
   out of the draw (the paper states no window: its preset draws from all);
3. the lowest candidate of each composition is always taken ("the lowest-energy
   structure for each composition was always included"); the other runs are drawn
   with probability ``exp(-E_hull * n / kT)`` at ``boltzmann_temperature`` (800 K),
   ``n`` = atoms per formula unit (the paper's E_hull is per formula unit);
4. NVT MD from each drawn structure (15 ps at 800 K, 1 fs, the first 5 ps
   equilibration), ``frames_per_structure`` (30) frames of the production part;
5. each frame strained by a random symmetric strain, every component uniform in
   [-strain, +strain] (0.03): the paper's "random strain within +-3 %" (no scheme is
   given; a full tensor also samples shear stress);
6. DFT single points (the paper: VASP SCAN; here the labeling preset);
7. one extxyz with ``info['group']`` = the candidate, and a ``training_dataset``
   document.

The jobs are :mod:`sse_flows.makers.training_set`'s, the numbers of steps 2-5
:mod:`sse_flows.training.sampling`'s. The flow is fixed when it is built (one MD job
per slot, as the ordering flow has one relax job per rank): a killed run resumes job
by job, MD from its checkpoint and DFT batches skipping labelled frames. Slots the
draw leaves empty do nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker, OnMissing
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows.labeling import LabelingMaker
from sse_flows.makers.base import PotentialField
from sse_flows.makers.labeling import DatasetMaker, resolve_preset
from sse_flows.makers.md import MDMaker
from sse_flows.makers.relax import RelaxMaker
from sse_flows.makers.static import EnergiesMaker, StaticMaker
from sse_flows.makers.training_set import (
    SampleMDMaker,
    SelectCandidatesMaker,
    StrainFramesMaker,
    TrainingDatasetMaker,
    TrainingLabelBatchMaker,
)
from sse_flows.potentials import PotentialSpec, default_potential
from sse_flows.presets import PresetError, load_preset
from sse_flows.structures import require_ordered
from sse_flows.training.sampling import EnergyPer, FrameSelection, Reference


def _md_default() -> MDMaker:
    """Paper 001: NVT at 800 K, 1 fs, 5 ps equilibration + 10 ps production."""
    return MDMaker(
        name="training md",
        ensemble="nvt",
        thermostat="langevin",
        timestep_fs=1.0,
        sample_interval=10,
        checkpoint_interval=1000,
    )


def _static_default() -> StaticMaker:
    return StaticMaker(name="candidate energy")


@dataclass
class TrainingSetMaker(PotentialField, Maker):
    """Candidate structures -> a labelled, grouped training set (paper 001's recipe).

    Energies: ``relax_maker`` set -> relaxations (their cells start the MD), else
    ``static_maker`` single points. Window: ``hull_window_meV_atom`` above the lowest
    candidate of the same composition (None: no window). Draw: the lowest of each
    composition always (``include_ground_states``), the rest by
    ``exp(-E_hull * n / kT)`` at ``boltzmann_temperature``, ``n`` per
    ``boltzmann_energy``; E is E_hull over all candidates' compositions
    (``boltzmann_reference='hull'``) or above the composition's lowest.

    The draw is *without replacement* by default: a second MD from the same start at
    the same temperature adds little that the first did not sample, while DFT is the
    cost; the weights still decide which structures are run (the first draw follows
    them exactly). ``with_replacement=True`` gives independent draws instead (a
    structure may get several runs; its frames share one group).

    MD: ``md_maker`` (thermostat, time step, frame spacing) at ``md_temperature`` for
    ``md_time_ps``, of which ``md_equilibration_ps`` are not stored; then
    ``frames_per_structure`` frames, ``frame_selection`` 'even' (evenly spaced over
    the production) or 'random' (as the paper says), each strained by a random
    symmetric tensor with components in [-strain, +strain]. Labels: ``labeling``
    (preset, code, batch size, success threshold), one batch job per
    ``labeling.frames_per_job`` frames (whole MD runs).
    """

    name: str = "training set"
    potential: PotentialSpec = field(default_factory=default_potential)
    preset: str | None = None
    static_maker: StaticMaker = field(default_factory=_static_default)
    relax_maker: RelaxMaker | None = None
    batched_energies: bool = False
    hull_window_meV_atom: float | None = None
    boltzmann_temperature: float = 800.0
    boltzmann_energy: EnergyPer = "formula_unit"
    boltzmann_reference: Reference = "hull"
    n_structures: int = 83
    include_ground_states: bool = True
    with_replacement: bool = False
    seed: int = 0
    md_temperature: float = 800.0
    md_time_ps: float = 15.0
    md_equilibration_ps: float = 5.0
    md_maker: MDMaker = field(default_factory=_md_default)
    frames_per_structure: int = 30
    frame_selection: FrameSelection = "even"
    strain: float = 0.03
    labeling: LabelingMaker = field(default_factory=LabelingMaker)

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> TrainingSetMaker:
        """Build from a preset (``paper001``, ``quick``) or YAML file, with overrides.

        ``md``, ``static``, ``relax`` and ``labeling`` are dicts of those makers'
        fields; an override dict updates the preset's (``relax: null`` turns
        relaxation off).
        """
        try:
            data = load_preset("training_set", preset) if preset else {}
        except PresetError as exc:
            raise SpecError(str(exc)) from exc
        preset_name = data.pop("name", preset)  # the preset's own name, not the set's
        for key in ("md", "static", "relax", "labeling"):
            if key in overrides:
                given = overrides.pop(key)
                base = data.get(key)
                data[key] = (
                    {**base, **given}
                    if isinstance(base, dict) and isinstance(given, dict)
                    else given
                )
        data.update(overrides)
        data.pop("description", None)
        data.pop("preset", None)
        md_settings = data.pop("md", {}) or {}
        owned = sorted(
            set(md_settings) & {"temperature", "equilibration_steps", "production_steps"}
        )
        if owned:
            raise SpecError(
                f"training_set md.{', md.'.join(owned)}: set md_temperature, md_time_ps "
                "and md_equilibration_ps instead (they fix the MD temperature and steps)"
            )
        try:
            md = MDMaker(**{"name": "training md", **_md_fields(), **md_settings})
            static = StaticMaker(**{"name": "candidate energy", **data.pop("static", {})})
            relax_settings = data.pop("relax", None)
            relax = (
                RelaxMaker(**{"name": "candidate relax", **relax_settings})
                if relax_settings is not None
                else None
            )
            labeling = LabelingMaker(**data.pop("labeling", {}))
            return cls(
                md_maker=md,
                static_maker=static,
                relax_maker=relax,
                labeling=labeling,
                preset=preset_name,
                **data,
            )
        except (TypeError, ValueError) as exc:
            raise SpecError(f"training_set preset '{preset}': {exc}") from exc

    def md_for_run(self) -> MDMaker:
        """Return the MD maker with the temperature and the times in steps."""
        if self.md_time_ps <= 0 or not 0 <= self.md_equilibration_ps < self.md_time_ps:
            raise ValueError(
                f"md_time_ps ({self.md_time_ps}) must be positive and larger than "
                f"md_equilibration_ps ({self.md_equilibration_ps}), which is >= 0"
            )
        step = self.md_maker.timestep_fs
        total = round(self.md_time_ps * 1000.0 / step)
        equilibration = round(self.md_equilibration_ps * 1000.0 / step)
        return dataclasses.replace(
            self.md_maker,
            temperature=self.md_temperature,
            equilibration_steps=equilibration,
            production_steps=total - equilibration,
        )

    def n_slots(self, candidates: Sequence[Structure]) -> int:
        """MD runs the flow holds: enough for the draw and every composition's lowest."""
        compositions = {c.composition.reduced_formula for c in candidates}
        slots = self.n_structures
        if self.include_ground_states:
            slots = max(slots, len(compositions))
        if not self.with_replacement:
            slots = min(slots, len(candidates))
        return slots

    def settings_record(self, n_slots: int) -> dict[str, Any]:
        """Return the settings as stored in the dataset document."""
        labeling = resolve_preset(self.labeling.preset, self.labeling.code)
        md = self.md_for_run()
        return {
            "preset": self.preset,
            "potential": self.potential.label(),
            "energies": "relax" if self.relax_maker is not None else "static",
            "batched_energies": self.batched_energies,
            "hull_window_meV_atom": self.hull_window_meV_atom,
            "boltzmann_temperature": self.boltzmann_temperature,
            "boltzmann_energy": self.boltzmann_energy,
            "boltzmann_reference": self.boltzmann_reference,
            "n_structures": self.n_structures,
            "n_slots": n_slots,
            "include_ground_states": self.include_ground_states,
            "with_replacement": self.with_replacement,
            "seed": self.seed,
            "md_temperature": self.md_temperature,
            "md_time_ps": self.md_time_ps,
            "md_equilibration_ps": self.md_equilibration_ps,
            "md": md.protocol_dict(),
            "frames_per_structure": self.frames_per_structure,
            "frame_selection": self.frame_selection,
            "strain": self.strain,
            "strain_scheme": "symmetric tensor, 6 components uniform in [-strain, strain]",
            "labeling": {
                "preset": labeling.name,
                "code": labeling.code,
                "functional": labeling.functional,
                "min_success_fraction": self.labeling.min_success_fraction,
            },
        }

    def check(self, candidates: Sequence[Structure], ids: Sequence[str]) -> None:
        """Refuse settings and inputs that cannot give a training set."""
        if not candidates:
            raise ValueError("No candidate structures given.")
        if len(ids) != len(candidates):
            raise ValueError(f"{len(ids)} ids for {len(candidates)} candidates")
        repeated = [k for k, v in Counter(ids).items() if v > 1]
        if repeated:
            raise ValueError(f"Candidate ids must be unique; repeated: {repeated}")
        for index, structure in enumerate(candidates):
            require_ordered(structure, what=f"training set candidate {ids[index]}")
        if self.n_structures < 1 or self.frames_per_structure < 1:
            raise ValueError("n_structures and frames_per_structure must be >= 1")
        if not 0.0 <= self.strain < 0.5:
            raise ValueError(f"strain must lie in [0, 0.5), not {self.strain}")
        if self.hull_window_meV_atom is not None and self.hull_window_meV_atom < 0:
            raise ValueError("hull_window_meV_atom must be >= 0 (or None: no window)")
        if self.boltzmann_temperature <= 0:
            raise ValueError("boltzmann_temperature must be positive")

    def energy_jobs(
        self, candidates: Sequence[Structure], ids: Sequence[str]
    ) -> tuple[list[Job], Any, list[str]]:
        """Return the energy jobs, their outputs (one per candidate) and job uuids.

        One job per candidate (each resumable, in parallel on a cluster), or with
        ``batched_energies`` one job for all, batched where the family can.
        """
        energy_maker: StaticMaker | RelaxMaker = self.relax_maker or self.static_maker
        if self.batched_energies:
            energies = EnergiesMaker(
                name=f"{energy_maker.name} (all)", relax_maker=self.relax_maker
            ).make(list(candidates), potential=self.potential)
            return [energies], energies.output, [energies.uuid] * len(candidates)
        jobs = []
        for structure, name in zip(candidates, ids, strict=True):
            energy = energy_maker.make(structure, potential=self.potential)
            energy.name = f"{energy_maker.name} {name}"
            jobs.append(energy)
        return jobs, [j.output for j in jobs], [j.uuid for j in jobs]

    def make(
        self,
        candidates: Sequence[Structure],
        ids: Sequence[str] | None = None,
        sources: Sequence[str | None] | None = None,
    ) -> Flow:
        """Build the flow; its output is the ``training_dataset`` document."""
        ids = (
            list(ids) if ids is not None else [f"c{i:03d}" for i in range(len(candidates))]
        )
        sources = list(sources) if sources is not None else [None] * len(candidates)
        self.check(candidates, ids)
        md_maker = self.md_for_run()
        n_slots = self.n_slots(candidates)
        settings = self.settings_record(n_slots)
        energy_jobs, energy_outputs, energy_uuids = self.energy_jobs(candidates, ids)
        select = SelectCandidatesMaker(
            n_structures=self.n_structures,
            hull_window_meV_atom=self.hull_window_meV_atom,
            boltzmann_temperature=self.boltzmann_temperature,
            boltzmann_energy=self.boltzmann_energy,
            boltzmann_reference=self.boltzmann_reference,
            include_ground_states=self.include_ground_states,
            with_replacement=self.with_replacement,
            seed=self.seed,
        ).make(
            energy_outputs,
            ids,
            [c.composition.formula for c in candidates],
            sources,
            energy_uuids,
        )
        select.config.on_missing_references = OnMissing.NONE
        sampler = SampleMDMaker(
            name=md_maker.name, md_maker=md_maker, potential=self.potential
        )
        strainer = StrainFramesMaker(
            frames_per_structure=self.frames_per_structure,
            frame_selection=self.frame_selection,
            strain=self.strain,
            seed=self.seed,
        )
        md_jobs, frame_jobs = [], []
        for slot in range(n_slots):
            md = sampler.make(select.output, slot, potential=self.potential)
            md.name = f"{md_maker.name} {slot}"
            frames = strainer.make(md.output, select.output, slot, md_job_uuid=md.uuid)
            frames.name = f"{strainer.name} {slot}"
            frames.config.on_missing_references = OnMissing.NONE
            md_jobs.append(md)
            frame_jobs.append(frames)
        labels = self.label_flow(frame_jobs)
        final = TrainingDatasetMaker(set_name=self.name).make(
            select.output,
            [j.output for j in md_jobs],
            [j.output for j in frame_jobs],
            labels.output,
            dataset_uuid=labels.jobs[-1].uuid,
            settings=settings,
        )
        final.name = f"{self.name} dataset"
        final.config.on_missing_references = OnMissing.NONE
        jobs: list[Job | Flow] = [*energy_jobs, select]
        for md, frames in zip(md_jobs, frame_jobs, strict=True):
            jobs += [md, frames]
        return Flow([*jobs, labels, final], output=final.output, name=self.name)

    def label_flow(self, frame_jobs: Sequence[Job]) -> Flow:
        """Build the labeling flow's batches and dataset, on frames made at run time."""
        preset = resolve_preset(self.labeling.preset, self.labeling.code)
        batch_maker = dataclasses.replace(
            self.labeling.batch_maker, preset=preset.model_dump(), code=preset.code
        )
        per_batch = max(1, self.labeling.frames_per_job // self.frames_per_structure)
        if self.labeling.max_jobs:
            per_batch = max(per_batch, math.ceil(len(frame_jobs) / self.labeling.max_jobs))
        starts = range(0, len(frame_jobs), per_batch)
        wrapper = TrainingLabelBatchMaker(name=batch_maker.name, batch_maker=batch_maker)
        batches = []
        for batch, start in enumerate(starts):
            group = frame_jobs[start : start + per_batch]
            label = wrapper.make([j.output for j in group], batch)
            label.name = f"{batch_maker.name} {batch + 1}/{len(starts)}"
            label.config.on_missing_references = OnMissing.NONE
            batches.append(label)
        collect = DatasetMaker(
            name=self.labeling.name,
            min_success_fraction=self.labeling.min_success_fraction,
            export_deepmd=self.labeling.export_deepmd,
        ).make([b.output for b in batches], [b.uuid for b in batches])
        collect.name = f"{self.labeling.name} dataset"
        return Flow([*batches, collect], output=collect.output, name=self.labeling.name)


def _md_fields() -> dict[str, Any]:
    """Return the default MD maker's fields that a preset's ``md`` section updates."""
    default = _md_default()
    return {
        "ensemble": default.ensemble,
        "thermostat": default.thermostat,
        "timestep_fs": default.timestep_fs,
        "sample_interval": default.sample_interval,
        "checkpoint_interval": default.checkpoint_interval,
    }
