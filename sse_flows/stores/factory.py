"""Build the JobStore and the run-record store from the settings.

The embedded store is maggma's ``MontyStore`` on sqlite: persistent, no server,
queryable from a fresh process. Two processes opening it at the same moment can race
(montydb rewrites its storage config on connect), so keep one writer at a time.
"""

from __future__ import annotations

from jobflow import JobStore
from maggma.core import Store
from maggma.stores import GridFSStore, MemoryStore, MongoStore, MontyStore

from sse_flows.settings import SSEFlowsSettings, get_settings

OUTPUTS = "outputs"
DATA = "outputs_data"
RUNS = "runs"

_MEMORY: dict[str, MemoryStore] = {}


def _mongo(collection: str, settings: SSEFlowsSettings, gridfs: bool = False) -> Store:
    """Return a MongoDB collection (GridFS for data objects that may exceed 16 MB)."""
    cls = GridFSStore if gridfs else MongoStore
    if settings.mongo_uri:  # from_uri: the deprecated *URIStore classes lose the uri
        return cls.from_uri(
            settings.mongo_uri,
            collection_name=collection,
            database=settings.mongo_database,
        )
    return cls(
        database=settings.mongo_database,
        collection_name=collection,
        host=settings.mongo_host,
        port=settings.mongo_port,
        username=settings.mongo_username or "",
        password=settings.mongo_password or "",
    )


def _store(collection: str, settings: SSEFlowsSettings) -> Store:
    if settings.store == "embedded":
        settings.db.mkdir(parents=True, exist_ok=True)
        return MontyStore(
            collection_name=collection,
            database_path=str(settings.db),
            database_name="sse_flows",
            storage="sqlite",
        )
    if settings.store == "mongo":
        return _mongo(collection, settings)
    # memory: one store per collection for the life of the process
    return _MEMORY.setdefault(collection, MemoryStore(collection_name=collection))


def get_job_store(settings: SSEFlowsSettings | None = None) -> JobStore:
    """Return the JobStore with a ``data`` additional store for large objects."""
    settings = settings or get_settings()
    data = (
        _mongo(DATA, settings, gridfs=True)
        if settings.store == "mongo"
        else _store(DATA, settings)
    )
    return JobStore(_store(OUTPUTS, settings), additional_stores={"data": data})


def get_runs_store(settings: SSEFlowsSettings | None = None) -> Store:
    """Return the store of run records (one per flow run by the CLI)."""
    return _store(RUNS, settings or get_settings())
