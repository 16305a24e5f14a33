"""The model signing key and the verification keys, from the settings.

``FRAUD_MODEL_SIGNING_KEY`` (trainers) and ``FRAUD_MODEL_VERIFY_KEYS`` (scorers) hold PEM text or the
path of a PEM file. The public half of a configured signing key always verifies too, so a process
that both signs and loads needs one setting. With neither set and MLflow a store on this machine
(the embedded one, a ``sqlite:`` or ``file:`` URI, or a folder path: absolute or ``./folder``), a
key pair under ``<data_dir>/keys`` is used, created (private file mode 0600) by the first process that
needs it: ``fraudstream demo`` works from a fresh clone. A bare word such as ``databricks`` is a store
MLflow resolves by name, not a folder. With a tracking server or a named store, the keys must be
configured (:class:`ModelKeyError`): what a shared registry serves must be signed by a key its
operators chose, not one any machine makes up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fraudcore.models.signing import (
    VerificationKeys,
    key_id,
    parse_private_key,
    parse_public_keys,
    private_pem,
    public_pem,
)
from fraudcore.settings import Settings

__all__ = [
    "EMBEDDED_KEY_FILE",
    "ModelKeyError",
    "create_key_pair",
    "embedded_key_path",
    "signing_key",
    "verification_keys",
    "write_private_key",
]

EMBEDDED_KEY_FILE = "model-signing.pem"
_PEM_START = "-----BEGIN"
_KEYGEN_HINT = "`fraudstream model keygen` creates a key pair and prints the variables to set"


class ModelKeyError(ValueError):
    """The model keys are missing or unreadable: a configuration error, reported at start."""


def embedded_key_path(settings: Settings) -> Path:
    """Where the embedded store's key pair lives: ``<data_dir>/keys/model-signing.pem``."""
    return settings.data_dir / "keys" / EMBEDDED_KEY_FILE


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The private key the trainer signs versions with; :class:`ModelKeyError` when there is none."""
    if settings.model_signing_key is not None:
        value = settings.model_signing_key.get_secret_value()
        try:
            return parse_private_key(_pem_bytes(value, "FRAUD_MODEL_SIGNING_KEY"))
        except ValueError as exc:
            raise ModelKeyError(f"FRAUD_MODEL_SIGNING_KEY: {exc}") from None
    if _store_is_local(settings):
        return _embedded_key(settings)
    raise ModelKeyError(
        f"MLflow is at {_shown(settings)}, not a store on this machine: set FRAUD_MODEL_SIGNING_KEY (the private "
        f"key versions are signed with) so that scorers can tell them from anyone else's; {_KEYGEN_HINT}"
    )


def verification_keys(settings: Settings) -> VerificationKeys:
    """The public keys a loaded version's signature must verify under; :class:`ModelKeyError` if none."""
    keys = []
    if settings.model_verify_keys is not None:
        try:
            keys.extend(parse_public_keys(_pem_bytes(settings.model_verify_keys, "FRAUD_MODEL_VERIFY_KEYS")))
        except ValueError as exc:
            raise ModelKeyError(f"FRAUD_MODEL_VERIFY_KEYS: {exc}") from None
    if settings.model_signing_key is not None:
        keys.append(signing_key(settings).public_key())
    if not keys:
        if not _store_is_local(settings):
            raise ModelKeyError(
                f"MLflow is at {_shown(settings)}, not a store on this machine: set FRAUD_MODEL_VERIFY_KEYS (the "
                f"public keys of the trainers that sign model versions); {_KEYGEN_HINT}"
            )
        keys.append(_embedded_key(settings).public_key())
    return VerificationKeys(tuple(keys))


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` to ``path`` (mode 0600), atomically and only if ``path`` does not exist yet
    (``FileExistsError`` otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, scratch = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(private_pem(key))
        os.link(scratch, path)  # fails if it exists: two processes never overwrite each other's key
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)


def create_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new key pair: the private key to ``private_path`` (mode 0600), the public one to
    ``public_path``; neither may exist (``FileExistsError``). Returns the key's fingerprint."""
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; choose another name or move it away (keys are never overwritten)")
    key = Ed25519PrivateKey.generate()
    write_private_key(private_path, key)
    try:
        public_path.parent.mkdir(parents=True, exist_ok=True)
        with public_path.open("x", encoding="ascii") as out:
            out.write(public_pem(key.public_key()))
    except BaseException:
        private_path.unlink()
        raise
    return key_id(key)


def _embedded_key(settings: Settings) -> Ed25519PrivateKey:
    path = embedded_key_path(settings)
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first: use that one
            write_private_key(path, Ed25519PrivateKey.generate())
    try:
        return parse_private_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ModelKeyError(f"the embedded model signing key {path} is unreadable: {exc}") from None


def _store_is_local(settings: Settings) -> bool:
    """Whether the MLflow store is files on this machine: the embedded one, a ``sqlite:`` or ``file:``
    URI, or a path (absolute, or starting with ``.`` or ``~``). Anything else is a server or a named
    store: a bare word such as ``databricks`` is a store MLflow resolves by name, not a folder."""
    if settings.mlflow_is_embedded:
        return True
    uri = settings.tracking_uri.strip()
    scheme, colon, _ = uri.partition(":")
    if colon and scheme.lower() in ("sqlite", "file"):
        return True
    return uri.startswith(("/", ".", "~")) and "://" not in uri


def _pem_bytes(value: str, variable: str) -> bytes:
    """PEM text as given, or the content of the file ``value`` names."""
    text = value.strip()
    if text.startswith(_PEM_START):
        return text.encode("ascii", errors="replace")
    path = Path(text).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"neither PEM text nor a readable file: {path}: {exc.strerror or exc}") from None


def _shown(settings: Settings) -> str:
    from fraudcore.redaction import redact_urls

    return redact_urls(settings.tracking_uri)
