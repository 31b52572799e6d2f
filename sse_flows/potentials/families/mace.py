"""MACE: foundation models or any local .model file; needs its own environment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress

from sse_flows.potentials.batch import (
    BatchPredictor,
    FrameResult,
    default_batch_size,
    split_by_frame,
)
from sse_flows.potentials.family import FamilyEnvironment, PotentialFamily
from sse_flows.settings import SSEFlowsSettings

# Cache file names used by mace.calculators.foundations_models for the named models.
_FILES = {
    "mace-mp-0-small": "2023-12-10-mace-128-L0_energy_epoch-249.model",
    "mace-mp-0-medium": "2023-12-03-mace-128-L1_epoch-199.model",
    "mace-mp-0-large": "2024-01-07-mace-128-L2_epoch-199.model",
    "mace-mpa-0-medium": "mace-mpa-0-medium.model",
    "mace-omat-0-medium": "mace-omat-0-medium.model",
}


class MACEFamily(PotentialFamily):
    """MACE through ``mace.calculators.MACECalculator``."""

    name = "mace"
    package = "mace-torch"
    module = "mace"
    extra = "mace"
    description = "MACE foundation models or any local .model file (own environment)"
    trainer = "sse_flows.training.mace:MACETrainer"
    default_checkpoint = "mace-mp-0-medium"
    known_checkpoints = tuple(_FILES)
    checkpoint_suffixes = (".model",)
    notes = "mace-torch pins e3nn==0.4.4: install it in its own environment"
    # mace README: "The MACE-MP models are trained on MPTrj raw DFT energies from
    # VASP outputs, and are not directly comparable to ... CHGNet's energies".
    default_energy_reference = "raw-pbe"
    checkpoint_energy_references = {"mace-omat-0-medium": "raw-pbe-omat24"}
    energy_reference_source = (
        "mace README: 'The MACE-MP models are trained on MPTrj raw DFT energies'"
    )
    environment = FamilyEnvironment(
        name="mace",
        reason="mace-torch pins e3nn==0.4.4, which sevenn and mattersim cannot share",
        packages=("mace-torch==0.3.16",),
        imports=("mace", "mace.calculators", "e3nn"),
    )

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """MACE's cache file of a named model, then the weights directory."""
        file = _FILES.get(checkpoint)
        if file is None:
            return []
        return [
            Path("~/.cache/mace").expanduser() / file,
            settings.weights_dir / "mace" / file,
            settings.weights_dir / "mace" / f"{checkpoint}.model",
        ]

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """MACECalculator in float64 (the registry restores torch's default dtype)."""
        from mace.calculators import MACECalculator

        opts = {"default_dtype": "float64", **options}
        return MACECalculator(model_paths=str(path), device=device, **opts)

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """From the model's atomic-number table."""
        zs = calculator.z_table.zs  # type: ignore[attr-defined]
        return frozenset(chemical_symbols[int(z)] for z in zs)

    def batch_predictor(
        self, calculator: Calculator, batch_size: int | None
    ) -> BatchPredictor | None:
        """Graph batches through the model, for a plain single-model MACECalculator.

        Compiled or padded calculators, committees of models and models other than
        plain MACE (dipoles, charges) run one by one through the calculator.
        """
        if not type(calculator).__module__.startswith("mace."):
            return None
        calc: Any = calculator
        plain = (
            calc.model_type == "MACE"
            and calc.num_models == 1
            and not calc.use_compile
            and getattr(calc, "pad_num_atoms", 0) == 0
            and getattr(calc, "pad_num_edges", 0) == 0
        )
        if not plain:
            return None
        size = default_batch_size(calc.models[0]) if batch_size is None else batch_size
        return MACEBatch(calculator, size)


class MACEBatch(BatchPredictor):
    """Many graphs in one forward pass, built as ``MACECalculator`` builds one.

    The calculator evaluates one configuration per call; MACE's own evaluation
    script batches with its torch_geometric loader. This builds each graph with the
    calculator's key specification, element table, cutoff and head, batches them,
    and converts units and the stress to Voigt as the calculator does.
    """

    path = "batched:mace"

    def predict_batch(self, frames: Sequence[Atoms], stress: bool) -> list[FrameResult]:
        """Evaluate the frames' graphs in one forward pass."""
        from mace import data as mace_data
        from mace.tools import torch_geometric, torch_tools

        calc: Any = self.calculator
        keyspec = mace_data.KeySpecification(
            info_keys=calc.info_keys,
            arrays_keys={**calc.arrays_keys, calc.charges_key: "charges"},
        )
        model = calc.models[0]
        dtype = next(model.parameters()).dtype
        with torch_tools.default_dtype(calc.default_dtype):
            graphs = [
                mace_data.AtomicData.from_config(
                    mace_data.config_from_atoms(
                        atoms, key_specification=keyspec, head_name=calc.head
                    ),
                    z_table=calc.z_table,
                    cutoff=calc.r_max,
                    heads=calc.available_heads,
                )
                for atoms in frames
            ]
        batch = torch_geometric.Batch.from_data_list(graphs).to(calc.device)
        for key in batch.keys:
            value = batch[key]
            if hasattr(value, "is_floating_point") and value.is_floating_point():
                batch[key] = value.to(dtype=dtype)
        out = model(batch.to_dict(), compute_stress=stress, training=False)
        energy_unit = calc.energy_units_to_eV
        force_unit = energy_unit / calc.length_units_to_A
        stress_unit = energy_unit / calc.length_units_to_A**3
        energies = out["energy"].detach().cpu().numpy().reshape(-1) * energy_unit
        forces = out["forces"].detach().cpu().numpy() * force_unit
        voigt = None
        if stress:
            full = out["stress"].detach().cpu().numpy() * stress_unit
            voigt = np.array([full_3x3_to_voigt_6_stress(s) for s in full])
        return split_by_frame(frames, energies, forces, voigt)


FAMILY = MACEFamily()
