"""The scorers' drift alarms (``drift_alarm`` events on model-events): counted, and, when retraining
on drift is on, a retrain at most once per cool-down (wall clock)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from schemas.codec import Decoded, decode
from schemas.enums import ModelEventKind
from schemas.events import ModelEvent
from trainer.metrics import TrainerMetrics

__all__ = ["DriftTrigger", "alarm_signal"]

log = logging.getLogger(__name__)

_SIGNALS = (("feature psi", "features"), ("fraud rate", "fraud_rate"), ("score distribution", "score"))


def alarm_signal(message: str) -> str:
    """The scorer signal behind an alarm (``score``, ``features``, ``fraud_rate``; else ``other``).

    The event carries it only in its message, so it is recognised from the scorer's wording."""
    text = message.lower()
    return next((signal for words, signal in _SIGNALS if words in text), "other")


class DriftTrigger:
    """Decides, per model event, whether it is a drift alarm of our model that calls for a retrain."""

    def __init__(
        self,
        model_name: str,
        metrics: TrainerMetrics,
        *,
        enabled: bool,
        cooldown_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model_name = model_name
        self.metrics = metrics
        self.enabled = enabled
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._last_accepted: float | None = None

    def observe(self, value: bytes | None) -> bool:
        """Count a drift alarm of our model; whether to retrain now (on, and out of the cool-down)."""
        result = decode(value, ModelEvent, now=datetime.now(UTC))
        if not isinstance(result, Decoded):
            log.debug("ignoring an invalid model event: %s", result)
            return False
        event = result.event
        if event.kind is not ModelEventKind.DRIFT_ALARM or event.model_name != self.model_name:
            return False
        signal = alarm_signal(event.message)
        self.metrics.drift_alarms.labels(signal).inc()
        about = f"drift alarm ({signal}) on version {event.model_version}: {event.message}"
        if not self.enabled:
            log.info("%s; not retraining (FRAUD_TRAINER_RETRAIN_ON_DRIFT is off)", about)
            return False
        now = self._clock()
        if self._last_accepted is not None and now - self._last_accepted < self.cooldown_s:
            log.info(
                "%s; ignored: the last drift retrain was triggered %.0f s ago, within the cool-down of %.0f s "
                "(FRAUD_TRAINER_DRIFT_COOLDOWN_S)",
                about,
                now - self._last_accepted,
                self.cooldown_s,
            )
            return False
        self._last_accepted = now
        log.warning("%s; retraining", about)
        return True
