"""A brute-force reading of the feature semantics, to check the stores against: no pruning, no index.

Windows are whole event-time tiles; labels are recorded only when fraud, or genuine over a fraud one
(a genuine label over nothing stores nothing, so an older fraud label arriving after it counts)."""

from __future__ import annotations

from fraudcore.features.definition import Conflict, FeatureSpec, LabelFacts, LabelOutcome, TxFacts, WindowCounts


class Reference:
    """Records like a store and answers by scanning everything recorded so far."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.txs: dict[str, TxFacts] = {}
        self.labels: dict[str, LabelFacts] = {}
        self.held: dict[str, LabelFacts] = {}

    def label(self, label: LabelFacts) -> LabelOutcome:
        """The latest ``labeled_at`` wins (fraud at a tie); held until its transaction; none before it."""
        tx_id = label.transaction_id
        tx = self.txs.get(tx_id)
        table = self.held if tx is None else self.labels
        if tx is not None and label.labeled_at_ms < tx.event_time_ms:
            return LabelOutcome.BEFORE_TRANSACTION
        old = table.get(tx_id)
        if old is not None and (label.labeled_at_ms, label.is_fraud) <= (old.labeled_at_ms, old.is_fraud):
            return LabelOutcome.UNCHANGED
        if tx is not None and old is None and not label.is_fraud:
            return LabelOutcome.NEW
        table[tx_id] = label
        if tx is None:
            return LabelOutcome.HELD
        return LabelOutcome.NEW if old is None else LabelOutcome.CORRECTED

    def record(self, tx: TxFacts) -> WindowCounts | Conflict:
        stored = self.txs.get(tx.transaction_id)
        if stored is not None and stored != tx:
            return Conflict(stored)
        if stored is None:
            self.txs[tx.transaction_id] = tx
            held = self.held.pop(tx.transaction_id, None)
            if held is not None and held.labeled_at_ms >= tx.event_time_ms and held.is_fraud:
                self.labels[tx.transaction_id] = held
        t, spec = tx.event_time_ms, self.spec
        p, now = spec.tiles_per_day, spec.tile_of(tx.event_time_ms)
        customer = [other for other in self.txs.values() if other.customer_id == tx.customer_id]
        terminal = [other for other in self.txs.values() if other.terminal_id == tx.terminal_id]
        end = now - spec.label_delay_days * p

        def fraud_known(other: TxFacts) -> bool:
            label = self.labels.get(other.transaction_id)
            return label is not None and label.is_fraud and label.labeled_at_ms <= t

        customer_count, customer_cents, terminal_count, terminal_fraud = [], [], [], []
        for w in spec.customer_windows_days:
            inside = [other for other in customer if now - w * p < spec.tile_of(other.event_time_ms) <= now]
            customer_count.append(len(inside))
            customer_cents.append(sum(other.amount_cents for other in inside))
        for w in spec.terminal_windows_days:
            inside = [other for other in terminal if end - w * p < spec.tile_of(other.event_time_ms) <= end]
            terminal_count.append(len(inside))
            terminal_fraud.append(sum(fraud_known(other) for other in inside))
        return WindowCounts(tuple(customer_count), tuple(customer_cents), tuple(terminal_count), tuple(terminal_fraud))
