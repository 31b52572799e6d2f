"""DeePMD-kit: a frozen model file trained by the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from sse_flows.potentials.family import (
    TORCH_PIN,
    BuildStep,
    FamilyEnvironment,
    PotentialFamily,
)


class DeePMDFamily(PotentialFamily):
    """DeePMD through ``deepmd.calculator.DP``.

    Its energy scale is that of the labels it was trained on: ``unknown`` unless the
    potential spec states it (``energy_reference: raw-pbe``, say).
    """

    name = "deepmd"
    package = "deepmd-kit"
    module = "deepmd"
    extra = "deepmd"
    description = "DeePMD-kit frozen model (.pth or .pb file)"
    trainer = "sse_flows.training.deepmd:DeepMDTrainer"
    # .pt: a PyTorch training checkpoint, the file dp can fine-tune (DP reads it too)
    checkpoint_suffixes = (".pth", ".pb", ".pt")
    aliases = ("dp",)
    notes = "deepmd-kit's PyTorch backend must be built against the installed torch"
    # The 3.2.0 wheel's PyTorch backend is compiled against torch 2.11 and refuses
    # 2.13 ("compiled against 2.11"); built from the sdist against our torch pin it
    # works (~2 min). Its backend imports e3nn (0.5+, as sevenn), so it could share
    # sevenn's environment but never MACE's (e3nn 0.4.4).
    environment = FamilyEnvironment(
        name="deepmd",
        reason="deepmd-kit's PyTorch backend must be compiled against torch 2.13; the "
        "wheel is built for 2.11",
        packages=("e3nn>=0.5", "dpdata>=0.2.18"),
        steps=(
            BuildStep(
                name="build tools",
                args=(
                    "install",
                    "setuptools>=68",
                    "setuptools_scm",
                    "hatch-fancy-pypi-readme",
                    "scikit-build-core",
                    "dependency_groups",
                    "ninja",
                    "cmake",
                    "wheel",
                    TORCH_PIN,
                ),
            ),
            BuildStep(
                name="deepmd-kit 3.2.0 from source against torch 2.13",
                args=(
                    "install",
                    "--no-build-isolation",
                    "--no-binary",
                    "deepmd-kit",
                    "deepmd-kit==3.2.0",
                    TORCH_PIN,
                ),
                env=(
                    ("DP_ENABLE_TENSORFLOW", "0"),
                    ("DP_ENABLE_PYTORCH", "1"),
                    ("DP_VARIANT", "cpu"),
                ),
            ),
        ),
        imports=("deepmd", "deepmd.pt", "deepmd.calculator"),
    )

    def build(
        self,
        checkpoint: str | None,
        path: Path | None,
        device: str,
        options: dict[str, Any],
    ) -> Calculator:
        """DP on the frozen model file."""
        from deepmd.calculator import DP

        return DP(model=str(path), **options)

    def elements(self, calculator: Calculator) -> frozenset[str]:
        """From the model's type map (``DP.type_dict``: symbol -> type index)."""
        return frozenset(str(s) for s in calculator.type_dict)  # type: ignore[attr-defined]


FAMILY = DeePMDFamily()
