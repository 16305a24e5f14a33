"""MLflow against the embedded sqlite store: log, register, alias, load by alias."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from fraudcore import mlflow_store
from fraudcore.settings import Settings


def test_log_register_and_load_by_alias(services: Settings, unique: str) -> None:
    import mlflow

    client = mlflow_store.connect(services)
    experiment_id = mlflow_store.ensure_experiment(services, client, f"plumbing-{unique}")
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 3))
    labels = (features[:, 0] + 0.1 * rng.normal(size=200) > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    name = f"fraud-{unique}"

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("C", model.C)
        mlflow.log_metric("train_accuracy", float(model.score(features, labels)))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, input_example=features[:2])
    version = info.registered_model_version
    client.set_registered_model_alias(name, "champion", str(version))

    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == str(version)
    assert champion.run_id == run.info.run_id
    loaded = mlflow.sklearn.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))
    artifact_uri = client.get_run(run.info.run_id).info.artifact_uri
    assert artifact_uri.startswith(services.artifact_root.as_uri())
