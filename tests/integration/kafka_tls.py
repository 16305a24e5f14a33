"""A throw-away certificate authority and broker certificate for a SASL_SSL test broker, made with the
JDK's ``keytool`` (the broker needs a JDK anyway): CA → broker key pair → CSR → signed certificate for
``127.0.0.1``/``localhost`` → PKCS12 keystore and truststore, plus the CA as PEM for the clients."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BrokerCertificates", "make_certificates"]


@dataclass(frozen=True)
class BrokerCertificates:
    """What :func:`make_certificates` wrote."""

    ca_pem: Path
    keystore: Path
    truststore: Path
    password: str


def make_certificates(folder: Path, password: str, *, valid_days: int = 2) -> BrokerCertificates:
    """Generate a CA and a broker certificate it signs into ``folder``."""
    keytool = shutil.which("keytool")
    assert keytool is not None, "keytool (from the JDK) is needed to make the test certificates"
    folder.mkdir(parents=True, exist_ok=True)
    ca_store, keystore, truststore = folder / "ca.p12", folder / "broker.p12", folder / "trust.p12"
    ca_pem, csr, signed = folder / "ca.pem", folder / "broker.csr", folder / "broker.pem"
    store = ["-storetype", "PKCS12", "-storepass", password, "-keypass", password]
    days = ["-validity", str(valid_days)]

    def run(*argv: str) -> None:
        done = subprocess.run([keytool, *argv], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"keytool {argv[0]} failed: {done.stdout}{done.stderr}"

    run("-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=fraudstream test CA",
        "-ext", "bc:c", "-keystore", str(ca_store), *store, *days)  # fmt: skip
    run("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), *store, "-file", str(ca_pem))
    run("-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=127.0.0.1",
        "-keystore", str(keystore), *store, *days)  # fmt: skip
    run("-certreq", "-alias", "broker", "-keystore", str(keystore), *store, "-file", str(csr))
    run("-gencert", "-alias", "ca", "-keystore", str(ca_store), *store, "-infile", str(csr), "-outfile", str(signed),
        "-rfc", "-ext", "SAN=ip:127.0.0.1,dns:localhost", *days)  # fmt: skip
    run("-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_pem), "-keystore", str(keystore), *store)
    run("-importcert", "-alias", "broker", "-file", str(signed), "-keystore", str(keystore), *store)
    run("-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_pem), "-keystore", str(truststore), *store)
    return BrokerCertificates(ca_pem, keystore, truststore, password)
