"""A seeded transaction simulator after the Fraud-Detection-Handbook's generator (chapter 3).

Customers get a location on a 100 x 100 grid, a spending mean/std and a daily transaction rate;
terminals get a location; a customer pays at terminals within ``radius`` of home. Every day each
customer makes Poisson(rate) payments at normally distributed times of day. Three fraud scenarios
mark transactions as fraud:

1. any amount above ``amount_threshold``;
2. each day ``compromised_terminals_per_day`` terminals are compromised for
   ``terminal_compromise_days``: every payment there is fraud;
3. each day ``compromised_customers_per_day`` customers are compromised for
   ``customer_compromise_days``: a ``customer_fraud_share`` of their payments get their amount
   multiplied by ``customer_fraud_multiplier`` and are fraud.

All randomness flows from one ``numpy`` generator seeded by ``seed``: the same parameters give the
same stream, transaction for transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from schemas.fields import TIME_FLOOR

__all__ = ["SimulatedDay", "SimulationParams", "Simulator"]

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SimulationParams:
    """The simulator's knobs; the defaults give the handbook's ~0.8% fraud rate."""

    seed: int = 0
    n_customers: int = 5_000
    n_terminals: int = 10_000
    start: datetime = datetime(2018, 4, 1, tzinfo=UTC)
    days: int = 183
    mean_tx_per_day: float = 2.0
    """Mean payments per customer and day: each customer's rate is drawn uniformly in ``[0, 2 x mean]``."""
    radius: float = 5.0
    amount_threshold: float = 220.0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14
    customer_fraud_share: float = 1 / 3
    customer_fraud_multiplier: float = 5.0
    shift_day: int | None = None
    """From this day on, every customer spends ``shift_amount_factor`` times more (an injected
    distribution shift, for drift monitoring); ``None``: no shift."""
    shift_amount_factor: float = 1.0

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be positive" for name in ("n_customers", "n_terminals", "days") if getattr(self, name) <= 0
        ]
        if self.start.tzinfo is None:
            problems.append("start must be timezone-aware")
        elif self.start < TIME_FLOOR:
            problems.append(f"start must not be before {TIME_FLOOR:%Y-%m-%d} (the earliest event time of the contract)")
        if not 0.0 <= self.customer_fraud_share <= 1.0:
            problems.append("customer_fraud_share must be within [0, 1]")
        if self.radius <= 0:
            problems.append("radius must be positive")
        if not self.mean_tx_per_day > 0:
            problems.append("mean_tx_per_day must be positive")
        if self.shift_amount_factor <= 0:
            problems.append("shift_amount_factor must be positive")
        if problems:
            raise ValueError("invalid simulation parameters: " + "; ".join(problems))


@dataclass(frozen=True)
class SimulatedDay:
    """One simulated day's transactions as columns, sorted by event time."""

    day: int
    seconds: npt.NDArray[np.int64]
    customer: npt.NDArray[np.int64]
    terminal: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]
    scenario: npt.NDArray[np.int8]
    """0 for a genuine transaction, otherwise the fraud scenario (1, 2 or 3)."""

    def __len__(self) -> int:
        return len(self.seconds)

    def event_times(self, start: datetime) -> list[datetime]:
        """Absolute event times of the rows."""
        base = start + timedelta(days=self.day)
        return [base + timedelta(seconds=int(second)) for second in self.seconds]


class Simulator:
    """Generate the stream day by day (bounded memory, any number of days)."""

    def __init__(self, params: SimulationParams) -> None:
        self.params = params
        self._rng = np.random.default_rng(params.seed)
        rng, p = self._rng, params
        self.customer_xy = rng.uniform(0, 100, size=(p.n_customers, 2))
        self.mean_amount = rng.uniform(5, 100, size=p.n_customers)
        self.std_amount = self.mean_amount / 2
        self.tx_per_day = rng.uniform(0, 2 * p.mean_tx_per_day, size=p.n_customers)
        self.terminal_xy = rng.uniform(0, 100, size=(p.n_terminals, 2))
        self.reachable = self._reachable_terminals()
        self._terminal_compromised_until = np.full(p.n_terminals, -1, dtype=np.int64)
        self._customer_compromised_until = np.full(p.n_customers, -1, dtype=np.int64)

    def _reachable_terminals(self) -> list[npt.NDArray[np.int64]]:
        radius_sq = self.params.radius**2
        reachable = []
        for home in self.customer_xy:
            squared = ((self.terminal_xy - home) ** 2).sum(axis=1)
            reachable.append(np.flatnonzero(squared < radius_sq).astype(np.int64))
        return reachable

    def days(self) -> Iterator[SimulatedDay]:
        """Every simulated day in order."""
        for day in range(self.params.days):
            yield self._simulate_day(day)

    def _simulate_day(self, day: int) -> SimulatedDay:
        rng, p = self._rng, self.params
        counts = rng.poisson(self.tx_per_day)
        has_terminal = np.array([len(options) > 0 for options in self.reachable])
        counts = np.where(has_terminal, counts, 0)
        customer = np.repeat(np.arange(p.n_customers, dtype=np.int64), counts)
        seconds = np.rint(rng.normal(SECONDS_PER_DAY / 2, 20_000, size=len(customer))).astype(np.int64)
        in_day = (seconds >= 0) & (seconds < SECONDS_PER_DAY)
        customer, seconds = customer[in_day], seconds[in_day]
        mean, std = self.mean_amount[customer], self.std_amount[customer]
        amount = rng.normal(mean, std)
        negative = amount < 0
        amount[negative] = rng.uniform(0, 2 * mean[negative])
        if p.shift_day is not None and day >= p.shift_day:
            amount = amount * p.shift_amount_factor
        amount = np.round(amount, 2)
        choice = rng.random(len(customer))
        terminal = np.array(
            [self.reachable[c][int(u * len(self.reachable[c]))] for c, u in zip(customer, choice, strict=True)],
            dtype=np.int64,
        )
        scenario = self._mark_fraud(day, customer, terminal, amount)
        order = np.lexsort((customer, seconds))
        return SimulatedDay(day, seconds[order], customer[order], terminal[order], amount[order], scenario[order])

    def _mark_fraud(
        self,
        day: int,
        customer: npt.NDArray[np.int64],
        terminal: npt.NDArray[np.int64],
        amount: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.int8]:
        rng, p = self._rng, self.params
        scenario = np.zeros(len(customer), dtype=np.int8)
        scenario[amount > p.amount_threshold] = 1

        newly = rng.choice(p.n_terminals, size=min(p.compromised_terminals_per_day, p.n_terminals), replace=False)
        self._terminal_compromised_until[newly] = day + p.terminal_compromise_days - 1
        at_compromised = (self._terminal_compromised_until[terminal] >= day) & (scenario == 0)
        scenario[at_compromised] = 2

        newly = rng.choice(p.n_customers, size=min(p.compromised_customers_per_day, p.n_customers), replace=False)
        self._customer_compromised_until[newly] = day + p.customer_compromise_days - 1
        of_compromised = np.flatnonzero((self._customer_compromised_until[customer] >= day) & (scenario == 0))
        picked = of_compromised[rng.random(len(of_compromised)) < p.customer_fraud_share]
        amount[picked] = np.round(amount[picked] * p.customer_fraud_multiplier, 2)
        scenario[picked] = 3
        return scenario
