"""End to end through the command line, with the store read back from fresh processes."""

import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, SSE_FLOWS, cli_env

STRUCTURE = str(EXAMPLES / "structures" / "Li2S.cif")


def _spec(tmp_path: Path, name: str = "spec.yaml", **md) -> Path:
    spec = {
        "name": "cli-test",
        "structure": STRUCTURE,
        "potential": "chgnet",
        "flow": "relax_md",
        "relax": {"fmax": 0.05, "max_steps": 50},
        "md": {
            "temperature": 600,
            "production_steps": 30,
            "sample_interval": 5,
            "checkpoint_interval": 10,
            **md,
        },
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SSE_FLOWS, *args],
        capture_output=True,
        text=True,
        env=cli_env(home),
        check=check,
        timeout=600,
    )


def test_outputs_survive_the_process_and_are_queryable(
    isolated_settings: Path, tmp_path: Path
):
    result = _cli(isolated_settings, "run", str(_spec(tmp_path)), "--json")
    payload = json.loads(result.stdout)  # stdout holds only the JSON document
    run = payload["run"]
    assert run["state"] == "COMPLETED"
    md_uuid = run["jobs"][1]["uuid"]
    temperature = payload["output"]["output"]["statistics"]["temperature_mean"]

    shown = json.loads(_cli(isolated_settings, "show", md_uuid, "--json").stdout)
    assert shown["output"]["statistics"]["temperature_mean"] == pytest.approx(temperature)
    assert shown["output"]["potential"]["checkpoint_sha256"]
    assert shown["output"]["provenance"]["inputs"]["production_steps"] == 30
    assert Path(shown["output"]["trajectory"]["path"]).is_file()
    # the flow uuid shows the flow's output (the MD document)
    by_flow = json.loads(_cli(isolated_settings, "show", run["flow_uuid"], "--json").stdout)
    assert by_flow["uuid"] == md_uuid
    readable = _cli(isolated_settings, "show", md_uuid).stdout
    assert "Li2S" in readable and "chgnet" in readable and "trajectory" in readable

    status = json.loads(_cli(isolated_settings, "status", "--json").stdout)
    assert status[0]["state"] == "COMPLETED" and len(status[0]["jobs"]) == 2

    # a query from a fresh Python process, straight on the store
    query = (
        "from sse_flows.stores import get_job_store\n"
        "s = get_job_store(); s.connect()\n"
        "docs = list(s.query({'output.summary.formula_pretty': 'Li2S'}))\n"
        "print(sorted(d['output']['task_type'] for d in docs))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", query],
        capture_output=True,
        text=True,
        env=cli_env(isolated_settings),
        check=True,
    )
    assert out.stdout.strip() == "['md', 'relax']"


def test_killed_run_is_reported_and_resumes(isolated_settings: Path, tmp_path: Path):
    spec = _spec(tmp_path, production_steps=160, checkpoint_interval=20, sample_interval=4)
    proc = subprocess.Popen(
        [*SSE_FLOWS, "run", str(spec)],
        env=cli_env(isolated_settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs = isolated_settings / "runs"
    deadline = time.time() + 300
    checkpoint = None
    while time.time() < deadline:
        found = list(runs.glob("*/checkpoint.pkl"))
        if found and pickle.loads(found[0].read_bytes()).step >= 40:
            checkpoint = found[0]
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    assert checkpoint is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = pickle.loads(checkpoint.read_bytes()).step

    status = json.loads(_cli(isolated_settings, "status", "--json").stdout)[0]
    assert status["state"] == "KILLED"
    assert [j["state"] for j in status["jobs"]] == ["COMPLETED", "WAITING"]

    resumed = _cli(isolated_settings, "resume", status["flow_uuid"])
    assert "COMPLETED" in resumed.stdout
    doc = json.loads(_cli(isolated_settings, "show", status["flow_uuid"], "--json").stdout)
    assert doc["output"]["resumed_from_step"] == killed_at
    assert doc["output"]["trajectory"]["n_frames"] == 40
    assert (
        json.loads(_cli(isolated_settings, "status", "--json").stdout)[0]["state"]
        == "COMPLETED"
    )


def test_exploding_md_fails_the_run_and_stores_no_md_output(
    isolated_settings: Path, tmp_path: Path
):
    spec = _spec(
        tmp_path,
        timestep_fs=25.0,
        temperature=1000,
        thermostat="berendsen",
        sample_interval=1,
    )
    result = _cli(isolated_settings, "run", str(spec), check=False)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "MDInstabilityError" in result.stdout
    status = json.loads(_cli(isolated_settings, "status", "--json").stdout)[0]
    assert status["state"] == "FAILED"
    md = status["jobs"][1]
    assert md["state"] == "FAILED" and "ran away" in md["error"]
    missing = _cli(isolated_settings, "show", md["uuid"], check=False)
    assert missing.returncode == 2 and "No output stored" in missing.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("structure: Li2S.cif\nflow: relax\nrelx: {}\n", "relx"),
        ("structure: missing.cif\n", "not found"),
        ("structure: broken.cif\n", "Could not read a structure"),
        (
            "structure: Li2S.cif\nmd: {thermostat: langevin, ensemble: nve}\n",
            "does not fit",
        ),
        ("structure: Li2S.cif\nrelax: {fmaxx: 0.1}\n", "fmaxx"),
        (": : not yaml [\n", "not valid YAML"),
        (
            "structure: Li2S.cif\nflow: md\nmd: {potential: 'sevennet:7net-omat'}\n",
            "not on this",
        ),
        (
            "structure: Li2S.cif\nflow: relax\npotential: mace\n",
            "sse-flows env create mace",
        ),
    ],
)
def test_bad_specs_are_explained(
    isolated_settings: Path, tmp_path: Path, content: str, message: str
):
    (tmp_path / "Li2S.cif").write_text(Path(STRUCTURE).read_text())
    (tmp_path / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    spec = tmp_path / "bad.yaml"
    spec.write_text(content)
    result = _cli(isolated_settings, "run", str(spec), check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_settings_are_explained(isolated_settings: Path, tmp_path: Path):
    env = cli_env(isolated_settings)
    env["SSE_FLOWS_DEVICE"] = "gpu"
    result = subprocess.run([*SSE_FLOWS, "status"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "device" in result.stderr and "Traceback" not in result.stderr


def test_spec_potential_per_maker_and_relative_checkpoint(tmp_path: Path):
    from sse_flows.potentials import PotentialSpec, load_potential
    from sse_flows.spec import FlowSpec

    weights = Path(
        load_potential(PotentialSpec.parse("sevennet")).provenance.checkpoint_path
    )
    (tmp_path / "my7net.pth").write_bytes(weights.read_bytes())
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"structure: {STRUCTURE}\nflow: relax_md\npotential: chgnet\n"
        "md: {potential: {name: sevennet, checkpoint: my7net.pth}}\n"
    )
    flow = FlowSpec.from_file(spec).build()
    relax, md = flow.jobs
    assert relax.maker.potential == PotentialSpec(name="chgnet")
    assert relax.function_kwargs.get("potential") is None
    assert md.maker.potential == PotentialSpec(
        name="sevennet", checkpoint=str((tmp_path / "my7net.pth").resolve())
    )
