"""DeePMD-kit through its own command line: ``dp --pt train``, ``freeze``, ``compress``.

Everything runs in the DeePMD environment (``sse-flows env create deepmd``); this
module writes the data and ``input.json``, watches ``dp`` while it trains, and reads
what it leaves.

Data: the train and valid splits become deepmd/npy systems (one per formula, written
by dpdata; virial = -stress x volume) with one type map for all: the elements of the
splits from scratch, the parent's type map when fine-tuning.

Settings -> ``input.json``:

* ``epochs`` are passes over the training split: ``numb_steps = epochs x
  ceil(n_train / batch_size)`` (:meth:`TrainingRun.steps_per_epoch`); ``disp_freq``,
  ``save_freq`` and the full validation (``validating.validation_freq``) are one epoch,
  so every epoch leaves a checkpoint, an ``lcurve.out`` row and a ``val.log`` row.
* ``learning_rate`` is ``start_lr``; it decays exponentially to 1e-2 of it at the
  last step (``stop_lr``).
* Loss prefactors (DeePMD moves each from its start to its limit value as the
  learning rate decays): ``limit_pref_e = energy_weight``, ``start_pref_e = 0.02 x
  energy_weight``; ``limit_pref_f = force_weight``, ``start_pref_f = 100 x
  force_weight``; ``limit_pref_v = stress_weight``, ``start_pref_v = 0.02 x
  stress_weight`` (0 without stress labels). With weights 1 : 1 this is DeePMD's own
  recommended schedule (0.02 -> 1 for energy, 100 -> 1 per unit force weight).
  DeePMD's energy and virial terms are per atom.
* ``seed`` seeds the data sampling and, from scratch, the networks.
* ``patience``: dp has no early stopping, only a best checkpoint by full validation
  (``validating.save_best``, force MAE; energy MAE when the force weight is 0). We
  read ``val.log`` while dp runs and stop it after ``patience`` epochs without a
  better value; the best checkpoint is then kept (its energy bias refitted with
  ``dp change-bias``, as dp does to the last step with ``change_bias_after_training``).

From scratch: a small se_e2_a (:data:`DEFAULT_MODEL`); ``settings.model`` is merged
into the ``model`` section (a descriptor or fitting net of another ``type`` replaces
ours). Fine-tuning: ``dp --pt train --finetune parent.pt --use-pretrain-script`` (the
parent's architecture; dp refits the output bias). dp fine-tunes only training
checkpoints (``.pt``): ``torch.load(weights_only=True)`` refuses a TorchScript ``.pth``.
A frozen ``.pth`` trained by sse-flows is fine-tuned from the training checkpoint it
was frozen from (recorded in its work folder); any other uncompressed frozen model via
``dp change-bias`` + ``--init-frz-model``; a compressed one cannot be trained further.

A killed run resumes with ``dp --pt train --restart <latest checkpoint>``; a loss
that turns non-finite stops dp and names the last checkpoint with finite weights.
The trained model is frozen and compressed; the compressed file is returned when it
loads and predicts like the frozen one (it is several times faster), else the frozen.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sse_flows.calc.evaluate import LabeledFrame
from sse_flows.provenance import sha256_of
from sse_flows.training.data import TrainingDataError, write_frames
from sse_flows.training.trainer import (
    EpochRecord,
    FamilyTrainer,
    TrainedCheckpoint,
    TrainingDivergedError,
    TrainingFailedError,
    TrainingRun,
    run_tool,
)

#: a small se_e2_a that trains in a minute on a CPU (tests/tiny_models.py measured it)
DEFAULT_MODEL: dict[str, Any] = {
    "descriptor": {
        "type": "se_e2_a",
        "sel": "auto",
        "rcut_smth": 3.0,
        "rcut": 4.5,
        "neuron": [8, 16],
        "axis_neuron": 4,
    },
    "fitting_net": {"neuron": [32, 32]},
}
#: compressed and frozen predictions agree to these (eV/atom, eV/A) or the frozen is kept
COMPRESS_TOLERANCE = (1e-4, 1e-3)
POLL_SECONDS = 1.0
LOG = "deepmd.log"
PLAN = "sse_flows_plan.json"
DONE = "sse_flows_done.json"
#: written next to the frozen models: which training checkpoint they came from
ORIGIN = "sse_flows_deepmd.json"
LOCK = "dp_train.pid"

PARENT_SCRIPT = """
import json, sys
import torch
path = sys.argv[1]
out = {"compressed": False}
if path.endswith(".pt"):
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    params = state["_extra_state"]["model_params"]
    out["kind"] = "checkpoint"
else:
    import deepmd.pt  # registers deepmd's operators before TorchScript loads
    model = torch.jit.load(path, map_location="cpu")
    params = json.loads(model.get_model_def_script())
    out["kind"] = "frozen"
    out["compressed"] = any(
        "compress_data" in k and v.numel() > 0 for k, v in model.state_dict().items()
    )
out["branches"] = sorted(params.get("model_dict", {}))
out["type_map"] = params.get("type_map")
print(json.dumps(out))
"""

FINITE_SCRIPT = """
import json, sys
import torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
state = state.get("model", state)
ok = all(
    bool(torch.isfinite(v).all())
    for v in state.values()
    if torch.is_tensor(v) and v.is_floating_point()
)
print(json.dumps(ok))
"""

COMPARE_SCRIPT = """
import json, sys, time
from ase.io import read
from deepmd.calculator import DP
frames = read(sys.argv[3], index=":2")
out = {}
for key, path in (("frozen", sys.argv[1]), ("compressed", sys.argv[2])):
    start = time.perf_counter()
    try:
        calc = DP(model=path)
        energies, forces = [], []
        for atoms in frames:
            atoms = atoms.copy()
            atoms.calc = calc
            energies.append(float(atoms.get_potential_energy()) / len(atoms))
            forces.append(atoms.get_forces().tolist())
    except Exception as exc:
        out[key] = {"error": f"{type(exc).__name__}: {exc}"}
        continue
    out[key] = {"e": energies, "f": forces, "seconds": time.perf_counter() - start}
print(json.dumps(out))
"""


# ------------------------------------------------------------------ data and config
def write_systems(
    frames: list[LabeledFrame], folder: Path, type_map: list[str], stress: bool
) -> list[Path]:
    """Write frames as deepmd/npy systems (one per formula) via dpdata; return them."""
    try:
        import dpdata
    except ImportError as exc:  # pragma: no cover - a test dependency
        raise TrainingFailedError(
            "Training DeePMD needs dpdata in the main environment to write its data: "
            "pip install 'sse-flows[dft]' (or dpdata)."
        ) from exc
    from ase.calculators.singlepoint import SinglePointCalculator

    systems = dpdata.MultiSystems(type_map=type_map)
    for frame in frames:
        atoms = frame.atoms.copy()
        labels: dict[str, Any] = {"energy": frame.energy, "forces": frame.forces}
        if stress and frame.stress is not None:
            labels["stress"] = frame.stress
        atoms.calc = SinglePointCalculator(atoms, **labels)
        systems.append(dpdata.LabeledSystem(atoms, fmt="ase/structure"))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    systems.to_deepmd_npy(str(folder))  # type: ignore[attr-defined]  # plugin method
    return sorted(p for p in folder.iterdir() if (p / "type.raw").exists())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``override``; a sub-dict of another ``type`` replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        old = merged.get(key)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and value.get("type", old.get("type")) == old.get("type")
        ):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def scratch_model(type_map: list[str], seed: int, override: dict[str, Any]) -> dict:
    """Return the ``model`` section of a model trained from scratch."""
    model = deep_merge(DEFAULT_MODEL, {"descriptor": {"seed": seed}})
    model["fitting_net"]["seed"] = seed
    model = deep_merge(model, override)
    model["type_map"] = list(type_map)
    return model


def loss_section(run: TrainingRun) -> dict[str, Any]:
    """Return the loss prefactors (see the module docstring for the mapping)."""
    s = run.settings
    stress = s.stress_weight if run.splits.has_stress else 0.0
    return {
        "type": "ener",
        "start_pref_e": 0.02 * s.energy_weight,
        "limit_pref_e": s.energy_weight,
        "start_pref_f": 100.0 * s.force_weight,
        "limit_pref_f": s.force_weight,
        "start_pref_v": 0.02 * stress,
        "limit_pref_v": stress,
    }


def learning_rate_section(start_lr: float, numb_steps: int) -> dict[str, Any]:
    """Exponential decay from ``start_lr`` to 1e-2 of it over the run, in ~20 stairs."""
    return {
        "type": "exp",
        "start_lr": start_lr,
        "stop_lr": start_lr * 1e-2,
        "decay_steps": max(1, min(5000, numb_steps // 20)),
    }


def validation_metric(run: TrainingRun) -> tuple[str, str]:
    """Return dp's full-validation metric and its ``val.log`` column."""
    if run.settings.force_weight > 0:
        return "F:MAE", "F_MAE(meV/Å)"
    return "E:MAE", "E_MAE(meV/atom)"


def input_config(
    run: TrainingRun,
    model: dict[str, Any],
    train: list[Path],
    valid: list[Path],
    start_lr: float,
) -> dict[str, Any]:
    """Return dp's ``input.json`` for this run."""
    s = run.settings
    per_epoch = run.steps_per_epoch()
    steps = s.epochs * per_epoch
    n_valid = len(run.splits.frames["valid"])
    return {
        "model": model,
        "learning_rate": learning_rate_section(start_lr, steps),
        "loss": loss_section(run),
        "training": {
            "training_data": {
                "systems": [str(p) for p in train],
                "batch_size": s.batch_size,
            },
            "validation_data": {
                "systems": [str(p) for p in valid],
                "batch_size": s.batch_size,
                "numb_btch": max(1, math.ceil(n_valid / s.batch_size)),
            },
            "numb_steps": steps,
            "seed": s.trainer_seed(),
            "disp_file": "lcurve.out",
            "disp_freq": per_epoch,
            "save_freq": per_epoch,
            "save_ckpt": "model.ckpt",
            "max_ckpt_keep": 5,
            "change_bias_after_training": True,
        },
        "validating": {
            "full_validation": True,
            "validation_freq": per_epoch,
            "full_val_start": 0,
            "validation_metric": validation_metric(run)[0],
            "save_best": True,
            "max_best_ckpt": 1,
            "full_val_file": "val.log",
        },
    }


# ------------------------------------------------------------------ dp's outputs
def _table(path: Path) -> list[dict[str, float]]:
    """Rows of a whitespace table whose header line starts with ``# step``.

    Columns are found by name; a repeated step (rerun after a restart) keeps the
    last row; comment lines and a repeated header are skipped.
    """
    if not path.exists():
        return []
    columns: list[str] = []
    rows: dict[int, dict[str, float]] = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("#"):
            words = line[1:].split()
            if words and words[0] == "step":
                columns = words
            continue
        values = line.split()
        if not columns or len(values) != len(columns):
            continue  # a half-written last line
        try:
            row = {c: float(v) for c, v in zip(columns, values, strict=True)}
        except ValueError:
            continue
        rows[int(row["step"])] = row
    return [rows[k] for k in sorted(rows)]


def parse_lcurve(path: Path) -> list[dict[str, float]]:
    """Rows of dp's ``lcurve.out`` by column name (step, rmse_val, rmse_f_val, ...)."""
    return _table(path)


def parse_val_log(path: Path) -> dict[int, dict[str, float]]:
    """Rows of dp's full-validation ``val.log`` by step (E_MAE(meV/atom), F_MAE...)."""
    return {int(r["step"]): r for r in _table(path)}


def _nonfinite_step(rows: list[dict[str, float]]) -> int | None:
    """First step whose total loss (train or validation) is not finite."""
    for row in rows:
        for key in ("rmse_trn", "rmse_val", "rmse"):
            if key in row and not math.isfinite(row[key]):
                return int(row["step"])
    return None


def learning_curve(workdir: Path, per_epoch: int, last_step: int) -> list[EpochRecord]:
    """One point per epoch: dp's weighted loss (rmse_trn, rmse_val) and full-set MAEs."""
    val = parse_val_log(workdir / "val.log")
    points = []
    for row in parse_lcurve(workdir / "lcurve.out"):
        step = int(row["step"])
        if step <= 0 or step % per_epoch or step > last_step:
            continue
        full = val.get(step, {})
        points.append(
            EpochRecord(
                epoch=step // per_epoch,
                train_loss=row.get("rmse_trn"),
                valid_loss=row.get("rmse_val"),
                valid_energy_mae_meV_atom=full.get("E_MAE(meV/atom)"),
                valid_force_mae_meV_A=full.get("F_MAE(meV/Å)"),
            )
        )
    return points


def _step_of(path: Path) -> int:
    match = re.search(r"\.ckpt-(\d+)", path.name)
    return int(match.group(1)) if match else -1


def checkpoints(workdir: Path) -> list[Path]:
    """Return dp's periodic checkpoints (``model.ckpt-<step>.pt``), oldest first."""
    return sorted(workdir.glob("model.ckpt-*.pt"), key=_step_of)


def latest_checkpoint(workdir: Path) -> Path | None:
    """Return the checkpoint dp names in its ``checkpoint`` file, else the newest."""
    pointer = workdir / "checkpoint"
    if pointer.exists():
        named = workdir / pointer.read_text().strip()
        if named.exists():
            return named.resolve()
    found = checkpoints(workdir)
    return found[-1] if found else None


def _biased_line(log: Path, since: int) -> str | None:
    """Return dp's first 'Change output bias of [...]' log line after ``since``.

    The first is the parent's (fine-tuning); a later one is change_bias_after_training.
    """
    text = log.read_bytes()[since:].decode(errors="replace") if log.exists() else ""
    found = re.findall(r"Change output bias of .*", text)
    return found[0].strip() if found else None


# ------------------------------------------------------------------ the plan
@dataclass
class Plan:
    """How this run starts: kept in the work folder so a resumed run starts alike."""

    mode: str  # scratch | finetune | init-frz
    type_map: list[str]
    method: str
    source: str | None = None  # the .pt fine-tuned, or the frozen model started from
    notes: list[str] = field(default_factory=list)


class DeepMDTrainer(FamilyTrainer):
    """Train a DeePMD model with ``dp --pt`` (from scratch or fine-tuning a ``.pt``)."""

    family = "deepmd"
    default_parent = None  # no pretrained DPA weights can be downloaded here
    #: measured on 64-96 EMT Cu-Au frames: 1e-2..2e-2 reaches 1/10 of the RMS force
    #: in ~700 steps where 1e-3 (dp's default for 1e6 steps) barely starts
    scratch_learning_rate = 1e-2
    finetune_learning_rate = 1e-3  # DeePMD's fine-tuning examples

    # -------------------------------------------------------------- entry point
    def train(self, run: TrainingRun) -> TrainedCheckpoint:
        """Train (or resume) in run.workdir; freeze, compress, return the model file."""
        from sse_flows.potentials.catalog import get_family
        from sse_flows.potentials.environments import require_env

        python = require_env(get_family(self.family))
        workdir = run.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / LOG
        per_epoch = run.steps_per_epoch()
        steps = run.settings.epochs * per_epoch
        plan = self._plan(run, python)
        done_file = workdir / DONE
        if done_file.exists():  # trained before; killed while freezing
            done = json.loads(done_file.read_text())
            trained = Path(done["checkpoint"])
            resumed: int | None = int(done["epoch"])
            early = bool(done["early_stopped"])
        else:
            trained, resumed, early = self._train(run, plan, python, log)
            done_file.write_text(
                json.dumps(
                    {
                        "checkpoint": str(trained),
                        "epoch": _step_of(trained) // per_epoch,
                        "early_stopped": early,
                    }
                )
            )
        model, notes = self._freeze(run, trained, python, log)
        curve = learning_curve(workdir, per_epoch, steps)
        notes = plan.notes + notes
        if early:
            notes.append(
                f"stopped early after {len(curve)} of {run.settings.epochs} epochs "
                f"(patience {run.settings.patience}); kept the best-validation "
                f"checkpoint {trained.name}"
            )
        return TrainedCheckpoint(
            checkpoint=model,
            learning_curve=curve,
            epochs_run=len(curve),
            energy_reference_method=plan.method,
            resumed_from_epoch=resumed,
            notes=notes,
        )

    # -------------------------------------------------------------- parent
    def _plan(self, run: TrainingRun, python: Path) -> Plan:
        """Decide (once per work folder) the type map and how training starts."""
        saved = run.workdir / PLAN
        if saved.exists():
            return Plan(**json.loads(saved.read_text()))
        elements = run.splits.elements()
        if run.parent_path is None:
            plan = Plan(
                mode="scratch",
                type_map=elements,
                method="from scratch: dp set each element's atomic energy (output bias) "
                "by least squares on the training energies, and refitted it to the "
                "residuals after the last step (change_bias_after_training), so the "
                "energy zero is the labels'",
            )
        else:
            plan = self._finetune_plan(run, python, elements)
        if run.settings.model and plan.mode != "scratch":
            plan.notes.append(
                "settings.model was ignored: a fine-tuned model keeps its parent's "
                "architecture (--use-pretrain-script)"
            )
        saved.write_text(json.dumps(asdict(plan), indent=1))
        return plan

    def _finetune_plan(self, run: TrainingRun, python: Path, elements: list[str]) -> Plan:
        parent = Path(str(run.parent_path))
        if parent.suffix == ".pb":
            raise TrainingFailedError(
                f"{parent} is a TensorFlow model; the DeePMD environment here has only "
                "the PyTorch backend. Fine-tune a PyTorch training checkpoint (.pt)."
            )
        info = self._inspect(parent, python)
        if info["branches"]:
            raise TrainingFailedError(
                f"{parent} is a multi-task DeePMD model (branches: "
                f"{', '.join(info['branches'])}); sse-flows fine-tunes single-task "
                "models only. Run dp --pt train --finetune with --model-branch yourself."
            )
        type_map = list(info["type_map"] or [])
        missing = [e for e in elements if e not in type_map]
        if missing:
            raise TrainingDataError(
                f"The parent {parent.name} knows {', '.join(type_map)} but the data "
                f"also holds {', '.join(missing)}; DeePMD's fine-tuning keeps the "
                "parent's type map. Train from scratch (--from-scratch) or pick a "
                "parent that covers every element."
            )
        offsets_note = (
            []
            if run.settings.match_energy_reference
            else [
                "match_energy_reference=False is not applied: dp --finetune always "
                "refits the output bias to the new labels"
            ]
        )
        method = (
            "dp --finetune refitted the parent's per-element output bias (atomic "
            "energies) by least squares on the label-minus-parent energies of the "
            "training split ('change-by-statistic'), so the parent starts on the "
            "labels' energy zero instead of spending steps on an offset"
        )
        if info["kind"] == "checkpoint":
            return Plan("finetune", type_map, method, str(parent), offsets_note)
        origin = self._training_checkpoint_of(parent)
        if origin is not None:
            note = (
                f"the parent {parent.name} is a frozen model, which dp cannot fine-tune; "
                f"fine-tuned from the training checkpoint it was frozen from ({origin})"
            )
            return Plan("finetune", type_map, method, str(origin), [note, *offsets_note])
        if info["compressed"]:
            raise TrainingFailedError(
                f"{parent} is a compressed DeePMD model (tabulated descriptor), which "
                "cannot be trained further. Give its uncompressed frozen model (.pth) "
                "or, better, the training checkpoint (.pt) it came from."
            )
        if run.settings.match_energy_reference:
            method = (
                "dp change-bias refitted the frozen parent's per-element output bias "
                "by least squares on the label-minus-parent energies of the training "
                "split (dp cannot --finetune a frozen .pth), then training started "
                "from those weights (--init-frz-model)"
            )
        else:
            method = "parent's output bias kept (match_energy_reference=False)"
        note = (
            f"the parent {parent.name} is a frozen model: dp cannot --finetune it "
            "(only training checkpoints .pt), so training started from its weights "
            "with --init-frz-model"
        )
        return Plan("init-frz", type_map, method, str(parent), [note])

    @staticmethod
    def _inspect(parent: Path, python: Path) -> dict[str, Any]:
        """Read a parent's kind, type map and branches inside the DeePMD environment."""
        done = _run_python(python, PARENT_SCRIPT, [str(parent)])
        if done.returncode != 0:
            raise TrainingFailedError(
                f"Cannot read {parent} as a DeePMD PyTorch model (.pt checkpoint or "
                f".pth frozen model):\n{done.stderr[-1500:]}"
            )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    @staticmethod
    def _training_checkpoint_of(frozen: Path) -> Path | None:
        """Return the .pt a frozen model trained by sse-flows came from, if still there."""
        record = frozen.parent / "model.json"
        if not record.exists():
            return None
        try:
            workdir = Path(json.loads(record.read_text())["workdir"])
            origin = json.loads((workdir / ORIGIN).read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if sha256_of(frozen) not in origin.get("models", {}):
            return None
        checkpoint = Path(origin["checkpoint"])
        return checkpoint if checkpoint.exists() else None

    # -------------------------------------------------------------- training
    def _train(
        self, run: TrainingRun, plan: Plan, python: Path, log: Path
    ) -> tuple[Path, int | None, bool]:
        """Run dp train (fresh or --restart); return (checkpoint, resumed epoch, early)."""
        workdir = run.workdir
        dp = str(python.parent / "dp")
        per_epoch = run.steps_per_epoch()
        stress = run.splits.has_stress
        train = write_systems(
            run.splits.frames["train"], workdir / "systems" / "train", plan.type_map, stress
        )
        valid = write_systems(
            run.splits.frames["valid"], workdir / "systems" / "valid", plan.type_map, stress
        )
        (workdir / "systems" / "train.txt").write_text("\n".join(map(str, train)) + "\n")
        if plan.mode == "scratch":
            model: dict[str, Any] = scratch_model(
                plan.type_map, run.settings.seed, run.settings.model
            )
        else:
            model = {"type_map": plan.type_map}
        config = input_config(run, model, train, valid, self.learning_rate(run))
        resume = latest_checkpoint(workdir)
        since = log.stat().st_size if log.exists() else 0
        if resume is not None:
            used = workdir / "out.json"  # dp's normalised config: the full model section
            if used.exists():
                config["model"] = json.loads(used.read_text())["model"]
            argv = [dp, "--pt", "train", "input.json", "--restart", str(resume)]
            resumed: int | None = _step_of(resume) // per_epoch
        else:
            for stale in ("lcurve.out", "val.log", "checkpoint"):
                (workdir / stale).unlink(missing_ok=True)
            for stale_best in workdir.glob("best.ckpt-*"):
                stale_best.unlink()
            argv = [dp, "--pt", "train", "input.json", *self._start(run, plan, dp, log)]
            resumed = None
        (workdir / "input.json").write_text(json.dumps(config, indent=1))
        early = self._watch(argv, run, python, log)
        if plan.mode != "scratch" and resume is None:
            line = _biased_line(log, since)
            if line:
                plan.notes.append(f"dp: {line}")
                (workdir / PLAN).write_text(json.dumps(asdict(plan), indent=1))
        if run.settings.patience is None:
            final = latest_checkpoint(workdir)
            if final is None:
                raise TrainingFailedError(
                    f"dp train left no checkpoint in {workdir}; see {log}"
                )
            return final, resumed, False
        return self._best(run, python, log), resumed, early

    def _start(self, run: TrainingRun, plan: Plan, dp: str, log: Path) -> list[str]:
        """Return dp train's start options for a fresh run (after any bias change)."""
        if plan.mode == "scratch":
            return []
        if plan.mode == "finetune":
            return ["--finetune", str(plan.source), "--use-pretrain-script"]
        start = str(plan.source)
        if run.settings.match_energy_reference:
            biased = run.workdir / "parent_bias.pth"
            run_tool(
                [
                    dp,
                    "--pt",
                    "change-bias",
                    start,
                    "-f",
                    str(run.workdir / "systems" / "train.txt"),
                    "-o",
                    str(biased),
                ],
                run.workdir,
                log,
                env_bin=Path(dp).parent,
            )
            start = str(biased)
        return ["--init-frz-model", start, "--use-pretrain-script"]

    def _watch(self, argv: list[str], run: TrainingRun, python: Path, log: Path) -> bool:
        """Run dp train, stopping it on a non-finite loss or when patience runs out.

        Returns whether it was stopped early (patience).
        """
        workdir = run.workdir
        _refuse_running(workdir)
        column = validation_metric(run)[1]
        env = _tool_env(python.parent, run.device)
        with log.open("ab") as out:
            out.write(f"$ {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        (workdir / LOCK).write_text(str(proc.pid))
        early = False
        try:
            while proc.poll() is None:
                time.sleep(POLL_SECONDS)
                bad = _nonfinite_step(parse_lcurve(workdir / "lcurve.out"))
                if bad is not None:
                    _stop(proc)
                    self._diverged(run, python, bad)
                if self._stalled(workdir / "val.log", column, run.settings.patience):
                    _stop(proc)
                    early = True
        finally:
            if proc.poll() is None:
                _stop(proc)
            (workdir / LOCK).unlink(missing_ok=True)
        bad = _nonfinite_step(parse_lcurve(workdir / "lcurve.out"))
        if bad is not None:
            self._diverged(run, python, bad)
        if not early and proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2500:]
            if "training has diverged" in tail:  # dp's guard (with gradient clipping)
                self._diverged(run, python, None)
            raise TrainingFailedError(
                f"dp train failed (exit {proc.returncode}); log {log}:\n{tail}"
            )
        return early

    @staticmethod
    def _stalled(val_log: Path, column: str, patience: int | None) -> bool:
        """Whether the last ``patience`` full validations brought no better value."""
        if patience is None:
            return False
        values = [r[column] for r in parse_val_log(val_log).values() if column in r]
        if not values:
            return False
        best = min(range(len(values)), key=values.__getitem__)
        return len(values) - 1 - best >= patience

    def _diverged(self, run: TrainingRun, python: Path, step: int | None) -> None:
        """Raise TrainingDivergedError naming the newest checkpoint with finite weights."""
        per_epoch = run.steps_per_epoch()
        good = None
        for path in reversed(checkpoints(run.workdir)):
            if step is not None and _step_of(path) > step:
                continue  # saved after the loss was non-finite: weights checked below
            done = _run_python(python, FINITE_SCRIPT, [str(path)])
            if done.returncode == 0 and json.loads(done.stdout.strip().splitlines()[-1]):
                good = path
                break
        where = (
            f"at step {step} (epoch {math.ceil(step / per_epoch)})"
            if step is not None
            else "(non-finite gradients)"
        )
        raise TrainingDivergedError(
            f"DeePMD's loss turned non-finite {where}; dp was stopped. The last good "
            "checkpoint "
            f"is kept: {good or 'none (it diverged in the first epoch)'}. Lower the "
            "learning rate or check the labels."
        )

    def _best(self, run: TrainingRun, python: Path, log: Path) -> Path:
        """Return dp's best-validation checkpoint with its energy bias refitted."""
        found = sorted(run.workdir.glob("best.ckpt-*.pt"), key=_step_of)
        if not found:
            final = latest_checkpoint(run.workdir)
            if final is None:
                raise TrainingFailedError(f"dp train left no checkpoint; see {log}")
            return final
        best = found[-1]
        biased = run.workdir / f"{best.stem}.bias.pt"
        if not biased.exists():
            run_tool(
                [
                    str(python.parent / "dp"),
                    "--pt",
                    "change-bias",
                    str(best),
                    "-f",
                    str(run.workdir / "systems" / "train.txt"),
                    "-o",
                    str(biased),
                ],
                run.workdir,
                log,
                env_bin=python.parent,
            )
        return biased

    # -------------------------------------------------------------- freeze, compress
    def _freeze(
        self, run: TrainingRun, trained: Path, python: Path, log: Path
    ) -> tuple[Path, list[str]]:
        """Freeze and compress; return the model file the deepmd family loads best."""
        workdir = run.workdir
        dp = str(python.parent / "dp")
        frozen, compressed = workdir / "frozen.pth", workdir / "compressed.pth"
        for path in (frozen, compressed):
            path.unlink(missing_ok=True)
        run_tool(
            [dp, "--pt", "freeze", "-c", str(trained), "-o", str(frozen)],
            workdir,
            log,
            env_bin=python.parent,
        )
        chosen, notes = frozen, []
        if not run.settings.compress:
            notes.append("not compressed (settings.compress is false): the frozen model")
            models = {sha256_of(frozen): str(frozen)}
            (workdir / ORIGIN).write_text(
                json.dumps({"checkpoint": str(trained), "models": models}, indent=1)
            )
            return chosen, notes
        try:
            run_tool(
                [dp, "--pt", "compress", "-i", str(frozen), "-o", str(compressed)],
                workdir,
                log,
                env_bin=python.parent,
            )
        except TrainingFailedError:
            notes.append(
                f"dp compress failed for this model (see {log}); the frozen, "
                "uncompressed model is returned"
            )
        else:
            verdict = self._compare(run, frozen, compressed, python)
            if verdict is None:
                chosen = compressed
                notes.append(
                    "returned the compressed model: dp compress tabulated the "
                    "descriptor's embedding nets (frozen.pth -> compressed.pth in "
                    f"{workdir}), and it predicts the validation frames like the frozen "
                    "model"
                )
            else:
                notes.append(f"returned the frozen model: {verdict}")
        models = {sha256_of(frozen): str(frozen)}
        if chosen == compressed:
            models[sha256_of(compressed)] = str(compressed)
        (workdir / ORIGIN).write_text(
            json.dumps({"checkpoint": str(trained), "models": models}, indent=1)
        )
        return chosen, notes

    @staticmethod
    def _compare(
        run: TrainingRun, frozen: Path, compressed: Path, python: Path
    ) -> str | None:
        """Return why the compressed model is not used, or None when it matches."""
        frames = run.splits.files.get("valid")
        if frames is None or not frames.exists():
            frames = write_frames(run.splits.frames["valid"], run.workdir / "valid.extxyz")
        done = _run_python(
            python, COMPARE_SCRIPT, [str(frozen), str(compressed), str(frames)]
        )
        if done.returncode != 0:
            return f"checking the compressed model failed: {done.stderr[-500:]}"
        result = json.loads(done.stdout.strip().splitlines()[-1])
        for key in ("frozen", "compressed"):
            if "error" in result[key]:
                return f"the {key} model did not load: {result[key]['error']}"
        import numpy as np

        de = float(
            np.max(np.abs(np.subtract(result["frozen"]["e"], result["compressed"]["e"])))
        )
        df = float(
            np.max(np.abs(np.subtract(result["frozen"]["f"], result["compressed"]["f"])))
        )
        e_tol, f_tol = COMPRESS_TOLERANCE
        if de > e_tol or df > f_tol:
            return (
                f"the compressed model differs from it by {de:.2e} eV/atom and "
                f"{df:.2e} eV/A (tolerance {e_tol} and {f_tol})"
            )
        return None


# ------------------------------------------------------------------ processes
def _tool_env(env_bin: Path, device: str) -> dict[str, str]:
    """Environment of a dp process: its env first on PATH, no main-env Python paths."""
    env = dict(os.environ)
    env["PATH"] = f"{env_bin}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    if device == "cpu":
        env["DEVICE"] = "cpu"  # deepmd.pt.utils.env: train on the CPU even with a GPU
    return env


def _run_python(
    python: Path, script: str, args: list[str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", script, *args],
        capture_output=True,
        text=True,
        env=_tool_env(python.parent, "cpu"),
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop dp: SIGTERM, then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _refuse_running(workdir: Path) -> None:
    """Refuse to start while a dp train of an earlier (killed) run still writes here."""
    lock = workdir / LOCK
    if not lock.exists():
        return
    try:
        pid = int(lock.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        lock.unlink(missing_ok=True)
        return
    if b"dp" in cmdline and b"train" in cmdline:
        raise TrainingFailedError(
            f"A dp train (pid {pid}) of an earlier run is still writing in {workdir}; "
            f"wait for it or stop it (kill {pid}) before resuming."
        )
    lock.unlink(missing_ok=True)
