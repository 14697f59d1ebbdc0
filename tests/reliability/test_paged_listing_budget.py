"""Issue #12 item 3 and issue #15: paged listings under one budget, ``doctor oci referrers`` under a deadline.

A hostile registry written here (a threaded loopback HTTP server) serves endless *distinct*
``Link: rel="next"`` pages -- of tags, of referrers with 14,000 entries each, slowly -- and, as
the healthy counterpart, 10,000 referrers at 10 per page. Each case runs in a child process
(``doctor`` itself, or a short script for the client's ``list_tags``, which no command lists any
more), forked by :mod:`devtools.peak_rss`'s launcher so that ``os.wait4`` gives exactly its peak
RSS. Asserted: the outcome (a clear error, or the complete list), wall time <= the deadline
+ 2 s, peak RSS <= 200 MB.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools import peak_rss
from tests.reliability.runner import DoctorRun, base_environment, run_doctor

MAX_RSS_KB = 200 * 1024
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SUBJECT = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()
SUBJECT_DIGEST = "sha256:" + hashlib.sha256(SUBJECT).hexdigest()


def _entry(number: int) -> dict[str, object]:
    return {
        "mediaType": OCI_MANIFEST,
        "digest": "sha256:" + f"{number:064x}",
        "size": 500,
        "artifactType": "application/spdx+json",
        "annotations": {"n": str(number)},
    }


@dataclass
class Behaviour:
    """What the hostile registry does: referrers per page, pages in all (None: endless), seconds
    before each referrers page, tags per tags page."""

    per_page: int = 10
    pages: int | None = None
    delay_s: float = 0.0
    tags_per_page: int = 100_000


class HostileRegistry(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.requests = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: HostileRegistry
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, delayed ACKs cost 40 ms a page
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self.server.requests += 1
        url = urlsplit(self.path)
        page = int(parse_qs(url.query).get("p", ["0"])[0])
        behaviour = self.server.behaviour
        following = behaviour.pages is None or page + 1 < behaviour.pages
        if url.path == "/v2/":
            self._send(200, b"{}", "application/json")
        elif url.path in ("/v2/app/manifests/v1", f"/v2/app/manifests/{SUBJECT_DIGEST}"):
            self._send(200, SUBJECT, OCI_MANIFEST, {"Docker-Content-Digest": SUBJECT_DIGEST})
        elif url.path == f"/v2/app/referrers/{SUBJECT_DIGEST}":
            if behaviour.delay_s:
                time.sleep(behaviour.delay_s)
            start = page * behaviour.per_page
            index = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [_entry(n) for n in range(start, start + behaviour.per_page)],
            }
            link = {"Link": f'<{url.path}?p={page + 1}>; rel="next"'} if following else {}
            self._send(200, json.dumps(index).encode(), OCI_INDEX, link)
        elif url.path == "/v2/app/tags/list":
            first = page * behaviour.tags_per_page
            tags = [f"tag-{n:012d}" for n in range(first, first + behaviour.tags_per_page)]
            body = json.dumps({"name": "app", "tags": tags}).encode()
            self._send(
                200, body, "application/json", {"Link": f'</v2/app/tags/list?p={page + 1}>; rel="next"'}
            )
        else:
            body = json.dumps(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            ).encode()
            self._send(404, body, "application/json")


Start = Callable[[Behaviour], HostileRegistry]


@pytest.fixture
def hostile() -> Iterator[Start]:
    """``hostile(Behaviour(...))``: a running hostile registry (stopped after the test)."""
    started: list[HostileRegistry] = []

    def start(behaviour: Behaviour) -> HostileRegistry:
        server = HostileRegistry(behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _referrers(server: HostileRegistry, home: Path, *args: str, timeout: float = 60) -> DoctorRun:
    env = base_environment(home, {"OCI__RegistryUrl": f"http://{server.host}"})
    return run_doctor(
        ["oci", "referrers", f"{server.host}/app@{SUBJECT_DIGEST}", *args], env, timeout=timeout
    )


def test_ten_thousand_referrers_at_ten_per_page_are_all_listed(hostile: Start, tmp_path: Path) -> None:
    server = hostile(Behaviour(per_page=10, pages=1000))
    run = _referrers(server, tmp_path, "--format", "json")
    assert run.exit_code == 0, run.output
    document = json.loads(run.stdout)
    assert len(document["referrers"]) == 10_000
    assert {r["digest"] for r in document["referrers"]} == {f"sha256:{n:064x}" for n in range(10_000)}
    print(f"peak RSS {run.maxrss_kb // 1024} MB, wall {run.duration_s:.1f} s")
    assert run.maxrss_kb <= MAX_RSS_KB, run.maxrss_kb


def test_endless_distinct_referrers_pages_stop_at_the_budget(hostile: Start, tmp_path: Path) -> None:
    """The old ceiling: 100 pages of 14k entries peaked at 2.4 GiB."""
    server = hostile(Behaviour(per_page=14_000))
    deadline = 30
    run = _referrers(server, tmp_path, "--deadline", str(deadline))
    assert run.exit_code == 1, run.output
    assert "the referrers list is too large: more than" in run.stderr
    assert "Traceback" not in run.output
    assert run.duration_s <= deadline + 2
    print(f"peak RSS {run.maxrss_kb // 1024} MB, wall {run.duration_s:.1f} s")
    assert run.maxrss_kb <= MAX_RSS_KB, run.maxrss_kb


def test_slow_endless_referrers_pages_stop_at_the_deadline(hostile: Start, tmp_path: Path) -> None:
    """The old ceiling: still running after 90 s (about 1000 pages x the request timeout)."""
    server = hostile(Behaviour(per_page=1, delay_s=0.5))
    deadline = 4
    run = _referrers(server, tmp_path, "--deadline", str(deadline))
    assert run.exit_code == 1, run.output
    assert f"did not finish within the deadline of {deadline} s" in run.stderr
    assert run.duration_s <= deadline + 2, run.duration_s
    print(f"peak RSS {run.maxrss_kb // 1024} MB, wall {run.duration_s:.1f} s")
    assert run.maxrss_kb <= MAX_RSS_KB, run.maxrss_kb
    assert server.requests >= 3  # it really was paging when the deadline struck


_LIST_TAGS = """
import asyncio, sys
from doctor_oci.client import RegistryClient
from doctor_oci.client.errors import RegistryError
from doctor_oci.settings import OciSettings

async def main() -> None:
    async with RegistryClient(OciSettings(RegistryUrl=sys.argv[1])) as client:
        try:
            tags = await client.list_tags("app")
        except RegistryError as exc:
            print(type(exc).__name__, exc)
        else:
            print("listed", len(tags))

asyncio.run(main())
"""


def test_endless_distinct_tag_pages_stop_at_the_budget(hostile: Start, tmp_path: Path) -> None:
    """The old ceiling: ~70 MiB per page to a MemoryError at 3.7 GiB in 18 s."""
    server = hostile(Behaviour(tags_per_page=100_000))
    env = base_environment(tmp_path)
    run = peak_rss.run([sys.executable, "-c", _LIST_TAGS, f"http://{server.host}"], env=env, timeout=60)
    out, err = run.stdout.decode(), run.stderr.decode()
    assert run.returncode == 0, err
    assert out.startswith("BudgetExceeded the tag list is too large: more than"), out + err
    assert run.wall_s <= 30
    print(f"peak RSS {run.max_rss_kb // 1024} MB, wall {run.wall_s:.1f} s")
    assert run.max_rss_kb <= MAX_RSS_KB, run.max_rss_kb
