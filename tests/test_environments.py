"""Per-family environments, the worker proxy, and MACE/DeePMD run for real.

The environments are built by ``sse-flows env create`` (scripts/test.sh builds them
before the tests; the session fixtures build one that is missing) under
``~/.sse_flows/envs``, which persists between runs on one machine. The tiny models are
trained in each run with the packages' own entry points (tests/tiny_models.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from ase.build import bulk
from jobflow import Flow, run_locally
from typer.testing import CliRunner

from sse_flows.errors import (
    EnvironmentBuildError,
    EnvironmentNotReadyError,
    PotentialError,
    ProxyWorkerError,
    SpecError,
    UnsupportedElementError,
)
from sse_flows.makers import MDMaker, RelaxMaker, StaticMaker
from sse_flows.potentials import PotentialSpec, load_potential
from sse_flows.potentials.environments import (
    create_env,
    env_python,
    env_status,
    list_envs,
)
from sse_flows.potentials.family import FamilyEnvironment
from sse_flows.potentials.proxy import ProxyCalculator
from sse_flows.potentials.registry import batch_predictor
from sse_flows.settings import SSEFlowsSettings, get_settings
from sse_flows.stores import get_job_store
from sse_flows.structures.io import to_structure
from tests.tiny_models import (
    cu_frames,
    direct_predictions,
    random_mattersim,
    train_deepmd,
    train_mace,
    write_extxyz,
)

pytestmark = pytest.mark.slow
ENVS_DIR = Path(os.environ.get("SSE_FLOWS_ENVS_DIR", "~/.sse_flows/envs")).expanduser()


def _shared() -> SSEFlowsSettings:
    """Settings pointing at the machine's environments (the conftest hides them)."""
    return get_settings(envs_dir=ENVS_DIR)


def _ready_python(name: str) -> Path:
    status = env_status(name, _shared())
    if not status.ready:
        create_env(name, _shared(), say=lambda line: print(line, file=sys.stderr))
    return env_python(name, _shared())


@pytest.fixture(scope="session")
def mace_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_mace(_ready_python("mace"), tmp_path_factory.mktemp("mace"))


@pytest.fixture(scope="session")
def deepmd_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return train_deepmd(_ready_python("deepmd"), tmp_path_factory.mktemp("deepmd"))


@pytest.fixture
def shared_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the machine's built environments (conftest isolates everything else)."""
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(ENVS_DIR))


def _workers() -> list[int]:
    """PIDs of this test process's model workers (zombies count as left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"sse_flows.potentials.worker" in cmdline and _parent(entry) == os.getpid():
            found.append(int(entry.name))
    return found


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _cu() -> object:
    atoms = bulk("Cu", "fcc", a=3.62, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.03, seed=7)
    return to_structure(atoms)


# ------------------------------------------------------------------ environments
def test_envs_are_data_listed_and_checked(shared_envs: None, mace_model: Path) -> None:
    names = {s.name for s in list_envs()}
    assert {"mace", "deepmd", "mattersim"} <= names
    result = CliRunner().invoke(_app(), ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    mace = rows["mace"]
    assert mace["ready"] and Path(mace["python"]).is_absolute()
    assert Path(mace["python"]).exists() and mace["packages"]["mace-torch"] == "0.3.16"
    assert mace["packages"]["e3nn"] == "0.4.4" and mace["families"] == ["mace"]
    checked = CliRunner().invoke(_app(), ["check", "mace"])
    assert checked.exit_code == 0 and "mace: ok" in checked.stdout
    again = CliRunner().invoke(_app(), ["create", "mace"])  # idempotent: kept as is
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    unknown = CliRunner().invoke(_app(), ["create", "tensorflow"])
    assert unknown.exit_code == 2 and "Known: deepmd, mace, mattersim" in unknown.stderr


def test_a_failed_build_keeps_its_log_and_is_never_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = FamilyEnvironment(
        name="broken",
        reason="test",
        packages=("sse-flows-no-such-package-anywhere==0.0.1",),
    )
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(tmp_path / "envs"))
    monkeypatch.setattr(
        "sse_flows.potentials.environments.known_environments", lambda: {"broken": broken}
    )
    with pytest.raises(EnvironmentBuildError) as info:
        create_env("broken", say=lambda line: None)
    text = str(info.value)
    assert "failed at step 'install sse-flows-no-such-package-anywhere" in text
    log = tmp_path / "envs" / "broken" / "build.log"
    assert str(log) in text and "sse-flows-no-such-package-anywhere" in log.read_text()
    status = env_status("broken")
    assert not status.ready and status.failed_step.startswith("install")
    assert not (tmp_path / "envs" / "broken" / "sse-flows-env.json").exists()


def test_a_job_without_its_env_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.model"
    model.write_bytes(b"not read")
    monkeypatch.setenv("SSE_FLOWS_ENVS_DIR", str(tmp_path / "no-envs"))
    with pytest.raises(EnvironmentNotReadyError, match="run: sse-flows env create mace"):
        load_potential(PotentialSpec.parse(f"mace:{model}"))
    job = StaticMaker(potential=f"mace:{model}").make(_cu())
    responses = run_locally(Flow([job]), store=get_job_store(), ensure_success=False)
    assert job.uuid not in responses  # failed, nothing stored as success


def test_a_model_file_of_another_family_is_refused(
    shared_envs: None, tmp_path: Path
) -> None:
    _ready_python("deepmd")
    model = tmp_path / "tiny.model"
    model.write_bytes(b"x")
    with pytest.raises(PotentialError, match=r"not a deepmd model file.*mace:"):
        load_potential(PotentialSpec.parse(f"deepmd:{model}"))


# ------------------------------------------------------------------ proxy
@pytest.mark.parametrize("family", ["mace", "deepmd"])
def test_proxy_equals_the_packages_own_evaluation(
    family: str,
    shared_envs: None,
    mace_model: Path,
    deepmd_models: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    model = mace_model if family == "mace" else deepmd_models[0]
    frames = write_extxyz(cu_frames(3, 500), tmp_path / "frames.xyz")
    direct = direct_predictions(env_python(family, _shared()), family, model, frames)
    before = _workers()
    with load_potential(PotentialSpec.parse(f"{family}:{model}"), ["Cu"]) as loaded:
        assert loaded.provenance.environment == family
        assert loaded.provenance.checkpoint_sha256 and loaded.provenance.package_version
        assert loaded.elements == {"Cu"}
        for atoms, ref in zip(cu_frames(3, 500), direct, strict=True):
            atoms.calc = loaded.calculator
            assert abs(atoms.get_potential_energy() - ref["energy"]) < 1e-6
            assert np.abs(atoms.get_forces() - np.array(ref["forces"])).max() < 1e-5
            assert np.abs(atoms.get_stress() - np.array(ref["stress"])).max() < 1e-8
        # many frames per request, batched in the worker where the family can (issue 20)
        predictor = batch_predictor(loaded.calculator, 3)
        batched = predictor.predict(cu_frames(3, 500))
        inner = "batched:mace" if family == "mace" else "one-by-one"
        assert predictor.path == f"worker:{inner}"
        for result, ref in zip(batched, direct, strict=True):
            assert abs(result.energy - ref["energy"]) < 1e-6
            assert np.abs(result.forces - np.array(ref["forces"])).max() < 1e-5
            assert np.abs(result.stress - np.array(ref["stress"])).max() < 1e-8
        with pytest.raises(UnsupportedElementError, match="Au"):
            loaded.check_elements(["Cu", "Au"])
    assert _workers() == before  # stopped with the `with`


def test_neb_through_a_model_in_another_environment(
    shared_envs: None, mace_model: Path
) -> None:
    """Issue 20: every NEB image of a Cu vacancy hop through one MACE worker."""
    from sse_flows.makers.neb import NEBMaker
    from sse_flows.structures.hops import vacancy_hop

    structure = to_structure(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))
    neighbour = int(np.argsort(structure.distance_matrix[0])[1])
    initial, final = vacancy_hop(structure, neighbour, 0)
    before = _workers()
    job = NEBMaker(potential=f"mace:{mace_model}", n_images=3, fmax=0.05).make(
        initial, final
    )
    responses = run_locally(job, store=get_job_store(), ensure_success=True, log=False)
    doc = responses[job.uuid][1].output
    assert doc.potential.environment == "mace"
    assert doc.converged and doc.barrier_eV is not None and doc.barrier_eV > 0
    # the hop is symmetric: the same barrier both ways
    assert doc.reverse_barrier_eV == pytest.approx(doc.barrier_eV, abs=0.01)
    assert _workers() == before  # the job stopped its worker


def test_static_relax_and_nve_through_the_proxy_in_one_flow(
    shared_envs: None, mace_model: Path, deepmd_models: tuple[Path, Path], tmp_path: Path
) -> None:
    """One flow mixes CHGNet (in-process), MACE and DeePMD (workers)."""
    cu = _cu()
    mace = f"mace:{mace_model}"
    deepmd = f"deepmd:{deepmd_models[0]}"
    jobs = [
        StaticMaker(potential="chgnet").make(cu),
        StaticMaker(potential=mace).make(cu),
        RelaxMaker(potential=mace, fmax=0.05, max_steps=300).make(cu),
        RelaxMaker(potential=deepmd, fmax=0.05, max_steps=300).make(cu),
    ]
    for name, potential in (("mace", mace), ("deepmd", deepmd)):
        jobs.append(
            MDMaker(
                potential=potential,
                ensemble="nve",
                temperature=300.0,
                timestep_fs=1.0,
                production_steps=200,
                sample_interval=5,
                checkpoint_interval=1000,
                run_dir=str(tmp_path / f"nve-{name}"),
            ).make(cu)
        )
    before = _workers()
    responses = run_locally(Flow(jobs), store=get_job_store(), ensure_success=True)
    out = [responses[j.uuid][1].output for j in jobs]
    assert out[0].potential.environment is None and out[1].potential.environment == "mace"
    assert out[1].potential.package == "mace-torch"
    assert (
        out[2].potential.environment == "mace" and out[3].potential.environment == "deepmd"
    )
    for relaxed in out[2:4]:
        assert relaxed.converged and relaxed.max_force < 0.05
    for md in out[4:]:
        assert md.steps == 200
        assert abs(md.statistics.total_energy_drift) < 2e-3  # eV/atom/ps: conserved
    assert _workers() == before  # every job stopped its worker


def test_a_crashed_worker_fails_the_call_and_leaves_nothing(
    shared_envs: None, mace_model: Path
) -> None:
    loaded = load_potential(PotentialSpec.parse(f"mace:{mace_model}"), ["Cu"])
    calculator = loaded.calculator
    assert isinstance(calculator, ProxyCalculator) and calculator.alive
    os.kill(calculator.process.pid, signal.SIGKILL)
    atoms = bulk("Cu", "fcc", a=3.62, cubic=True)
    atoms.calc = calculator
    with pytest.raises(ProxyWorkerError, match=r"environment 'mace'.*exited with code -9"):
        atoms.get_potential_energy()
    assert not calculator.alive and calculator.process.poll() is not None
    assert calculator.process.pid not in _workers()  # reaped, no zombie


def test_a_worker_that_cannot_import_its_package_names_the_fix(mace_model: Path) -> None:
    with pytest.raises(ProxyWorkerError, match=r"sse-flows env check mace"):
        ProxyCalculator(  # the main interpreter has no mace package
            environment="mace",
            python=Path(sys.executable),
            spec=PotentialSpec.parse(f"mace:{mace_model}"),
            checkpoint=str(mace_model),
            path=mace_model,
            device="cpu",
        )


def test_compressed_deepmd_model_agrees_with_the_frozen_one(
    shared_envs: None, deepmd_models: tuple[Path, Path]
) -> None:
    frozen, compressed = deepmd_models
    atoms = cu_frames(1, 900)[0]
    energies = []
    for model in (frozen, compressed):
        with load_potential(PotentialSpec.parse(f"deepmd:{model}"), ["Cu"]) as loaded:
            atoms.calc = loaded.calculator
            energies.append(atoms.get_potential_energy() / len(atoms))
    assert abs(energies[0] - energies[1]) < 1e-3  # tabulated embedding: eV/atom


def test_mattersim_loader_through_its_environment(
    shared_envs: None, tmp_path: Path
) -> None:
    """MatterSim's own checkpoint format, loaded by our registry through the proxy."""
    python = _ready_python("mattersim")
    model = random_mattersim(python, tmp_path)
    frames = write_extxyz(cu_frames(2, 700), tmp_path / "frames.xyz")
    direct = direct_predictions(python, "mattersim", model, frames)
    with load_potential(PotentialSpec.parse(f"mattersim:{model}"), ["Cu"]) as loaded:
        assert loaded.provenance.environment == "mattersim"
        assert loaded.provenance.package_version == "1.2.3"
        for atoms, ref in zip(cu_frames(2, 700), direct, strict=True):
            atoms.calc = loaded.calculator
            assert abs(atoms.get_potential_energy() - ref["energy"]) < 1e-6
            assert np.abs(atoms.get_forces() - np.array(ref["forces"])).max() < 1e-5


# ------------------------------------------------------------------ evaluate
def _evaluate_app() -> typer.Typer:
    from sse_flows.cli.evaluate import evaluate

    app = typer.Typer()
    app.command()(evaluate)
    return app


def _app() -> typer.Typer:
    from sse_flows.cli.env import env_app

    return env_app


def test_evaluate_every_family_in_one_command(
    shared_envs: None, mace_model: Path, deepmd_models: tuple[Path, Path], tmp_path: Path
) -> None:
    frames = write_extxyz(cu_frames(4, 300), tmp_path / "cu.extxyz")
    result = CliRunner().invoke(
        _evaluate_app(),
        [
            str(frames),
            "--potential",
            "emt",
            "--potential",
            f"mace:{mace_model},deepmd:{deepmd_models[0]}",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["potential"].split(":")[0]: r for r in json.loads(result.stdout)["results"]}
    assert set(rows) == {"emt", "mace", "deepmd"}
    emt = rows["emt"]  # the labels are EMT's: zero up to extxyz's printed digits
    assert emt["n_frames"] == 4 and emt["energy_mae_meV_atom"] < 1e-3
    assert emt["force_mae_meV_A"] < 1e-3 and emt["stress_mae_GPa"] < 1e-5
    direct = direct_predictions(env_python("mace", _shared()), "mace", mace_model, frames)
    errors = [
        (d["energy"] - a.get_potential_energy()) / len(a)
        for d, a in zip(direct, cu_frames(4, 300), strict=True)
    ]
    expected = 1e3 * float(np.mean(np.abs(errors)))
    assert rows["mace"]["energy_mae_meV_atom"] == pytest.approx(expected, rel=1e-6)
    for row in rows.values():
        assert set(row) >= {
            "energy_rmse_meV_atom",
            "force_rmse_meV_A",
            "stress_mae_GPa",
        }


def test_evaluate_bad_input(shared_envs: None, mace_model: Path, tmp_path: Path) -> None:
    unlabelled = cu_frames(3, 0)
    for atoms in unlabelled[1:]:
        atoms.calc = None
    path = write_extxyz(unlabelled, tmp_path / "partly.extxyz")
    result = CliRunner().invoke(
        _evaluate_app(), [str(path), "--potential", "emt", "--labels", "energy,forces"]
    )
    assert result.exit_code != 0
    assert "frames 1, 2 have no 'energy' label" in result.output
    gold = bulk("Au", "fcc", a=4.08, cubic=True)
    gold.calc = __import__("ase.calculators.emt", fromlist=["EMT"]).EMT()
    gold.get_potential_energy()
    gold_file = write_extxyz([gold], tmp_path / "au.extxyz")
    result = CliRunner().invoke(
        _evaluate_app(), [str(gold_file), "--potential", f"mace:{mace_model}"]
    )
    assert result.exit_code == 1 and "was not trained on Au" in result.output
    missing = CliRunner().invoke(_evaluate_app(), [str(tmp_path / "none.extxyz")])
    assert missing.exit_code == 2 and "uuid of a stored dataset" in missing.output


def test_evaluate_a_stored_labeled_dataset_by_uuid(tmp_path: Path) -> None:
    from sse_flows.spec import EvaluateSpec

    frames = write_extxyz(cu_frames(2, 40), tmp_path / "dataset.extxyz")
    store = get_job_store()
    store.connect()
    store.update(
        {
            "uuid": "dataset-uuid",
            "index": 1,
            "name": "labeling",
            "output": {"task_type": "dft_dataset", "files": {"extxyz": str(frames)}},
            "metadata": {"test_data": True},
        },
        key=["uuid", "index"],
    )
    store.close()
    spec = EvaluateSpec(flow="evaluate", data="dataset-uuid", potential="emt")
    assert spec.data_file() == frames
    folder = EvaluateSpec(flow="evaluate", data=str(tmp_path), potential="emt")
    assert folder.data_file() == frames
    with pytest.raises(SpecError, match="neither a file nor a folder"):
        EvaluateSpec(flow="evaluate", data="no-such-uuid").data_file()


def test_evaluate_is_a_flow_kind(tmp_path: Path) -> None:
    """A spec file runs it for several potentials, like any flow."""
    from sse_flows.records import get_output
    from sse_flows.spec import FlowSpec, run_spec

    write_extxyz(cu_frames(2, 60), tmp_path / "frames.extxyz")
    (tmp_path / "evaluate.yaml").write_text(
        "flow: evaluate\nname: cu check\ndata: frames.extxyz\n"
        "potentials: [emt, chgnet]\nevaluate: {labels: [energy, forces]}\n"
    )
    spec = FlowSpec.from_file(tmp_path / "evaluate.yaml")
    record = run_spec(spec)
    assert record.state == "COMPLETED" and len(record.output_jobs) == 2
    docs = [get_output(uuid)["output"] for uuid in record.output_jobs]
    by_name = {d["potential"]["name"]: d for d in docs}
    assert by_name["emt"]["force_mae_meV_A"] < 1e-3
    assert by_name["chgnet"]["labels"] == ["energy", "forces"]
    assert by_name["chgnet"]["stress_mae_GPa"] is None  # not asked for
    assert by_name["chgnet"]["data"] == str(tmp_path / "frames.extxyz")
    errors = json.loads(Path(by_name["chgnet"]["frames_file"]).read_text())
    assert len(errors) == 2 and errors[0]["formula"] == "Cu"
    example = FlowSpec.from_file(Path(__file__).parents[1] / "examples/evaluate_tiny.yaml")
    assert example.data_file().exists() and example.flow == "evaluate"
