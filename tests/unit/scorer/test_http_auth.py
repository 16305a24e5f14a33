"""The bearer-token check of the scorer's HTTP writes: statuses, malformed headers, rotation, constant time."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from pydantic import ValidationError

from fraudcore.settings import Settings
from scorer.http_auth import CHALLENGE, BearerTokens

OLD = "old-token-0123456789abcdef"
NEW = "new-token-fedcba9876543210"


def test_no_token_configured_refuses_every_write_and_names_the_variable() -> None:
    tokens = BearerTokens([])
    assert not tokens.configured
    for header in (None, f"Bearer {OLD}", "Bearer anything-at-all-here"):
        refusal = tokens.check(header)
        assert refusal is not None
        assert refusal.status == 403
        assert "FRAUD_API_TOKEN" in refusal.message
        assert refusal.headers == {}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        f"Basic {OLD}",
        f"Token {OLD}",
        OLD,
        f"Bearer {OLD} extra",
        f"Bearer {OLD[:8]}\u00e9{OLD[8:]}",
        f"Bearer {OLD}\r\nX-Injected: 1",
        "Bearer ===",
    ],
)
def test_a_missing_or_malformed_credential_is_401_with_a_bearer_challenge(header: str | None) -> None:
    refusal = BearerTokens([OLD]).check(header)
    assert refusal is not None
    assert refusal.status == 401
    assert refusal.headers == {"WWW-Authenticate": CHALLENGE}
    assert CHALLENGE.startswith("Bearer ")


@pytest.mark.parametrize("presented", [NEW, OLD[:-1], OLD + "x", OLD.upper(), "a" * 200])
def test_a_well_formed_wrong_token_is_403(presented: str) -> None:
    refusal = BearerTokens([OLD]).check(f"Bearer {presented}")
    assert refusal is not None
    assert refusal.status == 403
    assert refusal.headers == {}
    assert OLD not in refusal.message


def test_the_right_token_passes_whatever_the_scheme_case_and_spacing() -> None:
    tokens = BearerTokens([OLD])
    for header in (f"Bearer {OLD}", f"bearer {OLD}", f"BEARER   {OLD}  ", f"  Bearer {OLD}"):
        assert tokens.check(header) is None, header


def test_every_configured_token_is_accepted_while_rotating() -> None:
    tokens = BearerTokens([OLD, NEW])
    assert tokens.check(f"Bearer {OLD}") is None
    assert tokens.check(f"Bearer {NEW}") is None
    refusal = tokens.check("Bearer third-token-0123456789")
    assert refusal is not None
    assert refusal.status == 403


def test_the_comparison_is_constant_time_over_every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    tokens = BearerTokens([OLD, NEW, "third-token-0123456789"])
    for presented in (OLD, NEW, "x" * 40, "y"):
        calls.clear()
        tokens.check(f"Bearer {presented}")
        assert len(calls) == 3, "every configured token is compared, even after a match"
        assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)
        assert {len(a) for pair in calls for a in pair} == {32}, "fixed-length digests: the length does not leak"


def test_the_tokens_come_from_the_settings_comma_separated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_token=f" {OLD} , {NEW} ")
    assert settings.api_tokens == (OLD, NEW)
    tokens = BearerTokens.from_settings(settings)
    assert tokens.check(f"Bearer {NEW}") is None
    assert OLD not in repr(settings)
    assert not BearerTokens.from_settings(Settings(data_dir=tmp_path, api_token="")).configured


@pytest.mark.parametrize("value", ["short-token", f"{OLD},tiny", "has space inside the token", f"{OLD}\u00e9"])
def test_weak_or_unsendable_tokens_are_refused_at_start(value: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FRAUD_API_TOKEN") as refused:
        Settings(data_dir=tmp_path, api_token=value)
    assert all(value not in problem["msg"] for problem in refused.value.errors()), "the CLI shows the message"
