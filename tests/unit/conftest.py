"""Unit tests see a clean configuration environment.

``mlflow.set_tracking_uri`` writes ``MLFLOW_TRACKING_URI`` into ``os.environ``, so an earlier test
(or the developer's shell) could otherwise leak configuration into these tests.
"""

from __future__ import annotations

import os

import pytest

from fraudcore.settings import ENV_PREFIX


@pytest.fixture(autouse=True)
def clean_configuration_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable.startswith(ENV_PREFIX) or variable == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(variable)
