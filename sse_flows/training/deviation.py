"""Committee model deviation: DeePMD-kit's numbers, DP-GEN's file and trust levels.

An active-learning loop scores each explored frame by how much a committee of models
disagrees on it. The definitions are DeePMD-kit 3.2's (``deepmd/infer/model_devi.py``):

* force deviation of an atom: ``|std over models of F|`` =
  ``sqrt(mean_m |F_m - <F>|^2)``; per frame its max, min and mean over atoms;
* virial deviation: the std over models of each of the 9 components of virial/natoms;
  per frame their max, min, and their norm / 3 (``avg_devi_v``);
* energy deviation: the std over models of energy/natoms (``devi_e``).

Written here rather than imported: deepmd-kit cannot share the main environment (its
PyTorch backend is built against one torch) and its functions take DeePMD models, not
any family's predictions. The tests run deepmd-kit's own ``calc_model_devi_f/e/v`` and
``write_model_devi_out`` on the same arrays and compare to 1e-10 and byte for byte.

Frames are sorted as DP-GEN 0.14 does (``_select_by_model_devi_standard`` in
``dpgen/generator/run.py``), on ``max_devi_f`` only: accurate ``f < lo``, candidate
``lo <= f < hi``, failed ``f >= hi``. dpgen's loop itself needs its dispatcher and
LAMMPS and its selection function is private, so the rule is restated here; the tests
check the counts against dpgen's function on the same ``model_devi.out``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from sse_flows.errors import SSEFlowsError

#: the columns of ``dp model-devi`` 3.2's model_devi.out, in order
COLUMNS = (
    "step",
    "max_devi_v",
    "min_devi_v",
    "avg_devi_v",
    "max_devi_f",
    "min_devi_f",
    "avg_devi_f",
    "devi_e",
)
LABELS = ("accurate", "candidate", "failed")


class DeviationInputError(SSEFlowsError, ValueError):
    """Arrays, trust levels or a model_devi file that cannot be used as given."""


# ------------------------------------------------------------------ deviations
def _check_committee(forces: np.ndarray) -> None:
    if forces.ndim != 4 or forces.shape[-1] != 3:
        raise DeviationInputError(
            f"forces must be (models, frames, atoms, 3), got shape {forces.shape}"
        )
    if forces.shape[0] < 2:
        raise DeviationInputError(
            f"a committee deviation needs at least 2 models, got {forces.shape[0]}"
        )


def force_deviation(forces: np.ndarray) -> np.ndarray:
    """Return each atom's force deviation (frames, atoms) in eV/A.

    ``forces`` is (models, frames, atoms, 3). The value is
    ``sqrt(mean over models |F_m - mean_m F|^2)``: the population std (ddof 0) of the
    models' forces, as deepmd-kit's ``calc_model_devi_f`` computes it
    (``norm(std(fs, axis=0), axis=-1)``, the same expression here).
    """
    forces = np.asarray(forces, dtype=float)
    _check_committee(forces)
    return np.asarray(np.linalg.norm(np.std(forces, axis=0), axis=-1))


@dataclass
class ModelDeviation:
    """Per-frame committee deviations: the 8 columns of ``dp model-devi`` 3.2.

    Every array is (frames,). Virial columns are eV per atom, force columns eV/A,
    ``devi_e`` eV per atom. NaN marks a value not known: virial columns when a member
    gives no stress (or the cell is not periodic), ``devi_e`` in a 7-column file.
    """

    steps: np.ndarray
    max_devi_v: np.ndarray
    min_devi_v: np.ndarray
    avg_devi_v: np.ndarray
    max_devi_f: np.ndarray
    min_devi_f: np.ndarray
    avg_devi_f: np.ndarray
    devi_e: np.ndarray

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.steps)

    @classmethod
    def from_predictions(
        cls,
        steps: Sequence[int] | np.ndarray,
        energies: np.ndarray,
        forces: np.ndarray,
        virials: np.ndarray | None,
        natoms: int | None = None,
    ) -> ModelDeviation:
        """Compute the deviations of a committee's predictions.

        ``energies`` (models, frames) in eV, ``forces`` (models, frames, atoms, 3) in
        eV/A, ``virials`` (models, frames, 3, 3) in eV or None. Energy and virial are
        divided by ``natoms`` (default: the forces' atom count) first, as
        ``dp model-devi`` does. Without virials the three virial columns are NaN.
        """
        forces = np.asarray(forces, dtype=float)
        _check_committee(forces)
        n_models, n_frames, n_atoms = forces.shape[:3]
        if natoms is None:
            natoms = n_atoms
        if natoms != n_atoms:
            raise DeviationInputError(
                f"natoms={natoms} but the forces hold {n_atoms} atoms per frame"
            )
        step_array = np.asarray(steps, dtype=np.int64).reshape(-1)
        if len(step_array) != n_frames:
            raise DeviationInputError(
                f"{len(step_array)} steps for {n_frames} frames of forces"
            )
        energy_array = np.asarray(energies, dtype=float)
        if energy_array.shape != (n_models, n_frames):
            raise DeviationInputError(
                f"energies must be (models, frames) = {(n_models, n_frames)}, "
                f"got {energy_array.shape}"
            )
        devi_f = force_deviation(forces)
        devi_e = np.std(energy_array / natoms, axis=0)
        if virials is None:
            nan = np.full(n_frames, np.nan)
            max_v, min_v, avg_v = nan, nan.copy(), nan.copy()
        else:
            virial_array = np.asarray(virials, dtype=float)
            if virial_array.shape != (n_models, n_frames, 3, 3):
                raise DeviationInputError(
                    f"virials must be (models, frames, 3, 3) = "
                    f"{(n_models, n_frames, 3, 3)}, got {virial_array.shape}"
                )
            per_atom = virial_array.reshape(n_models, n_frames, 9) / natoms
            devi_v = np.std(per_atom, axis=0)
            max_v = np.max(devi_v, axis=-1)
            min_v = np.min(devi_v, axis=-1)
            avg_v = np.linalg.norm(devi_v, axis=-1) / 3
        return cls(
            steps=step_array,
            max_devi_v=max_v,
            min_devi_v=min_v,
            avg_devi_v=avg_v,
            max_devi_f=np.max(devi_f, axis=-1),
            min_devi_f=np.min(devi_f, axis=-1),
            avg_devi_f=np.mean(devi_f, axis=-1),
            devi_e=devi_e,
        )

    def as_array(self) -> np.ndarray:
        """Return the (frames, 8) table in model_devi.out's column order."""
        columns = [np.asarray(getattr(self, name), dtype=float) for name in COLUMNS[1:]]
        return np.column_stack([np.asarray(self.steps, dtype=float), *columns])


# ------------------------------------------------------------------ model_devi.out
def write_model_devi(
    path: str | Path,
    deviation: ModelDeviation,
    header: str = "",
    dpgen_safe: bool = True,
) -> Path:
    """Write ``model_devi.out`` as deepmd-kit 3.2's ``write_model_devi_out`` does.

    Same header lines (``# {header}`` then the padded column names), 8 columns,
    ``%12d`` then ``%19.6e``; the file is overwritten (deepmd-kit appends). With
    ``dpgen_safe`` (default) values dpgen 0.14 cannot sort are written so that it sorts
    them as we do: a non-finite force deviation as ``inf`` (dpgen raises on NaN; inf is
    'failed' for both), and a missing (NaN) or non-finite virial deviation as 0 (dpgen
    raises on NaN virials; 0 leaves its virial trust levels, 1e10 by default, out of
    the decision, which is then made on forces alone, as :func:`classify` does).
    Finite values are written unchanged either way.
    """
    table = deviation.as_array()
    if dpgen_safe:
        table = table.copy()
        force = table[:, 4:7]
        force[~np.isfinite(force)] = np.inf
        virial = table[:, 1:4]
        virial[~np.isfinite(virial)] = 0.0
    text = f"{header}\n{'step':10s}"
    for item in "vf":
        text += "{:19s}{:19s}{:19s}".format(
            f"max_devi_{item}", f"min_devi_{item}", f"avg_devi_{item}"
        )
    text += f"{'devi_e':19s}"
    path = Path(path)
    with path.open("wb") as handle:
        np.savetxt(
            handle,
            table,
            fmt=["%12d"] + ["%19.6e"] * (table.shape[1] - 1),
            delimiter="",
            header=text,
        )
    return path


def _header_names(path: Path) -> list[str] | None:
    """Column names of the last comment line that names 'step', if any."""
    names = None
    with path.open() as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            tokens = line.lstrip("#").split()
            if tokens and tokens[0] == "step":
                names = tokens
    return names


def read_model_devi(path: str | Path) -> ModelDeviation:
    """Read a model_devi.out of 8 columns (dp 3.x) or 7 (older dp, LAMMPS; no devi_e).

    Columns are taken by the header's names when it has them, so the per-atom columns
    that ``--atomic`` appends after them are ignored; without a header the file must
    have 7 or 8 columns. A missing ``devi_e`` reads as NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise DeviationInputError(f"model_devi file not found: {path}")
    try:
        table = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise DeviationInputError(f"{path} is not a model_devi table: {exc}") from exc
    if table.size == 0:
        raise DeviationInputError(f"{path} holds no frames")
    names = _header_names(path)
    if names is None or names[:7] != list(COLUMNS[:7]):
        if table.shape[1] not in (7, 8):
            raise DeviationInputError(
                f"{path} has {table.shape[1]} columns and no 'step max_devi_v ...' "
                "header: expected 7 (older dp, LAMMPS) or 8 (dp model-devi 3.x)"
            )
        names = list(COLUMNS[: table.shape[1]])
    has_e = len(names) > 7 and names[7] == "devi_e"
    n = table.shape[0]
    columns: dict[str, Any] = {name: table[:, i] for i, name in enumerate(COLUMNS[1:7], 1)}
    return ModelDeviation(
        steps=table[:, 0].astype(np.int64),
        devi_e=table[:, 7] if has_e else np.full(n, np.nan),
        **columns,
    )


# ------------------------------------------------------------------ trust levels
@dataclass(frozen=True)
class TrustLevels:
    """Force trust levels in eV/A: accurate below ``lo``, failed from ``hi`` on."""

    lo: float = 0.12
    hi: float = 0.25

    def __post_init__(self) -> None:
        """Refuse levels that leave no candidate window."""
        for name in ("lo", "hi"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise DeviationInputError(
                    f"trust level {name}={value} must be a finite deviation >= 0 (eV/A)"
                )
        if self.lo >= self.hi:
            raise DeviationInputError(
                f"trust lo ({self.lo} eV/A) must be below hi ({self.hi} eV/A): frames "
                "between them are the candidates to label (e.g. lo 0.12, hi 0.25)"
            )


def classify(max_devi_f: np.ndarray, trust: TrustLevels) -> np.ndarray:
    """Label each frame 'accurate', 'candidate' or 'failed' by its max force deviation.

    dpgen 0.14's inequalities: accurate ``f < lo``, candidate ``lo <= f < hi``, failed
    ``f >= hi``. A non-finite deviation (an exploded run) is failed; dpgen raises on
    NaN instead.
    """
    f = np.asarray(max_devi_f, dtype=float)
    labels = np.full(f.shape, "failed", dtype="<U9")
    finite = np.isfinite(f)
    labels[finite & (f < trust.lo)] = "accurate"
    labels[finite & (f >= trust.lo) & (f < trust.hi)] = "candidate"
    return labels


def adaptive_trust_lo(
    max_devi_f: np.ndarray,
    hi: float,
    numb_candi: int = 10,
    perc_candi: float = 0.0,
) -> float:
    """Return dpgen's adaptive lower trust level (``model_devi_adapt_trust_lo``).

    As ``_select_by_model_devi_adaptive_trust_low`` (force part): of the frames not
    failed (there ``f > hi``, strictly; non-finite here too), the
    ``max(numb_candi, int(perc_candi% of them))`` with the largest deviation become
    candidates, and ``lo`` is the smallest of those (``hi`` when there are none).
    dpgen's defaults: numb_candi 10, perc_candi 0.
    """
    f = np.asarray(max_devi_f, dtype=float).reshape(-1)
    rest = np.sort(f[np.isfinite(f) & ~(f > hi)])
    numb = min(max(numb_candi, int(perc_candi * 0.01 * len(rest))), len(rest))
    return float(hi) if numb == 0 else float(rest[-numb])


@dataclass(frozen=True)
class ClassCounts:
    """How many frames are accurate, candidate and failed, and their ratios."""

    accurate: int
    candidate: int
    failed: int

    @classmethod
    def from_labels(cls, labels: Sequence[str] | np.ndarray) -> ClassCounts:
        """Count the labels :func:`classify` gives."""
        values = [str(label) for label in np.asarray(labels).reshape(-1)]
        unknown = sorted(set(values) - set(LABELS))
        if unknown:
            raise DeviationInputError(
                f"unknown label(s) {unknown}: expected {', '.join(LABELS)}"
            )
        return cls(*(values.count(name) for name in LABELS))

    @property
    def total(self) -> int:
        """Return the number of frames counted."""
        return self.accurate + self.candidate + self.failed

    def _ratio(self, count: int) -> float:
        return count / self.total if self.total else math.nan

    @property
    def accurate_ratio(self) -> float:
        """Return accurate / total (NaN for no frames, so it never counts as converged)."""
        return self._ratio(self.accurate)

    @property
    def candidate_ratio(self) -> float:
        """Return candidate / total (NaN for no frames)."""
        return self._ratio(self.candidate)

    @property
    def failed_ratio(self) -> float:
        """Return failed / total (NaN for no frames)."""
        return self._ratio(self.failed)


# ------------------------------------------------------------------ committee
#: one member's predictions: energies (frames,) eV, forces (frames, atoms, 3) eV/A,
#: virials (frames, 3, 3) eV or None
Predictions = tuple[np.ndarray, np.ndarray, np.ndarray | None]


class CommitteePredictions(NamedTuple):
    """A committee's predictions on the same frames, and how each member ran."""

    energies: np.ndarray  # (models, frames) eV
    forces: np.ndarray  # (models, frames, atoms, 3) eV/A
    virials: np.ndarray | None  # (models, frames, 3, 3) eV; None if any member lacks it
    path: list[str]  # per member: batched:<family>, worker:..., one-by-one or known


def _predicted(
    calculator: Any, frames: Sequence[Atoms], with_stress: bool, batch_size: int | None
) -> tuple[Predictions, str]:
    """Evaluate every frame, batched where the family can; return the path that ran.

    Virial = -stress x volume (ASE's stress sign); None when the calculator gives no
    stress for a frame.
    """
    from sse_flows.potentials.registry import batch_predictor

    predictor = batch_predictor(calculator, batch_size)
    results = predictor.predict(frames, stress=with_stress)
    energies = np.array([r.energy for r in results])
    forces = np.array([r.forces for r in results])
    virials = None
    if with_stress and all(r.stress is not None for r in results):
        virials = np.array(
            [
                -voigt_6_to_full_3x3_stress(r.stress) * atoms.get_volume()
                for r, atoms in zip(results, frames, strict=True)
            ]
        )
    return (energies, forces, virials), predictor.path


def committee_predictions(
    frames: Sequence[Atoms],
    calculators: Sequence[Any],
    known: Mapping[int, Predictions] | None = None,
    batch_size: int | None = None,
    with_virials: bool = True,
) -> CommitteePredictions:
    """Evaluate every frame with every committee member.

    Members whose family has a batched path (CHGNet, SevenNet) run ``batch_size``
    frames per model call (default: 16 on a GPU, 1 on a CPU, where batching did not
    pay: 16 frames of 32-atom Cu with stress took 5.8-6.9 s in batches of 1 and
    8.6-12.1 s in batches of 16 with CHGNet); any other runs through ASE frame by
    frame (:mod:`sse_flows.potentials.batch`). ``known[i]`` supplies member ``i``'s
    (energies, forces, virials) already computed (the model that drove the MD), so
    it is not re-evaluated; ``calculators[i]`` is then ignored and may be None.
    Virial = -stress x volume (ASE's stress sign). Virials are None when a member
    gives no stress, a frame is not periodic in all directions, or ``with_virials`` is
    False (the classification needs forces only; CHGNet runs ~30 % faster without
    stress). All frames must have the same atoms (one trajectory).
    """
    known = dict(known or {})
    if not frames:
        raise DeviationInputError("no frames to evaluate")
    n_models = len(calculators)
    if n_models < 2:
        raise DeviationInputError(
            f"a committee needs at least 2 members, got {n_models} calculator(s)"
        )
    outside = sorted(set(known) - set(range(n_models)))
    if outside:
        raise DeviationInputError(
            f"known predictions for member(s) {outside}, but the committee has "
            f"{n_models} members (0..{n_models - 1})"
        )
    natoms = len(frames[0])
    uneven = [i for i, atoms in enumerate(frames) if len(atoms) != natoms]
    if uneven:
        raise DeviationInputError(
            f"frames {uneven[:10]} do not have the {natoms} atoms of frame 0: "
            "evaluate one trajectory (same atoms in every frame) at a time"
        )
    want_virials = with_virials and all(bool(np.all(atoms.pbc)) for atoms in frames)
    n_frames = len(frames)
    results: list[Predictions] = []
    path: list[str] = []
    for i, calculator in enumerate(calculators):
        if i in known:
            energies, forces, virials = known[i]
            energies = np.asarray(energies, dtype=float).reshape(-1)
            forces = np.asarray(forces, dtype=float)
            if energies.shape != (n_frames,) or forces.shape != (n_frames, natoms, 3):
                raise DeviationInputError(
                    f"known predictions of member {i}: energies {energies.shape} and "
                    f"forces {forces.shape} do not match {n_frames} frames of "
                    f"{natoms} atoms"
                )
            if virials is not None:
                virials = np.asarray(virials, dtype=float)
                if virials.size != n_frames * 9:
                    raise DeviationInputError(
                        f"known virials of member {i} have shape {virials.shape}, "
                        f"not ({n_frames}, 3, 3)"
                    )
                virials = virials.reshape(n_frames, 3, 3)
            results.append((energies, forces, virials if want_virials else None))
            path.append("known")
        else:
            if calculator is None:
                raise DeviationInputError(
                    f"member {i} has no calculator and no known predictions"
                )
            predicted, ran = _predicted(calculator, frames, want_virials, batch_size)
            results.append(predicted)
            path.append(ran)
    energies = np.stack([r[0] for r in results])
    forces = np.stack([r[1] for r in results])
    member_virials = [r[2] for r in results]
    virials = (
        None
        if any(v is None for v in member_virials)
        else np.stack([v for v in member_virials if v is not None])
    )
    return CommitteePredictions(energies, forces, virials, path)


__all__ = [
    "COLUMNS",
    "LABELS",
    "ClassCounts",
    "CommitteePredictions",
    "DeviationInputError",
    "ModelDeviation",
    "Predictions",
    "TrustLevels",
    "adaptive_trust_lo",
    "classify",
    "committee_predictions",
    "force_deviation",
    "read_model_devi",
    "write_model_devi",
]
