"""What a sizing run measured, the figures derived from it (with how), the table and the JSON form.

Definitions (``N`` the simulated days, days counted from 0, windows from the feature spec):

- Active card: paid on one of the last ``max customer window`` days. Active terminal: paid on one of
  the last ``label delay + max terminal window`` days (the span its terminal windows reach back).
- Transactions in the longest window: those of the last ``max(max customer window, label delay + max
  terminal window)`` days (all of them when the history is shorter).
- Store memory: Redis ``used_memory`` minus its value before the first batch (the run's Redis is its
  own). Flatness: store memory after day N over after day N/2.
- Per card (terminal): the census bytes of the key families keyed by a card (terminal) id, over the
  active cards (terminals). Per transaction: the families keyed by a transaction id or shared (buckets,
  tiles), over the transactions in the longest window. Bytes per transaction in the window: the whole
  store memory over those transactions.
- Scorer CPU: process CPU time (user + system) of this process while it decoded, recorded, scored and
  encoded the verdicts (the simulation and encoding of the events excluded). Full path: the CPU time
  of a ``fraudstream score`` worker (Kafka in and out) over its verdicts after the first ones.
- Redis CPU: ``used_cpu_user + used_cpu_sys`` deltas, the census's own share excluded.
- Trainer: peak ``VmHWM`` of ``fraudstream train --once`` after day N and after an earlier day: N/2, or
  the first day the trainer's windows (train, gaps, test folds) fit in the history when that is later
  and before N; per transaction: the difference of the peaks over the difference of the transactions
  in the trainer's horizon. When the earlier run did not fit a model (exit 1: its robust clock and the
  features' warm-up want more days), the slope also holds the fitting's memory: an upper bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bench.results import Machine
from bench.sizing_config import SizingConfig
from bench.sizing_full_path import FullPath
from bench.sizing_redis import KeyFamily
from bench.sizing_trainer import TrainerRun

__all__ = ["DaySample", "SizingReport", "StreamTotals", "Windows"]


@dataclass(frozen=True)
class DaySample:
    """The store after one simulated day."""

    day: int
    transactions: int
    """Transactions streamed so far."""
    store_bytes: int
    """``used_memory`` above its value before the first batch."""
    keys: int


@dataclass(frozen=True)
class StreamTotals:
    """What streaming the history did and cost."""

    transactions: int
    labels: int
    verdicts: int
    dead_letters: int
    conflicts: int
    refused_labels: int
    scorer_cpu_s: float
    redis_cpu_s: float
    wall_s: float
    """Wall time of the whole stream (simulation and encoding included)."""


@dataclass(frozen=True)
class Windows:
    """The spans (days) the definitions above use, from the feature spec."""

    card_days: int
    terminal_days: int
    trainer_horizon_days: int
    """Days of history the trainer keeps."""
    trainer_fits_from_day: int
    """Days the trainer's windows span (train, label-delay gaps, test folds): before, it cannot fit."""

    @property
    def longest_days(self) -> int:
        """The longest span a window reaches back."""
        return max(self.card_days, self.terminal_days)


@dataclass(frozen=True)
class SizingReport:
    """The measurements of one sizing run."""

    command: str
    run_id: str
    """The prefix of everything the run created (topics, keys, model names), removed at its end."""
    started_at: datetime
    config: SizingConfig
    machine: Machine
    redis_version: str
    windows: Windows
    days: list[DaySample]
    totals: StreamTotals
    active_cards: int
    active_terminals: int
    transactions_in_window: int
    families: list[KeyFamily]
    """The census after day N."""
    families_half: list[KeyFamily]
    """The census after day N/2."""
    trainer: list[TrainerRun]
    full_path: FullPath | None = None
    """``fraudstream score`` through Kafka on the first transactions (None: not measured)."""

    @property
    def store_bytes(self) -> int:
        """Store memory after day N."""
        return self.days[-1].store_bytes

    @property
    def store_bytes_half(self) -> int:
        """Store memory after day N/2."""
        return self.days[len(self.days) // 2 - 1].store_bytes

    def figures(self) -> dict[str, float | None]:
        """The derived figures (see the module doc), by name."""
        totals, tx = self.totals, max(self.totals.transactions, 1)
        by_kind = {kind: sum(f.bytes for f in self.families if f.keyed_by == kind) for kind in _KINDS}
        census = sum(by_kind.values())
        window = max(self.transactions_in_window, 1)
        figures: dict[str, float | None] = {
            "store_bytes": float(self.store_bytes),
            "store_bytes_half": float(self.store_bytes_half),
            "flatness": self.store_bytes / self.store_bytes_half if self.store_bytes_half > 0 else None,
            "bytes_per_tx_in_window": self.store_bytes / window,
            "bytes_per_tx_streamed": self.store_bytes / tx,
            "census_bytes": census,
            "census_to_store": census / self.store_bytes if self.store_bytes > 0 else None,
            "bytes_per_active_card": by_kind["card"] / max(self.active_cards, 1),
            "bytes_per_active_terminal": by_kind["terminal"] / max(self.active_terminals, 1),
            "per_tx_family_bytes_per_tx_in_window": (by_kind["transaction"] + by_kind["shared"]) / window,
            "scorer_cpu_us_per_tx": 1e6 * totals.scorer_cpu_s / tx,
            "redis_cpu_us_per_tx": 1e6 * totals.redis_cpu_s / tx,
            "stream_tx_per_s": totals.transactions / totals.wall_s if totals.wall_s > 0 else None,
            "trainer_peak_bytes": float(self.trainer[-1].peak_rss_bytes) if self.trainer else None,
            "trainer_peak_bytes_per_tx": self.trainer[-1].peak_rss_bytes / max(self.trainer[-1].transactions_read, 1)
            if self.trainer
            else None,
            "trainer_marginal_bytes_per_tx": _marginal(self.trainer),
            "full_path_cpu_us_per_tx": self.full_path.cpu_us_per_tx if self.full_path else None,
        }
        return figures

    def document(self) -> dict[str, Any]:
        """Everything, as JSON-ready values."""
        return {
            "command": self.command,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "config": {**asdict(self.config), "model_kind": self.config.model_kind.value},
            "machine": asdict(self.machine),
            "redis_version": self.redis_version,
            "windows": {**asdict(self.windows), "longest_days": self.windows.longest_days},
            "totals": asdict(self.totals),
            "active_cards": self.active_cards,
            "active_terminals": self.active_terminals,
            "transactions_in_window": self.transactions_in_window,
            "figures": self.figures(),
            "days": [asdict(day) for day in self.days],
            "families": [_family(f) for f in self.families],
            "families_half": [_family(f) for f in self.families_half],
            "trainer": [asdict(run) for run in self.trainer],
            "full_path": asdict(self.full_path) if self.full_path else None,
        }

    def render(self) -> str:
        """The measurements as a Markdown table, then the key families after day N."""
        f, totals, w, n = self.figures(), self.totals, self.windows, len(self.days)
        rows = [
            ("history", f"{totals.transactions:,} transactions, {totals.labels:,} labels over {n} days", ""),
            (
                "active after day N",
                f"{self.active_cards:,} cards, {self.active_terminals:,} terminals",
                f"cards: last {w.card_days} days; terminals: last {w.terminal_days} days",
            ),
            (
                "transactions in the longest window",
                f"{self.transactions_in_window:,}",
                f"last {w.longest_days} days",
            ),
            ("store memory after day N", _mb(self.store_bytes), f"{self.days[-1].keys:,} keys"),
            ("store memory after day N/2", _mb(self.store_bytes_half), f"day {n // 2}"),
            ("flatness (day N / day N/2)", _ratio(f["flatness"]), "target <= 1.2 once the windows are full"),
            ("bytes per transaction in the window", _num(f["bytes_per_tx_in_window"]), "store memory / window tx"),
            ("bytes per transaction streamed", _num(f["bytes_per_tx_streamed"]), "store memory / all tx"),
            ("bytes per active card", _num(f["bytes_per_active_card"]), "card-keyed families / active cards"),
            (
                "bytes per active terminal",
                _num(f["bytes_per_active_terminal"]),
                "terminal-keyed families / active terminals",
            ),
            (
                "per-transaction families, bytes per window tx",
                _num(f["per_tx_family_bytes_per_tx_in_window"]),
                "transaction-keyed and shared families / window tx",
            ),
            ("census / store memory", _ratio(f["census_to_store"]), "MEMORY USAGE sample vs used_memory"),
            (
                "scorer CPU per transaction",
                f"{_num(f['scorer_cpu_us_per_tx'])} µs",
                "decode, features, model, verdicts",
            ),
            ("Redis CPU per transaction", f"{_num(f['redis_cpu_us_per_tx'])} µs", "INFO cpu deltas"),
            ("stream rate (wall, simulation included)", f"{_num(f['stream_tx_per_s'])} tx/s", ""),
        ]
        if self.full_path is not None:
            rows.append(
                (
                    "fraudstream score CPU per transaction (Kafka in and out)",
                    f"{_num(f['full_path_cpu_us_per_tx'])} µs",
                    f"{self.full_path.timed:,} of {self.full_path.transactions:,} tx after its first verdicts",
                )
            )
        for run in self.trainer:
            rows.append(
                (
                    f"trainer peak RSS after day {run.day}",
                    _mb(run.peak_rss_bytes),
                    f"{run.transactions_read:,} tx held, {run.seconds:.0f} s, exit {run.exit_code}",
                )
            )
        if self.trainer:
            rows.append(("trainer bytes per transaction held", _num(f["trainer_marginal_bytes_per_tx"]), "slope"))
        lines = ["| figure | value | how |", "|---|---|---|", *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
        lines += ["", "| key family | keyed by | type | keys | bytes/key | elements/key | bytes/element | MB |"]
        lines.append("|---|---|---|---|---|---|---|---|")
        for family in self.families:
            lines.append(
                f"| {family.name} | {family.keyed_by} | {family.types} | {family.keys:,} | {family.bytes_per_key:,.0f}"
                f" | {family.elements_per_key:,.1f} | {family.bytes_per_element:,.1f} | {family.bytes / 1e6:,.2f} |"
            )
        return "\n".join(lines)


_KINDS = ("card", "terminal", "transaction", "shared")


def _marginal(runs: list[TrainerRun]) -> float | None:
    if len(runs) < 2 or runs[-1].transactions_read <= runs[0].transactions_read:
        return None
    return (runs[-1].peak_rss_bytes - runs[0].peak_rss_bytes) / (runs[-1].transactions_read - runs[0].transactions_read)


def _family(family: KeyFamily) -> dict[str, Any]:
    return {**asdict(family), "bytes": family.bytes, "bytes_per_element": family.bytes_per_element}


def _mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
