"""Spec kind of a training set (paper 001's recipe): candidates in, labelled frames out.

Candidates are structure files (a list, or folders: every file in them; a multi-frame
extxyz gives one candidate per frame), or ``stored:<uuid>``: the ordered cells of a
stored ordering document (its job uuid) or of every ordering in a stored ordering or
series run (its flow uuid), best first, ``per_ordering`` of each.

.. code-block:: yaml

    flow: training_set
    potential: chgnet
    candidates: [orderings/]            # or [a.cif, b.cif], or [stored:<uuid>]
    training_set: {preset: quick, n_structures: 4}
    label: {preset: cp2k-pbe-small, frames_per_job: 20}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from jobflow import Flow
from pydantic import Field
from pymatgen.core import Structure

from sse_flows.errors import SpecError
from sse_flows.flows.training_set import TrainingSetMaker
from sse_flows.kinds.base import FlowSpec
from sse_flows.potentials import PotentialSpec

STORED_PREFIX = "stored:"
#: ordering stages, later ones better (the ranking of the last stage counts)
_STAGES = {"ewald": 0, "screened": 1, "relaxed": 2}


class TrainingSetSpec(FlowSpec):
    """Candidates -> energies, hull window, Boltzmann draw, MD, strain, DFT labels."""

    flow: Literal["training_set"]
    candidates: list[str] = Field(
        default_factory=list,
        description="Structure files or folders (relative to the spec), or "
        "'stored:<uuid>' of an ordering document or an ordering/series run.",
    )
    per_ordering: int | None = Field(
        None, ge=1, description="Best cells taken from each stored ordering (None: all)."
    )
    training_set: dict[str, Any] = Field(
        default_factory=dict,
        description="'preset' (paper001, quick, or a YAML file) and TrainingSetMaker "
        "fields; md/relax/static dicts update the preset's.",
    )
    label: dict[str, Any] = Field(
        default_factory=dict,
        description="Labeling settings (LabelingMaker fields: preset, code, "
        "frames_per_job, max_jobs, min_success_fraction, ...); update the preset's.",
    )

    def load_candidates(self) -> tuple[list[Structure], list[str], list[str]]:
        """Read the candidates the spec names: structures, ids and where each came from."""
        if not self.candidates:
            raise SpecError(f"Spec '{self.name}': 'candidates' lists no structure")
        structures: list[Structure] = []
        ids: list[str] = []
        sources: list[str] = []
        for entry in self.candidates:
            if entry.startswith(STORED_PREFIX):
                found = stored_candidates(entry[len(STORED_PREFIX) :], self.per_ordering)
            else:
                path = self.spec_path(entry)
                if not path.exists():
                    raise SpecError(
                        f"Candidate file or folder not found: {path} (relative paths are "
                        f"read from the spec's folder {self.base_dir})"
                    )
                found = read_candidates([path])
            structures += found[0]
            ids += found[1]
            sources += found[2]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise SpecError(
                f"Candidates with the same name: {', '.join(repeated)}; rename the files "
                "(the name is the split group of their frames)"
            )
        return structures, ids, sources

    def maker(self) -> TrainingSetMaker:
        """Return the flow maker: the preset, the overrides, the labeling settings."""
        settings = dict(self.training_set)
        preset = self.preset_value(settings.pop("preset", None))
        settings["potential"] = PotentialSpec.parse(
            settings.get("potential", self.potential), base_dir=self.base_dir
        )
        labeling = dict(settings.pop("labeling", {}) or {})
        labeling.update(self.label)
        if "preset" in labeling:
            labeling["preset"] = self.preset_value(labeling["preset"])
        if labeling:
            settings["labeling"] = labeling
        settings.setdefault("name", self.name)
        return TrainingSetMaker.from_preset(preset, **settings)

    def build_one(self) -> Flow:
        """Read the candidates and build the training set flow."""
        structures, ids, sources = self.load_candidates()
        return self.maker().make(structures, ids, sources)

    def used_potentials(self) -> list[PotentialSpec]:
        """Return the potential of the energies and the MD."""
        return [self.maker().potential]


def stored_candidates(
    uuid: str, per_ordering: int | None = None
) -> tuple[list[Structure], list[str], list[str]]:
    """Ordered cells of a stored ordering job, or of every ordering in a stored run.

    For a run (flow uuid), each ordering sub-flow gives the cells of its last stage
    (relaxed, else screened, else Ewald).
    """
    from pymatgen.core import Structure as PmgStructure

    from sse_flows.stores import get_job_store

    store = get_job_store()
    store.connect()
    try:
        docs = list(store.query({"uuid": uuid, "output.task_type": "ordering"}, load=True))
        if not docs:
            docs = list(
                store.query({"hosts": uuid, "output.task_type": "ordering"}, load=True)
            )
    finally:
        store.close()
    if not docs:
        raise SpecError(
            f"'{uuid}' is not the uuid of a stored ordering job, nor of a run holding "
            "ordering jobs (`sse-flows query --property ordering` lists them)"
        )
    best: dict[str, dict[str, Any]] = {}
    for doc in docs:  # per ordering flow: its last stage
        host = str((doc.get("hosts") or [doc["uuid"]])[0])
        output = doc["output"]
        rank = (_STAGES.get(output.get("stage"), -1), doc.get("index", 1))
        if host not in best or rank > best[host]["rank"]:
            best[host] = {"rank": rank, "output": output, "uuid": doc["uuid"]}
    structures: list[Structure] = []
    ids: list[str] = []
    sources: list[str] = []
    for item in sorted(best.values(), key=lambda b: str(b["output"]["parent_formula"])):
        output = item["output"]
        series = output.get("series") or {}
        label = str(series.get("label") or output["parent_formula"])
        cells = output["structures"][:per_ordering]
        for position, cell in enumerate(cells):
            structures.append(PmgStructure.from_dict(cell))
            ids.append(f"{label}-r{position}")
            sources.append(f"ordering job {item['uuid']} rank {position}")
    return structures, ids, sources


def read_candidates(
    paths: Sequence[str | Path],
) -> tuple[list[Structure], list[str], list[str]]:
    """Read candidate structures from files and folders (every file in a folder).

    A multi-frame file (extxyz, traj) gives one candidate per frame, named
    ``<stem>-<i>``; other files one, named by their stem.
    """
    from sse_flows.dft.frames import read_frames
    from sse_flows.structures import read_structure

    structures: list[Structure] = []
    ids: list[str] = []
    sources: list[str] = []
    files: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
            )
        else:
            files.append(path)
    for path in files:
        if path.suffix in (".extxyz", ".xyz", ".traj", ".h5"):
            frames = read_frames(path)
            names = (
                [path.stem]
                if len(frames) == 1
                else [f"{path.stem}-{i}" for i in range(len(frames))]
            )
        else:
            frames, names = [read_structure(path)], [path.stem]
        structures += frames
        ids += names
        sources += [str(path)] * len(frames)
    return structures, ids, sources
