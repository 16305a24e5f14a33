"""The range: parsing dates, emptiness, the features' look-back before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backtest.timerange import TimeRange, iso, look_back_days, parse_moment
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, FeatureSpec, epoch_ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-05-01", datetime(2018, 5, 1, tzinfo=UTC)),
        ("2018-05-01T12:30", datetime(2018, 5, 1, 12, 30, tzinfo=UTC)),
        ("2018-05-01T12:30:00Z", datetime(2018, 5, 1, 12, 30, tzinfo=UTC)),
        ("2018-05-01T14:30:00+02:00", datetime(2018, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_dates_and_date_times_are_utc_unless_an_offset_is_given(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


@pytest.mark.parametrize("text", ["May 1st", "2018-13-01", "", "yesterday"])
def test_invalid_dates_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date like 2018-05-01"):
        parse_moment(text)


def test_an_empty_or_reversed_range_is_refused() -> None:
    moment = datetime(2018, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="the range is empty"):
        TimeRange.between(moment, moment)
    with pytest.raises(ValueError, match="the range is empty"):
        TimeRange.between(moment, moment - timedelta(days=1))


def test_the_replay_starts_one_look_back_before_the_range() -> None:
    window = TimeRange.between(datetime(2018, 6, 1, tzinfo=UTC), datetime(2018, 6, 8, tzinfo=UTC))
    assert look_back_days(DEFAULT_SPEC) == 30 + 7  # the terminal windows reach back furthest
    assert window.replay_from_ms(DEFAULT_SPEC) == epoch_ms(datetime(2018, 4, 25, tzinfo=UTC))
    assert look_back_days(FeatureSpec(customer_windows_days=(1, 60), key_ttl_s=90 * 86_400)) == 60
    assert window.first_day == window.start_ms // DAY_MS
    assert window.last_day == window.first_day + 6
    assert window.contains(window.start_ms)
    assert not window.contains(window.end_ms)


def test_iso_strings_are_utc_with_z() -> None:
    assert iso(epoch_ms(datetime(2018, 6, 1, tzinfo=UTC))) == "2018-06-01T00:00:00Z"
    assert iso(epoch_ms(datetime(2018, 6, 1, 0, 0, 1, 500_000, tzinfo=UTC))) == "2018-06-01T00:00:01.500Z"
