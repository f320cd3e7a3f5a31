"""Throwaway certificates for the TLS tests, made with Debian's openssl command.

A CA, a broker certificate for 127.0.0.1 and localhost (with its key and chain in a PKCS12
keystore, which Kafka reads), a client certificate from the same CA (mTLS), and a second CA
that signed nothing here: a client trusting only it must refuse the broker. No openssl fails
the caller (FileNotFoundError), never skips it: `make test` installs openssl.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"
# EC keys: generating them takes milliseconds, where RSA-2048 takes up to a second.
NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
CA_EXTENSIONS = [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
]


@dataclass(frozen=True)
class Certs:
    ca: Path  # PEM: what clients (and the broker, for client certificates) trust
    keystore: Path  # PKCS12: the broker's key, its certificate and the CA's
    keystore_password: str
    client_cert: Path  # PEM, signed by `ca`
    client_key: Path  # PEM, unencrypted
    other_ca: Path  # PEM, a CA that signed none of the above


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca(directory, "ca", "tokenrelay test CA")
    other_ca, _ = _ca(directory, "other-ca", "tokenrelay unrelated CA")
    broker, broker_key = _signed(
        directory,
        "broker",
        ca,
        ca_key,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    client, client_key = _signed(directory, "client", ca, ca_key, "extendedKeyUsage=clientAuth\n")
    password = secrets.token_hex(12)
    keystore = directory / "broker.p12"
    _openssl(
        "pkcs12", "-export", "-name", "broker",
        "-in", str(broker), "-inkey", str(broker_key), "-certfile", str(ca),
        "-out", str(keystore), "-passout", f"pass:{password}",
    )  # fmt: skip
    return Certs(ca, keystore, password, client, client_key, other_ca)


def _ca(directory: Path, name: str, subject: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *NEW_KEY, "-days", DAYS, "-subj", f"/CN={subject}", *CA_EXTENSIONS,
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def _signed(
    directory: Path, name: str, ca: Path, ca_key: Path, extensions: str
) -> tuple[Path, Path]:
    cert, key, csr = (directory / f"{name}.{ext}" for ext in ("pem", "key", "csr"))
    ext_file = directory / f"{name}.ext"
    # Key identifiers too: strict verifiers (Python 3.13's default) want them on every link.
    ext_file.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n{extensions}"
    )
    _openssl("req", "-new", *NEW_KEY, "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", DAYS, "-extfile", str(ext_file), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def _openssl(*args: str) -> None:
    done = subprocess.run(
        ["openssl", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed ({done.returncode}):\n{done.stderr}")
