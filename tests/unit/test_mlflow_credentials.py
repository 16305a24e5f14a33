"""MLflow's standard authentication variables pass through fraudstream untouched to MLflow's request layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudcore.settings import Settings


def test_mlflow_tracking_credentials_reach_mlflow_and_stay_out_of_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow.utils.credentials import get_default_host_creds

    server_ca = tmp_path / "mlflow-ca.pem"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.internal:5000")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "trainer")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "mlflow-Secret-3")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(server_ca))
    settings = Settings(data_dir=tmp_path)  # MLFLOW_* besides the URI are MLflow's, not refused as unknown
    assert settings.tracking_uri == "https://mlflow.internal:5000"
    credentials = get_default_host_creds(settings.tracking_uri)  # type: ignore[no-untyped-call]
    assert (credentials.username, credentials.password) == ("trainer", "mlflow-Secret-3")
    assert credentials.server_cert_path == str(server_ca)
    assert "mlflow-Secret-3" not in repr(settings)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "token-4")
    assert get_default_host_creds(settings.tracking_uri).token == "token-4"  # type: ignore[no-untyped-call]
