"""Ordering as jobs and flows: Ewald stage, potential screen, relaxations, series, CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from jobflow import run_locally
from pymatgen.core import Lattice, Structure

from sse_flows.documents import OrderingDocument
from sse_flows.flows import OrderingMaker
from sse_flows.flows.series import OrderingSeriesMaker
from sse_flows.makers.ordering import EnumerateOrderingsMaker
from sse_flows.stores import get_job_store
from tests.conftest import SSE_FLOWS, cli_env


def li_na_rocksalt() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.4), [{"Li": 0.5, "Na": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3]
    )


def li_vacancy_rocksalt() -> Structure:
    """Li0.5Ag0.5Cl: Li/Ag mixed cations (Ewald-degenerate) are not needed here; use
    Li with vacancies compensated by Cl vacancies so Ewald ranks the arrangements."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), [{"Li": 0.5}, {"Cl": 0.5}], [[0, 0, 0], [0.5] * 3]
    )


def _run(flow):
    store = get_job_store()
    responses = run_locally(flow, store=store, ensure_success=False)
    return store, responses


def _final(store, flow) -> OrderingDocument:
    store.connect()
    return OrderingDocument.model_validate(store.get_output(flow.output.uuid, load=True))


def test_isovalent_ordering_is_screened_then_relaxed_with_chgnet():
    flow = OrderingMaker(
        potential="chgnet",
        top=2,
        enumerate_maker=EnumerateOrderingsMaker(supercell=[2, 1, 1], keep=8),
    ).make(li_na_rocksalt())
    store, _ = _run(flow)
    doc = _final(store, flow)
    assert doc.ewald_degenerate
    assert doc.stage == "relaxed"
    assert doc.ranked_by == "potential_relaxed"
    assert doc.n_distinct == 8 and doc.n_kept == 8 and doc.n_cut == 0
    assert doc.n_relaxed == 2
    relaxed = [c for c in doc.candidates if c.relaxed_energy_eV_atom is not None]
    assert [c.rank for c in relaxed] == [0, 1]
    assert relaxed[0].relaxed_energy_eV_atom <= relaxed[1].relaxed_energy_eV_atom
    assert relaxed[0].relaxed_relative_eV_atom == 0.0
    # the two relaxed were the two best of the single-point screen
    screened = sorted(c.screen_energy_eV_atom for c in doc.candidates)
    assert {c.screen_energy_eV_atom for c in relaxed} == set(screened[:2])
    assert doc.potential is not None and doc.potential.name == "chgnet"
    assert doc.lowest.composition.reduced_formula == "NaLiCl2"
    assert doc.lowest == doc.structures[0]
    # candidate structures live in the data store, not in the output document
    store.connect()
    raw = store.docs_store.query_one({"uuid": flow.jobs[0].uuid})
    assert "blob_uuid" in json.dumps(raw["output"]["structures"], default=str)
    assert store.additional_stores["data"].count() >= 1


def test_ewald_only_flow_and_relaxation_failure_is_not_a_result():
    structure = li_vacancy_rocksalt()
    ewald_only = OrderingMaker(
        potential=None, enumerate_maker=EnumerateOrderingsMaker(supercell=[1, 1, 1], keep=3)
    ).make(structure)
    store, _ = _run(ewald_only)
    doc = _final(store, ewald_only)
    assert doc.stage == "ewald" and doc.ranked_by == "ewald" and not doc.ewald_degenerate
    energies = [c.ewald_energy_eV for c in doc.candidates]
    assert energies == sorted(energies) and len(energies) == 3
    assert doc.n_cut == doc.n_distinct - 3

    # EMT has no Li or Cl: every relaxation fails, and no ranked document is stored
    failing = OrderingMaker(
        potential="emt",
        top=2,
        screen="never",
        enumerate_maker=EnumerateOrderingsMaker(supercell=[1, 1, 1], keep=3),
    ).make(structure)
    store, _ = _run(failing)
    store.connect()
    relaxed_docs = [
        d
        for d in store.query({"output.stage": "relaxed"})
        if d["uuid"] in {j.uuid for j in failing.jobs}
    ]
    assert relaxed_docs == []


def test_anion_exchange_series_gives_one_document_per_member():
    from sse_flows.ordering import search_orderings
    from tests.test_ordering import argyrodite_li_disordered

    host = search_orderings(argyrodite_li_disordered(), supercell=(1, 1, 1), keep=1)
    maker, members = OrderingSeriesMaker.paper000_anion_exchange(
        host.candidates[0].structure, potential=None, fractions=(0.0, 0.25, 0.5), keep=2
    )
    flow = maker.make(members)
    store, _ = _run(flow)
    store.connect()
    outputs = [
        OrderingDocument.model_validate(store.get_output(f.output.uuid, load=True))
        for f in flow.jobs
    ]
    fractions = [d.series["parameters"]["exchange_fraction"] for d in outputs]  # type: ignore[index]
    assert fractions == [0.0, 0.25, 0.5]
    assert [d.series["supercell"] for d in outputs] == [[1, 1, 1]] * 3  # type: ignore[index]
    assert len(outputs[0].candidates) == 1  # f = 0 is already ordered
    assert all(d.lowest.composition.reduced_formula == "Li6PS5Cl" for d in outputs)


def test_order_command(tmp_path: Path, isolated_settings: Path):
    cif = tmp_path / "mixed.cif"
    li_na_rocksalt().to(filename=str(cif))
    env = cli_env(isolated_settings)
    done = subprocess.run(
        [*SSE_FLOWS, "order", str(cif), "--supercell", "2,1,1", "--keep", "4", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["n_distinct"] == 8 and out["n_kept"] == 4 and out["n_cut"] == 4
    assert out["ewald_degenerate"] and out["ranked_by"] == "none"
    assert out["cells"][0]["n_combinations"] == 70

    written = tmp_path / "cells"
    done = subprocess.run(
        [*SSE_FLOWS, "order", str(cif), "--supercell", "2,1,1", "--potential", "chgnet",
         "--top", "1", "--keep", "3", "--write", str(written)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ranked by potential_relaxed" in done.stdout
    assert len(list(written.glob("rank*.cif"))) == 3
    ranked = Structure.from_file(str(sorted(written.glob("rank*.cif"))[0]))
    assert ranked.composition.reduced_formula == "NaLiCl2"

    # the run is recorded like any flow
    status = subprocess.run(
        [*SSE_FLOWS, "status"], capture_output=True, text=True, env=env, check=False
    )
    assert status.stdout.count("COMPLETED") >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--supercell", "1,1"], "3 integers"),
        (["--supercell", "1,1,1"], "multiple of 2"),
        ([], "one of --supercell"),
        (["--supercell", "2,1,1", "--oxidation", "Li=one"], "Li=1"),
        (["--supercell", "2,1,1", "--potential", "mace"], "sse-flows env create mace"),
    ],
)
def test_order_command_bad_input(tmp_path: Path, isolated_settings: Path, args, message):
    cif = tmp_path / "mixed.cif"
    li_na_rocksalt().to(filename=str(cif))
    structure = Structure.from_file(str(cif))
    assert not structure.is_ordered
    if message == "multiple of 2":  # 1 Li:Na site per primitive cell -> needs 2 cells
        prim = li_na_rocksalt().get_primitive_structure()
        prim.to(filename=str(cif))
    done = subprocess.run(
        [*SSE_FLOWS, "order", str(cif), *args],
        capture_output=True,
        text=True,
        env=cli_env(isolated_settings),
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_series_spec_runs_from_a_prototype(isolated_settings: Path):
    from tests.conftest import EXAMPLES

    done = subprocess.run(
        [*SSE_FLOWS, "run", str(EXAMPLES / "series_argyrodite_exchange.yaml"), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(isolated_settings),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    members = [m["output"] for m in result["outputs"]]
    fractions = [m["series"]["parameters"]["exchange_fraction"] for m in members]
    assert fractions == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [len(m["candidates"]) for m in members] == [1, 4, 4, 4, 1]
    # 16 = 4 x 4 ways to swap one Cl (4a) with one free S (4d) in a P1 cell
    assert members[1]["n_combinations"] == 16 and members[2]["n_combinations"] == 36


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "structure: prototype:Li6PS5Cl-ordered\nflow: series\n"
            "series: {kind: shuffle}\norder: {potential: none}\n",
            "series.kind must be one of",
        ),
        (
            "structure: prototype:Li6PS5Q\nflow: order\norder: {supercell: [1, 1, 1]}\n",
            "Li6PS5",
        ),
    ],
)
def test_spec_errors_for_ordering(tmp_path: Path, isolated_settings: Path, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    done = subprocess.run(
        [*SSE_FLOWS, "run", str(spec)],
        capture_output=True,
        text=True,
        env=cli_env(isolated_settings),
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_killed_ordering_run_resumes_job_by_job(isolated_settings: Path):
    import signal
    import sqlite3
    import time

    from sse_flows.structures.prototypes import write_prototype

    cif = write_prototype("Li3YBr6", isolated_settings.parent / "lyb.cif")
    env = cli_env(isolated_settings)
    proc = subprocess.Popen(
        [*SSE_FLOWS, "order", str(cif), "--supercell", "1,1,2", "--potential", "chgnet",
         "--top", "3", "--keep", "5"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = get_job_store()
    deadline = time.time() + 600
    relaxed = 0
    while time.time() < deadline and relaxed == 0:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.5)
        store.connect()
        try:
            relaxed = store.count({"output.task_type": "relax"})
        except sqlite3.OperationalError:  # the run has not created the table yet
            relaxed = 0
        finally:
            store.close()
    assert relaxed >= 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    status = json.loads(
        subprocess.run(
            [*SSE_FLOWS, "status", "--json"], capture_output=True, text=True, env=env
        ).stdout
    )[0]
    assert status["state"] == "KILLED"
    states = [j["state"] for j in status["jobs"]]
    assert states[:2] == ["COMPLETED", "COMPLETED"]  # enumerate, screen
    assert states[-1] == "WAITING"  # the ranking never ran
    resumed = subprocess.run(
        [*SSE_FLOWS, "resume", status["flow_uuid"]], capture_output=True, text=True, env=env
    )
    assert "COMPLETED" in resumed.stdout, resumed.stderr
    doc = json.loads(
        subprocess.run(
            [*SSE_FLOWS, "show", status["flow_uuid"], "--json"],
            capture_output=True,
            text=True,
            env=env,
        ).stdout
    )["output"]
    assert doc["stage"] == "relaxed" and doc["n_relaxed"] == 3
    store.connect()
    # each candidate was relaxed once: the finished one was not redone
    assert store.count({"output.task_type": "relax"}) == 3
