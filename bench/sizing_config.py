"""The sizes of a sizing run (``fraudstream bench sizing``): the simulated history and what is measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fraudcore.model_kind import ModelKind

__all__ = ["SIZING_DEFAULT", "SizingConfig"]


@dataclass(frozen=True)
class SizingConfig:
    """One sizing run: the simulated history streamed through the scorer, and its options."""

    customers: int = 200
    """Simulated cards."""
    terminals: int = 400
    """Simulated terminals."""
    days: int = 8
    """Simulated days of history (memory is sampled at the end of each)."""
    tx_per_card_day: float = 2.0
    """Mean payments per card and day (each card's own rate is drawn in ``[0, 2 x mean]``)."""
    label_fraction: float = 1.0
    """Share of transactions that get a label one label delay later (fraud and genuine alike)."""
    batch_size: int = 500
    """Transactions per scorer micro-batch."""
    sample_keys: int = 300
    """Keys sampled with ``MEMORY USAGE`` per key family at each census."""
    trainer: bool = True
    """Also measure the trainer's peak memory (``fraudstream train --once`` at day N/2 and N)."""
    full_path: int = 2_000
    """Transactions also scored through Kafka by ``fraudstream score`` for its CPU per transaction (0: not)."""
    model_kind: ModelKind = ModelKind.BOOSTING
    seed: int = 0

    def problems(self) -> list[str]:
        """What is wrong with these sizes (empty when they are usable)."""
        checks = (
            (self.customers < 10 or self.terminals < 10, "--customers and --terminals must be at least 10"),
            (self.days < 2, "--days must be at least 2 (memory is compared at day N/2 and day N)"),
            (not 0 < self.tx_per_card_day <= 1_000, "--tx-per-card-day must be within 0 (excluded) and 1000"),
            (not 0 <= self.label_fraction <= 1, "--label-fraction must be within 0 and 1"),
            (not 1 <= self.batch_size <= 10_000, "--batch-size must be within 1 and 10000"),
            (self.sample_keys < 1, "--sample-keys must be at least 1"),
            (not 0 <= self.full_path <= 10_000_000, "--full-path must be within 0 and 10000000"),
        )
        return [message for wrong, message in checks if wrong]

    @property
    def needs_services(self) -> bool:
        """Whether the run uses Kafka and MLflow (the trainer, or the full path)."""
        return self.trainer or self.full_path > 0

    def command(self) -> str:
        """The command line that repeats a run of this configuration."""
        return (
            f"fraudstream bench sizing --customers {self.customers} --terminals {self.terminals} --days {self.days} "
            f"--tx-per-card-day {self.tx_per_card_day:g} --label-fraction {self.label_fraction:g} "
            f"--batch-size {self.batch_size} --sample-keys {self.sample_keys} --model-kind {self.model_kind.value} "
            f"--full-path {self.full_path} --seed {self.seed}" + ("" if self.trainer else " --no-trainer")
        )


SIZING_DEFAULT: Final = SizingConfig()
"""A quick run (well under a minute of streaming): the integration test's size and a first look; a
comparison takes e.g. ``--customers 2000 --terminals 4000 --days 60``."""
