"""Versioned JSON event contracts of fraudstream's Kafka topics.

Events (:mod:`schemas.events`, :mod:`schemas.dead_letter`) are strict pydantic models;
:func:`decode` turns Kafka bytes into :class:`Decoded` or :class:`Rejected` (never raises for bad
input), :func:`encode` gives deterministic compact UTF-8 JSON, :mod:`schemas.topics` names the
topics and keys, and ``schemas/json/*.v1.schema.json`` are the generated JSON Schemas
(``python -m schemas.generate [--check]``).
"""

from schemas.codec import (
    DEFAULT_POLICY,
    Batch,
    Decoded,
    DecodePolicy,
    decode,
    decode_batch,
    decode_dead_letter,
    decode_label,
    decode_model_event,
    decode_transaction,
    decode_verdict,
    encode,
)
from schemas.dead_letter import DeadLetter
from schemas.enums import Channel, Decision, LabelSource, ModelEventKind, ReasonCode, RiskLevel
from schemas.events import Event, Label, Location, ModelEvent, Transaction, Verdict, digest_features
from schemas.fields import MAX_AMOUNT, SCHEMA_VERSION, TIME_FLOOR
from schemas.rejection import Rejected
from schemas.topics import Topics, key_for

__all__ = [
    "DEFAULT_POLICY",
    "MAX_AMOUNT",
    "SCHEMA_VERSION",
    "TIME_FLOOR",
    "Batch",
    "Channel",
    "DeadLetter",
    "Decision",
    "DecodePolicy",
    "Decoded",
    "Event",
    "Label",
    "LabelSource",
    "Location",
    "ModelEvent",
    "ModelEventKind",
    "ReasonCode",
    "Rejected",
    "RiskLevel",
    "Topics",
    "Transaction",
    "Verdict",
    "decode",
    "decode_batch",
    "decode_dead_letter",
    "decode_label",
    "decode_model_event",
    "decode_transaction",
    "decode_verdict",
    "digest_features",
    "encode",
    "key_for",
]
