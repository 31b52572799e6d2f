"""A stored result names its flow, and the flow can be run again from the store alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from jobflow import Flow, Response, job
from typer.testing import CliRunner

from sse_flows.cli.main import app
from sse_flows.errors import SSEFlowsError
from sse_flows.makers import RelaxMaker, StaticMaker
from sse_flows.records import get_output, list_runs, load_run
from sse_flows.runner import resume_flow, run_flow
from sse_flows.stores import get_job_store


def _docs() -> list[dict]:
    store = get_job_store()
    store.connect()
    try:
        return list(store.query({}, properties=["uuid", "name", "hosts", "output"]))
    finally:
        store.close()


def test_output_identifies_its_flow_and_rerun_reproduces_it(cu_cell):
    relax = RelaxMaker(potential="emt", fmax=0.05, relax_cell=True).make(cu_cell)
    static = StaticMaker(potential="emt").make(relax.output.structure)
    record = run_flow(Flow([relax, static], name="cu-check"), spec={"note": "original"})
    assert record.state == "COMPLETED"

    (doc,) = [d for d in _docs() if d["uuid"] == static.uuid]
    output = doc["output"]
    provenance = output["provenance"]
    # everything needed to rebuild the job: settings, model, packages, host, times
    assert provenance["inputs"]["name"] == "static"
    assert provenance["inputs"]["potential"]["name"] == "emt"
    assert provenance["packages"]["ase"]
    assert provenance["host"] and provenance["started_at"] and provenance["ended_at"]
    assert output["input_structure"]["sites"]
    assert output["potential"]["name"] == "emt"
    # the output names the flow that made it, and the store holds that flow
    flow_uuid = doc["hosts"][-1]
    assert load_run(flow_uuid).name == "cu-check"

    result = CliRunner().invoke(app, ["rerun", flow_uuid])
    assert result.exit_code == 0, result.output
    new_uuid = result.output.split("rerun as ")[1].split(":")[0]
    assert new_uuid != flow_uuid

    rerun = load_run(new_uuid)
    assert rerun.state == "COMPLETED"
    assert rerun.spec == {"note": "original", "rerun_of": flow_uuid}
    assert {j.name for j in rerun.jobs} == {"relax", "static"}
    assert not {j.uuid for j in rerun.jobs} & {relax.uuid, static.uuid}
    statics = [d for d in _docs() if d["name"] == "static"]
    assert len(statics) == 2
    energies = [d["output"]["energy"] for d in statics]
    assert energies[0] == pytest.approx(energies[1], abs=1e-9)
    assert {r.flow_uuid for r in list_runs()} == {flow_uuid, new_uuid}


def test_rerun_of_an_unknown_flow_says_where_to_look():
    with pytest.raises(SSEFlowsError, match="sse-flows status"):
        load_run("00000000-0000-0000-0000-000000000000")
    result = CliRunner().invoke(app, ["rerun", "00000000-0000-0000-0000-000000000000"])
    assert result.exit_code == 2


@job
def _square_unless_blocked(x: float, blocker: str) -> float:
    if Path(blocker).exists():
        raise RuntimeError(f"blocked by {blocker}")
    return x * x


@job
def _replace_with_squares(values: list[float], blocker: str) -> Response:
    squares = [_square_unless_blocked(v, blocker) for v in values]
    return Response(replace=Flow(squares, output=[s.output for s in squares]))


def test_failure_inside_a_replacement_flow_fails_the_run_and_resume_finishes_it(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("remove me to unblock")
    outer = _replace_with_squares([2.0, 3.0], str(blocker))
    record = run_flow(Flow([outer], name="replaced"))

    assert record.state == "FAILED"
    dynamic = [j for j in record.jobs if j.created_by == outer.uuid]
    squares = [j for j in dynamic if j.name == "_square_unless_blocked"]
    assert len(squares) == 2
    assert all(j.state == "FAILED" for j in squares)
    assert all(j.error and "blocked by" in j.error for j in squares)
    # the job storing the replacement's output (same uuid, next index) holds references
    (stored,) = [j for j in dynamic if j.uuid == outer.uuid]
    assert stored.index == 2
    assert load_run(record.flow_uuid).state == "FAILED"

    blocker.unlink()
    resumed = resume_flow(record.flow_uuid)
    assert resumed.state == "COMPLETED"
    assert all(j.state == "COMPLETED" for j in resumed.jobs)
    assert get_output(outer.uuid)["output"] == [4.0, 9.0]
