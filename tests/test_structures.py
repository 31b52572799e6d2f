from pathlib import Path

import pytest
from jobflow import run_locally
from pymatgen.core import Lattice, Structure

from sse_flows.errors import DisorderedStructureError, StructureInputError
from sse_flows.makers import StaticMaker
from sse_flows.structures import read_structure, require_ordered


def test_reads_cif_and_poscar(li2s: Structure, tmp_path: Path):
    li2s.to(filename=str(tmp_path / "POSCAR"))
    assert read_structure(tmp_path / "POSCAR").composition == li2s.composition


@pytest.mark.parametrize(
    "content",
    [
        "",
        "data_broken\n_cell_length_a 5.0\nloop_\n_atom_site_label\n",
        "this is not a structure file at all\n",
    ],
)
def test_malformed_files_are_reported(tmp_path: Path, content: str):
    path = tmp_path / "bad.cif"
    path.write_text(content)
    with pytest.raises(StructureInputError, match=r"bad\.cif"):
        read_structure(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(StructureInputError, match="not found"):
        read_structure(tmp_path / "absent.cif")


def _disordered() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m",
        Lattice.cubic(5.7),
        [{"S": 0.5, "Cl": 0.5}, "Li"],
        [[0, 0, 0], [0.25, 0.25, 0.25]],
    )


def test_partial_occupancy_is_refused_with_a_hint():
    with pytest.raises(
        DisorderedStructureError, match="OrderDisorderedStructureTransformation"
    ):
        require_ordered(_disordered())


def test_maker_refuses_partial_occupancy_and_stores_nothing():
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    store = JobStore(MemoryStore())
    job = StaticMaker(potential="chgnet").make(_disordered())
    responses = run_locally(job, store=store)
    assert job.uuid not in responses
    store.connect()
    assert store.count({"uuid": job.uuid}) == 0
    with pytest.raises(DisorderedStructureError, match="4 partially occupied sites"):
        StaticMaker(potential="chgnet").make(_disordered()).run(store)
