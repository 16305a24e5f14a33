"""Checks of a backtest's arguments that need no service: the command runs them before it contacts any."""

from __future__ import annotations

from schemas.topics import Topics

__all__ = ["verdicts_topic_problem"]


def verdicts_topic_problem(topic: str | None, topics: Topics) -> str | None:
    """Why ``topic`` cannot take the backtest's verdicts (a live topic of the project), or ``None``."""
    if topic is not None and topic in topics.all():
        return (
            f"--verdicts-topic {topic}: that is a live fraudstream topic; write backtest verdicts to a topic of "
            "their own"
        )
    return None
