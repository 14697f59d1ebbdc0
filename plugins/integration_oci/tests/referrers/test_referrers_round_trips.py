"""Round trips at the floor (issue #15): the reads that need only the subject digest -- the API
probe, the referrers tag and the three cosign tags -- are in flight together, and with a digest
reference the subject's HEAD joins them. A loopback server holds every request a moment and
records how many were in flight at once, and in which order they arrived."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from doctor_oci.referrers import discover_referrers
from doctor_oci.settings import OciSettings

HOLD_S = 0.3
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SUBJECT = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(SUBJECT).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.paths: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.in_flight += 1
            self.server.peak = max(self.server.peak, self.server.in_flight)
            self.server.paths.append(f"{self.command} {path}")
        try:
            if path != "/v2/":
                time.sleep(HOLD_S)
            if path == "/v2/":
                self._send(200, b"{}", "application/json")
            elif path in ("/v2/app/manifests/v1", f"/v2/app/manifests/{DIGEST}"):
                self._send(200, SUBJECT, OCI_MANIFEST, {"Docker-Content-Digest": DIGEST})
            elif path == f"/v2/app/referrers/{DIGEST}":
                index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
                self._send(200, json.dumps(index).encode(), OCI_INDEX)
            else:
                self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}', "application/json")
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    threading.Thread(target=running.serve_forever, daemon=True).start()
    yield running
    running.shutdown()
    running.server_close()


def _settings(server: _Server) -> OciSettings:
    return OciSettings(RegistryUrl=f"http://127.0.0.1:{server.server_address[1]}")


async def test_a_tag_reference_takes_the_head_then_one_round(server: _Server) -> None:
    host = f"127.0.0.1:{server.server_address[1]}"
    result = await discover_referrers(f"{host}/app:v1", settings=_settings(server))
    assert result.method == "referrers-api+cosign-tags"
    held = [p for p in server.paths if not p.endswith("/v2/")]
    assert held[0] == "HEAD /v2/app/manifests/v1"
    stem = DIGEST.replace(":", "-")
    assert sorted(held[1:]) == sorted(
        [
            f"GET /v2/app/referrers/{DIGEST}",
            f"GET /v2/app/manifests/{stem}",
            *(f"GET /v2/app/manifests/{stem}.{suffix}" for suffix in ("att", "sbom", "sig")),
        ]
    )
    # the five reads after the HEAD were in flight together (sequential would be a peak of 1)
    assert server.peak >= 5


async def test_a_digest_reference_sends_its_head_in_the_same_round(server: _Server) -> None:
    host = f"127.0.0.1:{server.server_address[1]}"
    result = await discover_referrers(f"{host}/app@{DIGEST}", settings=_settings(server))
    assert result.subject.digest == DIGEST
    assert server.peak >= 6
