"""Issue #12 item 5: a registry's error message cannot drive the terminal or forge a result line.

A hostile loopback registry answers every request with HTTP 500 and an OCI error body whose
``errors[].message`` carries ESC/CSI (erase line), CR, LF, BEL, an OSC 52 clipboard write and a
forged ``check.integration.oci.push PASS`` line. The real OCI plugin runs against it through the
real CLI in every built-in format: the human and document formats show the characters escaped,
JUnit stays well-formed XML, and JSON keeps the exact string.
"""

from __future__ import annotations

import io
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from doctor_core.cli import run_cli
from tests.reliability.runner import said

FORGED = "check.integration.oci.push          PASS  Push authorization verified"
PAYLOAD = f"denied\x1b[2K\r\n{FORGED}\x07\x1b]52;c;ZXZpbA==\x07\u202e"
UNSAFE = ("\x1b", "\x07", "\r", "\u202e")


class _Hostile(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps({"errors": [{"code": "DENIED", "message": PAYLOAD}]}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(url: str, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    environ = {
        "OCI__RegistryUrl": url,
        "OCI__TestRepository": "demo/app",
        "OCI__TestTag": "v1",
        "OCI__TimeoutSeconds": "5",
        "DOCTOR_DISABLE_PLUGINS": "example_net,example_prometheus",
        "FORCE_COLOR": "1",  # colour on: doctor's own SGR codes only
    }
    code = run_cli(["--tag", "registry", *args], environ=environ, stdout=out, stderr=err)
    return code, out.getvalue()


def _lines_claiming_push_passed(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\W*check\.integration\.oci\.push\W+PASS", line)]


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit"])
@pytest.mark.parametrize("verbose", [False, True], ids=["short", "verbose"])
def test_registry_message_cannot_forge_a_line_or_reach_the_terminal(
    hostile_registry: str, fmt: str, verbose: bool
) -> None:
    code, out = _run(hostile_registry, "--format", fmt, *(["--verbose"] if verbose else []))
    assert code == 1
    assert "ZXZpbA==" in out  # the message is shown ...
    own_colour = re.sub(r"\x1b\[[0-9;]*m(PASS|INFO|WARN|FAIL|ERROR|SKIP)\x1b\[0m", r"\1", out)
    assert [c for c in UNSAFE if c in own_colour] == []  # ... escaped, never interpreted
    assert _lines_claiming_push_passed(out) == []
    if fmt == "junit":
        suite = ET.fromstring(out)
        push = next(c for c in suite.iter("testcase") if c.get("name") == "check.integration.oci.push")
        assert push.find("failure") is not None


def test_json_keeps_the_exact_message(hostile_registry: str) -> None:
    code, out = _run(hostile_registry, "--format", "json")
    assert code == 1
    data = json.loads(out)
    # The registry's text reaches the report: in a message, or (a shared cause) in the cause summary.
    texts = [said(r) for r in data["results"]]
    assert any(PAYLOAD in text for text in texts), texts
    assert "\x1b" not in out  # JSON escapes it itself (\u001b)
