"""Settings of one training run, the same for every family.

Each family maps them to its own trainer's options (see its module); ``epochs`` always
means passes over the training split, converted to steps for DeePMD.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainSettings(BaseModel):
    """How to train: schedule, loss weights, splits, seed, early stopping."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(10, ge=1, description="Passes over the training split.")
    learning_rate: float | None = Field(
        None, gt=0, description="Learning rate; None takes the family's default."
    )
    batch_size: int = Field(4, ge=1, description="Frames per batch.")
    energy_weight: float = Field(1.0, ge=0, description="Weight of the energy loss.")
    force_weight: float = Field(10.0, ge=0, description="Weight of the force loss.")
    stress_weight: float = Field(
        0.1, ge=0, description="Weight of the stress loss (0: stress not trained)."
    )
    seed: int = Field(0, description="Seed of the split and of the trainer.")
    valid_fraction: float = Field(
        0.1, gt=0, lt=1, description="Fraction of structures in the validation split."
    )
    test_fraction: float = Field(
        0.1, ge=0, lt=1, description="Fraction of structures in the test split."
    )
    patience: int | None = Field(
        None,
        ge=1,
        description="Early stopping: stop after this many epochs without a better "
        "validation loss (None: run every epoch). The best-validation model is kept.",
    )
    from_scratch: bool = Field(
        False, description="Train a new model instead of fine-tuning the parent."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto takes a GPU when torch sees one."
    )
    freeze: Literal["none", "backbone"] = Field(
        "none",
        description="CHGNet: 'backbone' freezes all but the last interaction and the "
        "readout (paper 002's choice for small data).",
    )
    multihead: bool = Field(
        True,
        description="MACE fine-tuning: keep the foundation's task with a replay head "
        "(paper 001); False fine-tunes naively.",
    )
    replay_frames: int = Field(
        50, ge=1, description="MACE multi-head: frames in the replay set."
    )
    match_energy_reference: bool = Field(
        True,
        description="Fit per-element energy offsets between the labels and the parent "
        "and start from them (see sse_flows.training.reference).",
    )
    compress: bool = Field(
        True,
        description="DeePMD: compress the frozen model (tabulated descriptor, faster MD) "
        "and keep it when it predicts like the frozen one. Off for short-lived models "
        "such as an active-learning committee (saves the compress and check steps).",
    )
    model: dict[str, Any] = Field(
        default_factory=dict,
        description="Family-specific architecture of a model trained from scratch "
        "(e.g. MACE hidden_irreps, DeePMD descriptor); empty takes a small default.",
    )

    @model_validator(mode="after")
    def _fractions(self) -> TrainSettings:
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"valid_fraction + test_fraction = "
                f"{self.valid_fraction + self.test_fraction} leaves no training data; "
                "keep their sum under 1."
            )
        return self

    def trainer_seed(self) -> int:
        """Seed handed to the family's trainer."""
        return self.seed
