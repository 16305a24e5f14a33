"""The Kafka client security options derived from the settings (aiokafka kwargs, Faust credentials,
librdkafka properties)."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from fraudcore.kafka_bulk_reading import BulkReader
from fraudcore.kafka_security import KafkaSecurityError, client_options, faust_credentials, librdkafka_config
from fraudcore.settings import Settings


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path, kafka_bootstrap="broker:9093", **fields)  # type: ignore[arg-type]


def test_plaintext_is_the_default(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert client_options(settings) == {"bootstrap_servers": "broker:9093", "security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_plaintext_passes_the_mechanism_and_credentials(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="scorer",
        kafka_sasl_password="pw-1",
    )
    assert client_options(settings) == {
        "bootstrap_servers": "broker:9093",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "scorer",
        "sasl_plain_password": "pw-1",
    }
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert "pw-1" not in repr(credentials)
    faust_options = credentials_to_aiokafka_auth(credentials)
    assert {key: value for key, value in faust_options.items() if key != "ssl_context"} == {
        key: value for key, value in client_options(settings).items() if key != "bootstrap_servers"
    }


def test_sasl_ssl_verifies_the_broker_with_the_system_trust_store(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, kafka_security_protocol="SASL_SSL", kafka_sasl_username="scorer", kafka_sasl_password="pw-1"
    )
    options = client_options(settings)
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    faust_options = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert faust_options["security_protocol"] == "SASL_SSL"
    assert faust_options["ssl_context"].verify_mode is ssl.CERT_REQUIRED


def test_ssl_alone_gives_faust_a_tls_context(tmp_path: Path) -> None:
    settings = _settings(tmp_path, kafka_security_protocol="SSL")
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in client_options(settings)


def test_a_ca_file_that_is_no_certificate_is_refused_naming_the_variable(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    settings = _settings(tmp_path, kafka_security_protocol="SSL", kafka_ssl_cafile=bogus)
    with pytest.raises(KafkaSecurityError, match="FRAUD_KAFKA_SSL_CAFILE"):
        client_options(settings)


def test_sasl_bytes_never_reach_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client_options(_settings(tmp_path))
    with caplog.at_level(logging.DEBUG, logger="aiokafka.conn"):
        logging.getLogger("aiokafka.conn").debug(
            "Request to %s:%d %d: %s",
            "broker",
            9093,
            3,
            "SaslAuthenticateRequest_v1(sasl_auth_bytes=b'u\\x00u\\x00pw-1')",
        )
    assert "pw-1" not in caplog.text
    assert "Request to broker:9093 3: SaslAuthenticateRequest_v1(sasl_auth_bytes=<redacted>)" in caplog.text


def test_librdkafka_gets_plaintext_by_default(tmp_path: Path) -> None:
    assert librdkafka_config(_settings(tmp_path)) == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "plaintext",
    }


def test_librdkafka_gets_the_sasl_mechanism_and_credentials(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="trainer",
        kafka_sasl_password="pw-2",
    )
    assert librdkafka_config(settings) == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "trainer",
        "sasl.password": "pw-2",
    }


def test_librdkafka_over_sasl_ssl_verifies_the_broker_with_the_system_trust_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    settings = _settings(
        tmp_path, kafka_security_protocol="SASL_SSL", kafka_sasl_username="trainer", kafka_sasl_password="pw-2"
    )
    assert librdkafka_config(settings) == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": "probe",
        "enable.ssl.certificate.verification": "true",
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "trainer",
        "sasl.password": "pw-2",
    }
    Consumer(librdkafka_config(settings) | {"group.id": "unused"}).close()  # librdkafka accepts every property


def test_librdkafka_over_ssl_gets_the_ca_and_the_client_certificate(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("-")
    settings = _settings(
        tmp_path,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=files["ca"],
        kafka_ssl_certfile=files["cert"],
        kafka_ssl_keyfile=files["key"],
        kafka_ssl_key_password="key-pw",
    )
    assert librdkafka_config(settings) == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "ssl",
        "ssl.ca.location": str(files["ca"]),
        "enable.ssl.certificate.verification": "true",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.certificate.location": str(files["cert"]),
        "ssl.key.location": str(files["key"]),
        "ssl.key.password": "key-pw",
    }


def test_a_bulk_reader_refuses_a_ca_file_that_is_no_certificate_naming_the_variable(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    settings = _settings(tmp_path, kafka_security_protocol="SSL", kafka_ssl_cafile=bogus)
    with pytest.raises(KafkaSecurityError, match="FRAUD_KAFKA_SSL_CAFILE"):
        BulkReader(settings)


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_librdkafka_trusts_what_openssl_variables_name_as_python_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "trusted"))
    settings = _settings(tmp_path, kafka_security_protocol="SSL")
    assert librdkafka_config(settings)["ssl.ca.location"] == str(tmp_path / "trusted")
    (tmp_path / "ca.pem").write_text("pinned")
    pinned = _settings(tmp_path, kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "ca.pem")
    assert librdkafka_config(pinned)["ssl.ca.location"] == str(tmp_path / "ca.pem")  # the setting wins
