"""Fixtures for the example's tests: a throw-away CA and real TLS servers signed by it.

Every server a test starts is stopped when the test ends.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from tls_servers import ServerFactory, ThreadedServer


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA as a PEM file, the form ``NET.CaBundle`` takes."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[ServerFactory]:
    """``tls_server(valid_for=timedelta(days=90))`` -> a running server whose certificate for
    127.0.0.1 ends ``valid_for`` from now (negative: already expired). ``handshake=False`` gives a
    server that accepts connections and never answers.
    """
    started: list[ThreadedServer] = []

    def start(valid_for: timedelta = timedelta(days=90), *, handshake: bool = True) -> ThreadedServer:
        now = datetime.now(UTC)
        not_after = now + valid_for
        cert = ca.issue_cert(
            "127.0.0.1", not_before=min(now, not_after) - timedelta(days=30), not_after=not_after
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        server = ThreadedServer(context, handshake=handshake).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
