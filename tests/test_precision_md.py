"""MD until the error bar is small enough: continued segments, and the precision loop.

EMT copper stands in for an electrolyte: a melt (expanded cell, 3500 K) is the fast
walker, the same cell at 300 K a solid that never diffuses.
"""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from jobflow import Flow, JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

import sse_flows.makers.dynamic as dynamic
import sse_flows.md.engine as engine
from sse_flows.analysis.data import TrajectoryInputError, load_md, load_md_segments
from sse_flows.analysis.transport import analyze_trajectory
from sse_flows.cli.main import app
from sse_flows.documents import ConductivityOutput, DiffusionOutput
from sse_flows.errors import CheckpointMismatchError, SpecError
from sse_flows.flows.conductivity import ConductivityMaker
from sse_flows.makers import MDMaker
from sse_flows.md.engine import CHECKPOINT_FILE, run_md
from sse_flows.md.protocol import MDProtocol
from sse_flows.md.trajectory import read_trajectory
from sse_flows.quiet import harmless
from sse_flows.records import get_output
from sse_flows.runner import resume_flow, run_flow

SEGMENT = {  # one MD segment: 300 steps of 2 fs, a frame every 10 fs
    "thermostat": "berendsen",
    "timestep_fs": 2.0,
    "equilibration_steps": 100,
    "production_steps": 300,
    "sample_interval": 5,
    "checkpoint_interval": 100,
}


class _KilledError(BaseException):
    """Stands in for SIGKILL: not an Exception, so no job catches it."""


def _final_state(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    checkpoint = pickle.loads((run_dir / CHECKPOINT_FILE).read_bytes())
    return checkpoint.positions, checkpoint.momenta


def test_continuation_equals_one_uninterrupted_run(cu_cell: Structure, tmp_path: Path):
    """Segment 1 + its continuation (MDMaker jobs) = one run of the summed length."""
    settings = {
        "potential": "emt",
        "thermostat": "langevin",  # its random generator must carry over as well
        "temperature": 900.0,
        "equilibration_steps": 20,
        "sample_interval": 5,
        "checkpoint_interval": 40,
        "seed": 7,
    }
    whole = MDMaker(production_steps=160, run_dir=str(tmp_path / "whole"), **settings)
    first = MDMaker(production_steps=100, run_dir=str(tmp_path / "s1"), **settings)
    second = MDMaker(production_steps=60, run_dir=str(tmp_path / "s2"), **settings)
    whole_job, first_job = whole.make(cu_cell), first.make(cu_cell)
    second_job = second.make(
        first_job.output.structure, continue_from=first_job.output.run_dir
    )
    store = JobStore(MemoryStore())
    with harmless("jobflow-cd", "jobflow-connected"):
        responses = run_locally(
            Flow([whole_job, first_job, second_job]), store=store, ensure_success=True
        )
    out = responses[second_job.uuid][1].output
    assert out.continued_from == str((tmp_path / "s1").resolve())
    assert out.segment == 2 and out.time_offset_ps == pytest.approx(0.2)
    assert out.steps == 60 and out.equilibration == {}  # no equilibration again

    a = read_trajectory(tmp_path / "whole" / "trajectory.h5")
    b = read_trajectory(tmp_path / "s1" / "trajectory.h5")
    c = read_trajectory(tmp_path / "s2" / "trajectory.h5")
    assert (len(a), len(b), len(c)) == (32, 20, 12)
    np.testing.assert_array_equal(a.steps, np.concatenate([b.steps, c.steps]))
    np.testing.assert_array_equal(a.time_fs, np.concatenate([b.time_fs, c.time_fs]))
    np.testing.assert_array_equal(a.positions, np.concatenate([b.positions, c.positions]))
    positions, momenta = _final_state(tmp_path / "whole")
    positions2, momenta2 = _final_state(tmp_path / "s2")
    np.testing.assert_allclose(positions, positions2, rtol=0, atol=1e-8)
    np.testing.assert_allclose(momenta, momenta2, rtol=0, atol=1e-8)

    # read as one trajectory, the segments are the uninterrupted run
    b_path, c_path = tmp_path / "s1" / "trajectory.h5", tmp_path / "s2" / "trajectory.h5"
    joined = load_md_segments([b_path, c_path])
    single = load_md(tmp_path / "whole" / "trajectory.h5")
    np.testing.assert_array_equal(joined.positions, single.positions)
    np.testing.assert_array_equal(joined.time_fs, single.time_fs)
    assert joined.temperature == 900.0
    with pytest.raises(TrajectoryInputError, match="does not continue"):
        load_md_segments([c_path, b_path])
    with pytest.raises(TrajectoryInputError, match="does not continue"):
        load_md_segments([b_path, b_path])

    atoms = bulk("Cu", cubic=True).repeat(2)
    hotter = MDProtocol(temperature=1200.0, production_steps=20, sample_interval=5)
    with pytest.raises(CheckpointMismatchError, match="other physics"):
        run_md(
            atoms,
            EMT(),
            hotter,
            tmp_path / "x",
            progress=False,
            continue_from=tmp_path / "s1",
        )
    other = run_md(atoms, EMT(), hotter, tmp_path / "hot", progress=False)
    with pytest.raises(TrajectoryInputError, match=r"temperature = 1200\.0"):
        load_md_segments([b_path, other.trajectory_path])
    with pytest.raises(CheckpointMismatchError, match="run directory of its own"):
        run_md(
            atoms,
            EMT(),
            hotter,
            tmp_path / "s1",
            progress=False,
            continue_from=tmp_path / "s1",
        )


def test_killed_continuation_resumes_to_the_same_frames(tmp_path: Path, monkeypatch):
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    protocol = MDProtocol(
        thermostat="langevin",
        temperature=700,
        equilibration_steps=10,
        production_steps=60,
        sample_interval=5,
        checkpoint_interval=20,
    )
    whole = run_md(
        atoms,
        EMT(),
        MDProtocol(**{**vars(protocol), "production_steps": 120}),
        tmp_path / "whole",
        progress=False,
    )
    run_md(atoms, EMT(), protocol, tmp_path / "s1", progress=False)

    original = engine.check_energy

    def killed_at_step_50(energy, step, prot):
        if step == 50:
            raise _KilledError
        original(energy, step, prot)

    monkeypatch.setattr(engine, "check_energy", killed_at_step_50)
    with pytest.raises(_KilledError):
        run_md(
            atoms,
            EMT(),
            protocol,
            tmp_path / "s2",
            progress=False,
            continue_from=tmp_path / "s1",
        )
    monkeypatch.setattr(engine, "check_energy", original)
    # an unfinished run cannot be continued; the killed one resumes
    with pytest.raises(CheckpointMismatchError, match="has not finished"):
        run_md(
            atoms,
            EMT(),
            protocol,
            tmp_path / "s3",
            progress=False,
            continue_from=tmp_path / "s2",
        )
    resumed = run_md(
        atoms,
        EMT(),
        protocol,
        tmp_path / "s2",
        progress=False,
        continue_from=tmp_path / "s1",
    )
    assert resumed.resumed_from_step == 40 and resumed.segment == 2
    a = read_trajectory(whole.trajectory_path)
    b = load_md_segments([tmp_path / "s1" / "trajectory.h5", resumed.trajectory_path])
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_allclose(whole.atoms.positions, resumed.atoms.positions, atol=1e-8)
    # the resumed continuation's checkpoint is its own: another start is refused
    with pytest.raises(CheckpointMismatchError, match="continuation of another run"):
        run_md(
            atoms,
            EMT(),
            protocol,
            tmp_path / "s2",
            progress=False,
            continue_from=tmp_path / "whole",
        )


def _melt_cell() -> Structure:
    """32 Cu atoms in a cell 25 % too large: at 3500 K a liquid with D ~ 1e-4 cm^2/s."""
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    cell = cu * (2, 2, 2)
    cell.scale_lattice(cell.volume * 1.25)
    return cell


def test_precision_target_stops_fast_walker_at_target_slow_one_at_cap(monkeypatch):
    """One flow, 300 K (a solid: the cap) and 3500 K (a melt: the target), killed once.

    The run is killed in the third segment at 300 K and resumed in a "new process":
    the Arrhenius job finds the chain unfinished and rebuilds it, finished segments
    return at once and the killed one resumes from its checkpoint.
    """
    target, cap = 0.2, 2.4  # +-20 %; four segments of 0.6 ps
    maker = ConductivityMaker(
        potential="emt",
        temperatures=[300.0, 3500.0],
        species=["Cu"],
        write_density=False,
        precision_target=target,
        max_production_ps=cap,
        nvt_maker=MDMaker(name="nvt", **SEGMENT),
    )
    flow = maker.make(_melt_cell())
    kills = {"seen": 0}
    original = engine.check_energy

    def killed_in_segment_3_at_300_k(energy, step, protocol):
        if protocol.temperature == 300.0 and step == 150:
            kills["seen"] += 1  # segments 1 and 2 pass step 150, segment 3 dies there
            if kills["seen"] == 3:
                raise _KilledError
        original(energy, step, protocol)

    start = time.perf_counter()
    monkeypatch.setattr(engine, "check_energy", killed_in_segment_3_at_300_k)
    with pytest.raises(_KilledError):
        run_flow(flow)
    monkeypatch.setattr(engine, "check_energy", original)
    killed_at = time.perf_counter() - start
    monkeypatch.setattr(dynamic, "PROCESS", "a process after the kill")
    record = resume_flow(flow.uuid)
    wall = time.perf_counter() - start
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs if j.error]
    # rebuilt from the last check stored before the kill
    assert "diffusion 300 K after segment 2 (resumed)" in {j.name for j in record.jobs}

    doc = ConductivityOutput.model_validate(get_output(flow.uuid)["output"])
    assert doc.precision_target == target
    slow, fast = doc.points
    analyses = {
        d.temperature: d
        for d in (
            DiffusionOutput.model_validate(get_output(j.uuid)["output"])
            for j in flow.jobs
            if j.name.startswith("diffusion")
        )
    }
    for name, analysis in sorted(analyses.items()):
        print(
            f"{name:g} K: stopped {analysis.stopped} after {analysis.segments} segments; "
            "half-widths per segment",
            [
                None
                if s.relative_ci_halfwidth is None
                else round(s.relative_ci_halfwidth, 3)
                for s in analysis.precision_history
            ],
            [s.reason for s in analysis.precision_history],
        )
    print(f"killed after {killed_at:.1f} s, finished after {wall:.1f} s")

    # the melt: extended at least once, then the target was met (and really so)
    melt = analyses[3500.0]
    assert melt.stopped == "target" and fast.stopped == "target"
    assert 2 <= melt.segments <= 3 and fast.segments == melt.segments
    assert [s.met for s in melt.precision_history] == [False] * (melt.segments - 1) + [True]
    width = (melt.result.D_ci95[1] - melt.result.D_ci95[0]) / (2 * melt.result.D)
    assert melt.result.D > 0 and melt.result.D_ci95[0] > 0 and melt.result.diffusive
    assert width <= target and melt.relative_ci_halfwidth == pytest.approx(width)
    assert melt.production_ps == pytest.approx(0.6 * melt.segments)
    # the document is the analysis of all segments, read as one trajectory
    assert len(melt.trajectory_segments) == melt.segments
    assert melt.trajectory_path == melt.trajectory_segments[0]
    direct = analyze_trajectory(melt.trajectory_segments, ["Cu"], 3500.0)
    assert direct.result.D == pytest.approx(melt.result.D, rel=1e-12)
    assert direct.data.time_fs[-1] == pytest.approx(600.0 * melt.segments - 10.0)
    assert melt.result.estimator == "gls" and fast.estimator == "gls"
    # the same segments joined by `sse-flows analyze --segments`
    cli = CliRunner().invoke(
        app,
        ["analyze", *melt.trajectory_segments, "--segments", "--species", "Cu", "--json"],
    )
    assert cli.exit_code == 0, cli.output
    (row,) = json.loads(cli.stdout)["trajectories"]
    assert row["D"] == pytest.approx(melt.result.D, rel=1e-12)
    assert row["estimator"] == "gls"

    # the solid: never diffusive, run to the cap and stopped there
    solid = analyses[300.0]
    assert solid.stopped == "cap" and slow.stopped == "cap"
    assert solid.segments == 4 and not any(s.met for s in solid.precision_history)
    assert solid.production_ps == pytest.approx(
        cap
    ) and slow.production_ps == pytest.approx(cap)
    # the killed third segment resumed from its checkpoint at step 100
    md = [get_output(j.uuid) for j in record.jobs if j.name == "nvt 300 K segment 3"]
    assert md and md[-1]["output"]["resumed_from_step"] == 100
    assert md[-1]["output"]["segment"] == 3
    lines = "\n".join(doc.summary_lines())
    assert (
        "stopped at the cap of 2.4 ps" in lines
        and "stopped at the precision target" in lines
    )


def test_precision_settings_that_cannot_work_are_refused(cu_cell: Structure):
    with pytest.raises(SpecError, match="needs max_production_ps"):
        ConductivityMaker(potential="emt", precision_target=0.1)
    for bad in (0.0, -0.1):
        with pytest.raises(SpecError, match="positive fraction"):
            ConductivityMaker(potential="emt", precision_target=bad, max_production_ps=10)
    with pytest.raises(SpecError, match="without precision_target"):
        ConductivityMaker(potential="emt", max_production_ps=10)
    short = ConductivityMaker(potential="emt", precision_target=0.1, max_production_ps=1.0)
    with pytest.raises(SpecError, match=r"shorter than one segment .*2 ps"):
        short.make(cu_cell)  # the default NVT production is 1000 steps of 2 fs
    # a spec passes the keys through its preset; the flow analyses to the target
    from sse_flows.spec import FlowSpec

    def spec(cap: float) -> dict:
        return {
            "flow": "conductivity",
            "structure": "structures/Li2S.cif",
            "conductivity": {
                "preset": "quick",
                "precision_target": 0.1,
                "max_production_ps": cap,
            },
        }

    examples = Path(__file__).parents[1] / "examples"
    flow = FlowSpec.from_data(spec(50), examples).build()
    analysis = next(j for j in flow.jobs if j.name == "diffusion 900 K")
    assert (analysis.maker.precision_target, analysis.maker.max_production_ps) == (0.1, 50)
    assert analysis.maker.segment.production_steps == 1500  # the quick preset's 3 ps
    with pytest.raises(SpecError, match="shorter than one segment"):
        FlowSpec.from_data(spec(2), examples).build()


def test_routing_sends_the_segments_to_the_potential_worker(cu_cell: Structure):
    """The check runs on the cpu worker; the MD segments it creates go to the gpu one."""
    from sse_flows.cluster import route_flow

    maker = ConductivityMaker(
        potential="emt",
        temperatures=[300.0],
        species=["Cu"],
        write_density=False,
        precision_target=0.01,
        max_production_ps=1.0,
        nvt_maker=MDMaker(name="nvt", production_steps=100, sample_interval=5),
    )
    flow = maker.make(cu_cell)
    nvt, check, _ = flow.jobs
    assert route_flow(flow, ["gpu", "cpu", "local"])[check.uuid] == "cpu"
    store = JobStore(MemoryStore())
    store.connect()
    nvt.run(store)
    for _ in range(2):  # the check and the check after the next segment
        response = check.run(store)
        segment, check = response.replace.jobs
        assert segment.name.startswith("nvt 300 K segment")
        assert segment.config.manager_config["worker"] == "gpu"
        assert check.config.manager_config["worker"] == "cpu"
        segment.run(store)


@pytest.mark.parametrize("target", [None, 0.01])
def test_a_heating_ramp_goes_on_from_the_end_of_the_last_segment(target):
    """sequential: the hotter run starts where the cooler one's last segment ended."""
    maker = ConductivityMaker(
        potential="emt",
        temperatures=[3000.0, 3500.0],
        species=["Cu"],
        write_density=False,
        sequential=True,
        precision_target=target,  # 0.01: never met, so two segments to the cap
        max_production_ps=None if target is None else 1.2,
        nvt_maker=MDMaker(name="nvt", **SEGMENT),
    )
    flow = maker.make(_melt_cell())
    check = next(j for j in flow.jobs if j.name == "diffusion 3000 K")
    hotter = next(j for j in flow.jobs if j.name == "nvt 3500 K")
    start = hotter.function_args[0]
    assert start.uuid == check.uuid and start.attributes == (("a", "final_structure"),)
    record = run_flow(flow)
    assert record.state == "COMPLETED", [(j.name, j.error) for j in record.jobs if j.error]
    cooler = DiffusionOutput.model_validate(get_output(check.uuid)["output"])
    assert cooler.segments == (1 if target is None else 2)
    last = "nvt 3000 K" if target is None else "nvt 3000 K segment 2"
    (md,) = [get_output(j.uuid)["output"] for j in record.jobs if j.name == last]
    end = Structure.from_dict(md["structure"])
    np.testing.assert_allclose(cooler.final_structure.cart_coords, end.cart_coords)
    given = Structure.from_dict(get_output(hotter.uuid)["output"]["input_structure"])
    np.testing.assert_allclose(given.cart_coords, end.cart_coords)
