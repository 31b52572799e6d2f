"""NEB of ion hops: against a plain ASE NEB, with CHGNet through the CLI, bad endpoints,
and the helpers that build endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from ase import Atoms
from ase.io import read
from jobflow import run_locally
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from sse_flows.analysis.data import MDData
from sse_flows.analysis.density import site_analysis
from sse_flows.calc.neb import (
    AtomOrderError,
    EndpointMismatchError,
    NEBSettings,
    NEBSettingsError,
    neb,
    reorder_to_match,
)
from sse_flows.documents import NEBOutput, as_document
from sse_flows.errors import SpecError
from sse_flows.makers.neb import NEBMaker
from sse_flows.quiet import harmless
from sse_flows.spec import FlowSpec, run_spec
from sse_flows.stores import get_job_store
from sse_flows.structures import to_atoms
from sse_flows.structures.hops import (
    HopError,
    hops_from_sites,
    interstitial_hop,
    vacancy_hop,
)
from sse_flows.structures.prototypes import load_prototype

#: EMT's Cu vacancy migration barrier in this cell, from the plain ASE NEB below
EMT_CU_RANGE_EV = (0.6, 0.9)


def _cu_cell() -> Structure:
    """fcc Cu, 2x2x2 conventional cells (32 atoms)."""
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    return cu * (2, 2, 2)


def _nearest(structure: Structure, index: int) -> int:
    """Index of the nearest site of the same species."""
    distances = structure.distance_matrix[index].copy()
    distances[index] = np.inf
    same = [s.species_string == structure[index].species_string for s in structure]
    distances[~np.array(same)] = np.inf
    return int(np.argmin(distances))


@pytest.fixture(scope="module")
def cu_hop() -> tuple[Structure, Structure]:
    """Cu31: the atom at site 1 hops into a vacancy at site 0 (a nearest neighbour)."""
    cell = _cu_cell()
    return vacancy_hop(cell, _nearest(cell, 0), 0)


def _run(maker: NEBMaker, initial: Structure, final: Structure) -> NEBOutput:
    """Run the maker's job on the test's store; return its document."""
    job = maker.make(initial, final)
    with harmless("jobflow-cd"):
        responses = run_locally(job, store=get_job_store(), ensure_success=True, log=False)
    doc = responses[job.uuid][1].output
    assert isinstance(doc, NEBOutput)
    return doc


def _plain_ase_barrier(initial: Atoms, final: Atoms, n_images: int, fmax: float) -> float:
    """Climbing-image NEB written with ASE alone: BFGS endpoints, IDPP, FIRE band."""
    from ase.calculators.emt import EMT
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE

    ends = []
    for atoms in (initial.copy(), final.copy()):
        atoms.calc = EMT()
        BFGS(atoms, logfile=None).run(fmax=fmax)
        ends.append(atoms)
    images = [ends[0]] + [ends[0].copy() for _ in range(n_images)] + [ends[1]]
    for image in images[1:-1]:
        image.calc = EMT()  # one calculator per image: ASE's usual way
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate(method="idpp", mic=True)
    assert FIRE(band, logfile=None).run(fmax=fmax, steps=1000)
    energies = [image.get_potential_energy() for image in images]
    return float(max(energies) - energies[0])


def test_emt_vacancy_hop_matches_a_plain_ase_neb(cu_hop: tuple[Structure, Structure]):
    from ase.calculators.emt import EMT

    initial, final = cu_hop
    maker = NEBMaker(potential="emt", n_images=5, fmax=0.01, endpoint_fmax=0.01)
    doc = _run(maker, initial, final)

    reference = _plain_ase_barrier(to_atoms(initial), to_atoms(final), 5, 0.01)
    assert doc.converged and doc.max_force_eV_A < 0.01
    assert doc.barrier_eV == pytest.approx(reference, abs=0.010)
    assert EMT_CU_RANGE_EV[0] < doc.barrier_eV < EMT_CU_RANGE_EV[1]
    # a hop between equivalent sites: symmetric profile, saddle in the middle
    assert doc.reverse_barrier_eV == pytest.approx(doc.barrier_eV, abs=0.005)
    assert doc.saddle_index == 3 and len(doc.energies_eV) == 7
    assert doc.energies_eV[0] == 0.0
    assert doc.reaction_energy_eV == pytest.approx(0.0, abs=1e-3)
    path = np.array(doc.reaction_coordinate_A)
    assert (np.diff(path) > 0).all()
    assert path[-1] == pytest.approx(2.55, abs=0.3)  # ~ a/sqrt(2), plus relaxation

    band = read(doc.images_file, index=":")
    assert len(band) == 7 and len(band[0]) == 31
    energies = [image.get_potential_energy() for image in band]
    assert np.subtract(energies, energies[0]) == pytest.approx(doc.energies_eV, abs=1e-6)
    fresh = [image.copy() for image in band]
    for image in fresh:
        image.calc = EMT()
    assert [image.get_potential_energy() for image in fresh] == pytest.approx(energies)
    assert Path(doc.plot_file or "").stat().st_size > 1000
    assert doc.initial_relax is not None and doc.initial_relax.converged
    assert doc.summary.formula == "Cu31"
    assert "barrier" in "\n".join(doc.summary_lines())
    assert NEBOutput.query_columns(doc.model_dump()) == {
        "barrier_eV": doc.barrier_eV,
        "converged": True,
    }


@pytest.mark.slow
def test_li2s_vacancy_hop_with_chgnet_through_the_cli(tmp_path: Path):
    """A Li vacancy hop in antifluorite Li2S (23 atoms), loose settings."""
    from sse_flows.cli.neb import neb as neb_command

    cell = load_prototype("Li2S").make_supercell(
        [[0, 1, 1], [1, 0, 1], [1, 1, 0]], in_place=False
    )
    initial, final = vacancy_hop(cell, _nearest(cell, 0), 0)
    initial.to(filename=str(tmp_path / "initial.vasp"))
    final.to(filename=str(tmp_path / "final.vasp"))
    app = typer.Typer()
    app.command()(neb_command)
    result = CliRunner().invoke(
        app,
        [
            str(tmp_path / "initial.vasp"),
            str(tmp_path / "final.vasp"),
            "--potential",
            "chgnet",
            "--images",
            "3",
            "--fmax",
            "0.1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["converged"] is True and out["max_force_eV_A"] < 0.1
    assert 0.1 < out["barrier_eV"] < 1.5
    assert len(out["energies_eV"]) == 5 and out["energies_eV"][0] == 0.0
    assert out["barrier_eV"] == pytest.approx(max(out["energies_eV"]))
    assert out["flow_uuid"] and Path(out["images_file"]).is_file()


def test_endpoints_with_other_atoms_or_cells_are_refused(
    cu_hop: tuple[Structure, Structure],
):
    initial, final = (to_atoms(s) for s in cu_hop)
    with pytest.raises(EndpointMismatchError, match="different numbers of atoms"):
        neb(initial, to_atoms(_cu_cell()), None)  # type: ignore[arg-type]
    alloy = final.copy()
    alloy[5].symbol = "Ag"
    with pytest.raises(EndpointMismatchError, match="different compositions"):
        neb(initial, alloy, None)  # type: ignore[arg-type]
    strained = final.copy()
    strained.set_cell(final.cell * 1.01, scale_atoms=True)
    with pytest.raises(EndpointMismatchError, match="different cells"):
        neb(initial, strained, None)  # type: ignore[arg-type]
    with pytest.raises(EndpointMismatchError, match="same structure"):
        neb(initial, initial.copy(), None)  # type: ignore[arg-type]
    with pytest.raises(NEBSettingsError, match="n_images"):
        neb(initial, final, None, NEBSettings(n_images=0))  # type: ignore[arg-type]


def test_atoms_in_another_order_are_refused_or_reordered(
    cu_hop: tuple[Structure, Structure],
):
    from ase.calculators.emt import EMT

    initial, final = (to_atoms(s) for s in cu_hop)
    shuffled = final[np.random.default_rng(0).permutation(len(final))]
    with pytest.raises(AtomOrderError, match="reorder"):
        neb(initial, shuffled, EMT())
    assert reorder_to_match(initial, shuffled).positions == pytest.approx(final.positions)

    # the usual slip: the final endpoint made by deleting the hopping atom's index, so
    # every atom between the two indices is listed one place off
    cell = to_atoms(_cu_cell())
    a, b = 20, 0  # site 20 is a nearest neighbour of site 0 in this cell
    assert cell.get_distance(a, b, mic=True) == pytest.approx(3.61 / 2**0.5)
    start = cell.copy()
    del start[b]
    slipped = cell.copy()
    del slipped[a]
    with pytest.raises(AtomOrderError, match=r"reorder: true.*--reorder"):
        neb(start, slipped, EMT())
    settings = NEBSettings(n_images=3, fmax=0.05)
    ordered = neb(*(to_atoms(s) for s in vacancy_hop(_cu_cell(), a, b)), EMT(), settings)
    settings.reorder = True
    repaired = neb(start, slipped, EMT(), settings)
    assert repaired.reordered and not ordered.reordered
    assert repaired.converged and ordered.converged
    assert repaired.barrier_eV == pytest.approx(ordered.barrier_eV, abs=1e-3)


def test_unconverged_band_reports_no_barrier(
    tmp_path: Path, cu_hop: tuple[Structure, Structure]
):
    from ase.calculators.emt import EMT

    from sse_flows.cli.neb import neb as neb_command

    initial, final = (to_atoms(s) for s in cu_hop)
    result = neb(initial, final, EMT(), NEBSettings(n_images=3, max_steps=2))
    assert not result.converged and result.n_steps == 2
    assert result.barrier_eV is None and result.reverse_barrier_eV is None
    assert result.max_force_eV_A > 0.05
    assert "not converged" in result.warnings[0]

    for name, structure in zip(("initial", "final"), cu_hop, strict=True):
        structure.to(filename=str(tmp_path / f"{name}.vasp"))
    app = typer.Typer()
    app.command()(neb_command)
    args = [str(tmp_path / "initial.vasp"), str(tmp_path / "final.vasp")]
    args += ["--potential", "emt", "--images", "3"]
    stopped = CliRunner().invoke(app, [*args, "--max-steps", "2", "--json"])
    assert stopped.exit_code == 1
    assert "did not converge" in stopped.stderr
    out = json.loads(stopped.stdout)
    assert out["converged"] is False and out["barrier_eV"] is None
    assert out["max_force_eV_A"] > 0.05
    shown = "\n".join(as_document(_stored(out["flow_uuid"])).summary_lines())
    assert "NOT CONVERGED" in shown and "no barrier" in shown

    # endpoints in another order: refused before any work, naming the option
    (tmp_path / "final.vasp").unlink()
    shuffled = cu_hop[1].copy()
    shuffled.sites = shuffled.sites[::-1]
    shuffled.to(filename=str(tmp_path / "final.vasp"))
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "--reorder" in refused.output


def _stored(flow_uuid: str) -> dict:
    """The NEB document a flow stored."""
    from sse_flows.records import get_output

    stored = get_output(flow_uuid)
    assert stored is not None
    return stored["output"]


def test_spec_builds_a_vacancy_hop_from_a_structure(tmp_path: Path):
    _cu_cell().to(filename=str(tmp_path / "Cu.vasp"))
    spec = FlowSpec.from_data(
        {
            "flow": "neb",
            "potential": "emt",
            "structure": "Cu.vasp",
            "hop": {"kind": "vacancy", "sites": [20, 0]},
            "neb": {"n_images": 3, "fmax": 0.05},
        },
        tmp_path,
    )
    assert spec.neb.potential.name == "emt"  # type: ignore[attr-defined]
    record = run_spec(spec)
    assert record.state == "COMPLETED"
    doc = as_document(_stored(record.flow_uuid))
    assert isinstance(doc, NEBOutput) and doc.converged
    assert EMT_CU_RANGE_EV[0] < (doc.barrier_eV or 0) < EMT_CU_RANGE_EV[1]
    bad = FlowSpec.from_data(
        {
            "flow": "neb",
            "potential": "emt",
            "structure": "Cu.vasp",
            "hop": {"kind": "vacancy"},
        },
        tmp_path,
    )
    with pytest.raises(Exception, match="sites"):
        bad.build()


def test_vacancy_hop_moves_one_ion_into_the_vacancy():
    li2s = load_prototype("Li2S")  # conventional cell, Li 0-7, S 8-11
    a = 3
    b = _nearest(li2s, a)
    initial, final = vacancy_hop(li2s, a, b)
    assert initial.composition == final.composition
    assert initial.composition.formula == "Li7 S4" and len(initial) == len(li2s) - 1
    moved = a - (b < a)  # index of the hopping ion once site b is removed
    assert np.allclose(initial[moved].coords, li2s[a].coords)
    assert final.lattice.get_distance_and_image(
        final[moved].frac_coords, li2s[b].frac_coords
    )[0] == pytest.approx(0.0, abs=1e-8)
    others = [i for i in range(len(initial)) if i != moved]
    assert np.allclose(initial.cart_coords[others], final.cart_coords[others])
    assert initial[moved].distance(final[moved]) == pytest.approx(li2s.get_distance(a, b))

    with pytest.raises(HopError, match="holds Li and site 8 holds S"):
        vacancy_hop(li2s, a, 8)
    with pytest.raises(HopError, match="occupied"):
        interstitial_hop(li2s, a, li2s[8].frac_coords)
    start, end = interstitial_hop(li2s, a, [0.5, 0.5, 0.5])  # empty octahedral site
    assert start == li2s and end[a].distance(start[a]) == pytest.approx(
        li2s.lattice.get_distance_and_image(li2s[a].frac_coords, [0.5, 0.5, 0.5])[0]
    )


def test_hops_from_a_site_analysis_of_an_md_run():
    """A Li that jumps into the vacancy of Li2S halfway through a short 'run'."""
    li2s = load_prototype("Li2S")
    vacancy = 0
    mover = _nearest(li2s, vacancy)
    cell = li2s.copy()
    cell.remove_sites([vacancy])
    index = mover - 1  # the mover's index in the cell with the vacancy
    frames = np.repeat(cell.cart_coords[None], 20, axis=0)
    frames[10:, index] = li2s[vacancy].coords
    data = MDData(
        positions=frames,
        cells=np.repeat(cell.lattice.matrix[None], 20, axis=0),
        numbers=np.array(cell.atomic_numbers),
        time_fs=np.arange(20) * 10.0,
    )
    li_sites = li2s.frac_coords[:8]
    analysis = site_analysis(data, li_sites, ("Li",), site_labels=["8c"] * 8)
    assert analysis.jump_counts == {"8c->8c": 1}

    hop = hops_from_sites(cell, analysis)
    assert hop.jump_type == "8c->8c" and hop.count == 1
    assert hop.mechanism == "empty site"  # into the vacancy the run had
    assert hop.distance_A == pytest.approx(li2s.get_distance(mover, vacancy))
    assert len(hop.initial) == len(hop.final) == 11
    assert hop.initial.composition == hop.final.composition
    # the perfect cell: the same jump becomes a vacancy hop
    perfect = hops_from_sites(li2s, analysis)
    assert perfect.mechanism == "vacancy" and len(perfect.initial) == 11
    quiet = site_analysis(
        MDData(frames[:10], data.cells[:10], data.numbers, data.time_fs[:10]),
        li_sites,
        ("Li",),
    )
    with pytest.raises(HopError, match="no jumps"):
        hops_from_sites(cell, quiet)


def test_spec_takes_the_observed_jump_of_an_md_trajectory(tmp_path: Path):
    """hop: {kind: observed}: sites from the structure, jumps from the trajectory."""
    from ase.io import write

    li2s = load_prototype("Li2S")
    vacancy = 0
    mover = _nearest(li2s, vacancy)
    cell = li2s.copy()
    cell.remove_sites([vacancy])
    cell.to(filename=str(tmp_path / "cell.cif"))
    frames = []
    for step in range(20):
        atoms = to_atoms(cell)
        if step >= 10:
            positions = atoms.get_positions()
            positions[mover - 1] = li2s[vacancy].coords
            atoms.set_positions(positions)
        atoms.info.update({"timestep_fs": 2.0, "sample_interval": 5})
        frames.append(atoms)
    write(str(tmp_path / "run.extxyz"), frames)
    vacancy_frac = [float(x) for x in li2s[vacancy].frac_coords]
    (tmp_path / "neb.yaml").write_text(
        "flow: neb\npotential: emt\nstructure: cell.cif\n"
        "hop: {kind: observed, trajectory: run.extxyz, species: [Li], "
        f"extra_sites: [{vacancy_frac}]}}\n"
    )
    spec = FlowSpec.from_file(tmp_path / "neb.yaml")
    initial, final = spec.endpoints()
    assert len(initial) == len(final) == 11
    moved = np.linalg.norm(final.cart_coords - initial.cart_coords, axis=1)
    (hopper,) = np.flatnonzero(moved > 1.0)
    assert initial[hopper].specie.symbol == "Li"
    assert moved[hopper] == pytest.approx(li2s.get_distance(mover, vacancy))
    landed = final.lattice.get_distance_and_image(
        final[hopper].frac_coords, li2s[vacancy].frac_coords
    )[0]
    assert landed < 1e-6  # into the vacancy (the image next to the start)
    (tmp_path / "bad.yaml").write_text(
        "flow: neb\nstructure: cell.cif\nhop: {kind: observed}\n"
    )
    with pytest.raises(SpecError, match="needs trajectory"):
        FlowSpec.from_file(tmp_path / "bad.yaml").endpoints()
