"""Submission through jobflow-remote: routing and project files, then a real SLURM cluster.

The SLURM tests start a single-node cluster with ``slurm/start_cluster.sh`` (cpu and gpu
partitions, one fake GPU gres) and drive jobflow-remote's runner in this process with
an in-memory queue store (no MongoDB server exists here). They skip when the SLURM
daemons are not installed, unless SSE_FLOWS_REQUIRE_SLURM=1 (set by scripts/test.sh),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from jobflow import Flow, Maker, job
from jobflow_remote import set_run_config
from jobflow_remote.config.base import Project
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from sse_flows.cli.main import app
from sse_flows.cluster import ClusterPlan, JobRole, build_project, job_role, route_flow
from sse_flows.cluster.project import SlurmWorkerPlan, write_project
from sse_flows.cluster.routing import environments_needed, potential_family
from sse_flows.cluster.submit import check_environments, submit
from sse_flows.cluster.watch import SubmissionError
from sse_flows.errors import SSEFlowsError
from sse_flows.makers import MDMaker, RelaxMaker, StaticMaker
from sse_flows.makers.ordering import (
    EnumerateOrderingsMaker,
    RankOrderingsMaker,
    RelaxCandidateMaker,
)
from sse_flows.makers.transport import DiffusionMaker
from sse_flows.potentials import PotentialSpec
from sse_flows.records import flow_jobs
from sse_flows.settings import get_settings
from sse_flows.stores import get_job_store

REPO = Path(__file__).resolve().parents[1]
WORKERS = ["gpu", "cpu", "local"]


def _cu() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.7), ["Cu"], [[0, 0, 0]])


# --- routing and project files (no scheduler needed) -------------------------------


def test_roles_follow_the_makers():
    cu = _cu()
    relax = RelaxMaker(potential="emt").make(cu)
    enum = EnumerateOrderingsMaker(supercell=[1, 1, 1]).make(cu)
    candidate = RelaxCandidateMaker().make(enum.output, 0)
    ranked = RankOrderingsMaker().make(enum.output, [candidate.output])
    md = MDMaker(potential="emt").make(relax.output.structure)
    analysis = DiffusionMaker().make(md.output.trajectory.path, md.output.structure, 600.0)
    assert job_role(relax) == JobRole.POTENTIAL
    assert job_role(enum) == JobRole.CPU
    assert job_role(candidate) == JobRole.POTENTIAL
    assert job_role(ranked) == JobRole.ANALYSIS
    assert job_role(analysis) == JobRole.CPU

    flow = Flow([relax, enum, candidate, ranked, analysis])
    chosen = route_flow(flow, WORKERS)
    assert chosen == {
        relax.uuid: "gpu",
        enum.uuid: "cpu",
        candidate.uuid: "gpu",
        ranked.uuid: "local",
        analysis.uuid: "cpu",
    }
    assert relax.config.manager_config["worker"] == "gpu"


@dataclass
class _PickModel(Maker):
    """Stands in for a trainer: a job whose output is a potential made at run time."""

    name: str = "pick model"
    output_family: str = "mace"

    @job
    def make(self, path: str) -> dict:
        return PotentialSpec.parse(f"mace:{path}").as_dict()


def test_families_in_their_own_environment_need_no_worker_of_their_own(
    tmp_path, monkeypatch
):
    """MACE jobs go where potential work goes; the environments they need are known,
    also for a potential made at run time, and submitting without one fails first."""
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(tmp_path / "no-envs"))
    cu = _cu()
    mace = StaticMaker(potential="mace").make(cu)
    chgnet = StaticMaker(potential="chgnet").make(cu)
    ranked = RankOrderingsMaker().make({}, [])
    picked = _PickModel().make("/models/tiny.model")
    later = StaticMaker().make(cu, potential=picked.output)
    flow = Flow([mace, chgnet, ranked, picked, later])
    chosen = route_flow(flow, ["gpu", "cpu"])
    assert chosen[mace.uuid] == chosen[chgnet.uuid] == chosen[later.uuid] == "gpu"
    assert chosen[ranked.uuid] == "cpu"  # no shell worker: analysis falls back to cpu
    jobs = {j.uuid: j for j in flow_jobs(flow)}
    assert potential_family(later, jobs) == "mace"  # through the producing job
    assert potential_family(later) is None  # not resolvable without the flow
    assert environments_needed(flow) == {"mace": ["static", "static"]}
    with pytest.raises(SubmissionError, match="run: sse-flows env create mace"):
        check_environments(flow)


def test_pinned_and_forced_workers():
    cu = _cu()
    pinned = StaticMaker(potential="emt").make(cu)
    set_run_config(pinned, worker="cpu")
    free = StaticMaker(potential="emt").make(cu)
    assert route_flow(Flow([pinned, free]), WORKERS) == {
        pinned.uuid: "cpu",
        free.uuid: "gpu",
    }
    again = StaticMaker(potential="emt").make(cu)
    set_run_config(again, worker="cpu")
    forced = route_flow(
        Flow([again, StaticMaker(potential="emt").make(cu)]), WORKERS, worker="local"
    )
    assert set(forced.values()) == {"local"}
    with pytest.raises(SSEFlowsError, match="worker 'big' is not in the project"):
        route_flow(free, WORKERS, worker="big")


def test_project_has_workers_resources_and_stores(tmp_path):
    plan = ClusterPlan(
        name="site",
        gpu=SlurmWorkerPlan(partition="a100", gpus=2, cpus_per_task=8, modules=["cuda/12"]),
        cpu=SlurmWorkerPlan(partition="standard", time="12:00:00", account="proj42"),
        dft_ranks=64,
        venv=tmp_path / "env",
    )
    project = build_project(plan)
    Project.model_validate(project)
    workers = project["workers"]
    assert set(workers) == {"gpu", "cpu", "local"}
    assert workers["gpu"]["resources"]["gres"] == "gpu:2"
    assert workers["gpu"]["resources"]["partition"] == "a100"
    assert workers["gpu"]["pre_run"].startswith("module load cuda/12\nsource ")
    assert workers["cpu"]["resources"] == {
        "partition": "standard",
        "time": "12:00:00",
        "nodes": 1,
        "ntasks": 1,
        "cpus_per_task": 1,
        "account": "proj42",
    }
    assert workers["local"]["scheduler_type"] == "shell"
    settings = get_settings()
    assert f"export SSE_FLOWS_DB={settings.db}" in workers["cpu"]["pre_run"]
    # model environments (MACE, DeePMD) are found from any worker
    assert f"export SSE_FLOWS_ENVS_DIR={settings.envs_dir}" in workers["gpu"]["pre_run"]
    dft = project["metadata"]["sse_flows"]["role_resources"]["dft"]
    assert dft["ntasks"] == 64 and dft["partition"] == "standard"
    # the JobStore is the one `sse-flows query` and `table` read
    assert project["jobstore"]["docs_store"]["database_path"] == str(settings.db)
    assert project["queue"]["store"]["type"] == "MemoryStore"


def test_mongodb_queue_needs_mongodb_outputs(monkeypatch):
    with pytest.raises(SSEFlowsError, match="SSE_FLOWS_STORE=mongo"):
        build_project(ClusterPlan(queue="mongodb"))
    monkeypatch.setenv("SSE_FLOWS_STORE", "mongo")
    monkeypatch.setenv("SSE_FLOWS_MONGO_URI", "mongodb://db.example.org:27017")
    project = build_project(ClusterPlan(queue="mongodb"))
    Project.model_validate(project)
    assert project["queue"]["store"]["@class"] == "MongoStore"
    assert project["queue"]["store"]["uri"] == "mongodb://db.example.org:27017"
    assert project["jobstore"]["docs_store"]["uri"] == "mongodb://db.example.org:27017"
    assert project["jobstore"]["additional_stores"]["data"]["@class"] == "GridFSStore"


def test_cluster_init_cli_writes_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    args = [
        "cluster",
        "init",
        "--name",
        "site",
        "--folder",
        str(tmp_path),
        "--gpu-partition",
        "v100",
        "--dft-ranks",
        "16",
        "--module",
        "cuda",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "site.yaml").read_text())
    assert data["workers"]["gpu"]["resources"]["partition"] == "v100"
    assert data["metadata"]["sse_flows"]["role_resources"]["dft"]["ntasks"] == 16
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "--force" in again.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


# --- a real single-node SLURM cluster -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start slurmctld, slurmd and munged for this module; stop them afterwards."""
    missing = [
        b for b in ("slurmctld", "slurmd", "munged", "sbatch") if not shutil.which(b)
    ]
    if missing:
        message = (
            f"SLURM not installed ({', '.join(missing)}): bash scripts/setup_system.sh"
        )
        if os.environ.get("SSE_FLOWS_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    # munged wants its socket's folders searchable by all: pytest's tmp dirs are 0700
    root = Path(tempfile.mkdtemp(prefix="sse-slurm-"))
    root.chmod(0o755)
    env = {
        **os.environ,
        "SSE_SLURM_CTLD_PORT": str(_free_port()),
        "SSE_SLURM_D_PORT": str(_free_port()),
    }
    start = subprocess.run(
        ["bash", str(REPO / "slurm" / "start_cluster.sh"), str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert start.returncode == 0, start.stdout + start.stderr
    yield root / "slurm.conf"
    subprocess.run(
        ["bash", str(REPO / "slurm" / "stop_cluster.sh"), str(root)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def project(slurm_cluster, tmp_path, monkeypatch):
    """A jobflow-remote project on the test cluster, polled every second."""
    import jobflow_remote

    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    monkeypatch.setattr(jobflow_remote.SETTINGS, "projects_folder", str(tmp_path / "jfr"))
    plan = ClusterPlan(
        name="testcluster",
        gpu=SlurmWorkerPlan(partition="gpu", gpus=1, time="00:10:00"),
        cpu=SlurmWorkerPlan(partition="cpu", time="00:10:00"),
        poll_seconds=1,
    )
    write_project(plan)
    return plan.name


def _outputs(uuids):
    store = get_job_store()
    store.connect()
    try:
        docs = {d["uuid"]: d["output"] for d in store.query({"uuid": {"$in": list(uuids)}})}
    finally:
        store.close()
    return docs


@pytest.mark.slow
def test_dependent_jobs_on_cpu_and_gpu_partitions_and_a_failing_branch(project):
    cu = _cu()
    relax = RelaxMaker(potential="emt", relax_cell=True).make(cu)  # routed: gpu
    static = StaticMaker(potential="emt").make(relax.output.structure)
    set_run_config(static, worker="cpu")  # B uses A's output, on the cpu partition
    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    broken = StaticMaker(potential="emt").make(licl)  # EMT has no Li or Cl
    after_broken = StaticMaker(potential="emt").make(broken.output.structure)
    flow = Flow([relax, static, broken, after_broken], name="cluster-test")

    result = submit(flow, project_name=project, timeout=600)

    states = {s.uuid: s for s in result.jobs}
    assert states[relax.uuid].state == "COMPLETED"
    assert states[static.uuid].state == "COMPLETED"
    assert states[broken.uuid].state == "FAILED"
    assert "Li" in (states[broken.uuid].error or "")
    assert states[after_broken.uuid].state == "WAITING"  # never ran
    assert states[after_broken.uuid].queue_id is None
    assert result.state == "FAILED"
    assert all(states[u].queue_id for u in (relax.uuid, static.uuid, broken.uuid))

    outputs = _outputs([relax.uuid, static.uuid, broken.uuid])
    assert broken.uuid not in outputs  # no half result stored
    relax_doc, static_doc = outputs[relax.uuid], outputs[static.uuid]
    gpu_job = relax_doc["provenance"]["scheduler"]
    cpu_job = static_doc["provenance"]["scheduler"]
    assert gpu_job["SLURM_JOB_PARTITION"] == "gpu"
    assert gpu_job["CUDA_VISIBLE_DEVICES"] == "0"  # the gres was granted
    assert cpu_job["SLURM_JOB_PARTITION"] == "cpu"
    assert "CUDA_VISIBLE_DEVICES" not in cpu_job
    assert gpu_job["SLURM_JOB_ID"] == states[relax.uuid].queue_id
    # B ran on the structure A relaxed
    relaxed = Structure.from_dict(relax_doc["structure"])
    assert Structure.from_dict(static_doc["input_structure"]).lattice.a == pytest.approx(
        relaxed.lattice.a, abs=1e-6
    )
    assert relaxed.lattice.a != pytest.approx(cu.lattice.a, abs=1e-3)
    assert static_doc["energy"] == pytest.approx(relax_doc["energy"], abs=1e-6)

    # the run is recorded for `sse-flows status`, with workers and SLURM ids
    status = CliRunner().invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "[testcluster]" in status.output
    assert f"slurm {states[static.uuid].queue_id}" in status.output
    assert "not run: a job it depends on failed" in status.output


@pytest.mark.slow
def test_cancelled_slurm_job_ends_failed(project):
    md = MDMaker(
        potential="emt",
        temperature=300,
        production_steps=10_000_000,
        sample_interval=1000,
        checkpoint_interval=1000,
    ).make(_cu() * 2)
    cancelled: list[str] = []

    def cancel_when_running() -> None:
        deadline = time.time() + 300
        while time.time() < deadline and not cancelled:
            out = subprocess.run(
                ["squeue", "-h", "-t", "RUNNING", "-o", "%i"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if out:
                time.sleep(2)  # let the job start its MD
                subprocess.run(["scancel", out[0]], check=True)
                cancelled.append(out[0])
            time.sleep(0.5)

    thread = threading.Thread(target=cancel_when_running, daemon=True)
    thread.start()
    result = submit(md, project_name=project, timeout=600)
    thread.join(timeout=10)
    assert cancelled, "the MD job never reached RUNNING"
    (state,) = result.jobs
    assert state.queue_id == cancelled[0]
    assert state.state == "FAILED"
    assert result.state == "FAILED"
    assert not _outputs([md.uuid])


@pytest.mark.slow
def test_submit_cli_with_a_spec(project, tmp_path):
    spec = tmp_path / "cu.yaml"
    cif = tmp_path / "cu.cif"
    _cu().to(filename=str(cif))
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "cu-static",
                "structure": "cu.cif",
                "potential": "emt",
                "flow": "static",
            }
        )
    )
    result = CliRunner().invoke(
        app, ["submit", str(spec), "--project", project, "--worker", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "COMPLETED" in result.output
    assert "-> cpu" in result.output
    query = CliRunner().invoke(app, ["query", "--formula", "Cu", "--format", "csv"])
    assert query.exit_code == 0, query.output
    rows = [line for line in query.output.splitlines() if "emt" in line]
    assert len(rows) == 1 and "Cu" in rows[0] and "static" in rows[0], query.output
    # the recorded flow goes back to the cluster from the store alone
    flow_uuid = re.search(r"flow (\S+) 'cu-static' -> project", result.output).group(1)
    again = CliRunner().invoke(app, ["rerun", flow_uuid, "--project", project])
    assert again.exit_code == 0, again.output
    assert f"flow {flow_uuid} rerun as " in again.output and "COMPLETED" in again.output
    query = CliRunner().invoke(app, ["query", "--formula", "Cu", "--format", "csv"])
    assert len([line for line in query.output.splitlines() if "emt" in line]) == 2


def _wait_for_empty_queue(timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True
        )
        if not out.stdout.strip():
            return
        time.sleep(0.5)
    raise AssertionError("SLURM jobs still queued after the timeout")


@pytest.mark.slow
def test_fireworks_path_runs_dependent_jobs_through_slurm(
    slurm_cluster, tmp_path, monkeypatch
):
    """FireWorks with a mongomock LaunchPad: one qlaunch at a time (never overlapping)."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "SLURM_CONF": str(slurm_cluster),
        "MONGOMOCK_SERVERSTORE_FILE": str(tmp_path / "launchpad.json"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    (tmp_path / "launchpad.json").write_text("{}")  # mongomock's file-backed "server"
    folder = tmp_path / "fw"
    init = CliRunner().invoke(
        app,
        [
            "cluster",
            "init",
            "--manager",
            "fireworks",
            "--folder",
            str(folder),
            "--gpu-time",
            "00:10:00",
            "--gpu-cpus",
            "1",
            "--cpu-time",
            "00:10:00",
        ],
    )
    assert init.exit_code == 0, init.output
    assert {p.name for p in folder.iterdir()} >= {
        "launchpad.yaml",
        "fworker_gpu.yaml",
        "fworker_cpu.yaml",
        "fworker_local.yaml",
        "qadapter_gpu.yaml",
        "qadapter_cpu.yaml",
    }
    lp = folder / "launchpad.yaml"

    def run(*args: str) -> str:
        done = subprocess.run(
            args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(
        str(bin_dir / "lpad"),
        "-l",
        str(lp),
        "reset",
        "--password",
        time.strftime("%Y-%m-%d"),
    )
    _cu().to(filename=str(tmp_path / "cu.cif"))
    spec = tmp_path / "cu.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "cu-fw",
                "structure": "cu.cif",
                "potential": "emt",
                "flow": "relax_md",
                "relax": {"fmax": 0.05, "relax_cell": True},
                "md": {"temperature": 300, "production_steps": 20, "sample_interval": 10},
            }
        )
    )
    out = run(
        str(bin_dir / "sse-flows"),
        "submit",
        str(spec),
        "--manager",
        "fireworks",
        "--launchpad",
        str(lp),
    )
    assert "added to the LaunchPad" in out
    assert out.count("-> gpu") == 2
    for _ in range(2):  # relax, then the MD that needs its structure
        run(
            str(bin_dir / "qlaunch"),
            "-l",
            str(lp),
            "-w",
            str(folder / "fworker_gpu.yaml"),
            "-q",
            str(folder / "qadapter_gpu.yaml"),
            "singleshot",
        )
        _wait_for_empty_queue()
    states = run(
        str(bin_dir / "lpad"), "-l", str(lp), "get_fws", "-d", "ids", "-s", "COMPLETED"
    )
    assert len(yaml.safe_load(states)) == 2

    store = get_job_store()
    store.connect()
    try:
        docs = {d["name"]: d["output"] for d in store.query({})}
    finally:
        store.close()
    assert set(docs) == {"relax", "md"}
    for doc in docs.values():
        assert doc["provenance"]["scheduler"]["SLURM_JOB_PARTITION"] == "gpu"
        assert doc["provenance"]["scheduler"]["CUDA_VISIBLE_DEVICES"] == "0"
    md_start = Structure.from_dict(docs["md"]["input_structure"])
    assert md_start.lattice.a == pytest.approx(
        Structure.from_dict(docs["relax"]["structure"]).lattice.a, abs=1e-6
    )


# --- the cluster as a newcomer meets it (issue 15) -----------------------------------


def test_requests_fit_the_cluster_and_an_impossible_one_is_refused(
    slurm_cluster, monkeypatch
):
    from sse_flows.cluster.fit import RequestError, Requests, fit_requests
    from sse_flows.cluster.slurm import probe_slurm

    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    info = probe_slurm()
    assert info is not None and set(info.partitions) == {"cpu", "gpu"}
    gpu, cpu = info.partitions["gpu"], info.partitions["cpu"]
    assert gpu.gpus_per_node == 1 and gpu.cpus_per_node == os.cpu_count()
    assert cpu.default and info.gpu_partition() is gpu and info.cpu_partition() is cpu
    fitted = fit_requests(Requests(), info)
    assert (fitted.gpu_partition, fitted.gpus) == ("gpu", 1)
    assert fitted.gpu_cpus == min(4, gpu.cpus_per_node)
    assert fitted.dft_ranks == min(4, cpu.cpus_per_node)
    with pytest.raises(RequestError, match=rf"--gpu-cpus 64 .* have {gpu.cpus_per_node}"):
        fit_requests(Requests(gpu_cpus=64), info)
    with pytest.raises(RequestError, match=r"--gpus 2 .* have 1"):
        fit_requests(Requests(gpus=2), info)
    with pytest.raises(RequestError, match="no such partition; it has cpu, gpu"):
        fit_requests(Requests(gpu_partition="a100"), info)
    # the command refuses it before writing anything
    refused = CliRunner().invoke(
        app, ["cluster", "init", "--gpu-cpus", "64", "--folder", "x"]
    )
    assert refused.exit_code == 2 and "SLURM would never start such a job" in refused.output
    assert not Path("x").exists()
    # writing for another site: defaults kept, and said to be unchecked
    monkeypatch.setenv("SLURM_CONF", "/nonexistent/slurm.conf")
    assert probe_slurm() is None
    unchecked = fit_requests(Requests(), None)
    assert (unchecked.gpu_cpus, unchecked.dft_ranks) == (4, 4)
    assert "not checked" in unchecked.notes[0]


def _newcomer_env(slurm_cluster: Path, home: Path, tmp_path: Path) -> dict[str, str]:
    from tests.conftest import cli_env

    return {
        **cli_env(home),
        "SLURM_CONF": str(slurm_cluster),
        "JFREMOTE_PROJECTS_FOLDER": str(tmp_path / "jfremote"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }


@pytest.mark.slow
def test_the_readme_commands_with_every_default(slurm_cluster, isolated_settings, tmp_path):
    """`sse-flows cluster init && sse-flows submit examples/quickstart.yaml`, as written."""
    env = _newcomer_env(slurm_cluster, isolated_settings, tmp_path)
    init = subprocess.run(
        "sse-flows cluster init && sse-flows submit examples/quickstart.yaml",
        shell=True,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "checked against SLURM" in init.stdout
    assert "quickstart-li2s' -> project sse-flows: COMPLETED" in init.stdout
    live = init.stderr
    assert re.search(r"relax +gpu +slurm \d+ +queued", live) or "running" in live
    assert re.search(r"md +gpu +slurm \d+ +completed", live), live
    assert "slurm -" not in init.stdout  # every job ran as a SLURM job


def _impossible_project(slurm_cluster, tmp_path, monkeypatch, **gpu) -> str:
    import jobflow_remote

    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    monkeypatch.setattr(jobflow_remote.SETTINGS, "projects_folder", str(tmp_path / "jfr"))
    plan = ClusterPlan(  # written without init's check, as for another site
        name="impossible",
        gpu=SlurmWorkerPlan(partition="gpu", time="00:10:00", **gpu),
        cpu=SlurmWorkerPlan(partition="cpu", time="00:10:00"),
        poll_seconds=1,
    )
    write_project(plan)
    return plan.name


def _queue() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


@pytest.mark.parametrize(
    ("gpu", "said"),
    [
        ({"gpus": 1, "cpus_per_task": 64}, r"PartitionConfig.*--gpu-cpus \d+"),
        ({"gpus": 2}, r"SLURM refused job 'static'.*node configuration.*--gpus 1"),
    ],
)
def test_a_job_slurm_can_never_start_fails_the_submission_fast(
    slurm_cluster, tmp_path, monkeypatch, gpu, said
):
    from sse_flows.cluster.watch import SubmissionError
    from sse_flows.records import list_runs

    project = _impossible_project(slurm_cluster, tmp_path, monkeypatch, **gpu)
    job = StaticMaker(potential="emt").make(_cu())
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(SubmissionError, match=said):
        submit(job, project_name=project, timeout=300, report=lines.append)
    assert time.monotonic() - started < 60
    assert _queue() == []  # nothing left queued
    (record,) = list_runs()
    assert record.state == "FAILED" and re.search(said.split(".*")[0], record.error)


@pytest.mark.slow
def test_timeout_and_ctrl_c_cancel_what_was_queued(
    slurm_cluster, isolated_settings, tmp_path, monkeypatch
):
    from sse_flows.cluster.watch import SubmissionError
    from sse_flows.records import list_runs

    project = _impossible_project(slurm_cluster, tmp_path, monkeypatch, gpus=1)
    long_md = MDMaker(
        potential="emt", production_steps=10_000_000, sample_interval=1000
    ).make(_cu() * 2)
    with pytest.raises(SubmissionError, match="timed out after 20 s"):
        submit(long_md, project_name=project, timeout=20)
    assert _queue() == []
    assert "timed out" in list_runs()[0].error

    spec = tmp_path / "long.yaml"
    _cu().to(filename=str(tmp_path / "cu.cif"))
    spec.write_text(
        "structure: cu.cif\npotential: emt\nflow: md\n"
        "md: {production_steps: 10000000, sample_interval: 1000}\n"
    )
    env = {**_newcomer_env(slurm_cluster, isolated_settings, tmp_path),
           "JFREMOTE_PROJECTS_FOLDER": str(tmp_path / "jfr")}  # fmt: skip
    proc = subprocess.Popen(
        ["sse-flows", "submit", str(spec), "--project", project],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and not subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True
        ).stdout.strip()
    ):
        time.sleep(0.5)
    proc.send_signal(__import__("signal").SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "sse-flows rerun" in err
    assert _queue() == []
    runs = [r for r in list_runs() if r.name == "sse-flows run"]
    assert runs and runs[0].state == "FAILED" and "interrupted" in runs[0].error
    # the recorded run goes back to the project it was submitted to
    again = subprocess.run(
        ["sse-flows", "rerun", runs[0].flow_uuid, "--timeout", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 1, again.stderr
    assert "rerun as " in again.stdout and f"on project {project}" in again.stdout
    assert "timed out after 5 s" in again.stderr
    assert _queue() == []
