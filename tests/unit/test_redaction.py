"""Credentials written into URLs never reach printed text."""

from __future__ import annotations

import pytest

from fraudcore.redaction import redact_urls


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://features:s3cret@cache:6380", "rediss://***@cache:6380"),
        (
            "API request to http://ops:s3cret@mlflow:5000/api/2.0 failed",
            "API request to http://***@mlflow:5000/api/2.0 failed",
        ),
        ("http://mlflow:5000/health and redis://cache:6379/0", "http://mlflow:5000/health and redis://cache:6379/0"),
        ("sqlite:////var/lib/mlflow.db", "sqlite:////var/lib/mlflow.db"),
    ],
)
def test_url_credentials_are_masked(text: str, shown: str) -> None:
    assert redact_urls(text) == shown
