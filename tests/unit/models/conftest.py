"""Fitted models shared by the model unit tests (fitted once per session; tests must not mutate them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.unit.models import fitting


@pytest.fixture(scope="session")
def data() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    return fitting.training_data()


@pytest.fixture(scope="session")
def features(data: tuple[NDArray[np.float64], NDArray[np.int64]]) -> NDArray[np.float64]:
    return data[0]


@pytest.fixture(scope="session")
def linear_model(data: tuple[NDArray[np.float64], NDArray[np.int64]]) -> Any:
    return fitting.logistic(*data)


@pytest.fixture(scope="session")
def forest_model(data: tuple[NDArray[np.float64], NDArray[np.int64]]) -> Any:
    return fitting.forest(*data)


@pytest.fixture(scope="session")
def boosting_model(data: tuple[NDArray[np.float64], NDArray[np.int64]]) -> Any:
    return fitting.boosting(*data)
