"""A literal, loop-by-loop transcription of the handbook's Card Precision@k, to check the vectorised one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def card_precision_at_k(
    day: Sequence[int], customer: Sequence[Any], is_fraud: Sequence[bool], scores: Sequence[float], k: int
) -> list[tuple[int, float]]:
    """Per-day values, days ascending; ties ranked by card id ascending."""
    detected: set[Any] = set()
    per_day: list[tuple[int, float]] = []
    for current in sorted(set(day)):
        cards: dict[Any, tuple[float, bool]] = {}
        for d, card, fraud, score in zip(day, customer, is_fraud, scores, strict=True):
            if d != current or card in detected:
                continue
            best, any_fraud = cards.get(card, (float("-inf"), False))
            cards[card] = (max(best, score), any_fraud or bool(fraud))
        ranked = sorted(cards.items(), key=lambda item: (-item[1][0], item[0]))[:k]
        caught = [card for card, (_, fraud) in ranked if fraud]
        detected.update(caught)
        per_day.append((current, len(caught) / k))
    return per_day
