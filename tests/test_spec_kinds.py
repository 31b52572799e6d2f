"""One spec language: every kind builds its flow, sections are makers, potential lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from sse_flows.errors import SSEFlowsError
from sse_flows.potentials import PotentialSpec
from sse_flows.records import get_output
from sse_flows.spec import FlowSpec, run_spec

CU = "cu.cif"


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    cu.to(filename=str(tmp_path / CU))
    disordered = Structure(Lattice.cubic(3.8), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    disordered.to(filename=str(tmp_path / "cuau.cif"))
    return tmp_path


@pytest.mark.parametrize(
    ("text", "kind", "jobs"),
    [
        ("flow: static", "StaticSpec", ["static"]),
        ("flow: relax\nrelax: {fmax: 0.02}", "RelaxSpec", ["relax"]),
        ("flow: md\nmd: {production_steps: 10}", "MDSpec", ["md"]),
        ("relax: {fmax: 0.02}", "RelaxMDSpec", ["relax", "md"]),
        ("flow: elastic\nelastic: {normal_strains: [0.01]}", "ElasticSpec", ["elastic"]),
        ("flow: eos", "EOSSpec", ["eos"]),
        (
            "flow: conductivity\nconductivity: {preset: quick, temperatures: [900]}",
            "ConductivitySpec",
            ["nvt 900 K", "diffusion 900 K", "arrhenius"],
        ),
        (
            "flow: stability\nstability: {use_prototypes: false}\ncompeting: phases",
            "StabilitySpec",
            ["relax phase target", "relax phase Cu", "stability analysis"],
        ),
    ],
)
def test_each_kind_builds_its_flow(spec_dir: Path, text: str, kind: str, jobs: list[str]):
    (spec_dir / "phases").mkdir()
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]]).to(
        filename=str(spec_dir / "phases" / "Cu.cif")
    )
    path = spec_dir / "spec.yaml"
    path.write_text(f"structure: {CU}\npotential: emt\n{text}\n")
    spec = FlowSpec.from_file(path)
    assert type(spec).__name__ == kind
    flow = spec.build()
    assert [j.name for j, _ in flow.iterflow()] == jobs
    assert spec.record()["flow"] == spec.flow


def test_order_table_and_label_kinds(spec_dir: Path):
    order = FlowSpec.from_data(
        {"flow": "order", "structure": "cuau.cif", "order": {"supercell": [2, 1, 1]}},
        spec_dir,
    )
    assert order.order.enumerate_maker.supercell == [2, 1, 1]
    assert order.used_potentials() == [PotentialSpec(name="chgnet")]
    ewald_only = FlowSpec.from_data(
        {"flow": "order", "structure": "cuau.cif", "order": {"potential": "none"}},
        spec_dir,
    )
    assert ewald_only.used_potentials() == []
    table = FlowSpec.from_data(
        {"flow": "table", "table": "paper000-table2", "potentials": ["mattersim"]}, spec_dir
    )
    flow = table.build()  # no MatterSim weights here: skipped, not refused
    assert not flow.jobs
    assert flow.metadata["skipped"]["mattersim"].startswith("weights not on this machine")
    label = FlowSpec.from_data(
        {"flow": "label", "label": {"frames": CU, "frames_per_job": 1}}, spec_dir
    )
    assert len(label.frames()) == 1 and label.used_potentials() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"flow": "relax", "relax": {"fmaxx": 0.1}}, "fmaxx"),
        ({"flow": "eos", "eos": {"volume_factors": [0.98, 1.0, 1.02]}}, "too few"),
        ({"flow": "elastic", "elastic": {"shear_strains": [0.0]}}, "shear"),
        (
            {"flow": "stability", "stability": {"analysis_maker": {"corrections": "x"}}},
            "auto",
        ),
        ({"flow": "teleport"}, "teleport"),
        ({"potentials": ["emt", "nonsense"]}, "Unknown potential 'nonsense'"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec_dir: Path, data: dict, message: str):
    # every one an SSEFlowsError: the command line says "error: ..." and exits 2
    with pytest.raises(SSEFlowsError, match=message):
        FlowSpec.from_data({"structure": CU, **data}, spec_dir).build()


def test_a_list_of_potentials_runs_the_flow_once_per_potential(spec_dir: Path):
    spec = FlowSpec.from_data(
        {
            "flow": "static",
            "structure": CU,
            "potentials": [
                "emt",
                {
                    "name": "calculator",
                    "checkpoint": "ase.calculators.lj.LennardJones",
                    "options": {"sigma": 2.3, "epsilon": 0.01, "rc": 6.0},
                },
            ],
        },
        spec_dir,
    )
    record = run_spec(spec)
    assert record.state == "COMPLETED"
    docs = [get_output(uuid)["output"] for uuid in record.output_jobs]
    names = sorted(d["potential"]["name"] for d in docs)
    assert names == ["calculator", "emt"]
    energies = {d["potential"]["name"]: d["energy"] for d in docs}
    assert energies["emt"] != pytest.approx(energies["calculator"])
    assert record.spec["potentials"][1]["checkpoint"] == "ase.calculators.lj.LennardJones"
