"""The peer baseline of ``fraudstream bench``: a fraud scorer written the way peer projects write one.

One message at a time with stock Faust settings: ``json.loads`` the transaction, read its features
from Redis and then record it (two Redis round trips, redis-py asyncio), one ``predict_proba`` call on
one row, one ``send`` per verdict. It uses the same model bundle and the same feature definition
(:mod:`fraudcore.features`) as the fraudstream scorer, so both compute equal features and scores; only
the way of working differs. Not part of fraudstream: only the benchmark runs it, as
``python -m bench.naive_scorer worker --web-port PORT`` with the lane's ``FRAUD_*`` settings.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import faust

from fraudcore.features.definition import FEATURE_NAMES, TxFacts, counts_only, epoch_ms, feature_matrix
from fraudcore.features.open_store import open_feature_store
from fraudcore.kafka_security import faust_credentials
from fraudcore.settings import Settings, load_settings
from schemas.topics import Topics

__all__ = ["create_app", "facts_of", "main"]


def facts_of(tx: dict[str, Any]) -> TxFacts:
    """What the feature store needs, from the parsed JSON (equal to ``TxFacts.of`` the decoded event)."""
    return TxFacts(
        tx["transaction_id"],
        tx["customer_id"],
        tx["terminal_id"],
        epoch_ms(datetime.fromisoformat(tx["event_time"])),
        round(tx["amount"] * 100),
    )


def create_app(settings: Settings, estimator: Any) -> faust.App:
    """The Faust app: one agent, one message at a time."""
    topics = Topics.with_prefix(settings.topic_prefix)
    app = faust.App(
        settings.scorer_group,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        datadir=str(settings.data_dir / "naive-scorer"),
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    transactions = app.topic(topics.transactions, **raw)
    verdicts = app.topic(topics.verdicts, **raw)
    store = open_feature_store(settings, namespace=settings.redis_namespace)

    @app.agent(transactions)
    async def score(stream: Any) -> None:
        async for value in stream:
            tx = json.loads(value)
            facts = facts_of(tx)
            counts = await store.peek_transactions([facts])  # read the features ...
            await store.record_transactions([facts])  # ... then update them
            probability = float(estimator.predict_proba(feature_matrix([facts], counts_only(counts)))[0, 1])
            decision = "approve"
            if probability >= settings.decline_threshold:
                decision = "decline"
            elif probability >= settings.review_threshold:
                decision = "review"
            verdict = {
                "transaction_id": tx["transaction_id"],
                "score": probability,
                "decision": decision,
                "scored_at": datetime.now(UTC).isoformat(),
            }
            await verdicts.send(key=tx["transaction_id"].encode(), value=json.dumps(verdict).encode())

    return app


def main() -> None:
    """Load the champion's estimator, then hand the command line to Faust (``worker ...``)."""
    from fraudcore.mlflow_store import connect
    from fraudcore.models import CHAMPION, load_alias, verification_keys

    settings = load_settings()
    model = load_alias(
        connect(settings), settings.model_name, CHAMPION, FEATURE_NAMES, keys=verification_keys(settings)
    )
    create_app(settings, model.bundle.estimator).main()


if __name__ == "__main__":
    main()
