from pathlib import Path

from maggma.stores import GridFSStore, MemoryStore, MongoStore, MontyStore

from sse_flows.records import get_output, list_runs
from sse_flows.runner import run_flow
from sse_flows.settings import get_settings
from sse_flows.stores import get_job_store


def test_embedded_store_lives_under_sse_flows_db(isolated_settings: Path):
    store = get_job_store()
    assert isinstance(store.docs_store, MontyStore)
    assert store.docs_store.database_path == str(isolated_settings / "db")
    assert isinstance(store.additional_stores["data"], MontyStore)


def test_production_store_is_mongodb_with_gridfs_data(monkeypatch):
    monkeypatch.setenv("SSE_FLOWS_STORE", "mongo")
    monkeypatch.setenv("SSE_FLOWS_MONGO_HOST", "db.cluster")
    monkeypatch.setenv("SSE_FLOWS_MONGO_USERNAME", "alice")
    store = get_job_store()
    assert isinstance(store.docs_store, MongoStore)
    assert store.docs_store.host == "db.cluster"
    assert store.docs_store.username == "alice"
    assert isinstance(store.additional_stores["data"], GridFSStore)
    monkeypatch.setenv("SSE_FLOWS_MONGO_URI", "mongodb+srv://alice:pw@cluster.example/")
    store = get_job_store()
    assert isinstance(store.docs_store, MongoStore)
    assert store.docs_store.uri == "mongodb+srv://alice:pw@cluster.example/"
    assert isinstance(store.additional_stores["data"], GridFSStore)
    assert store.additional_stores["data"].uri == store.docs_store.uri


def test_memory_store_runs_a_flow_in_process(monkeypatch, cu_cell):
    from sse_flows.makers import StaticMaker

    monkeypatch.setenv("SSE_FLOWS_STORE", "memory")
    assert isinstance(get_job_store().docs_store, MemoryStore)
    job = StaticMaker(potential="emt").make(cu_cell)
    record = run_flow(
        job if hasattr(job, "jobs") else _as_flow(job), settings=get_settings()
    )
    assert record.state == "COMPLETED"
    doc = get_output(job.uuid)
    assert doc["output"]["summary"]["formula_pretty"] == "Cu"
    assert doc["output"]["energy_per_atom"] < 0.1
    assert list_runs()[0].flow_uuid == record.flow_uuid


def _as_flow(job):
    from jobflow import Flow

    return Flow([job], output=job.output)
