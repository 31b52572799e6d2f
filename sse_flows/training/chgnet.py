"""CHGNet through its own ``chgnet.trainer.Trainer``, one epoch per call.

We call ``Trainer.train`` once per epoch (raising ``trainer.epochs`` each time) so that
early stopping, the divergence check and the resume point are ours, while the
optimiser, scheduler, loss and checkpoint files are CHGNet's: ``Trainer.save_checkpoint``
writes ``epoch<N>_*.pth.tar`` (model, optimiser, scheduler, history) after each epoch,
and ``Trainer.load`` restores it. Labels go in CHGNet's units: energy per atom, stress
in kBar compressive-positive (ASE eV/A^3 tensile-positive -> GPa x -10).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sse_flows.calc.evaluate import LabeledFrame
from sse_flows.constants import GPA
from sse_flows.training.trainer import (
    EpochRecord,
    FamilyTrainer,
    TrainedCheckpoint,
    TrainingDivergedError,
    TrainingRun,
)

#: parts frozen by freeze="backbone": all but the last atom conv layer and the readout
BACKBONE = (
    "atom_embedding",
    "bond_embedding",
    "angle_embedding",
    "bond_basis_expansion",
    "angle_basis_expansion",
    "bond_conv_layers",
    "angle_layers",
)


def _stress_kbar(frame: LabeledFrame) -> np.ndarray:
    """ASE Voigt eV/A^3 (tensile +) -> 3x3 kBar (compressive +), as CHGNet wants."""
    xx, yy, zz, yz, xz, xy = np.asarray(frame.stress) / GPA * -10.0
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def structure_data(frames: list[LabeledFrame], with_stress: bool, seed: int) -> Any:
    """CHGNet's StructureData of the frames."""
    from chgnet.data.dataset import StructureData
    from pymatgen.io.ase import AseAtomsAdaptor

    return StructureData(
        structures=[AseAtomsAdaptor.get_structure(f.atoms) for f in frames],
        energies=[float(f.energy) / len(f.atoms) for f in frames],  # type: ignore[arg-type]
        forces=[np.asarray(f.forces).tolist() for f in frames],
        stresses=[_stress_kbar(f).tolist() for f in frames] if with_stress else None,
        shuffle=False,
    )


def load_parent(path: Path) -> Any:
    """Load a shipped checkpoint by name (its architecture flags), any other by file."""
    from chgnet.model import CHGNet

    from sse_flows.potentials.family import package_dir

    root = package_dir("chgnet")
    if root is not None and path.parent.parent == root / "pretrained":
        return CHGNet.load(model_name=path.parent.name, verbose=False)
    return CHGNet.from_file(str(path))


def freeze_backbone(model: Any) -> None:
    """Freeze everything but the last atom conv layer, the readout and AtomRef."""
    for name in BACKBONE:
        module = getattr(model, name, None)
        if module is not None:
            for parameter in module.parameters():
                parameter.requires_grad = False
    for layer in list(model.atom_conv_layers)[:-1]:
        for parameter in layer.parameters():
            parameter.requires_grad = False


def shift_atom_reference(model: Any, offsets: dict[str, float]) -> None:
    """Add per-element offsets (eV/atom) to CHGNet's AtomRef weights (intensive)."""
    import torch
    from pymatgen.core import Element

    with torch.no_grad():
        for symbol, mu in offsets.items():
            model.composition_model.fc.weight[0, Element(symbol).Z - 1] += mu


@contextlib.contextmanager
def _logged(log: Path) -> Iterator[None]:
    """Send CHGNet's per-batch prints to the run's log, not the user's terminal."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        with log.open("a") as out:
            out.write(buffer.getvalue())


def _last_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("epoch*.pth.tar"), key=_epoch_of)
    return found[-1] if found else None


def _epoch_of(path: Path) -> int:
    match = re.match(r"(?:best[EF]_)?epoch(\d+)_", path.name)
    return int(match.group(1)) if match else -1


class CHGNetTrainer(FamilyTrainer):
    """Fine-tune CHGNet (0.3.0 by default) or train one from scratch."""

    family = "chgnet"
    default_parent = "0.3.0"
    scratch_learning_rate = 1e-3
    finetune_learning_rate = 1e-3  # CHGNet's fine-tuning example

    def _trainer(self, run: TrainingRun, model: Any) -> Any:
        from chgnet.trainer import Trainer

        settings = run.settings
        return Trainer(
            model=model,
            targets="efs" if run.splits.has_stress and settings.stress_weight > 0 else "ef",
            energy_loss_ratio=settings.energy_weight,
            force_loss_ratio=settings.force_weight,
            stress_loss_ratio=settings.stress_weight,
            optimizer="Adam",
            scheduler="CosLR",
            criterion="MSE",
            epochs=settings.epochs,
            learning_rate=self.learning_rate(run),
            use_device=run.device,
            torch_seed=settings.seed,
            data_seed=settings.seed,
            print_freq=10**6,
        )

    def _new_model(self, run: TrainingRun) -> tuple[Any, str]:
        from chgnet.model import CHGNet

        if run.parent_path is None:
            model: Any = CHGNet(**run.settings.model)
            train = run.splits.frames["train"]
            model.composition_model.fit(
                structure_data(train, False, run.settings.seed).structures,
                [float(f.energy) / len(f.atoms) for f in train],  # type: ignore[arg-type]
            )
            return model, "from scratch: AtomRef fitted to the training labels"
        model = load_parent(run.parent_path)
        method = "parent's AtomRef kept (no offsets fitted)"
        if run.offsets is not None:
            shift_atom_reference(model, run.offsets.offsets_eV)
            method = (
                "per-element offsets (labels - parent, least squares on the training "
                "split) added to CHGNet's AtomRef before fine-tuning"
            )
        return model, method

    def train(self, run: TrainingRun) -> TrainedCheckpoint:
        """Run CHGNet's Trainer epoch by epoch in run.workdir/checkpoints."""
        import torch
        from chgnet.data.dataset import get_loader

        settings = run.settings
        folder = run.workdir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        log = run.workdir / "chgnet.log"
        method_file = run.workdir / "energy_reference_method.txt"
        stress = run.splits.has_stress and settings.stress_weight > 0
        loaders = {
            name: get_loader(
                structure_data(run.splits.frames[name], stress, settings.seed),
                batch_size=settings.batch_size,
                pin_memory=False,
            )
            for name in ("train", "valid")
        }
        notes: list[str] = []
        trainer = self._resume(folder, log, notes)
        if trainer is not None:
            method = method_file.read_text() if method_file.exists() else "resumed"
        else:
            torch.manual_seed(settings.seed)
            model, method = self._new_model(run)
            trainer = self._trainer(run, model)
            method_file.write_text(method)
        if settings.freeze == "backbone" and run.parent_path is not None:
            freeze_backbone(trainer.model)
        resumed_from = trainer.starting_epoch or None
        for epoch in range(trainer.starting_epoch, settings.epochs):
            trainer.starting_epoch, trainer.epochs = epoch, epoch + 1
            done_before = len(trainer.training_history["e"]["train"])
            with _logged(log):
                trainer.train(loaders["train"], loaders["valid"], save_dir=str(folder))
            history = trainer.training_history
            if len(history["e"]["train"]) == done_before or not math.isfinite(
                history["e"]["val"][-1]
            ):
                last = _last_checkpoint(folder)
                raise TrainingDivergedError(
                    f"CHGNet's loss turned non-finite in epoch {epoch}; training stopped. "
                    f"The last good checkpoint is kept: {last or 'none (first epoch)'}. "
                    "Lower the learning rate or check the labels."
                )
            if self._stop_early(history, settings.patience):
                break
        curve = self._curve(trainer.training_history, run)
        best = sorted(folder.glob("bestF_*.pth.tar")) or sorted(
            folder.glob("bestE_*.pth.tar")
        )
        if settings.patience and len(curve) < settings.epochs:
            notes.append(
                f"stopped early after {len(curve)} epochs (patience {settings.patience})"
            )
        return TrainedCheckpoint(
            checkpoint=best[-1],
            learning_curve=curve,
            epochs_run=len(curve),
            energy_reference_method=method,
            resumed_from_epoch=resumed_from,
            notes=notes,
        )

    @staticmethod
    def _resume(folder: Path, log: Path, notes: list[str]) -> Any:
        """Load the newest readable checkpoint (latest epoch, else the best ones).

        CHGNet deletes the previous epoch file before writing the next, so a job
        killed while writing leaves one truncated file; the best-epoch copies are
        complete trainer states too, and training goes on from there.
        """
        from chgnet.trainer import Trainer

        found = [
            *folder.glob("epoch*.pth.tar"),
            *folder.glob("bestE_*.pth.tar"),
            *folder.glob("bestF_*.pth.tar"),
        ]
        for path in sorted(found, key=_epoch_of, reverse=True):
            try:
                with _logged(log):
                    return Trainer.load(str(path))
            except Exception as exc:  # a truncated file: torch raises EOFError & co
                notes.append(
                    f"checkpoint {path.name} was unreadable ({type(exc).__name__}; "
                    "killed while writing?); resumed from an earlier one"
                )
        return None

    @staticmethod
    def _stop_early(history: dict[str, Any], patience: int | None) -> bool:
        if patience is None:
            return False
        key = "f" if "f" in history else "e"
        values = history[key]["val"]
        best = int(np.argmin(values))
        return len(values) - 1 - best >= patience

    @staticmethod
    def _curve(history: dict[str, Any], run: TrainingRun) -> list[EpochRecord]:
        """CHGNet reports MAEs; the loss shown is the weighted sum of E and F MAEs."""
        weights = run.settings
        points = []
        for i, (e_train, e_val) in enumerate(
            zip(history["e"]["train"], history["e"]["val"], strict=True)
        ):
            f_train = history["f"]["train"][i]
            f_val = history["f"]["val"][i]
            points.append(
                EpochRecord(
                    epoch=i + 1,
                    train_loss=weights.energy_weight * e_train
                    + weights.force_weight * f_train,
                    valid_loss=weights.energy_weight * e_val + weights.force_weight * f_val,
                    valid_energy_mae_meV_atom=e_val * 1e3,
                    valid_force_mae_meV_A=f_val * 1e3,
                )
            )
        return points
