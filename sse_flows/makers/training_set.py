"""The jobs of a training set (paper 001's recipe): draw, MD, strained frames, dataset.

The flow is :class:`sse_flows.flows.training_set.TrainingSetMaker`; the numbers
(hull, window, Boltzmann draw, frame picks, strains) are
:mod:`sse_flows.training.sampling`'s.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Composition, Structure

from sse_flows.documents import LabelBatchOutput, LabeledDataset, MDOutput, coerce
from sse_flows.documents.training_set import (
    CandidateRecord,
    DrawnSlot,
    TrainingDatasetDoc,
    TrainingFrames,
    TrainingSelection,
)
from sse_flows.makers.base import PotentialJobMaker, SpecSection, current_job_dir
from sse_flows.makers.labeling import LabelBatchMaker
from sse_flows.makers.md import MDMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.provenance import RunProvenance
from sse_flows.settings import get_settings
from sse_flows.training.sampling import (
    EnergyPer,
    FrameSelection,
    Reference,
    TrainingSetError,
    apply_strain,
    atoms_per_formula_unit,
    draw_candidates,
    pick_frames,
    random_strain,
    voigt,
)


def _energy_output(value: Any) -> Any:
    """Return a static or relax output as its document (None stays None)."""
    from sse_flows.documents import RelaxOutput, StaticOutput

    if value is None:
        return None
    task = value.task_type if not isinstance(value, dict) else value.get("task_type")
    return coerce(value, RelaxOutput if task == "relax" else StaticOutput)


@dataclass
class SelectCandidatesMaker(SpecSection, Maker):
    """Energies -> hull, window, ground states, Boltzmann draw (see the module)."""

    resource_role: ClassVar[str] = "analysis"

    name: str = "select candidates"
    n_structures: int = 83
    hull_window_meV_atom: float | None = None
    boltzmann_temperature: float = 800.0
    boltzmann_energy: EnergyPer = "formula_unit"
    boltzmann_reference: Reference = "hull"
    include_ground_states: bool = True
    with_replacement: bool = False
    seed: int = 0

    @job(output_schema=TrainingSelection, data="structures")
    def make(
        self,
        outputs: list[Any] | None,
        ids: list[str],
        formulas: list[str],
        sources: list[str | None],
        job_uuids: list[str],
    ) -> TrainingSelection:
        """Place every candidate on its hull and draw the MD start structures.

        ``outputs`` are the energy jobs' (None where one failed); ``formulas`` the
        candidates' full formulas.
        """
        provenance = RunProvenance.start(dataclasses.asdict(self))
        if outputs is None:  # the one job of batched energies failed
            outputs = [None] * len(ids)
        docs = [_energy_output(o) for o in outputs]
        compositions = [Composition(f) for f in formulas]
        result = draw_candidates(
            compositions,
            [d.energy_per_atom if d is not None else None for d in docs],
            [round(c.num_atoms) for c in compositions],
            n_structures=self.n_structures,
            temperature=self.boltzmann_temperature,
            window_meV_atom=self.hull_window_meV_atom,
            energy_per=self.boltzmann_energy,
            reference=self.boltzmann_reference,
            include_ground_states=self.include_ground_states,
            replace=self.with_replacement,
            seed=self.seed,
        )
        counts = Counter(i for i, _ in result.slots)
        records = []
        for i, (doc, composition) in enumerate(zip(docs, compositions, strict=True)):
            excluded = None
            if doc is None:
                excluded = "energy job failed"
            elif not result.kept[i]:
                excluded = f"above the {self.hull_window_meV_atom} meV/atom window"
            records.append(
                CandidateRecord(
                    id=ids[i],
                    formula=composition.reduced_formula,
                    composition=composition.formula,
                    nsites=round(composition.num_atoms),
                    atoms_per_formula_unit=atoms_per_formula_unit(composition),
                    source=sources[i],
                    energy_job_uuid=job_uuids[i],
                    energy_eV=doc.energy if doc else None,
                    energy_per_atom_eV=doc.energy_per_atom if doc else None,
                    e_above_ground_eV_atom=_finite(result.e_above_ground[i]),
                    e_hull_eV_atom=_finite(result.e_hull[i]),
                    kept=bool(result.kept[i]),
                    excluded=excluded,
                    probability=_finite(result.probability[i]),
                    ground_state=bool(result.ground[i]),
                    times_drawn=counts.get(i, 0),
                )
            )
        potential = next((d.potential for d in docs if d is not None), None)
        return TrainingSelection(
            candidates=records,
            drawn=[
                DrawnSlot(slot=k, candidate=ids[i], reason=reason)
                for k, (i, reason) in enumerate(result.slots)
            ],
            structures=[docs[i].structure for i, _ in result.slots],
            compositions=sorted({c.reduced_formula for c in compositions}),
            settings=dataclasses.asdict(self),
            notes=result.notes,
            potential=potential,
            provenance=provenance.finish(),
        )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass
class SampleMDMaker(PotentialJobMaker):
    """MD from the structure drawn for one slot (None when the draw left it empty).

    The run is ``md_maker``'s (seed + slot, so runs differ); its files are in this
    job's folder, so a killed job rerun resumes from its checkpoint.
    """

    name: str = "training md"
    md_maker: MDMaker = field(default_factory=MDMaker)

    @job
    def make(
        self, selection: Any, slot: int, potential: PotentialSpec | None = None
    ) -> MDOutput | None:
        """Run the MD of this slot."""
        chosen = coerce(selection, TrainingSelection)
        if slot >= len(chosen.structures):
            return None
        maker = dataclasses.replace(self.md_maker, seed=self.md_maker.seed + slot)
        spec = self.potential if potential is None else potential
        output: MDOutput = MDMaker.make.original(  # type: ignore[attr-defined]
            maker, chosen.structures[slot], spec
        )
        return output


@dataclass
class StrainFramesMaker(SpecSection, Maker):
    """Frames of one MD run, each with a random strain (the input of DFT labeling)."""

    resource_role: ClassVar[str] = "cpu"  # reads the trajectory file

    name: str = "training frames"
    frames_per_structure: int = 30
    frame_selection: FrameSelection = "even"
    strain: float = 0.03
    seed: int = 0

    @job(output_schema=TrainingFrames, data="frames")
    def make(
        self,
        md_output: Any,
        selection: Any,
        slot: int,
        md_job_uuid: str | None = None,
    ) -> TrainingFrames:
        """Take the frames, strain them, write them to a file."""
        from ase.io import write

        from sse_flows.md.trajectory import read_trajectory
        from sse_flows.structures.io import to_structure

        provenance = RunProvenance.start(dataclasses.asdict(self))
        if selection is None:
            raise TrainingSetError(
                "The candidate selection job has no output; see its error."
            )
        chosen = coerce(selection, TrainingSelection)
        if slot >= len(chosen.drawn):
            return TrainingFrames(
                slot=slot,
                notes=["no structure was drawn for this slot"],
                provenance=provenance.finish(),
            )
        drawn = chosen.drawn[slot]
        if md_output is None:
            return TrainingFrames(
                slot=slot,
                candidate=drawn.candidate,
                group=drawn.candidate,
                md_job_uuid=md_job_uuid,
                notes=["the MD run failed: see its job; no frames from this slot"],
                provenance=provenance.finish(),
            )
        md = coerce(md_output, MDOutput)
        trajectory = read_trajectory(md.trajectory.path)
        rng = np.random.default_rng([self.seed, slot])
        taken = pick_frames(
            len(trajectory), self.frames_per_structure, self.frame_selection, rng
        )
        notes = []
        if len(taken) < self.frames_per_structure:
            notes.append(
                f"the trajectory holds {len(trajectory)} frames, fewer than "
                f"{self.frames_per_structure}: all were taken"
            )
        frames, strains, ratios = [], [], []
        for k in taken:
            atoms = trajectory.atoms(k)
            atoms.wrap()
            base = to_structure(atoms)
            strain = random_strain(rng, self.strain)
            strained = apply_strain(base, strain)
            frames.append(strained)
            strains.append(strain.tolist())
            ratios.append(float(strained.volume / base.volume))
        indices = [slot * self.frames_per_structure + k for k in range(len(frames))]
        folder = current_job_dir(
            get_settings().work_dir / "training_frames", fallback=f"slot-{slot}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "frames.extxyz"
        images = []
        for frame, index, strain in zip(frames, indices, strains, strict=True):
            atoms = frame.to_ase_atoms()
            atoms.info.update(
                {"group": drawn.candidate, "frame_index": index, "slot": slot}
            )
            atoms.info["strain_voigt"] = np.array(voigt(strain))
            images.append(atoms)
        write(str(path), images, format="extxyz")
        return TrainingFrames(
            slot=slot,
            candidate=drawn.candidate,
            group=drawn.candidate,
            formula=md.structure.composition.reduced_formula,
            md_job_uuid=md_job_uuid,
            temperature=float(md.protocol["temperature"]),
            trajectory=md.trajectory.path,
            n_trajectory_frames=len(trajectory),
            trajectory_indices=taken,
            md_steps=[int(trajectory.steps[k]) for k in taken],
            indices=indices,
            strains=strains,
            volume_ratios=ratios,
            frames=frames,
            frames_file=str(path),
            notes=notes,
            provenance=provenance.finish(),
        )


@dataclass
class TrainingLabelBatchMaker(SpecSection, Maker):
    """Label the frames of several MD runs as one batch of ``batch_maker``.

    The frames exist only once the MD ran, so the batch takes the frames jobs'
    outputs and hands their frames to the labeling flow's own batch job (same
    folders, same ``label.json`` resume, same checks).
    """

    resource_role: ClassVar[str] = "dft"

    name: str = "dft label batch"
    batch_maker: LabelBatchMaker = field(default_factory=LabelBatchMaker)

    @job
    def make(self, frame_sets: list[Any], batch: int = 0) -> LabelBatchOutput:
        """Label every frame of the given sets (failed or empty sets add none)."""
        frames: list[Structure] = []
        indices: list[int] = []
        for value in frame_sets:
            if value is None:
                continue
            frame_set = coerce(value, TrainingFrames)
            frames += frame_set.frames
            indices += frame_set.indices
        output: LabelBatchOutput = LabelBatchMaker.make.original(  # type: ignore[attr-defined]
            self.batch_maker, frames, indices, batch
        )
        return output


@dataclass
class TrainingDatasetMaker(SpecSection, Maker):
    """Labelled frames + where they came from -> one extxyz and its document."""

    resource_role: ClassVar[str] = "cpu"  # reads the DFT dataset beside its folders

    name: str = "training dataset"
    #: the training set's name in its document (a job's name is its maker's: the job
    #: is renamed "<set> dataset" in the flow)
    set_name: str = "training set"

    @job(output_schema=TrainingDatasetDoc)
    def make(
        self,
        selection: Any,
        md_outputs: list[Any],
        frame_sets: list[Any],
        dataset: Any,
        dataset_uuid: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TrainingDatasetDoc:
        """Write the training file (frames grouped by candidate) and describe it."""
        from sse_flows.training.assemble import assemble_training_set

        provenance = RunProvenance.start(
            {"name": self.set_name, "settings": settings or {}}
        )
        if selection is None:
            raise TrainingSetError(
                "The candidate selection job has no output; see its error (or the "
                "energy jobs')."
            )
        chosen = coerce(selection, TrainingSelection)
        if dataset is None:
            raise TrainingSetError(
                f"The DFT dataset job ({dataset_uuid}) has no output: labeling failed. "
                "See the labeling jobs' errors; fix and resume the run."
            )
        folder = current_job_dir(
            get_settings().work_dir / "training_sets", fallback=self.set_name
        )
        return assemble_training_set(
            self.set_name,
            chosen,
            md_outputs,
            frame_sets,
            coerce(dataset, LabeledDataset),
            folder,
            dataset_uuid,
            settings or {},
            provenance,
        )
