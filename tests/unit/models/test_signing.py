"""Ed25519 signatures of model versions: what verifies, what does not, rotation, and the key settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from fraudcore.models.keys import (
    ModelKeyError,
    create_key_pair,
    embedded_key_path,
    signing_key,
    verification_keys,
)
from fraudcore.models.signing import (
    VerificationKeys,
    key_id,
    parse_public_keys,
    private_pem,
    public_pem,
    sign,
    signed_payload,
)
from fraudcore.settings import Settings

DIGEST = "ab" * 32


def _payload(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "model_name": "fraud",
        "run_id": "run-1",
        "artifact_digest": DIGEST,
        "artifact_format": 2,
    } | changes
    return signed_payload(**fields)  # type: ignore[arg-type]


def test_a_signature_verifies_under_its_public_key_only() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signature = sign(key, _payload())
    assert VerificationKeys((key.public_key(),)).verify(_payload(), signature)
    assert not VerificationKeys((other.public_key(),)).verify(_payload(), signature)


@pytest.mark.parametrize(
    "changed",
    [
        {"artifact_digest": "ac" + "ab" * 31},
        {"model_name": "fraud-copy"},
        {"run_id": "run-2"},
        {"artifact_format": 1},
    ],
)
def test_a_signature_does_not_cover_other_bytes_another_model_or_another_run(changed: dict[str, object]) -> None:
    key = Ed25519PrivateKey.generate()
    keys = VerificationKeys((key.public_key(),))
    assert not keys.verify(_payload(**changed), sign(key, _payload()))


@pytest.mark.parametrize("signature", ["", "not base64!", "AAAA", "é"])
def test_garbage_signatures_are_refused_not_raised(signature: str) -> None:
    assert not VerificationKeys((Ed25519PrivateKey.generate().public_key(),)).verify(_payload(), signature)


def test_rotation_accepts_the_old_and_the_new_key_while_both_are_listed() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    both = parse_public_keys((public_pem(old.public_key()) + public_pem(new.public_key())).encode())
    keys = VerificationKeys(tuple(both))
    assert keys.ids == (key_id(old), key_id(new))
    assert keys.verify(_payload(), sign(old, _payload()))
    assert keys.verify(_payload(), sign(new, _payload()))
    only_new = VerificationKeys(tuple(parse_public_keys(public_pem(new.public_key()).encode())))
    assert not only_new.verify(_payload(), sign(old, _payload()))


def test_no_verification_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least one public key"):
        VerificationKeys(())


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path, **fields)  # type: ignore[arg-type]


def test_the_embedded_store_creates_one_key_pair_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    key = signing_key(settings)
    path = embedded_key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(signing_key(settings)) == key_id(key)  # the same key, not a new one
    assert verification_keys(settings).ids == (key_id(key),)
    assert verification_keys(_settings(tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path}/m.db")).ids == (
        key_id(key),
    )


def test_a_tracking_server_without_keys_is_a_clear_configuration_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mlflow_tracking_uri="http://mlflow.example:5000")
    with pytest.raises(ModelKeyError, match=r"FRAUD_MODEL_SIGNING_KEY.*fraudstream model keygen"):
        signing_key(settings)
    with pytest.raises(ModelKeyError, match=r"FRAUD_MODEL_VERIFY_KEYS.*fraudstream model keygen"):
        verification_keys(settings)
    assert not embedded_key_path(settings).exists()


@pytest.mark.parametrize(
    "uri", ["sqlite:///{d}/m.db", "file:{d}/mlruns", "file://{d}/mlruns", "{d}/mlruns", "./mlruns"]
)
def test_a_store_on_this_machine_uses_the_embedded_key_pair(uri: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, mlflow_tracking_uri=uri.format(d=tmp_path))
    assert verification_keys(settings).ids == (key_id(signing_key(settings)),)
    assert embedded_key_path(settings).exists()


@pytest.mark.parametrize(
    "uri",
    [
        "databricks",
        "databricks-uc",
        "uc",
        "databricks://profile",
        "https://mlflow.example",
        "postgresql://db.example/mlflow",
        "mlruns",  # a bare word: MLflow resolves some by name, so only ./mlruns counts as a folder
    ],
)
def test_a_named_store_or_server_is_not_local_and_gets_no_made_up_key(uri: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, mlflow_tracking_uri=uri)
    with pytest.raises(ModelKeyError, match="not a store on this machine"):
        signing_key(settings)
    with pytest.raises(ModelKeyError, match="not a store on this machine"):
        verification_keys(settings)
    assert not embedded_key_path(settings).exists()


def test_keys_are_read_as_pem_text_or_from_files(tmp_path: Path) -> None:
    fingerprint = create_key_pair(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    remote = {"mlflow_tracking_uri": "https://mlflow.example"}
    by_path = _settings(tmp_path, model_signing_key=str(tmp_path / "k.pem"), **remote)
    assert key_id(signing_key(by_path)) == fingerprint
    by_text = _settings(tmp_path, model_signing_key=(tmp_path / "k.pem").read_text(), **remote)
    assert key_id(signing_key(by_text)) == fingerprint
    other = Ed25519PrivateKey.generate()
    scorer = _settings(
        tmp_path, model_verify_keys=(tmp_path / "k.pub.pem").read_text() + public_pem(other.public_key()), **remote
    )
    assert verification_keys(scorer).ids == (fingerprint, key_id(other))
    by_file = _settings(tmp_path, model_verify_keys=str(tmp_path / "k.pub.pem"), **remote)
    assert verification_keys(by_file).ids == (fingerprint,)
    signer = _settings(tmp_path, model_signing_key=private_pem(other), model_verify_keys=str(tmp_path / "k.pub.pem"))
    assert verification_keys(signer).ids == (fingerprint, key_id(other))  # its own public key verifies too
    with pytest.raises(FileExistsError):
        create_key_pair(tmp_path / "k.pem", tmp_path / "new.pub.pem")
    assert not (tmp_path / "new.pub.pem").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model_signing_key", "/nowhere/key.pem", "FRAUD_MODEL_SIGNING_KEY: neither PEM text nor a readable file"),
        ("model_signing_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not an unencrypted PEM"),
        ("model_verify_keys", "/nowhere/keys.pem", "FRAUD_MODEL_VERIFY_KEYS: neither PEM text nor a readable file"),
        ("model_verify_keys", "-----BEGIN PUBLIC KEY-----\nAAAA", "not closed"),
    ],
)
def test_unreadable_keys_are_configuration_errors_that_never_echo_the_key(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    settings = _settings(tmp_path, **{field: SecretStr(value) if field == "model_signing_key" else value})
    with pytest.raises(ModelKeyError, match=message) as refused:
        signing_key(settings) if field == "model_signing_key" else verification_keys(settings)
    assert "AAAA" not in str(refused.value)


def test_a_private_key_in_the_verify_setting_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, model_verify_keys=private_pem(Ed25519PrivateKey.generate()))
    with pytest.raises(ModelKeyError, match="no PEM public key"):
        verification_keys(settings)
