"""Registering a challenger in MLflow, moving the aliases, and broadcasting the reload.

The run holds the metrics (fold 0 of challenger, champion and baseline, the challenger's mean over
folds), the window bounds as parameters, and as artifacts the full evaluations (JSON), the PR curves
of fold 0 (PNG) and the reference feature distribution (per-feature quantiles, for drift). The
version is signed with the settings' signing key (checked by the scorers before reading anything).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fraudcore.kafka_admin import project_topics
from fraudcore.models import CHALLENGER, promote, publish, set_alias, signing_key
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.enums import ModelEventKind
from schemas.events import ModelEvent
from schemas.topics import key_for
from trainer.training import TrainingOutcome

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from mlflow import MlflowClient

__all__ = ["Registered", "model_event", "move_champion", "register_outcome", "reload_event", "send_model_event"]

_QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class Registered:
    """The version registered and the alias it got."""

    version: str
    promoted: bool
    previous_champion: str | None


def register_outcome(
    client: MlflowClient, settings: Settings, outcome: TrainingOutcome, previous_champion: str | None
) -> Registered:
    """Publish the challenger; promote it (champion, old one → previous) or tag it challenger."""
    metrics = {name: value for name, value in outcome.metrics().items() if np.isfinite(value)}
    version = publish(
        client,
        settings,
        outcome.bundle,
        settings.model_name,
        metrics=metrics,
        params={"model_kind": settings.trainer_model_kind, **outcome.params()},
        tags={"gate": outcome.reason[:250]},
        description=outcome.reason,
        signing_key=signing_key(settings),
    )
    run_id = client.get_model_version(settings.model_name, version).run_id
    if run_id:
        _log_reports(client, run_id, outcome)
    if outcome.promote:
        promote(client, settings.model_name, version)
    else:
        set_alias(client, settings.model_name, CHALLENGER, version)
    return Registered(version, outcome.promote, previous_champion)


def model_event(
    settings: Settings,
    kind: ModelEventKind,
    version: str,
    previous: str | None,
    message: str,
    metrics: Mapping[str, float] | None = None,
) -> ModelEvent:
    """An event about ``version`` of the settings' model (non-finite metrics left out)."""
    return ModelEvent(
        kind=kind,
        model_name=settings.model_name,
        model_version=version,
        previous_version=previous,
        metrics={name: value for name, value in (metrics or {}).items() if np.isfinite(value)},
        message=message[:4096],
        at=datetime.now(UTC),
    )


def reload_event(settings: Settings, registered: Registered, metrics: dict[str, float], message: str) -> ModelEvent:
    """The event scorers swap on (a promotion of ``registered.version``)."""
    return model_event(
        settings, ModelEventKind.PROMOTED, registered.version, registered.previous_champion, message, metrics
    )


async def send_model_event(producer: AIOKafkaProducer, settings: Settings, event: ModelEvent) -> None:
    """Publish ``event`` on the settings' model-events topic and wait for its acknowledgement."""
    await producer.send_and_wait(project_topics(settings).model_events, encode(event), key=key_for(event))


async def move_champion(
    producer: AIOKafkaProducer,
    client: MlflowClient,
    settings: Settings,
    version: str,
    message: str,
    kind: ModelEventKind = ModelEventKind.PROMOTED,
) -> str | None:
    """``champion`` ← ``version`` (the displaced one becomes ``previous``), then the event the scorers
    reload on; returns the displaced version (None when there was none or it already was champion)."""
    previous = await asyncio.to_thread(promote, client, settings.model_name, version)
    await send_model_event(producer, settings, model_event(settings, kind, version, previous, message))
    return previous


def _log_reports(client: MlflowClient, run_id: str, outcome: TrainingOutcome) -> None:
    with tempfile.TemporaryDirectory(prefix="fraudstream-reports-") as scratch:
        folder = Path(scratch)
        evaluations = [
            {
                "fold": result.fold.index,
                "train_days": [result.fold.train_first_day, result.fold.train_last_day],
                "test_days": [result.fold.test_first_day, result.fold.test_last_day],
                "challenger": result.challenger.as_dict(),
                "champion": None if result.champion is None else result.champion.as_dict(),
                "baseline": result.baseline.as_dict(),
            }
            for result in outcome.folds
        ]
        (folder / "evaluation.json").write_text(json.dumps(evaluations, indent=1), encoding="utf-8")
        reference = outcome.bundle.reference
        distribution = {
            name: dict(zip(map(str, _QUANTILES), np.quantile(reference[:, i], _QUANTILES).tolist(), strict=True))
            for i, name in enumerate(outcome.bundle.feature_names)
        }
        (folder / "reference_distribution.json").write_text(json.dumps(distribution, indent=1), encoding="utf-8")
        _plot_pr_curves(outcome, folder / "pr_curve.png")
        client.log_artifacts(run_id, str(folder), "reports")


def _plot_pr_curves(outcome: TrainingOutcome, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from sklearn.metrics import precision_recall_curve

    figure, axes = plt.subplots(figsize=(6, 4.5))
    if outcome.test_labels.any():
        for role, scores in outcome.test_scores.items():
            precision, recall, _ = precision_recall_curve(outcome.test_labels, scores)
            axes.plot(recall, precision, label=role)
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall on the most recent test window")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
