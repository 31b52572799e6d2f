"""SevenNet: 7net-0, 7net-l3i5 and 7net-mf-0 ship with the package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from sse_flows.potentials.batch import (
    BatchPredictor,
    FrameResult,
    default_batch_size,
    split_by_frame,
)
from sse_flows.potentials.family import EnergyReference, PotentialFamily, package_dir
from sse_flows.settings import SSEFlowsSettings

_CONST = {
    "7net-0": "SEVENNET_0_11Jul2024",
    "7net-0_22may2024": "SEVENNET_0_22May2024",
    "7net-l3i5": "SEVENNET_l3i5",
    "7net-mf-0": "SEVENNET_MF_0",
    "7net-mf-ompa": "SEVENNET_MF_ompa",
    "7net-omat": "SEVENNET_omat",
    "7net-omni": "SEVENNET_omni",
}
#: multi-fidelity checkpoints: the label scheme of each modal (task head)
_MODALS: dict[str, dict[str, EnergyReference]] = {
    "7net-mf-0": {"PBE": "raw-pbe", "R2SCAN": "raw-r2scan"},
    "7net-mf-ompa": {"mpa": "raw-pbe", "omat24": "raw-pbe-omat24"},
}


def type_map_elements(calculator: Calculator) -> frozenset[str]:
    """Elements of a calculator with a ``type_map`` (SevenNet, DeePMD)."""
    type_map = calculator.type_map  # type: ignore[attr-defined]
    if isinstance(type_map, dict):
        return frozenset(chemical_symbols[int(z)] for z in type_map)
    return frozenset(str(s) for s in type_map)


class SevenNetFamily(PotentialFamily):
    """SevenNet through ``sevenn.calculator.SevenNetCalculator``."""

    name = "sevennet"
    package = "sevenn"
    module = "sevenn"
    extra = "sevenn"
    description = "SevenNet (7net-0, 7net-l3i5, 7net-mf-0 ship with the package)"
    trainer = "sse_flows.training.sevennet:SevenNetTrainer"
    default_checkpoint = "7net-0"
    known_checkpoints = tuple(_CONST)
    checkpoint_suffixes = (".pth", ".pt")
    notes = "multi-fidelity checkpoints take options: {modal: ...}"
    aliases = ("7net",)
    # matbench-discovery join_7net_preds.py (by a SevenNet author): "SevenNet-0
    # (11July2024) is trained on 'uncorrected energy' of MPtrj"; OMat24 checkpoints
    # are raw PBE at OMat24 settings.
    default_energy_reference = "raw-pbe"
    checkpoint_energy_references = {"7net-omat": "raw-pbe-omat24", "7net-omni": "unknown"}
    harmless_warnings = ("tp-accelerator", "requires-grad")
    energy_reference_source = (
        "matbench-discovery models/sevennet/join_7net_preds.py: 'SevenNet-0 "
        "(11July2024) is trained on uncorrected energy of MPtrj'"
    )

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """List the package's pretrained folder (as sevenn._const), cache, weights."""
        root = package_dir("sevenn")
        if root is None or checkpoint not in _CONST:
            return []
        # read sevenn/_const.py as text: importing sevenn imports torch
        text = (root / "_const.py").read_text()
        for line in text.splitlines():
            if line.startswith(f"{_CONST[checkpoint]} = "):
                relative = line.split("{_prefix}/", 1)[1].rstrip("'\"")
                return [
                    root / "pretrained_potentials" / relative,
                    Path("~/.cache/sevennet").expanduser() / relative,
                    settings.weights_dir / "sevennet" / relative,
                ]
        return []

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """SevenNetCalculator on the checkpoint file."""
        from sevenn.calculator import SevenNetCalculator

        assert path is not None
        return SevenNetCalculator(model=str(path), device=device, **options)

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """From the model's type map."""
        return type_map_elements(calculator)

    def energy_reference(
        self, checkpoint: str | None, options: dict[str, Any]
    ) -> EnergyReference:
        """Per checkpoint, and per modal for the multi-fidelity ones."""
        modals = _MODALS.get(checkpoint or "")
        if modals is not None:
            return modals.get(str(options.get("modal")), "unknown")
        return super().energy_reference(checkpoint, options)

    def batch_predictor(
        self, calculator: Calculator, batch_size: int | None
    ) -> BatchPredictor | None:
        """Graph batches (torch_geometric) through the model, for a SevenNetCalculator."""
        if not type(calculator).__module__.startswith("sevenn."):
            return None
        model = calculator.model  # type: ignore[attr-defined]
        if not hasattr(model, "set_is_batch_data"):
            return None  # a deployed (TorchScript) model takes one graph at a time
        size = default_batch_size(model) if batch_size is None else batch_size
        return SevenNetBatch(calculator, size)


class SevenNetBatch(BatchPredictor):
    """Many graphs in one forward pass, as ``sevenn inference`` does.

    SevenNet's calculator builds one graph per call; its inference script batches
    graphs with torch_geometric. This builds the graphs as the calculator does and
    splits the batched output per frame, with the calculator's stress convention.
    """

    path = "batched:sevennet"

    def predict_batch(self, frames: Sequence[Atoms], stress: bool) -> list[FrameResult]:
        """Evaluate the frames' graphs in one forward pass."""
        import sevenn._keys as KEY  # noqa: N812  (SevenNet's own name)
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from torch_geometric.data import Batch

        calculator: Any = self.calculator
        model = calculator.model
        graphs = []
        for atoms in frames:
            data = AtomGraphData.from_numpy_dict(
                unlabeled_atoms_to_graph(atoms, calculator.cutoff, with_shift=False)
            )
            if calculator.modal:
                data[KEY.DATA_MODALITY] = calculator.modal
            graphs.append(data)
        batch = Batch.from_data_list(graphs).to(calculator.device)
        model.set_is_batch_data(True)
        try:
            output = model(batch)
        finally:
            model.set_is_batch_data(False)
        energies = output[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy().reshape(-1)
        forces = output[KEY.PRED_FORCE].detach().cpu().numpy()
        stresses = -output[KEY.PRED_STRESS].detach().cpu().numpy().reshape(-1, 6)
        voigt = stresses[:, [0, 1, 2, 4, 5, 3]]  # as the calculator orders them
        return split_by_frame(frames, energies, forces, voigt if stress else None)


FAMILY = SevenNetFamily()
