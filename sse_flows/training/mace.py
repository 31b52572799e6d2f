"""MACE through its own ``mace_run_train``, run in the MACE environment.

mace-torch pins e3nn 0.4.4, so MACE trains in its own environment
(``sse-flows env create mace``); this module only writes its inputs, runs the CLI
with ``run_tool`` and reads what it leaves in ``run.workdir``:

* ``checkpoints/<tag>_epoch-<N>.pt`` (model, optimiser, scheduler), written after an
  epoch whose validation loss improved. ``--restart_latest`` resumes a killed run from
  the newest one (MACE numbers its first pass N again, so a resumed run trains one
  pass more than ``epochs``). We ask MACE to keep
  every checkpoint and delete the older ones ourselves once a newer one is known
  finite: MACE counts a NaN validation loss as an improvement and would otherwise
  have deleted the last good checkpoint when it saved the NaN one.
* ``results/<tag>_train.txt``: one JSON line per batch (``mode: opt``) and per
  validation (``mode: eval``, per head): the learning curve.
* ``<name>.model``: the best-validation model, the one returned.

Fine-tuning (``--foundation_model``) is naive when ``settings.multihead`` is False.
With ``multihead`` (paper 001) MACE trains a second head, ``pt_head``, on replay data
next to ours (``Default``), so the shared layers keep the foundation's task. MACE can
only fetch Materials Project replay data over the network (and silently turns
multi-head off for a non-MP foundation without ``--pt_train_file``), so the replay set
is the parent's own predictions on our training structures, labelled through the
registry. The saved model keeps both heads; ``MACECalculator`` (and so the ``mace``
family) evaluates the head named ``Default`` unless told otherwise, which is the new
task. ``PotentialSpec(name="mace", checkpoint=..., options={"head": "pt_head"})``
evaluates the replay head.

Energy reference: E0s are fitted to the training labels (least squares) from scratch;
for a fine-tune they are the parent's E0s plus the per-element offsets between labels
and parent (:mod:`sse_flows.training.reference`), given as an explicit E0s file
(``E0s=foundation`` would keep the parent's scale and leave the offset to the layers).
mace 0.3.16 then copies every foundation tensor of matching name and shape into the new
model, E0s included: a single-head fine-tune on the parent's elements would silently
train on the parent's E0s. Naive fine-tuning therefore starts from a copy of the parent
whose E0s already carry the offsets (multi-head is unaffected: its E0 table has a row
per head, so the shapes differ).
"""

from __future__ import annotations

import json
import math
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_numbers

from sse_flows.calc.evaluate import LabeledFrame
from sse_flows.training.data import write_frames
from sse_flows.training.trainer import (
    EpochRecord,
    FamilyTrainer,
    TrainedCheckpoint,
    TrainingDivergedError,
    TrainingFailedError,
    TrainingRun,
    run_tool,
)

NAME = "model"
#: the head MACE gives the data of a run without named heads (the new task)
NEW_HEAD = "Default"
REPLAY_HEAD = "pt_head"
LOG = "mace_run_train.log"
DONE = "sse_flows_done.json"

#: a small architecture for training from scratch (settings.model overrides any key)
SCRATCH_MODEL: dict[str, Any] = {
    "model": "MACE",
    "hidden_irreps": "16x0e",
    "num_interactions": 2,
    "max_L": 0,
    "correlation": 2,
    "r_max": 4.5,
    "num_radial_basis": 6,
    "num_cutoff_basis": 4,
}

#: what the parent holds (heads, element table, E0s per head, cutoff); given an output
#: path and an offsets file too, it also saves a copy whose E0s carry the offsets
PARENT_SCRIPT = """
import json, sys
import mace  # noqa: F401  (lets torch unpickle whole models)
import torch
model = torch.load(sys.argv[1], map_location="cpu")
energies = model.atomic_energies_fn.atomic_energies
e0 = energies.detach().double().cpu()
e0 = e0.reshape(1, -1) if e0.ndim == 1 else e0.reshape(e0.shape[0], -1)
zs = [int(z) for z in model.atomic_numbers]
heads = list(getattr(model, "heads", None) or ["Default"])
with open(sys.argv[2], "w") as out:
    json.dump({"heads": heads, "zs": zs, "e0s": e0.tolist(),
               "r_max": float(model.r_max), "class": type(model).__name__}, out)
if len(sys.argv) > 3:
    offsets = {int(z): mu for z, mu in json.load(open(sys.argv[4])).items()}
    with torch.no_grad():
        for z, mu in offsets.items():
            if z in zs:  # a missing element is refused with a clear message after
                energies[..., zs.index(z)] += mu
    torch.save(model, sys.argv[3])
"""


@dataclass
class ParentInfo:
    """Heads, elements and E0s of a MACE model file (read in the MACE env)."""

    heads: list[str]
    zs: list[int]
    e0s: list[list[float]]
    r_max: float
    model_class: str = ""

    def head(self) -> str:
        """Return the head a fine-tune starts from: the one the calculator uses.

        ``MACECalculator`` takes the only head, else the one named ``default``; a
        multi-head file of another origin gives its first head that is not replay.
        """
        if len(self.heads) == 1:
            return self.heads[0]
        for name in self.heads:
            if name.lower() == NEW_HEAD.lower():
                return name
        return next((h for h in self.heads if h != REPLAY_HEAD), self.heads[0])

    def e0(self, head: str) -> dict[int, float]:
        """Return E0s (eV) of one head by atomic number."""
        row = self.e0s[self.heads.index(head)] if len(self.e0s) > 1 else self.e0s[0]
        return {z: float(e) for z, e in zip(self.zs, row, strict=True)}


@dataclass
class ResultsCurve:
    """Per-epoch numbers from MACE's results file, stale lines of a killed run dropped."""

    #: (MACE, 0-based) epoch -> losses of its batches
    opt: dict[int, list[float]] = field(default_factory=dict)
    #: epoch -> MACE's validation entry of the head asked for
    evals: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the last epoch the latest (re)start of MACE began to train (-1: none)
    started: int = -1


def _option(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def mace_options(options: dict[str, Any]) -> list[str]:
    """Render ``{"hidden_irreps": "32x0e"}`` as ``["--hidden_irreps=32x0e"]``.

    A value None gives a bare switch (MACE's ``ema``, ``swa``, ``amsgrad``);
    booleans are written True/False, as its str2bool options (``plot``) want.
    """
    return [
        f"--{key.lstrip('-')}" if value is None else f"--{key.lstrip('-')}={_option(value)}"
        for key, value in options.items()
    ]


def results_file(workdir: Path, seed: int) -> Path:
    """Return MACE's per-epoch log of this run."""
    return workdir / "results" / f"{_tag(seed)}_train.txt"


def _tag(seed: int) -> str:
    return f"{NAME}_run-{seed}"


def checkpoints(folder: Path) -> dict[int, Path]:
    """Return MACE's epoch checkpoints in ``folder`` by (MACE, 0-based) epoch."""
    found = {}
    for path in folder.glob(f"{NAME}_run-*_epoch-*.pt"):
        match = re.search(r"_epoch-(\d+)\.pt$", path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def drop_incomplete(folder: Path) -> dict[int, Path]:
    """Delete checkpoints a kill cut short; return the complete ones by epoch.

    torch.save writes a zip archive whose directory comes last; MACE would fail to
    load a cut one and silently start again from scratch.
    """
    complete = {}
    for epoch, path in checkpoints(folder).items():
        try:
            with zipfile.ZipFile(path):
                complete[epoch] = path
        except (zipfile.BadZipFile, OSError):
            path.unlink(missing_ok=True)
    return complete


def read_results(path: Path, head: str = NEW_HEAD) -> ResultsCurve:
    """Read MACE's JSON lines.

    A restarted MACE validates first (epoch null), then trains from its checkpoint's
    epoch: the killed run's lines from that epoch on are replaced by the new ones.
    """
    curve = ResultsCurve()
    if not path.exists():
        return curve
    segment = purged = 0
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut by a kill
            continue
        epoch, mode = entry.get("epoch"), entry.get("mode")
        if epoch is None:
            segment += mode == "eval"  # a (re)started run validates before training
            continue
        if purged != segment:  # the first epoch of a (re)started run
            purged, curve.started = segment, -1
            curve.opt = {e: v for e, v in curve.opt.items() if e < epoch}
            curve.evals = {e: v for e, v in curve.evals.items() if e < epoch}
        if mode == "opt":
            curve.opt.setdefault(epoch, []).append(float(entry.get("loss", math.nan)))
            curve.started = max(curve.started, epoch)
        elif mode == "eval" and entry.get("head", head) == head:
            curve.evals[epoch] = entry
    return curve


def learning_curve(curve: ResultsCurve) -> list[EpochRecord]:
    """EpochRecords (1-based epochs) of every validated epoch; MAEs in meV."""
    points = []
    for epoch in sorted(curve.evals):
        entry = curve.evals[epoch]
        losses = curve.opt.get(epoch, [])
        points.append(
            EpochRecord(
                epoch=epoch + 1,
                train_loss=float(np.mean(losses)) if losses else None,
                valid_loss=_float(entry.get("loss")),
                valid_energy_mae_meV_atom=_milli(entry.get("mae_e_per_atom")),
                valid_force_mae_meV_A=_milli(entry.get("mae_f")),
            )
        )
    return points


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _milli(value: Any) -> float | None:
    return None if value is None else float(value) * 1e3


def first_bad_epoch(curve: ResultsCurve) -> int | None:
    """Return the first MACE epoch whose training or validation loss is not finite."""
    bad = [
        epoch
        for epoch, losses in curve.opt.items()
        if not all(math.isfinite(v) for v in losses)
    ]
    bad += [
        epoch
        for epoch, entry in curve.evals.items()
        if not math.isfinite(float(entry.get("loss", math.nan)))
    ]
    return min(bad) if bad else None


def prune_checkpoints(folder: Path, curve: ResultsCurve, finished: bool) -> None:
    """Delete checkpoints older than the newest one known good and complete.

    A checkpoint is good when its epoch validated finite; complete when MACE has
    moved on to the next epoch (or the run ended), so it is not half written.
    """
    found = checkpoints(folder)
    keep = None
    for epoch in found:
        entry = curve.evals.get(epoch)
        good = entry is not None and math.isfinite(float(entry.get("loss", math.nan)))
        if good and (finished or curve.started > epoch):
            keep = epoch
    if keep is None:
        return
    for epoch, path in found.items():
        if epoch < keep:
            path.unlink(missing_ok=True)


def check_divergence(curve: ResultsCurve, folder: Path, model_file: Path) -> None:
    """Raise TrainingDivergedError at a non-finite loss, keeping the last good one."""
    bad = first_bad_epoch(curve)
    if bad is None:
        return
    good = {e: p for e, p in checkpoints(folder).items() if e < bad}
    for epoch, path in checkpoints(folder).items():
        if epoch >= bad:
            path.unlink(missing_ok=True)
    for path in [*model_file.parent.glob("*.model"), *folder.glob("*.model")]:
        path.unlink(missing_ok=True)
    kept = good[max(good)] if good else None
    raise TrainingDivergedError(
        f"MACE's loss turned non-finite in epoch {bad + 1}; training stopped. The "
        f"last good checkpoint is kept: {kept or 'none (the first epoch diverged)'}"
        " (later checkpoints and the final model were deleted). Lower the learning "
        "rate or check the labels."
    )


@contextmanager
def _pruning(folder: Path, results: Path, every: float = 5.0) -> Iterator[None]:
    """Prune superseded checkpoints while MACE trains (a big model's are ~100 MB)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            prune_checkpoints(folder, read_results(results), finished=False)

    thread = threading.Thread(target=loop, name="mace-checkpoint-pruner", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class MACETrainer(FamilyTrainer):
    """Train MACE from scratch, or fine-tune a MACE model file (naive or multi-head)."""

    family = "mace"
    # no foundation weights can be downloaded here: a parent is named or none
    default_parent = None
    scratch_learning_rate = 1e-2  # mace_run_train's default
    finetune_learning_rate = 1e-3

    def train(self, run: TrainingRun) -> TrainedCheckpoint:
        """Run (or resume) ``mace_run_train`` in run.workdir; return the .model file."""
        python = self._python()
        workdir = run.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        folder = workdir / "checkpoints"
        results = results_file(workdir, run.settings.trainer_seed())
        model_file = workdir / f"{NAME}.model"
        done = workdir / DONE
        if done.exists() and model_file.exists():
            state = json.loads(done.read_text())
            return self._result(run, model_file, state["method"], None, state["notes"])
        previous = drop_incomplete(folder)
        resumed_from = max(previous) + 1 if previous else None
        argv, method, notes = self._argv(run, python)
        log = workdir / LOG
        failure: TrainingFailedError | None = None
        with _pruning(folder, results):
            try:
                run_tool(argv, workdir, log, env_bin=python.parent)
            except TrainingFailedError as exc:
                failure = exc
        curve = read_results(results)
        check_divergence(curve, folder, model_file)
        if failure is not None:
            raise failure
        prune_checkpoints(folder, curve, finished=True)
        if not model_file.exists():
            raise TrainingFailedError(
                f"mace_run_train finished without writing {model_file}; see {log}."
            )
        done.write_text(json.dumps({"method": method, "notes": notes}))
        return self._result(run, model_file, method, resumed_from, notes)

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _python() -> Path:
        from sse_flows.potentials.catalog import get_family
        from sse_flows.potentials.environments import require_env

        return require_env(get_family("mace"))

    def _argv(self, run: TrainingRun, python: Path) -> tuple[list[str], str, list[str]]:
        """Return mace_run_train's arguments, the energy-reference sentence and notes."""
        settings = run.settings
        workdir = run.workdir
        stress = run.splits.has_stress and settings.stress_weight > 0
        # MACE drops the last incomplete batch: a batch larger than the data never trains
        batch = min(settings.batch_size, run.n_train)
        argv = [
            str(python.parent / "mace_run_train"),
            f"--name={NAME}",
            f"--seed={settings.trainer_seed()}",
            f"--device={run.device}",
            "--default_dtype=float64",
            f"--work_dir={workdir}",
            f"--model_dir={workdir}",
            f"--checkpoints_dir={workdir / 'checkpoints'}",
            f"--results_dir={workdir / 'results'}",
            f"--log_dir={workdir / 'logs'}",
            f"--train_file={run.splits.files['train']}",
            f"--valid_file={run.splits.files['valid']}",
            "--energy_key=REF_energy",
            "--forces_key=REF_forces",
            f"--batch_size={batch}",
            f"--valid_batch_size={settings.batch_size}",
            f"--max_num_epochs={settings.epochs}",
            f"--lr={self.learning_rate(run)}",
            f"--energy_weight={settings.energy_weight}",
            f"--forces_weight={settings.force_weight}",
            f"--stress_weight={settings.stress_weight if stress else 0.0}",
            f"--patience={settings.patience or 10**6}",
            "--eval_interval=1",
            "--error_table=PerAtomMAE",
            "--keep_checkpoints",
            "--restart_latest",
            "--plot=False",
            "--save_cpu",
        ]
        if stress:
            argv += ["--stress_key=REF_stress", "--loss=stress", "--compute_stress=True"]
        else:
            argv += ["--loss=weighted"]
        notes: list[str] = []
        if batch < settings.batch_size:
            notes.append(
                f"batch size lowered from {settings.batch_size} to the {batch} training "
                "frames (MACE drops an incomplete last batch)"
            )
        if run.parent_path is None:
            argv += mace_options({**SCRATCH_MODEL, **settings.model})
            argv += ["--E0s=average"]
            method = (
                "from scratch: E0s fitted by least squares to the training split "
                "(mace_run_train --E0s=average)"
            )
            return argv, method, notes
        offsets = self._offsets_by_z(run)
        shifted = None
        if not settings.multihead and any(offsets.values()):
            shifted = workdir / "parent_shifted_E0s.model"
        parent = self._parent_info(run, python, offsets, shifted)
        head = parent.head()
        e0s = self._e0s(run, parent, head)
        e0_file = workdir / "E0s.json"
        e0_file.write_text(json.dumps({str(z): e for z, e in e0s.items()}, indent=1))
        argv += [f"--foundation_model={shifted or run.parent_path}", f"--E0s={e0_file}"]
        if len(parent.heads) > 1:
            argv += [f"--foundation_head={head}"]
        if settings.multihead:
            replay, replay_valid = self._replay(run)
            argv += [
                "--multiheads_finetuning=True",
                f"--pt_train_file={replay}",
                f"--pt_valid_file={replay_valid}",
                "--force_mh_ft_lr=True",  # else MACE sets lr 1e-4 and EMA
            ]
            notes.append(
                f"multi-head fine-tuning: replay head '{REPLAY_HEAD}' trained on the "
                f"parent's predictions for {self._n_replay(run)} training frames; the "
                f"model evaluates head '{NEW_HEAD}' (the new labels) by default, "
                f"options {{'head': '{REPLAY_HEAD}'}} the parent's task"
            )
        else:
            argv += ["--multiheads_finetuning=False"]
        argv += mace_options(settings.model)
        return argv, self._method(run, head, settings.multihead, shifted), notes

    @staticmethod
    def _method(run: TrainingRun, head: str, multihead: bool, shifted: Path | None) -> str:
        if run.offsets is None:
            text = (
                f"the parent's E0s (head '{head}') kept, given as an explicit E0s file "
                "(no offsets fitted)"
            )
        else:
            text = (
                f"E0s = the parent's E0s (head '{head}') plus per-element offsets "
                "(labels - parent, least squares on the training split), given to "
                "mace_run_train as an explicit E0s file"
            )
        if shifted is not None:
            text += (
                " and written into a copy of the parent used as the foundation "
                "(mace 0.3.16 copies a single-head foundation's E0s over the given ones)"
            )
        if multihead:
            text += f"; the replay head '{REPLAY_HEAD}' keeps the parent's E0s"
        return text

    @staticmethod
    def _offsets_by_z(run: TrainingRun) -> dict[int, float]:
        offsets = run.offsets.offsets_eV if run.offsets is not None else {}
        return {atomic_numbers[s]: float(mu) for s, mu in offsets.items()}

    def _parent_info(
        self,
        run: TrainingRun,
        python: Path,
        offsets: dict[int, float],
        shifted: Path | None,
    ) -> ParentInfo:
        """Read the parent in the MACE env; write the E0-shifted copy if asked."""
        out = run.workdir / "parent.json"
        script = run.workdir / "read_parent.py"
        script.write_text(PARENT_SCRIPT)
        argv = [str(python), str(script), str(run.parent_path), str(out)]
        if shifted is not None:
            offsets_file = run.workdir / "offsets_by_z.json"
            offsets_file.write_text(json.dumps({str(z): mu for z, mu in offsets.items()}))
            argv += [str(shifted), str(offsets_file)]
        run_tool(argv, run.workdir, run.workdir / LOG, env_bin=python.parent)
        data = json.loads(out.read_text())
        return ParentInfo(
            heads=data["heads"],
            zs=data["zs"],
            e0s=data["e0s"],
            r_max=data["r_max"],
            model_class=data["class"],
        )

    @staticmethod
    def _e0s(run: TrainingRun, parent: ParentInfo, head: str) -> dict[int, float]:
        """Return the new head's E0s: the parent's plus the label offsets."""
        e0 = parent.e0(head)
        offsets = run.offsets.offsets_eV if run.offsets is not None else {}
        out = {}
        for symbol in run.splits.elements():
            z = atomic_numbers[symbol]
            if z not in e0:
                raise TrainingFailedError(
                    f"The parent {run.parent_path} has no E0 for {symbol}: it was not "
                    "trained on it. Fine-tune a model that covers every element of "
                    "the data, or train from scratch."
                )
            out[z] = e0[z] + offsets.get(symbol, 0.0)
        return out

    @staticmethod
    def _n_replay(run: TrainingRun) -> int:
        return min(run.settings.replay_frames, run.n_train)

    def _replay(self, run: TrainingRun) -> tuple[Path, Path]:
        """Label training (and validation) structures with the parent: the replay set.

        The parent runs through the registry (a worker in the MACE environment), so
        the replay labels are exactly what the parent predicts, in its own head.
        """
        from sse_flows.potentials import load_potential

        train = run.splits.frames["train"]
        rng = np.random.default_rng(run.settings.seed)
        picked = sorted(rng.choice(len(train), self._n_replay(run), replace=False))
        folder = run.workdir / "replay"
        paths = folder / "replay_train.extxyz", folder / "replay_valid.extxyz"
        if all(p.exists() for p in paths):
            return paths
        if run.parent is None:  # pragma: no cover - train() only fine-tunes a parent
            raise TrainingFailedError("Multi-head fine-tuning needs a parent model.")
        with load_potential(run.parent, elements=run.splits.elements()) as loaded:
            sets = (
                [train[int(i)] for i in picked],
                run.splits.frames["valid"],
            )
            for frames, path in zip(sets, paths, strict=True):
                write_frames([_relabel(f, loaded.calculator) for f in frames], path)
        return paths

    # ------------------------------------------------------------------ outputs
    def _result(
        self,
        run: TrainingRun,
        model_file: Path,
        method: str,
        resumed_from: int | None,
        notes: list[str],
    ) -> TrainedCheckpoint:
        results = results_file(run.workdir, run.settings.trainer_seed())
        curve = learning_curve(read_results(results))
        notes = list(notes)
        if run.settings.patience and len(curve) < run.settings.epochs:
            notes.append(
                f"stopped early after {len(curve)} epochs "
                f"(patience {run.settings.patience}); the best-validation model is kept"
            )
        return TrainedCheckpoint(
            checkpoint=model_file,
            learning_curve=curve,
            epochs_run=len(curve),
            energy_reference_method=method,
            resumed_from_epoch=resumed_from,
            notes=notes,
        )


def _relabel(frame: LabeledFrame, calculator: Any) -> LabeledFrame:
    """Return the frame labelled by ``calculator`` (stress only for periodic cells)."""
    atoms = frame.atoms.copy()
    atoms.calc = calculator
    stress = np.asarray(atoms.get_stress()) if all(atoms.pbc) else None
    labelled = LabeledFrame(
        atoms=frame.atoms.copy(),
        energy=float(atoms.get_potential_energy()),
        forces=np.asarray(atoms.get_forces()),
        stress=stress,
    )
    labelled.atoms.calc = None
    return labelled
