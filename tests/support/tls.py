"""Certificates made in the test with the `openssl` command, and TLS contexts built from them.

The openssl CLI rather than the `cryptography` package: Debian's stunnel4 depends on the
openssl package, so every machine that can run these tests has it already, and the
certificates come from the same OpenSSL that stunnel uses.
"""

from __future__ import annotations

import secrets
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The name in the server certificate besides 127.0.0.1 (for `server_hostname`).
SERVER_NAME = "gearman.test"

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_CA_EXTENSIONS = [
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-addext", "subjectKeyIdentifier=hash",
]


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # signed the server's and the client's certificates
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path  # a CA that signed nothing here
    stranger_cert: Path  # a client certificate signed by other_ca_file
    stranger_key: Path


def make_certificates(directory: Path) -> Certificates:
    ca = _make_ca(directory, "ca")
    other = _make_ca(directory, "other-ca")
    server = _make_leaf(directory, "server", ca, f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1\n"
                        "extendedKeyUsage=serverAuth\n")
    client = _make_leaf(directory, "client", ca, "extendedKeyUsage=clientAuth\n")
    stranger = _make_leaf(directory, "stranger", other, "extendedKeyUsage=clientAuth\n")
    return Certificates(ca[0], *server, *client, other[0], *stranger)


def client_context(ca_file, cert_file=None, key_file=None) -> ssl.SSLContext:
    """What GEARMAN_TLS builds: verify the server against ca_file, present cert_file if given."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", *_KEY, "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=django-gearman {name}",
             *_CA_EXTENSIONS)
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, request = directory / f"{name}.pem", directory / f"{name}.key", directory / f"{name}.csr"
    extensions_file = directory / f"{name}.ext"
    extensions_file.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                               "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n" + extensions)
    _openssl("req", "-new", *_KEY, "-keyout", key, "-out", request, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1], "-set_serial", str(secrets.randbits(63)),
             "-days", "2", "-out", cert, "-extfile", extensions_file)
    return cert, key


def _openssl(*args) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
    if result.returncode:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:2]))} failed:\n{result.stderr}")
