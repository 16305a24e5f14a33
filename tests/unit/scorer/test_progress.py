"""The progress watch: pending input without progress for longer than the bound is a stall."""

from __future__ import annotations

from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    UnknownTopicOrPartitionError,
)

from fraudcore.features.store import FeatureStoreUnavailable
from fraudcore.kafka_send_failures import error_name, needs_operator
from scorer.progress import ProgressWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_worker_never_stalls() -> None:
    clock = Clock()
    watch = ProgressWatch(30.0, clock)
    clock.now += 3600
    assert watch.waiting_s() == 0
    assert watch.stall() is None


def test_a_batch_without_progress_stalls_after_the_bound_and_names_the_last_error() -> None:
    clock = Clock()
    watch = ProgressWatch(30.0, clock)
    clock.now += 500  # idle for a while: that time does not count
    watch.started()
    clock.now += 10
    watch.failed(UnknownTopicOrPartitionError("topic s.verdicts does not exist"))
    clock.now += 20
    assert watch.waiting_s() == 30
    assert watch.stall() is None  # not over the bound yet
    clock.now += 1
    stall = watch.stall()
    assert stall is not None
    assert stall.for_s == 31
    assert stall.last_error is not None
    assert stall.last_error.error == "UnknownTopicOrPartitionError"
    assert "does not exist" in stall.last_error.message
    assert stall.last_error.needs_operator
    watch.progressed()  # the topic is back: the batch completes
    assert watch.stall() is None
    assert watch.last_error is None


def test_a_busy_worker_making_progress_does_not_stall() -> None:
    clock = Clock()
    watch = ProgressWatch(30.0, clock)
    watch.lag(10_000)  # a backlog that lasts
    for _ in range(100):
        watch.started()
        clock.now += 5
        watch.progressed()
    assert watch.stall() is None


def test_lag_without_any_batch_stalls_after_the_bound() -> None:
    clock = Clock()
    watch = ProgressWatch(30.0, clock)
    clock.now += 100
    watch.lag(5)  # records wait, but no batch reaches the runtime (a fetcher stuck)
    clock.now += 31
    stall = watch.stall()
    assert stall is not None
    assert stall.for_s == 31
    assert stall.last_error is None
    watch.lag(0)
    assert watch.stall() is None


def test_the_last_error_says_whether_an_operator_must_act() -> None:
    watch = ProgressWatch(30.0, Clock())
    watch.failed(KafkaTimeoutError())
    assert watch.last_error is not None
    assert not watch.last_error.needs_operator
    watch.failed(FeatureStoreUnavailable("Redis is unavailable (out_of_memory): ...", "out_of_memory"), operator=False)
    assert watch.last_error.error == "FeatureStoreUnavailable"
    assert not watch.last_error.needs_operator


def test_send_errors_have_bounded_names_and_the_persistent_ones_need_an_operator() -> None:
    assert needs_operator(UnknownTopicOrPartitionError())
    assert needs_operator(MessageSizeTooLargeError())
    assert not needs_operator(KafkaTimeoutError())
    assert error_name(MessageSizeTooLargeError()) == "MessageSizeTooLargeError"
    assert error_name(RuntimeError("boom")) == "other"

    custom = type("Custom", (UnknownTopicOrPartitionError,), {})
    assert error_name(custom()) == "other"


def test_an_error_that_needs_an_operator_is_not_hidden_by_the_timeouts_it_causes() -> None:
    clock = Clock()
    watch = ProgressWatch(30.0, clock, sticky_s=10.0)
    watch.started()
    watch.failed(UnknownTopicOrPartitionError("topic v does not exist"))
    clock.now += 4
    watch.failed(NotLeaderForPartitionError())  # the in-flight batch of the deleted topic times out
    assert watch.last_error is not None
    assert watch.last_error.error == "UnknownTopicOrPartitionError"
    clock.now += 11  # the topic is back (no longer diagnosed) and another error persists: it shows
    watch.failed(KafkaTimeoutError("broker away"))
    assert watch.last_error.error == "KafkaTimeoutError"
