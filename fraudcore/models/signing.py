"""Ed25519 signatures over what the trainer registers: only holders of the private key publish models.

The signed payload binds the artifact tree's digest to the registered model's name and the MLflow run
that holds the files (:func:`signed_payload`), so a signed artifact copied into another model or run
does not verify. The signature travels as a model-version tag (:data:`SIGNATURE_TAG` in
:mod:`fraudcore.models.registry`) rather than as a file: the artifact folder stays exactly what was
hashed, with no file that the digest must leave out (a rule an attacker could aim at), and the tag
needs no trust of its own: whoever may write tags still cannot produce a signature that verifies
under a public key the scorer holds.

Keys are PEM text (PKCS#8 private, SubjectPublicKeyInfo public). Several public keys may verify at
once (rotation): a signature is good when any of them verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "PAYLOAD_VERSION",
    "KeyPair",
    "VerificationKeys",
    "generate_key_pair",
    "key_id",
    "parse_private_key",
    "parse_public_keys",
    "private_pem",
    "public_pem",
    "sign",
    "signed_payload",
]

PAYLOAD_VERSION = 1
_PUBLIC_BLOCK = b"-----BEGIN PUBLIC KEY-----"
_END_PUBLIC_BLOCK = b"-----END PUBLIC KEY-----"


@dataclass(frozen=True)
class KeyPair:
    """A new key pair as PEM text."""

    private_pem: str
    public_pem: str


@dataclass(frozen=True)
class VerificationKeys:
    """The public keys a signature may verify under (rotation: old and new at once)."""

    keys: tuple[Ed25519PublicKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one public key is needed to verify model signatures")

    @property
    def ids(self) -> tuple[str, ...]:
        """The keys' short fingerprints, as :func:`key_id` gives them."""
        return tuple(key_id(key) for key in self.keys)

    def pem(self) -> str:
        """The keys as PEM text, one block after the other (a ``FRAUD_MODEL_VERIFY_KEYS`` value)."""
        return "".join(public_pem(key) for key in self.keys)

    def verify(self, payload: bytes, signature: str) -> bool:
        """Whether ``signature`` (base64) is a signature of ``payload`` by one of the keys."""
        try:
            raw = base64.b64decode(signature.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return False
        for key in self.keys:
            try:
                key.verify(raw, payload)
            except InvalidSignature:
                continue
            return True
        return False


def signed_payload(*, model_name: str, run_id: str, artifact_digest: str, artifact_format: int) -> bytes:
    """The canonical bytes a version's signature covers (sorted-key compact JSON)."""
    fields = {
        "payload": PAYLOAD_VERSION,
        "model_name": model_name,
        "run_id": run_id,
        "artifact_digest": artifact_digest,
        "artifact_format": artifact_format,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(private_key: Ed25519PrivateKey, payload: bytes) -> str:
    """The base64 Ed25519 signature of ``payload``."""
    return base64.b64encode(private_key.sign(payload)).decode("ascii")


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short fingerprint of a key (of its public half): the first 16 hex digits of its SHA-256."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key_pair() -> KeyPair:
    """A new Ed25519 key pair (the private key unencrypted: protect the file it goes to)."""
    private = Ed25519PrivateKey.generate()
    return KeyPair(private_pem=private_pem(private), public_pem=public_pem(private.public_key()))


def private_pem(key: Ed25519PrivateKey) -> str:
    """``key`` as PKCS#8 PEM text."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_pem(key: Ed25519PublicKey) -> str:
    """``key`` as SubjectPublicKeyInfo PEM text."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_private_key(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM ``pem``; ``ValueError`` (without the key's bytes) otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__.removeprefix('_')} is not an Ed25519 private key")
    return key


def parse_public_keys(pem: bytes) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in ``pem`` (one or more PEM blocks); ``ValueError`` otherwise."""
    blocks = _public_blocks(pem)
    if not blocks:
        raise ValueError("no PEM public key (-----BEGIN PUBLIC KEY-----) found")
    keys = []
    for number, block in enumerate(blocks, start=1):
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError as exc:
            raise ValueError(f"public key {number} is not valid PEM: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"public key {number} is not an Ed25519 key")
        keys.append(key)
    return keys


def _public_blocks(pem: bytes) -> Sequence[bytes]:
    blocks = []
    rest = pem
    while (start := rest.find(_PUBLIC_BLOCK)) >= 0:
        end = rest.find(_END_PUBLIC_BLOCK, start)
        if end < 0:
            raise ValueError("a PEM public key block is not closed (-----END PUBLIC KEY----- missing)")
        end += len(_END_PUBLIC_BLOCK)
        blocks.append(rest[start:end] + b"\n")
        rest = rest[end:]
    return blocks
