"""ORB: checkpoints downloaded separately."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.family import PotentialFamily
from sse_flows.settings import SSEFlowsSettings


class ORBFamily(PotentialFamily):
    """ORB through ``orb_models.forcefield.calculator.ORBCalculator``."""

    name = "orb"
    package = "orb-models"
    module = "orb_models"
    extra = "orb"
    description = "ORB (checkpoints downloaded separately)"
    default_checkpoint = "orb-v3-conservative-inf-mpa"
    known_checkpoints = ("orb-v3-conservative-inf-mpa", "orb-v2")
    checkpoint_suffixes = (".ckpt",)
    # matbench-discovery join_orb_preds.py (Orbital Materials): "applies the
    # MaterialsProject2020Compatibility energy corrections to the ORB predictions".
    default_energy_reference = "raw-pbe"
    energy_reference_source = (
        "matbench-discovery join_orb_preds.py applies MP2020 corrections to ORB's "
        "(MPtrj + Alexandria) predictions"
    )

    def candidates(self, checkpoint: str, settings: SSEFlowsSettings) -> list[Path]:
        """ORB's cache, then the weights directory."""
        cache = Path("~/.cache/orb").expanduser()
        return sorted(cache.glob(f"{checkpoint}*.ckpt")) + sorted(
            (settings.weights_dir / "orb").glob(f"{checkpoint}*.ckpt")
        )

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """Load ORB; the architecture comes from the checkpoint's name unless given."""
        from orb_models.forcefield import pretrained
        from orb_models.forcefield.calculator import ORBCalculator

        assert path is not None
        names = [k for k in pretrained.ORB_PRETRAINED_MODELS if path.name.startswith(k)]
        options = dict(options)
        architecture = options.pop("architecture", None) or max(
            names, key=len, default=None
        )
        if architecture is None:
            raise ValueError(
                f"cannot tell the ORB architecture of {path.name}; set options: "
                "{architecture: ...} to one of "
                f"{sorted(pretrained.ORB_PRETRAINED_MODELS)}"
            )
        loader = pretrained.ORB_PRETRAINED_MODELS[architecture]
        orbff = loader(weights_path=str(path), device=device)
        return ORBCalculator(orbff, device=device, **options)


FAMILY = ORBFamily()
