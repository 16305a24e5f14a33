"""A sqlite store that does not exist is named as missing (MLflow would create it empty); nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudcore.mlflow_store import StoreUnavailable, missing_store, require_store
from fraudcore.settings import Settings


def test_an_absolute_sqlite_uri_to_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    absent = tmp_path / "typo" / "mlflow.db"
    settings = Settings(data_dir=tmp_path, mlflow_tracking_uri=f"sqlite:///{absent}")

    problem = missing_store(settings)

    assert problem is not None
    assert str(absent) in problem
    assert "MLFLOW_TRACKING_URI" in problem
    with pytest.raises(StoreUnavailable, match="does not exist"):
        require_store(settings)
    assert not absent.parent.exists()


def test_a_relative_sqlite_uri_is_read_from_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path, mlflow_tracking_uri="sqlite:///stores/mlflow.db?timeout=5")
    assert missing_store(settings) is not None

    (tmp_path / "stores").mkdir()
    (tmp_path / "stores" / "mlflow.db").touch()

    assert missing_store(settings) is None


def test_the_local_store_not_created_yet_points_at_up(tmp_path: Path) -> None:
    problem = missing_store(Settings(data_dir=tmp_path))

    assert problem is not None
    assert "fraudstream up" in problem


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "sqlite://", "sqlite:///:memory:", "postgresql://db/mlflow"])
def test_stores_that_are_not_sqlite_files_are_not_judged_here(uri: str, tmp_path: Path) -> None:
    assert missing_store(Settings(data_dir=tmp_path, mlflow_tracking_uri=uri)) is None
