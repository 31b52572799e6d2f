"""CHGNet: weights ship with the package (0.3.0, 0.2.0, r2scan)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.stress import full_3x3_to_voigt_6_stress

from sse_flows.potentials.batch import BatchPredictor, FrameResult, default_batch_size
from sse_flows.potentials.family import PotentialFamily, package_dir
from sse_flows.settings import SSEFlowsSettings

_DIRS = {"0.3.0": "0.3.0", "0.2.0": "0.2.0", "r2scan": "r2scan"}


class CHGNetFamily(PotentialFamily):
    """CHGNet through ``chgnet.model.dynamics.CHGNetCalculator``."""

    name = "chgnet"
    package = "chgnet"
    module = "chgnet"
    extra = "chgnet"
    description = "CHGNet (weights ship with the package)"
    trainer = "sse_flows.training.chgnet:CHGNetTrainer"
    default_checkpoint = "0.3.0"
    known_checkpoints = tuple(_DIRS)
    checkpoint_suffixes = (".pth.tar", ".tar", ".pt", ".pth")
    # MPtrj 'energy_per_atom' is after the MP2020 correction (chgnet README, "Notes
    # for Training"; MPtrj figshare page); r2scan was fine-tuned on MP r2SCAN data.
    default_energy_reference = "mp2020-corrected"
    checkpoint_energy_references = {"r2scan": "raw-r2scan"}
    harmless_warnings = ("requires-grad", "fix-atoms")
    energy_reference_source = (
        "chgnet README: 'The pretrained dataset of CHGNet comes from GGA+U DFT with "
        "MaterialsProject2020Compatibility corrections applied'"
    )

    def is_path(self, checkpoint: str) -> bool:
        """Treat a name ending in .tar (CHGNet's .pth.tar) as a file too."""
        return super().is_path(checkpoint) or checkpoint.endswith(".tar")

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """List the package's pretrained folder, then the weights directory."""
        found: list[Path] = []
        root = package_dir("chgnet")
        if root is not None and checkpoint in _DIRS:
            found += sorted((root / "pretrained" / _DIRS[checkpoint]).glob("*.pth.tar"))
        found += sorted((settings.weights_dir / "chgnet").glob(f"*{checkpoint}*.pth.tar"))
        return found

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """Load a shipped checkpoint by name (its flags) or any file."""
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        assert path is not None
        root = package_dir("chgnet")
        if root is not None and path.parent.parent == root / "pretrained":
            # shipped checkpoints differ in architecture flags that only load() knows
            model = CHGNet.load(model_name=path.parent.name, verbose=False)
        else:
            model = CHGNet.from_file(str(path))
        return CHGNetCalculator(model=model, use_device=device, **options)

    def batch_predictor(
        self, calculator: Calculator, batch_size: int | None
    ) -> BatchPredictor | None:
        """``model.predict_structure`` in batches, for a ``CHGNetCalculator``."""
        if not type(calculator).__module__.startswith("chgnet."):
            return None
        model = calculator.model  # type: ignore[attr-defined]
        size = default_batch_size(model) if batch_size is None else batch_size
        return CHGNetBatch(calculator, size)


class CHGNetBatch(BatchPredictor):
    """CHGNet's own batched prediction, with ``CHGNetCalculator``'s unit conversions.

    The calculator multiplies the per-atom energy of an intensive model by the atom
    count and stress (GPa) by ``stress_weight``; this does the same per frame.
    """

    path = "batched:chgnet"

    def predict_batch(self, frames: Sequence[Atoms], stress: bool) -> list[FrameResult]:
        """Predict the frames in one ``predict_structure`` call."""
        from pymatgen.io.ase import AseAtomsAdaptor

        from sse_flows.quiet import harmless

        calculator: Any = self.calculator
        model = calculator.model
        structures = [AseAtomsAdaptor.get_structure(atoms) for atoms in frames]
        with harmless(*FAMILY.harmless_warnings):
            predicted = model.predict_structure(
                structures, task="efs" if stress else "ef", batch_size=len(structures)
            )
        if isinstance(predicted, dict):
            predicted = [predicted]
        results = []
        for atoms, out in zip(frames, predicted, strict=True):
            factor = len(atoms) if model.is_intensive else 1
            voigt = None
            if stress:
                full = np.asarray(out["s"], dtype=float) * calculator.stress_weight
                voigt = full_3x3_to_voigt_6_stress(full) if full.shape == (3, 3) else full
            results.append(
                FrameResult(
                    energy=float(np.asarray(out["e"]).reshape(-1)[0]) * factor,
                    forces=np.asarray(out["f"], dtype=float),
                    stress=voigt,
                )
            )
        return results


FAMILY = CHGNetFamily()
