"""The scorer's HTTP writes against a real worker (Kafka, Redis, MLflow): without the bearer token or
with a wrong one they are refused and change no feature; with it they work; the GET endpoints stay
open; read-only scoring closes with ``FRAUD_API_SCORE_REQUIRES_TOKEN``; with no token configured
every write is refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import Transaction
from schemas.examples import example_transaction
from scorer.web import MAX_OPEN_SCORE_BATCH
from tests.integration.scorer_harness import Worker, http, register, scorer_setup, train_bundle

FAKES = 1_000  # the attack the security review measured: 1,000 recorded fakes took a card from 1 to 1,001
WRONG = "not-the-token-0123456789abcdef"


def _card_transactions(count: int, prefix: str) -> list[Transaction]:
    """``count`` transactions of the example's card, a second apart after it."""
    base = example_transaction()
    return [
        base.model_copy(
            update={"transaction_id": f"{prefix}-{i}", "event_time": base.event_time + timedelta(seconds=i)}
        )
        for i in range(1, count + 1)
    ]


def _body(transactions: list[Transaction]) -> bytes:
    return b"[" + b",".join(encode(t) for t in transactions) + b"]"


def _card_count(worker: Worker, token: str | None = None) -> float:
    """``customer_nb_tx_1d`` of a read-only probe two hours after the example (itself included)."""
    base = example_transaction()
    probe = base.model_copy(update={"transaction_id": "probe", "event_time": base.event_time + timedelta(hours=2)})
    status, body = http(worker.url("/score"), encode(probe), token=token)
    assert status == 200, body
    return float(json.loads(body)["features"]["customer_nb_tx_1d"])


def _refused(answer: tuple[int, bytes], status: int) -> dict[str, Any]:
    code, body = answer
    assert code == status, body
    error: dict[str, Any] = json.loads(body)
    assert error["error"]
    return error


def _post(url: str, body: bytes, authorization: str | None) -> tuple[int, bytes, str | None]:
    """(status, body, WWW-Authenticate) of a POST with ``authorization`` as the header, sent as given
    (None: no header)."""
    headers = {"Content-Type": "application/json"} | ({} if authorization is None else {"Authorization": authorization})
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers.get("WWW-Authenticate")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("WWW-Authenticate")


def test_http_writes_need_the_token_and_without_it_change_no_feature(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    register(setup, train_bundle(seed=1))
    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        status, body = http(worker.url("/score?record=true"), encode(example_transaction()), token=setup.api_token)
        assert status == 200, body
        assert _card_count(worker) == 2.0

        record = worker.url("/score?record=true")
        fakes = _body(_card_transactions(FAKES, "fake"))
        for url, body in ((record, fakes), (worker.url("/reload"), b"")):
            for header in (None, "", f"Basic {setup.api_token}", "Bearer", f"Bearer {setup.api_token} extra"):
                status, answer, challenge = _post(url, body, header)
                assert (status, challenge) == (401, 'Bearer realm="fraudstream-scorer"'), (url, header, answer)
                assert json.loads(answer)["error"]
            status, answer, challenge = _post(url, body, f"Bearer {WRONG}")
            assert (status, challenge) == (403, None), (url, answer)
            assert "not valid" in json.loads(answer)["error"]
        assert _card_count(worker) == 2.0, "a refused write must not record anything"

        many = _body(_card_transactions(MAX_OPEN_SCORE_BATCH + 1, "many"))
        status, answer, _ = _post(worker.url("/score"), many, None)
        assert status == 413, answer
        assert f"at most {MAX_OPEN_SCORE_BATCH} per request without the bearer token" in json.loads(answer)["error"]
        status, answer = http(worker.url("/score"), many, token=setup.api_token)
        assert status == 200, answer
        assert json.loads(answer)["scored"] == MAX_OPEN_SCORE_BATCH + 1
        assert _card_count(worker) == 2.0, "a read-only score records nothing"

        for path in ("/health", "/ready", "/metrics", "/model"):
            assert http(worker.url(path))[0] == 200, path
        assert http(worker.url("/router/"))[0] == 404, "Faust's own routing views are off"

        status, body = http(record, fakes, token=setup.api_token)
        assert status == 200, body
        assert json.loads(body)["scored"] == FAKES
        assert _card_count(worker) == 2.0 + FAKES
        status, body = http(worker.url("/reload"), b"", token=setup.api_token)
        assert status == 200, body
        assert "need the bearer token of FRAUD_API_TOKEN" in worker.log()
        assert setup.api_token not in worker.log()
    finally:
        assert worker.stop() == 0, worker.log()


def test_without_a_token_writes_are_refused_and_scoring_can_be_closed(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    register(setup, train_bundle(seed=1))
    open_worker = Worker(setup, tmp_path / "no-token.log", FRAUD_API_TOKEN="")
    closed = Worker(  # a group of its own: the two workers do not wait for each other's rebalances
        setup, tmp_path / "closed.log", FRAUD_API_SCORE_REQUIRES_TOKEN="true", FRAUD_SCORER_GROUP=f"closed-{unique}"
    )
    try:
        open_worker.wait_ready()
        closed.wait_ready()
        fakes = _body(_card_transactions(FAKES, "fake"))
        for url, body in ((open_worker.url("/score?record=true"), fakes), (open_worker.url("/reload"), b"")):
            for token in (None, setup.api_token, WRONG):
                error = _refused(http(url, body, token=token), 403)
                assert "FRAUD_API_TOKEN" in error["error"], error
        assert _card_count(open_worker) == 1.0, "read-only scoring stays open; nothing was recorded"
        assert "refused (set FRAUD_API_TOKEN)" in open_worker.log()

        score = closed.url("/score")
        _refused(http(score, encode(example_transaction())), 401)
        _refused(http(score, encode(example_transaction()), token=WRONG), 403)
        assert _card_count(closed, token=setup.api_token) == 1.0
        assert http(closed.url("/ready"))[0] == 200
        assert "POST /score: need the bearer token" in closed.log()
    finally:
        codes = (open_worker.stop(), closed.stop())
        assert codes == (0, 0), open_worker.log() + closed.log()
