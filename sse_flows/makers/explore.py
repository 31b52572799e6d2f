"""Committee MD: one model drives, the whole committee scores every stored frame.

The driving model (the committee's first) runs restartable MD (:func:`run_md`) and
stores its own forces with each frame, every ``sample_interval`` steps; the other
members then evaluate those frames only (batched where the family can), so a
committee of N costs one MD plus (N - 1) evaluations every ``sample_interval`` steps,
not N MDs. The frames are classified by the committee's maximum force deviation
against the trust levels, and ``model_devi.out`` is written in DP-GEN's format.

An MD run that explodes (guards of :mod:`sse_flows.md.guards`) is not an error here:
its frames up to the explosion are scored, the frames it never reached count as
failed, and the output says why it stopped. Any other error leaves a ``crashed``
record, so one broken run does not stop the loop (the loop caps how many may crash).
A finished run's result is kept beside it (``exploration.json``, with a hash of its
inputs): a resumed loop gets it back without loading the committee again.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from sse_flows.documents.active_learning import Exploration
from sse_flows.errors import MDInstabilityError
from sse_flows.makers.base import SpecSection, as_potential, closes_potentials
from sse_flows.md.engine import run_md
from sse_flows.md.protocol import MDProtocol
from sse_flows.potentials import LoadedPotential, PotentialSpec, load_potential
from sse_flows.settings import get_settings
from sse_flows.structures import require_ordered, to_atoms

MODEL_DEVI_FILE = "model_devi.out"
#: the scored result of a finished run, reused when the loop is resumed
EXPLORATION_JSON = "exploration.json"


@dataclass
class ExploreMaker(SpecSection, Maker, MDProtocol):
    """Run committee MD on one structure; score and classify its frames."""

    #: MD with the committee's models: a GPU worker when there is one
    resource_role: ClassVar[str] = "potential"

    name: str = "explore"
    trust_lo: float = 0.12
    trust_hi: float = 0.25
    #: False: the scoring members skip stress (CHGNet ~30 % cheaper); the virial
    #: columns of model_devi.out are then 0 (only max_devi_f classifies frames)
    score_virials: bool = True
    run_dir: str | None = None
    #: stored in the output to name the run in the loop's counts
    system: int = 0
    pressure_label: float | None = field(default=None)

    @job(output_schema=Exploration)
    @closes_potentials
    def make(self, structure: Structure, committee: list[Any]) -> Exploration:
        """Explore ``structure`` with the committee (potential strings or specs)."""
        require_ordered(structure, what=f"'{self.name}'")
        run_dir = Path(self.run_dir or get_settings().work_dir / "explore").expanduser()
        run_dir.mkdir(parents=True, exist_ok=True)
        specs = [as_potential(p) for p in committee]
        planned = self.production_steps // self.sample_interval
        record: dict[str, Any] = {
            "system": self.system,
            "formula": structure.composition.reduced_formula,
            "temperature_K": self.temperature,
            "pressure_GPa": self.pressure_label,
            "ensemble": self.ensemble,
            "steps_planned": self.production_steps,
            "sample_interval": self.sample_interval,
            "run_dir": str(run_dir),
        }
        key = self._fingerprint(structure, specs)
        done = run_dir / EXPLORATION_JSON
        if done.exists():  # a resumed loop: this run was scored already
            saved = json.loads(done.read_text())
            if saved.get("fingerprint") == key:
                return Exploration.model_validate(saved["exploration"])
        loaded: list[LoadedPotential] = []
        try:
            elements = sorted({el.symbol for el in structure.composition})
            for spec in specs:
                loaded.append(load_potential(spec, elements=elements))
            result = self._explore(structure, loaded, run_dir, planned, record)
            done.write_text(
                json.dumps({"fingerprint": key, "exploration": result.model_dump()})
            )
            return result
        except Exception as exc:  # a crashed run is reported, the loop decides
            (run_dir / "crash.txt").write_text(traceback.format_exc())
            return Exploration(
                **record,
                steps_run=0,
                frames=0,
                accurate=0,
                candidate=0,
                failed=planned,
                crashed=f"{type(exc).__name__}: {exc}",
            )
        finally:
            for item in loaded:
                item.close()

    def _fingerprint(self, structure: Structure, specs: list[PotentialSpec]) -> str:
        """Hash of what determines the run's result: protocol, structure, committee."""
        payload = {
            "protocol": self.protocol_dict(),
            "trust": [self.trust_lo, self.trust_hi],
            "virials": self.score_virials,
            "structure": structure.as_dict(),
            "committee": [spec.model_dump(mode="json") for spec in specs],
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _explore(
        self,
        structure: Structure,
        loaded: list[LoadedPotential],
        run_dir: Path,
        planned: int,
        record: dict[str, Any],
    ) -> Exploration:
        from sse_flows.md.trajectory import read_trajectory
        from sse_flows.training.deviation import (
            ModelDeviation,
            TrustLevels,
            classify,
            committee_predictions,
            write_model_devi,
        )

        protocol = MDProtocol(
            **{**self.protocol_dict(), "store_forces": True, "equilibration_steps": 0}
        )
        driver = loaded[0]
        exploded = None
        try:
            run_md(
                to_atoms(structure),
                driver.calculator,
                protocol,
                run_dir,
                fingerprint_extra={
                    "potential": driver.provenance.checkpoint_sha256 or driver.spec.label()
                },
                progress=get_settings().progress,
                description=f"{self.name} {record['formula']}",
            )
        except MDInstabilityError as exc:
            exploded = str(exc)
        trajectory = read_trajectory(run_dir / "trajectory.h5")
        frames = [trajectory.atoms(i) for i in range(len(trajectory))]
        steps_run = int(trajectory.steps[-1]) if len(trajectory) else 0
        if not frames:
            return Exploration(
                **record,
                steps_run=steps_run,
                frames=0,
                accurate=0,
                candidate=0,
                failed=planned,
                exploded=exploded,
            )
        assert trajectory.forces is not None
        volumes = np.abs(np.linalg.det(trajectory.cells))
        virials = (
            None
            if trajectory.stress is None
            else -_voigt_to_matrix(trajectory.stress) * volumes[:, None, None]
        )
        known = {0: (trajectory.potential_energy, trajectory.forces, virials)}
        energies, forces, all_virials, paths = committee_predictions(
            frames,
            [item.calculator for item in loaded],
            known=known,
            with_virials=self.score_virials,
        )
        deviation = ModelDeviation.from_predictions(
            trajectory.steps, energies, forces, all_virials, len(structure)
        )
        write_model_devi(run_dir / MODEL_DEVI_FILE, deviation)
        labels = classify(
            deviation.max_devi_f, TrustLevels(lo=self.trust_lo, hi=self.trust_hi)
        )
        np.save(run_dir / "labels.npy", labels)
        unreached = max(planned - len(frames), 0)
        finite = deviation.max_devi_f[np.isfinite(deviation.max_devi_f)]
        return Exploration(
            **record,
            steps_run=steps_run,
            frames=len(frames),
            accurate=int((labels == "accurate").sum()),
            candidate=int((labels == "candidate").sum()),
            failed=int((labels == "failed").sum()) + unreached,
            exploded=exploded,
            max_devi_f_max=float(finite.max()) if finite.size else None,
            scoring=["driver", *paths[1:]],
            trajectory=str(run_dir / "trajectory.h5"),
            model_devi=str(run_dir / MODEL_DEVI_FILE),
        )


def _voigt_to_matrix(stress: np.ndarray) -> np.ndarray:
    """Return (frames, 3, 3) from ASE Voigt stresses (xx, yy, zz, yz, xz, xy)."""
    xx, yy, zz, yz, xz, xy = (stress[:, i] for i in range(6))
    return np.stack(
        [
            np.stack([xx, xy, xz], axis=-1),
            np.stack([xy, yy, yz], axis=-1),
            np.stack([xz, yz, zz], axis=-1),
        ],
        axis=-2,
    )


def committee_labels(run_dir: str | Path) -> np.ndarray:
    """Return the per-frame labels an exploration saved ('accurate', ...)."""
    return np.load(Path(run_dir) / "labels.npy")


def potential_strings(committee: list[PotentialSpec | str]) -> list[str]:
    """Return the committee as --potential strings."""
    return [as_potential(p).label() for p in committee]
