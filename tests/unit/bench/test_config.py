"""The sizes of a run and their checks."""

from __future__ import annotations

import pytest

from bench.config import DEFAULT, QUICK, BenchConfig


def test_the_presets_are_usable_and_quick_is_smaller() -> None:
    assert DEFAULT.problems() == []
    assert QUICK.problems() == []
    assert QUICK.messages < DEFAULT.messages
    assert QUICK.naive_messages < DEFAULT.naive_messages
    assert QUICK.live_seconds < DEFAULT.live_seconds


def test_given_values_replace_the_preset_and_none_keeps_it() -> None:
    config = QUICK.with_values(messages=50_000, partitions=None)
    assert config.messages == 50_000
    assert config.partitions == QUICK.partitions


def test_an_unknown_value_is_refused() -> None:
    with pytest.raises(TypeError, match="colour"):
        DEFAULT.with_values(colour="blue")


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"messages": 10}, "--messages must be at least 1000"),
        ({"messages": 5_000, "naive_messages": 6_000}, "--naive-messages must be within 100 and --messages"),
        ({"partitions": 0}, "--partitions"),
        ({"batch_size": 20_000}, "--batch-size"),
        ({"live_seconds": 1.0}, "--live-seconds"),
        ({"customers": 5}, "--customers"),
    ],
)
def test_problems_name_the_option(values: dict[str, int | float], problem: str) -> None:
    assert any(problem in message for message in BenchConfig(**values).problems())  # type: ignore[arg-type]
