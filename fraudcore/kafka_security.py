"""The one definition of how fraudstream's Kafka clients reach the brokers: bootstrap servers, TLS, SASL.

Every aiokafka producer, consumer and admin client is built with :func:`client_options`; the Faust
apps get the same security through :func:`faust_credentials`, the librdkafka (confluent-kafka) bulk
readers through :func:`librdkafka_config`. TLS always verifies the broker's
certificate and host name (against ``FRAUD_KAFKA_SSL_CAFILE``, or the system trust store).

aiokafka logs every request at DEBUG, SASL authentication bytes included (with PLAIN: the password
itself); building any client installs a filter on that logger that blanks them.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

from fraudcore.local.errors import InfraError
from fraudcore.settings import KafkaSecurityProtocol, Settings

if TYPE_CHECKING:
    from faust.auth import Credentials

__all__ = [
    "TLS_VARIABLES",
    "KafkaSecurityError",
    "client_options",
    "faust_credentials",
    "hide_sasl_bytes",
    "librdkafka_config",
    "ssl_context",
]


TLS_VARIABLES = (
    "FRAUD_KAFKA_SSL_CAFILE (else SSL_CERT_FILE / SSL_CERT_DIR) / FRAUD_KAFKA_SSL_CERTFILE / "
    "FRAUD_KAFKA_SSL_KEYFILE / FRAUD_KAFKA_SSL_KEY_PASSWORD"
)
"""The variables that set the Kafka clients' TLS files, for error messages."""


class KafkaSecurityError(InfraError):
    """The configured TLS files cannot be used (names the variables to check)."""


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the settings (``None`` without TLS): CA file or system trust store, and the
    client certificate when one is configured."""
    if not settings.kafka_security_protocol.uses_tls:
        return None
    key_password = settings.kafka_ssl_key_password
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            password=None if key_password is None else key_password.get_secret_value(),
        )
    except (ssl.SSLError, OSError) as error:
        raise KafkaSecurityError(f"cannot build the Kafka TLS context from {TLS_VARIABLES}: {error}") from error
    return context


class _SaslBytesFilter(logging.Filter):
    """Blanks the ``sasl_auth_bytes`` of aiokafka's request and response logs."""

    _FIELD = "sasl_auth_bytes="

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._FIELD in message:
            record.msg, record.args = message.split(self._FIELD, 1)[0] + self._FIELD + "<redacted>)", ()
        return True


_SASL_BYTES_FILTER = _SaslBytesFilter()


def hide_sasl_bytes() -> None:
    """Install the filter on aiokafka's connection logger (idempotent)."""
    logging.getLogger("aiokafka.conn").addFilter(_SASL_BYTES_FILTER)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: ``bootstrap_servers`` and the security settings."""
    hide_sasl_bytes()
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers, "security_protocol": protocol.value}
    if protocol.uses_tls:
        options["ssl_context"] = ssl_context(settings)
    if protocol.uses_sasl:
        assert settings.kafka_sasl_password is not None  # the settings validate SASL credentials
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism.value,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        }
    return options


def faust_credentials(settings: Settings) -> Credentials | None:
    """``broker_credentials`` for a Faust app: the same protocol, mechanism, user and TLS context."""
    from faust.auth import SASLCredentials, SSLCredentials  # Faust is heavy: only the apps that use it load it

    hide_sasl_bytes()
    protocol = settings.kafka_security_protocol
    if protocol is KafkaSecurityProtocol.PLAINTEXT:
        return None
    context = ssl_context(settings)
    if not protocol.uses_sasl:
        return SSLCredentials(context)
    assert settings.kafka_sasl_password is not None  # the settings validate SASL credentials
    return SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism.value,
    )


def librdkafka_config(settings: Settings) -> dict[str, str]:
    """The same bootstrap servers and security as :func:`client_options`, as librdkafka configuration
    properties: TLS verifies the broker's certificate and its host name against the same trust as
    Python's ``ssl`` (``FRAUD_KAFKA_SSL_CAFILE``, else OpenSSL's ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``
    variables, else the system trust store, probed); SASL passes the mechanism, user and password. The
    password is in the returned dict: never log it."""
    protocol = settings.kafka_security_protocol
    config = {"bootstrap.servers": settings.bootstrap_servers, "security.protocol": protocol.value.lower()}
    if protocol.uses_tls:
        config |= {
            "ssl.ca.location": _trust_location(settings),
            "enable.ssl.certificate.verification": "true",
            "ssl.endpoint.identification.algorithm": "https",
        }
        if settings.kafka_ssl_certfile is not None:
            config["ssl.certificate.location"] = str(settings.kafka_ssl_certfile)
        if settings.kafka_ssl_keyfile is not None:
            config["ssl.key.location"] = str(settings.kafka_ssl_keyfile)
        if settings.kafka_ssl_key_password is not None:
            config["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
    if protocol.uses_sasl:
        assert settings.kafka_sasl_password is not None  # the settings validate SASL credentials
        config |= {
            "sasl.mechanism": settings.kafka_sasl_mechanism.value,
            "sasl.username": settings.kafka_sasl_username or "",
            "sasl.password": settings.kafka_sasl_password.get_secret_value(),
        }
    return config


def _trust_location(settings: Settings) -> str:
    """Where librdkafka finds the certificates it trusts, as Python's default context would: its probe of
    the system trust store does not read ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``."""
    if settings.kafka_ssl_cafile is not None:
        return str(settings.kafka_ssl_cafile)
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if location := os.environ.get(variable):
            return location
    return "probe"
