"""Why fraudstream cannot talk to Kafka, in words that name the setting to fix.

aiokafka reports every failed bootstrap as "Unable to bootstrap"; the cause (refused credentials, an
untrusted certificate, a listener speaking another protocol) only reaches its log. :func:`connection_problem`
opens one connection to the first bootstrap server with the configured security and explains the failure.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings

__all__ = ["connection_problem"]

_PROTOCOL_HINT = (
    "check FRAUD_KAFKA_SECURITY_PROTOCOL (currently {protocol}): the listener at {where} may expect "
    "another protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
)


async def connection_problem(settings: Settings, timeout_s: float = 10.0) -> str:
    """The reason a connection to the first bootstrap server fails (or that it now succeeds)."""
    where = settings.bootstrap_servers.split(",")[0].strip()
    host, _, port = where.rpartition(":")
    protocol = settings.kafka_security_protocol
    options = {key: value for key, value in client_options(settings).items() if key != "bootstrap_servers"}
    try:
        conn = await asyncio.wait_for(
            create_conn(host or where, int(port or 9092), request_timeout_ms=int(timeout_s * 1000), **options),
            timeout_s,
        )
    except SaslAuthenticationFailed:
        return (
            f"Kafka at {where} refused the SASL credentials of user {settings.kafka_sasl_username!r} "
            f"(mechanism {settings.kafka_sasl_mechanism}): check FRAUD_KAFKA_SASL_USERNAME, "
            "FRAUD_KAFKA_SASL_PASSWORD and FRAUD_KAFKA_SASL_MECHANISM"
        )
    except UnsupportedSaslMechanismError:
        mechanism = settings.kafka_sasl_mechanism
        return f"Kafka at {where} does not accept SASL mechanism {mechanism}: check FRAUD_KAFKA_SASL_MECHANISM"
    except ssl.SSLCertVerificationError as error:
        return (
            f"the TLS certificate of Kafka at {where} is not trusted ({error.verify_message}): "
            "set FRAUD_KAFKA_SSL_CAFILE to the CA that signed it"
        )
    except (ssl.SSLError, KafkaConnectionError, ConnectionResetError, asyncio.IncompleteReadError) as error:
        detail = str(error) if isinstance(error, KafkaConnectionError) else f"{type(error).__name__}: {error}"
        return f"{detail}; " + _PROTOCOL_HINT.format(protocol=protocol, where=where)
    except (TimeoutError, OSError) as error:
        return f"nothing answers at {where} ({type(error).__name__}: {error}): check FRAUD_KAFKA_BOOTSTRAP"
    conn.close()
    return f"a new connection to {where} with FRAUD_KAFKA_SECURITY_PROTOCOL={protocol} now succeeds"
