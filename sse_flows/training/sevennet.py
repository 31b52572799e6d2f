"""SevenNet through its own training code (``sevenn`` 0.13), in process.

The pieces are SevenNet's: ``read_config_yaml`` checks and completes an input.yaml we
write (``run.workdir/input.yaml``); ``processing_continue_v2`` loads the checkpoint
named under ``continue:`` (the parent for a fine-tune, our last epoch checkpoint for a
resume); ``graph_dataset.from_config`` reads the extxyz splits (labels from the ASE
calculator: sevenn negates the stress and reorders it to its Voigt order itself,
``dataload._y_from_calc``); ``build_E3_equivariant_model``, ``Trainer`` (loss,
optimiser, scheduler) and ``ErrorRecorder`` do the rest.

The epoch loop is ours, written like ``processing_epoch_v2`` (same ``lc.csv`` columns,
same ``checkpoint_<epoch>.pth`` / ``checkpoint_best.pth`` files) because sevenn's loop
has no early stopping, writes a checkpoint even after the loss turned NaN, and on a
resume forgets the best validation loss so far and starts a new ``lc<N>.csv``. Ours
writes a checkpoint after every epoch (only the last one and the best are kept), stops
on a non-finite loss before writing, and applies ``patience``.

Settings: sevenn fixes the energy loss weight at 1, so the force and stress weights
are given relative to ``energy_weight`` (Adam makes only the ratios matter). The loss
is Huber with delta 0.01 (how 7net-0 was trained, and sevenn's fine_tune.yaml: "keeping
original loss function give better ft result"); the stress loss is in kbar as in
sevenn, so our default weights 1 : 10 : 0.1 keep 7net-0's force:stress ratio.
Learning rates are the presets' (fine_tune.yaml 0.004, base.yaml 0.005), decayed by
0.99 per epoch (ExponentialLR, both presets). The preset's 0.004 is meant for long
fine-tunes: one epoch over 76 Cu-Au frames (batches of 1-2, one seed) left 123 meV/A
on the validation split at 0.004 and 53-69 at 0.001-0.002 (7net-0: ~170); give a
lower learning_rate for a short fine-tune.

Energy reference: 7net-0 keeps a per-species shift (``rescale_atomic_energy.shift``,
``SpeciesWiseRescale``: E_i = scale[t] * x_i + shift[t]); the label-minus-parent
offsets are added to it in a copy of the parent (``parent_offsets.pth``) that the
fine-tune starts from, and the shift stays fixed (``train_shift_scale: False``). That
copy records the running sevenn version: 7net-0 is a 0.9.1 checkpoint whose state
dict ``build_model`` re-sorts on load, and an old version would re-sort it twice.

Resume: ``checkpoint_<N>.pth`` holds model, optimiser and scheduler; a rerun continues
from the highest N with ``reset_optimizer/scheduler/epoch: False`` and keeps the lc.csv
lines up to N; torch's RNG state, saved beside them, keeps the shuffling as it would
have been, so a resumed run repeats an uninterrupted one (checked: same losses to the
last digit). Checkpoints are written under ``.partial`` names and renamed, so a kill
never leaves a torn file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import random
import re
import shutil
import time
import warnings
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from sse_flows.training.trainer import (
    EpochRecord,
    FamilyTrainer,
    TrainedCheckpoint,
    TrainingDivergedError,
    TrainingFailedError,
    TrainingRun,
)

#: written next to the checkpoints in run.workdir
INPUT_YAML = "input.yaml"
LOG = "sevenn.log"
CURVE = "lc.csv"
BEST = "checkpoint_best.pth"
PARENT_COPY = "parent_offsets.pth"
START_FILE = "start.json"
#: torch's RNG state (the loader's shuffling) saved with each epoch checkpoint
RNG_KEY = "sse_flows_torch_rng_state"

#: a small model for training from scratch (settings.model overrides any key)
SCRATCH_MODEL: dict[str, Any] = {
    "chemical_species": "auto",
    "cutoff": 5.0,
    "channel": 16,
    "lmax": 1,
    "num_convolution_layer": 2,
    "is_parity": False,
    "weight_nn_hidden_neurons": [32, 32],
    "radial_basis": {"radial_basis_name": "bessel", "bessel_basis_num": 8},
    "cutoff_function": {"cutoff_function_name": "poly_cut", "poly_cut_p_value": 6},
    "self_connection_type": "linear",
    "train_shift_scale": False,
    "train_denominator": False,
}

#: what sevenn records per split and epoch (lc.csv columns <split>_<name>)
ERROR_RECORD = [
    ["Energy", "MAE"],
    ["Force", "MAE"],
    ["Stress", "MAE"],
    ["Energy", "RMSE"],
    ["Force", "RMSE"],
    ["TotalLoss", "None"],
]


def _epoch_of(path: Path) -> int:
    match = re.fullmatch(r"checkpoint_(\d+)\.pth", path.name)
    return int(match.group(1)) if match else -1


def last_checkpoint(folder: Path) -> Path | None:
    """Return the latest ``checkpoint_<epoch>.pth`` (epoch >= 1), if any."""
    found = [p for p in folder.glob("checkpoint_*.pth") if _epoch_of(p) >= 1]
    return max(found, key=_epoch_of) if found else None


def read_curve(path: Path) -> list[dict[str, float]]:
    """Read sevenn's lc.csv (epoch, lr, trainset_*, validset_* columns) as floats."""
    if not path.exists():
        return []
    with path.open() as handle:
        return [
            {k: float(v) for k, v in row.items() if v not in (None, "")}
            for row in csv.DictReader(handle)
        ]


def curve_records(rows: list[dict[str, float]]) -> list[EpochRecord]:
    """Turn lc.csv rows into EpochRecords (sevenn: eV/atom, eV/A -> meV)."""

    def value(row: dict[str, float], key: str, factor: float = 1.0) -> float | None:
        return row[key] * factor if key in row else None

    return [
        EpochRecord(
            epoch=int(row["epoch"]),
            train_loss=value(row, "trainset_TotalLoss"),
            valid_loss=value(row, "validset_TotalLoss"),
            valid_energy_mae_meV_atom=value(row, "validset_Energy_MAE", 1e3),
            valid_force_mae_meV_A=value(row, "validset_Force_MAE", 1e3),
        )
        for row in rows
    ]


def shift_parent(parent: Path, offsets: dict[str, float], out: Path) -> Path | None:
    """Write a copy of the parent whose per-species shift carries the offsets (eV/atom).

    Return None when the parent has no per-species shift (a single ``Rescale``): the
    offsets cannot be put anywhere then.
    """
    import sevenn
    import torch
    from ase.data import atomic_numbers
    from sevenn.nn.scale import SpeciesWiseRescale
    from sevenn.util import load_checkpoint

    checkpoint = load_checkpoint(str(parent))
    config = checkpoint.config
    model = checkpoint.build_model()
    rescale = getattr(model, "rescale_atomic_energy", None)
    if not isinstance(rescale, SpeciesWiseRescale):
        return None
    type_map: dict[int, int] = config["_type_map"]
    missing = [s for s in offsets if atomic_numbers[s] not in type_map]
    if missing:
        raise TrainingFailedError(
            f"{parent} does not know {', '.join(missing)} (its type map has "
            f"{len(type_map)} elements); fine-tune a SevenNet model that knows every "
            "element of the data, or train from scratch."
        )
    with torch.no_grad():
        for symbol, mu in offsets.items():
            rescale.shift[type_map[atomic_numbers[symbol]]] += mu
    config["shift"] = rescale.get_shift(type_map)
    config["scale"] = rescale.get_scale(type_map)
    # the state dict is in this sevenn's layout now (build_model patched an old one):
    # an old version here would make the next load patch it a second time
    config["version"] = sevenn.__version__
    torch.save(
        {
            "model_state_dict": model.state_dict(),
            "config": config,
            "optimizer_state_dict": None,
            "scheduler_state_dict": None,
            "epoch": 0,
            "time": checkpoint.time,
            "hash": checkpoint.hash,
        },
        out,
    )
    return out


def trim_curve(path: Path, upto: int) -> list[str]:
    """Return lc.csv's data lines of epochs <= ``upto`` (what a resume keeps)."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[1:]
    return [line for line in lines if line and int(line.split(",")[0]) <= upto]


@contextlib.contextmanager
def _logged(log: Path) -> Iterator[Any]:
    """Point sevenn's Logger, stdout and stderr (tqdm, warnings) at ``log``."""
    from sevenn.logger import Logger

    logger = Logger()  # a singleton: whoever made it first set its file
    logger.screen = False
    logger.active = True
    if logger.logfile is None:
        logger.switch_file(str(log))
    with (
        log.open("a", buffering=1) as out,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
        logger,
    ):
        yield logger


def _partial(path: Path) -> Path:
    """Name a checkpoint is written under before its rename: a kill leaves no torn file."""
    return path.with_name(path.name + ".partial")


class SevenNetTrainer(FamilyTrainer):
    """Fine-tune SevenNet (7net-0 by default) or train a small one from scratch.

    From scratch: ``SCRATCH_MODEL`` (2 layers of 16 channels, lmax 1) updated with
    ``settings.model`` (sevenn's model keys); sevenn fits the shift per element to the
    training labels (``elemwise_reference_energies``) and takes the force RMS as scale.
    """

    family = "sevennet"
    default_parent = "7net-0"
    scratch_learning_rate = 0.005  # sevenn presets/base.yaml
    finetune_learning_rate = 0.004  # sevenn presets/fine_tune.yaml

    @staticmethod
    def _check_parent(parent: Path) -> None:
        """Refuse a multi-fidelity parent: its frames would each need a modal."""
        from sevenn.util import load_checkpoint

        modals = load_checkpoint(str(parent)).config.get("_modal_map") or {}
        if modals:
            raise TrainingFailedError(
                f"{parent} is a multi-fidelity SevenNet (modals {', '.join(modals)}); "
                "sse-flows fine-tunes single-fidelity ones (7net-0, 7net-l3i5, "
                "7net-omat). Name one of those as the parent."
            )

    def _model_section(self, run: TrainingRun) -> dict[str, Any]:
        """Return the small default (from scratch) or the parent's own model keys."""
        if run.parent_path is None:
            return {**deepcopy(SCRATCH_MODEL), **run.settings.model}
        if run.settings.model:
            raise TrainingFailedError(
                "settings.model sets the architecture of a model trained from scratch; "
                "a fine-tune keeps the parent's. Drop settings.model or train from "
                "scratch."
            )
        from sevenn.util import load_checkpoint

        checkpoint = load_checkpoint(str(run.parent_path))
        with warnings.catch_warnings():  # "checkpoint version too old": 7net-0 is 0.9.1
            warnings.simplefilter("ignore", UserWarning)
            model: dict[str, Any] = checkpoint.yaml_dict("continue")["model"]
        return model

    def _input(
        self, run: TrainingRun, start: Path | None, resume: bool, train_shift: bool
    ) -> dict[str, Any]:
        """Return sevenn's input.yaml content for this run."""
        settings = run.settings
        if settings.energy_weight <= 0:
            raise TrainingFailedError(
                "SevenNet's loss always weighs the energy with 1 (force and stress "
                "weights are relative to it), so energy_weight 0 cannot be expressed; "
                "give a small energy_weight instead."
            )
        model = self._model_section(run)
        model["train_shift_scale"] = train_shift
        train: dict[str, Any] = {
            "random_seed": settings.seed,
            "epoch": settings.epochs,
            "device": run.device,
            "loss": "Huber",
            "loss_param": {"delta": 0.01},
            "optimizer": "adam",
            "optim_param": {"lr": self.learning_rate(run)},
            "scheduler": "exponentiallr",
            "scheduler_param": {"gamma": 0.99},
            "force_loss_weight": settings.force_weight / settings.energy_weight,
            "stress_loss_weight": settings.stress_weight / settings.energy_weight,
            "is_train_stress": run.splits.has_stress and settings.stress_weight > 0,
            "per_epoch": 1,
            "error_record": ERROR_RECORD,
            "best_metric": "TotalLoss",
        }
        if start is not None:  # a parent to fine-tune, or our own checkpoint to resume
            train["continue"] = {
                "checkpoint": str(start),
                "reset_optimizer": not resume,
                "reset_scheduler": not resume,
                "reset_epoch": not resume,
            }
        data: dict[str, Any] = {
            "batch_size": settings.batch_size,
            "data_format_args": {"index": ":"},
            "load_trainset_path": [str(run.splits.files["train"])],
            "load_validset_path": [str(run.splits.files["valid"])],
        }
        if run.parent_path is None:
            data["shift"] = "elemwise_reference_energies"
            data["scale"] = "force_rms"
        return {"model": model, "train": train, "data": data}

    def _start(self, run: TrainingRun) -> tuple[Path | None, bool, str]:
        """Return the checkpoint to start from, whether to train the shift, the method."""
        if run.parent_path is None:
            return (
                None,
                False,
                "from scratch: SevenNet's per-element shift fitted to the training "
                "labels (elemwise_reference_energies, ridge regression)",
            )
        if run.offsets is None:
            return run.parent_path, False, "parent's per-species shift kept (no offsets)"
        shifted = shift_parent(
            run.parent_path, run.offsets.offsets_eV, run.workdir / PARENT_COPY
        )
        if shifted is None:
            return (
                run.parent_path,
                True,
                "the parent has one energy shift for all elements, so the per-element "
                "offsets could not be added to it; SevenNet trained its shift and scale "
                "with the rest",
            )
        return (
            shifted,
            False,
            "per-element offsets (labels - parent, least squares on the training "
            "split) added to SevenNet's per-species shift (rescale_atomic_energy) "
            "before fine-tuning; the shift stays fixed",
        )

    def train(self, run: TrainingRun) -> TrainedCheckpoint:
        """Run sevenn's Trainer epoch by epoch in run.workdir, resuming if it can."""
        folder = run.workdir
        folder.mkdir(parents=True, exist_ok=True)
        if run.parent_path is not None:
            self._check_parent(run.parent_path)
        start_file = folder / START_FILE
        resume_from = last_checkpoint(folder)
        start: Path | None
        if resume_from is not None and start_file.exists():
            begun = json.loads(start_file.read_text())
            start, train_shift, method = resume_from, begun["train_shift"], begun["method"]
            kept = trim_curve(folder / CURVE, _epoch_of(resume_from))
        else:
            resume_from, kept = None, []
            start, train_shift, method = self._start(run)
            start_file.write_text(
                json.dumps({"method": method, "train_shift": train_shift}, indent=1)
            )
        config = self._input(run, start, resume_from is not None, train_shift)
        (folder / INPUT_YAML).write_text(yaml.safe_dump(config, sort_keys=False))
        stopped_early = self._run_epochs(run, kept)
        last = last_checkpoint(folder)
        if not (folder / BEST).exists() and last is not None:
            shutil.copyfile(last, folder / BEST)  # lost to a kill mid-copy
        curve = curve_records(read_curve(folder / CURVE))
        notes = []
        if run.settings.energy_weight != 1:
            notes.append(
                "SevenNet weighs the energy loss with 1: the force and stress weights "
                f"were divided by energy_weight ({run.settings.energy_weight})"
            )
        if stopped_early:
            notes.append(
                f"stopped early after {len(curve)} epochs "
                f"(patience {run.settings.patience})"
            )
        return TrainedCheckpoint(
            checkpoint=folder / BEST,
            learning_curve=curve,
            epochs_run=len(curve),
            energy_reference_method=method,
            resumed_from_epoch=_epoch_of(resume_from) if resume_from else None,
            notes=notes,
        )

    @staticmethod
    def _sevenn_config(folder: Path) -> dict[str, Any]:
        """Read input.yaml the way ``sevenn train`` does (sevenn.main.sevenn.run)."""
        import sevenn
        from sevenn.parse_input import read_config_yaml

        model, train, data = read_config_yaml(str(folder / INPUT_YAML))
        train.update(is_ddp=False, ddp_backend="nccl", local_rank=0, rank=0, world_size=1)
        return {
            "version": sevenn.__version__,
            "when": time.ctime(),
            "_model_type": "E3_equivariant_model",
            **model,
            **train,
            **data,
        }

    def _run_epochs(self, run: TrainingRun, kept: list[str]) -> bool:
        """Set up as sevenn's train_v2, run the remaining epochs; True: patience stopped.

        ``kept``: lc.csv lines of the epochs done before a resume.
        """
        import torch
        from sevenn.error_recorder import ErrorRecorder
        from sevenn.model_build import build_E3_equivariant_model
        from sevenn.scripts.processing_continue import processing_continue_v2
        from sevenn.scripts.train import loader_from_config
        from sevenn.train import graph_dataset
        from sevenn.train.trainer import Trainer

        folder, patience = run.workdir, run.settings.patience
        with _logged(folder / LOG) as log:
            log.greeting()
            config = self._sevenn_config(folder)
            random.seed(config["random_seed"])
            torch.manual_seed(config["random_seed"])
            state_dicts: list[Any] | None = None
            start_epoch = 1
            if config["continue"]["checkpoint"]:
                state_dicts, start_epoch = processing_continue_v2(config)
            datasets = graph_dataset.from_config(config, str(folder))
            loaders = {
                k: loader_from_config(config, v, is_train=(k == "trainset"))
                for k, v in datasets.items()
            }
            model = build_E3_equivariant_model(config)
            log.print_model_info(model, config)
            trainer = Trainer.from_config(model, config)
            if state_dicts:
                model_state, optimizer_state, scheduler_state = state_dicts
                trainer.load_state_dicts(
                    model_state, optimizer_state, scheduler_state, strict=False
                )
            recorder = ErrorRecorder.from_config(config, trainer.loss_functions)
            recorders = {k: deepcopy(recorder) for k in loaders}
            head = ["epoch", "lr"]
            for k, rec in recorders.items():
                head.extend(rec.get_dct(prefix=k))
            (folder / CURVE).write_text("\n".join([",".join(head), *kept, ""]))
            done = read_curve(folder / CURVE)
            valid = [row["validset_TotalLoss"] for row in done]
            best = min(valid, default=math.inf)
            since_best = len(valid) - 1 - valid.index(best) if valid else 0
            if not (folder / BEST).exists():
                best = math.inf  # lost to a kill mid-copy: the next epoch writes one
            if start_epoch > 1:  # the shuffling goes on as if never stopped
                saved = torch.load(
                    config["continue"]["checkpoint"], map_location="cpu", weights_only=False
                )
                if RNG_KEY in saved:
                    torch.set_rng_state(saved[RNG_KEY])
            for epoch in range(start_epoch, config["epoch"] + 1):
                if patience is not None and since_best >= patience:
                    return True
                log.timer_start("epoch")
                log.bar()
                log.write(f"Epoch {epoch}/{config['epoch']}  lr: {trainer.get_lr():8f}\n")
                log.bar()
                row = {"epoch": str(epoch), "lr": f"{trainer.get_lr():8f}"}
                errors = {}
                for k, loader in loaders.items():
                    trainer.run_one_epoch(loader, k == "trainset", recorders[k])
                    row.update(recorders[k].get_dct(prefix=k))
                    errors[k] = recorders[k].epoch_forward()
                log.write_full_table(list(errors.values()), list(errors))
                trainer.scheduler_step(best)
                with (folder / CURVE).open("a") as handle:
                    handle.write(",".join(row.values()) + "\n")
                losses = [float(row[f"{k}_TotalLoss"]) for k in loaders]
                if not all(math.isfinite(v) for v in losses):
                    self._diverged(folder, epoch, losses)
                path = folder / f"checkpoint_{epoch}.pth"
                trainer.write_checkpoint(
                    str(_partial(path)),
                    config=config,
                    epoch=epoch,
                    **{RNG_KEY: torch.get_rng_state()},
                )
                _partial(path).replace(path)
                if losses[-1] < best:
                    best, since_best = losses[-1], 0
                    shutil.copyfile(path, _partial(folder / BEST))
                    _partial(folder / BEST).replace(folder / BEST)
                    log.writeline("Best checkpoint written")
                else:
                    since_best += 1
                for older in folder.glob("checkpoint_*.pth"):
                    if 0 <= _epoch_of(older) < epoch:
                        older.unlink()  # the last epoch (to resume) and the best stay
                log.timer_end("epoch", message=f"Epoch {epoch} elapsed")
        return False

    @staticmethod
    def _diverged(folder: Path, epoch: int, losses: list[float]) -> None:
        best = folder / BEST
        last = last_checkpoint(folder)
        raise TrainingDivergedError(
            f"SevenNet's loss turned non-finite in epoch {epoch} (train, valid: "
            f"{losses}); training stopped and that epoch was not saved. The last good "
            f"checkpoint is kept: {best if best.exists() else 'none (first epoch)'} "
            f"(best validation loss; last epoch checkpoint: {last or 'none'}). Lower "
            "the learning rate or check the labels."
        )
