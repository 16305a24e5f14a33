"""A scorer bounds mlflow's HTTP retries (minutes by default) unless the operator chose otherwise."""

from __future__ import annotations

import os

import pytest

from fraudcore.mlflow_store import FAIL_FAST_HTTP, fail_fast_over_http


def test_the_bounds_are_set_when_the_operator_set_none() -> None:
    environ: dict[str, str] = {}

    assert fail_fast_over_http(environ) == FAIL_FAST_HTTP
    assert environ == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def test_a_value_the_operator_set_is_kept() -> None:
    environ = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7", "OTHER": "x"}

    assert fail_fast_over_http(environ) == {"MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
    assert environ == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "OTHER": "x"}


def test_mlflow_reads_the_bounds_at_request_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    for name in FAIL_FAST_HTTP:
        monkeypatch.delenv(name, raising=False)
    # mlflow's default: about four minutes of back-off
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 7  # type: ignore[no-untyped-call]

    fail_fast_over_http(os.environ)

    bounds = (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_HTTP_REQUEST_TIMEOUT.get())  # type: ignore[no-untyped-call]
    assert bounds == (2, 20)


def test_a_scorer_switches_off_mlflows_pickle_fallback_whatever_was_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION

    from fraudcore.mlflow_store import forbid_pickle_loading

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    forbid_pickle_loading()
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    assert MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get() is False  # type: ignore[no-untyped-call]


def test_a_command_bounds_each_request_by_its_wait() -> None:
    environ: dict[str, str] = {}

    fail_fast_over_http(environ, request_timeout_s=3.4)

    assert environ == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
