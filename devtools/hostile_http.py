"""A scriptable loopback HTTP(S) server for tests that play a hostile registry or token service.

Each test writes the behaviour it needs as a function ``handler(request) -> Reply`` (redirect the
token POST elsewhere, answer a decompression bomb, nest JSON 200,000 deep); the server records
every request it received (method, path with query, headers, body) so a test can prove what a
client sent -- or that it sent nothing. Plain http, or https with a ``trustme`` CA (the test
passes the CA's PEM to doctor as ``OCI__CaBundle``). Only ever binds 127.0.0.1.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from devtools.ports import LOOPBACK

__all__ = ["HostileServer", "Recorded", "Reply", "bearer_challenge", "headers", "json_reply", "tls_ca"]


@dataclass(frozen=True)
class Recorded:
    """One request the server received. ``headers`` keys are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        """Everything received, as one string (for "no secret in here" assertions)."""
        lines = [f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers.items())]
        return "\n".join(lines) + "\n\n" + self.body.decode("latin-1")


@dataclass(frozen=True)
class Reply:
    """What to answer: status, headers (repeatable, in order) and the raw body bytes."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


Handler = Callable[[Recorded], Reply]


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (doctor refusing a bomb) is expected, not an error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


def tls_ca() -> trustme.CA:
    """A fresh CA for a test's https servers."""
    return trustme.CA()


@dataclass
class HostileServer:
    """``handler`` answers every request on ``127.0.0.1:<free port>``; use as a context manager."""

    handler: Handler
    ca: trustme.CA | None = None
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"{'https' if self.ca is not None else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def received(self) -> str:
        """Every recorded request as text."""
        return "\n\n".join(request.text() for request in list(self.requests))

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (PEM) to ``path`` for ``OCI__CaBundle``."""
        assert self.ca is not None, "plain http server"
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def __enter__(self) -> HostileServer:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                recorded = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                owner.requests.append(recorded)
                reply = owner.handler(recorded)
                self.send_response(reply.status)
                names = {name.lower() for name, _ in reply.headers}
                for name, value in reply.headers:
                    self.send_header(name, value)
                if "content-length" not in names:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _serve

        server = _QuietServer((LOOPBACK, 0), _Handler)
        if self.ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(LOOPBACK, "localhost").configure_cert(context)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def headers(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """Readability helper: ``headers(("Location", url))``."""
    return tuple(pairs)


def bearer_challenge(realm: str, service: str = "hostile") -> tuple[str, str]:
    return ("WWW-Authenticate", f'Bearer realm="{realm}",service="{service}"')


def json_reply(body: bytes | str, status: int = 200, extra: Iterable[tuple[str, str]] = ()) -> Reply:
    raw = body.encode() if isinstance(body, str) else body
    return Reply(status, (("Content-Type", "application/json"), *extra), raw)
