"""A GitLab behind a private CA: every call verifies the server with the connection's CA bundle.

A real HTTPS server on loopback, with a CA and a server certificate made here (cryptography),
stands in for a self-managed GitLab.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lambda_test_support import TOKEN, project_json

from gitlab_host import GitLabHost, RepositoryHostError
from gitlab_host.connections import parse_connections


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA and a server certificate for 127.0.0.1 that it signed."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test GitLab CA", ca_key)
    server = _certificate("127.0.0.1", server_key, issuer=("Test GitLab CA", ca_key))
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def https_gitlab(pki: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """A GitLab-like HTTPS server on loopback; yields its URL and the tokens it received."""
    tokens: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            tokens.append(self.headers.get("PRIVATE-TOKEN", ""))
            body = json.dumps(project_json(7, "team/build")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tokens
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_connections_ca_bundle_verifies_the_server(pki: dict[str, Path], https_gitlab) -> None:
    url, tokens = https_gitlab
    # As the Lambda gets it: the bundle's path relative to the code root, from GITLAB_CONNECTIONS.
    (connection,) = parse_connections(
        json.dumps([{"name": "corp", "server_url": url, "token_secret_arn": "arn:s", "ca_bundle": "ca.pem"}]),
        code_root=pki["ca"].parent,
    )

    host = GitLabHost(url, TOKEN, ssl_verify=connection.ssl_verify, max_retries=0)

    assert host.get_project(7).path_with_namespace == "team/build"
    assert tokens == [TOKEN]


def test_without_the_ca_bundle_the_server_is_refused_and_gets_no_token(https_gitlab) -> None:
    url, tokens = https_gitlab

    with pytest.raises(RepositoryHostError, match=f"cannot connect to {url}.*TLS"):
        GitLabHost(url, TOKEN, max_retries=0).get_project(7)

    assert tokens == []
