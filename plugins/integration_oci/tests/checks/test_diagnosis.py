"""Every row of the diagnosis table, driven for real: each check alone and the five together.

Real registries from devtools (open, htpasswd+TLS, token, delete disabled, a token registry whose
token service is broken, the OCI 1.1 test server for the referrers API), hostile loopback peers
written here (a server that never answers, one that answers 503), and respx only for the three
answers no local registry gives (Docker Hub's 429, ACR's 403, GHCR's referrers 404). The rows
live in :mod:`diagnosis_rows`; ``docs/checks.md`` shows them (asserted below).

In-process runs use the engine (:class:`doctor_core.Doctor`): the report's recommendations are
the engine's deduplicated list, and ``Cause`` is copied by the engine. A few rows are also run
through the ``doctor`` command to prove the exit code.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from diagnosis_rows import CHECKS, ROWS, Row, page_with_table
from doctor_oci.client import RegistryClient, RetryPolicy
from doctor_oci.settings import OciSettings
from oci_checkkit import LocalShared, Runner

from devtools.images import push_image
from devtools.oci_server import OciTestServer
from devtools.ports import free_port
from devtools.registry import RunningRegistry, start_registry
from devtools.registry_http import RegistryHttp
from devtools.token_server import TokenServer
from doctor_core import Doctor
from doctor_core.models import CheckOutcome, Report, Status

REPO, TAG = "diagnosis/app", "v1"
PREFIX = "check.integration.oci."
RESPX_ROWS = frozenset({"dockerhub-429", "forbidden-403", "ghcr-404"})


class NonStringTokens(TokenServer):
    """A token service that answers 200 with ``{"token": 12345}``: broken, not a credential problem."""

    def _body(self, token: str, lifetime: int, *, access_token_only: bool) -> dict[str, Any]:
        return {"token": 12345, "access_token": 12345}


class _Peer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def _serve(handler: type[BaseHTTPRequestHandler]) -> _Peer:
    server = _Peer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class _Unavailable(BaseHTTPRequestHandler):
    """Answers 503 to every request (a registry whose backend is down); ``Retry-After: 0`` keeps
    the client's retries (which still happen) from sleeping."""

    status = 503
    body = b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}'

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _answer(self) -> None:
        body = self.body
        self.send_response(self.status)
        if self.status == 503:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_DELETE = do_PATCH = do_PUT = _answer


class _NotARegistry(_Unavailable):
    """A web server that is not a registry: 404 for ``/v2/`` and everything else."""

    status = 404
    body = b"<html>not found</html>"


@dataclass
class Lab:
    """Everything the rows run against, started once for the module."""

    open: RunningRegistry
    tls: RunningRegistry
    token: RunningRegistry
    nodelete: RunningRegistry
    broken: RunningRegistry
    oci: OciTestServer
    silent_port: int
    unavailable_port: int
    web_port: int
    wrong_name_port: int
    docker_config: Path
    stops: list[Callable[[], None]] = field(default_factory=list)


@pytest.fixture(scope="module")
def lab(
    open_registry: RunningRegistry,
    tls_registry: RunningRegistry,
    token_registry: RunningRegistry,
    nodelete_registry: RunningRegistry,
    registry_workdir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    for registry in (open_registry, tls_registry, token_registry, nodelete_registry):
        push_image(registry, REPO, TAG)
    broken = start_registry("token", workdir=registry_workdir, token_server_factory=NonStringTokens)
    oci = OciTestServer().start()
    http = RegistryHttp(oci.url)
    push_image(http, REPO, TAG)
    http.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (in the kernel backlog) and never answers
    unavailable = _serve(_Unavailable)
    web = _serve(_NotARegistry)
    # A TLS server with a certificate from the registry's (configured) CA for another name.
    assert tls_registry.tls_ca is not None
    wrong_name = _Peer(("127.0.0.1", 0), _Unavailable)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_registry.tls_ca.issue_cert("wrong-name.invalid").configure_cert(context)
    wrong_name.socket = context.wrap_socket(
        wrong_name.socket, server_side=True, do_handshake_on_connect=False
    )
    threading.Thread(target=wrong_name.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    docker_config = tmp_path_factory.mktemp("docker") / "config.json"
    docker_config.write_text('{"auths": {}}', encoding="utf-8")  # never the developer's docker login
    lab = Lab(
        open_registry,
        tls_registry,
        token_registry,
        nodelete_registry,
        broken,
        oci,
        silent.getsockname()[1],
        unavailable.server_address[1],
        web.server_address[1],
        wrong_name.server_address[1],
        docker_config,
    )
    yield lab
    unavailable.shutdown()
    web.shutdown()
    wrong_name.shutdown()
    silent.close()
    oci.stop()
    broken.stop()


def _broken_docker_config(lab: Lab, host: str) -> Path:
    """A docker config whose entry for ``host`` has an ``auth`` that is not base64 of user:password."""
    path = lab.docker_config.with_name("broken-config.json")
    path.write_text(json.dumps({"auths": {host: {"auth": "not base64!"}}}), encoding="utf-8")
    return path


def scenario(lab: Lab, setup: str) -> tuple[dict[str, Any], str]:
    """The ``OCI`` section of a row and the host its messages name."""
    base: dict[str, Any] = {"TestRepository": REPO, "TestTag": TAG, "DockerConfig": str(lab.docker_config)}
    tls, token = lab.tls, lab.token
    anonymous = {"Username": None, "Password": None}
    configs: dict[str, tuple[dict[str, Any], str]] = {
        "not-configured": ({"DockerConfig": str(lab.docker_config)}, "-"),
        "open": (lab.open.oci_config(**base), lab.open.host),
        "basic": (tls.oci_config(**base), tls.host),
        "no-delete": (lab.nodelete.oci_config(**base), lab.nodelete.host),
        "missing-image": (lab.open.oci_config(**{**base, "TestTag": "no-such-tag"}), lab.open.host),
        "missing-repository": (lab.open.oci_config(**{**base, "TestRepository": "no/such"}), lab.open.host),
        "no-credentials": (tls.oci_config(**base, **anonymous), tls.host),
        "username-only": (tls.oci_config(**base, Password=None), tls.host),
        "docker-config-broken": (
            tls.oci_config(
                **{**base, "DockerConfig": str(_broken_docker_config(lab, tls.host))}, **anonymous
            ),
            tls.host,
        ),
        "wrong-password": (tls.oci_config(**base, Password="not-the-password-1"), tls.host),
        "token-wrong-password": (token.oci_config(**base, Password="not-the-password-1"), token.host),
        "token-broken": (lab.broken.oci_config(**base), lab.broken.host),
        "reader": (token.oci_config(**base, Username="reader", Password=token.users["reader"]), token.host),
        "anonymous-token": (token.oci_config(**base, **anonymous), token.host),
        "tls-untrusted": (tls.oci_config(**base, CaBundle=None), tls.host),
        "plain-http": (tls.oci_config(**base, RegistryUrl=tls.url.replace("https://", "http://")), tls.host),
        "dns": ({**base, "RegistryUrl": "https://no-such-registry.invalid"}, "no-such-registry.invalid"),
        "refused": ({**base, "RegistryUrl": f"http://127.0.0.1:{free_port()}"}, ""),
        "timeout": (
            {**base, "RegistryUrl": f"http://127.0.0.1:{lab.silent_port}", "TimeoutSeconds": 0.3},
            f"127.0.0.1:{lab.silent_port}",
        ),
        "server-error": (
            {**base, "RegistryUrl": f"http://127.0.0.1:{lab.unavailable_port}"},
            f"127.0.0.1:{lab.unavailable_port}",
        ),
        "referrers-api": ({**base, "RegistryUrl": lab.oci.url}, lab.oci.host),
        "not-a-registry": (
            {**base, "RegistryUrl": f"http://127.0.0.1:{lab.web_port}"},
            f"127.0.0.1:{lab.web_port}",
        ),
        "tls-wrong-name": (
            tls.oci_config(**base, RegistryUrl=f"https://localhost:{lab.wrong_name_port}"),
            f"localhost:{lab.wrong_name_port}",
        ),
    }
    if setup == "token-and-password":
        assert token.token_server is not None
        value, _ = token.token_server.issue(
            "admin", [f"repository:{REPO}:pull,push,delete"], "doctor-test-registry"
        )
        return token.oci_config(**base, Token=value), token.host
    config, host = configs[setup]
    if setup == "refused":
        host = config["RegistryUrl"].removeprefix("http://")
    return config, host


def exit_code(report: Report) -> int:
    """The command's exit code for a report with the default ``--fail-on fail``."""
    return 1 if any(result.status in (Status.FAIL, Status.ERROR) for result in report.results) else 0


def run(config: Mapping[str, Any], checks: tuple[str, ...]) -> Report:
    doctor = Doctor({"OCI": dict(config)}, environ={}, load_entrypoints=True)
    return doctor.run(check_ids=[PREFIX + name for name in checks])


@dataclass(frozen=True)
class Seen:
    """What one run showed, per check, in one shape for engine and respx runs."""

    status: str
    message: str
    recommendations: tuple[str, ...]
    cause_key: str | None
    cause: object
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remediation: tuple[str, ...] = ()


def seen_from_report(report: Report) -> tuple[dict[str, Seen], tuple[str, ...]]:
    results = {
        r.check_id.removeprefix(PREFIX): Seen(
            r.status.value,
            r.message,
            (),
            r.cause.key if r.cause else None,
            r.cause,
            r.evidence,
            r.remediation,
        )
        for r in report.results
    }
    return results, report.recommendations


def assert_row(
    row: Row, host: str, seen: Mapping[str, Seen], recs: tuple[str, ...], *, together: bool
) -> None:
    label = f"{row.setup} ({'together' if together else 'alone'})"
    for name, got in seen.items():
        cell = row.cell(name)
        expected = cell.message.replace("{host}", host)
        assert got.status == cell.status, f"{label} {name}: {got.status} {got.message!r}"
        assert got.message.startswith(expected), f"{label} {name}: {got.message!r} !^ {expected!r}"
        if (row.cause is not None and got.status == "fail" and name != "credentials") or (
            row.cause is not None and name == "credentials" and got.cause_key is not None
        ):
            assert got.cause_key == f"oci.{row.cause}:{host}", f"{label} {name}: cause {got.cause_key}"
        if got.cause_key is not None:
            # The long "what and why" is in the cause; the line stays short.
            assert len(got.message) <= 90, f"{label} {name}: {len(got.message)} chars: {got.message!r}"
        if row.cause is not None:
            # A credential or network cause never gets registry-upgrade advice.
            advice_text = " ".join((*got.remediation, *got.recommendations)).lower()
            assert "upgrad" not in advice_text, f"{label} {name}: {advice_text!r}"
    advice = tuple(line.replace("{host}", host) for line in row.advice)
    for line in recs:
        assert row.cause is None or "upgrad" not in line.lower(), f"{label}: {line!r}"
    if together:
        assert len(recs) == len(advice), f"{label}: recommendations {recs!r}"
        for line, start in zip(recs, advice, strict=True):
            assert line.startswith(start), f"{label}: {line!r} !^ {start!r}"
        causes = {got.cause_key: got.cause for got in seen.values() if got.cause_key}
        assert len(causes) <= 1 or row.cause is None, f"{label}: more than one cause {list(causes)}"
        # One run never says "unknown" in one check and "unsupported" in the other.
        supported = seen["referrers"].evidence.get("referrers_supported")
        capability = seen["capabilities"].evidence.get("supports_referrers_api")
        if row.setup != "not-configured":
            assert capability == ("unknown" if supported is None else supported), (
                label,
                supported,
                capability,
            )
    else:
        for line in recs:
            assert any(line.startswith(start) for start in advice), f"{label}: unexpected {line!r}"
        (got,) = seen.values()
        if got.status not in ("pass", "skip"):
            assert recs, f"{label}: a {got.status} with no recommendation"


ENGINE_ROWS = [row for row in ROWS if row.setup not in RESPX_ROWS]


@pytest.mark.parametrize("row", ENGINE_ROWS, ids=[row.setup for row in ENGINE_ROWS])
def test_row_against_real_registries(lab: Lab, row: Row) -> None:
    config, host = scenario(lab, row.setup)
    together = run(config, CHECKS)
    seen, recs = seen_from_report(together)
    assert set(seen) == set(CHECKS)
    assert_row(row, host, seen, recs, together=True)
    failing = any(row.cell(name).status == "fail" for name in CHECKS)
    assert exit_code(together) == (1 if failing else 0)
    for name in CHECKS:
        alone = run(config, (name,))
        seen_alone, recs_alone = seen_from_report(alone)
        assert_row(row, host, seen_alone, recs_alone, together=False)
        # One cause, identical whether the check ran alone or with the others.
        assert seen_alone[name].cause == seen[name].cause, (row.setup, name)
        assert exit_code(alone) == (1 if row.cell(name).status == "fail" else 0)


# -- respx rows ---------------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_LAYER = b"layer"
_CONFIG = b"{}"


def _digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(_CONFIG),
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(_LAYER), "size": 5}
        ],
    }
).encode()


def _error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": code.lower()}]}, headers=headers)


def dockerhub(request: httpx.Request) -> httpx.Response:
    """Docker Hub out of pulls: ``/v2/`` answers, everything else 429 (as measured under the limit)."""
    if request.url.path == "/v2/":
        return httpx.Response(200)
    return _error(
        429, "TOOMANYREQUESTS", **{"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"}
    )


def acr(request: httpx.Request) -> httpx.Response:
    """ACR with a service principal that may log in but has no role on the repository: 403 DENIED."""
    if "authorization" not in request.headers:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="acr"'})
    if request.url.path == "/v2/":
        return httpx.Response(200)
    return _error(403, "DENIED")


def ghcr(request: httpx.Request) -> httpx.Response:
    """GHCR as reported: no referrers API (404 MANIFEST_UNKNOWN); uploads, no cross-mount (202)."""
    path, method = request.url.path, request.method
    if path == "/v2/":
        return httpx.Response(200)
    if "/referrers/" in path:
        return _error(404, "MANIFEST_UNKNOWN")
    if path.endswith(f"/manifests/{TAG}") or path.endswith(f"/manifests/{_digest(MANIFEST)}"):
        headers = {"Docker-Content-Digest": _digest(MANIFEST), "Content-Type": OCI_MANIFEST}
        return httpx.Response(200, content=b"" if method == "HEAD" else MANIFEST, headers=headers)
    if path.endswith("/tags/list"):
        return httpx.Response(200, json={"name": "acme/app", "tags": [TAG]})
    if path.endswith("/blobs/uploads/") and method == "POST":
        return httpx.Response(202, headers={"Location": "/v2/acme/app/blobs/uploads/u1", "Range": "0-0"})
    if "/blobs/uploads/u1" in path:
        if method == "PATCH":
            return httpx.Response(202, headers={"Location": "/v2/acme/app/blobs/uploads/u1", "Range": "0-26"})
        return httpx.Response(204)
    if method == "DELETE":
        return _error(404, "MANIFEST_UNKNOWN")
    return _error(404, "NOT_FOUND")


RESPX: dict[str, tuple[str, Callable[[httpx.Request], httpx.Response], dict[str, Any]]] = {
    "dockerhub-429": ("https://registry-1.docker.io", dockerhub, {"RegistryUrl": "docker.io"}),
    "forbidden-403": (
        "https://myregistry.azurecr.io",
        acr,
        {"RegistryUrl": "myregistry.azurecr.io", "Username": "svc", "Password": "pw-123"},
    ),
    "ghcr-404": ("https://ghcr.io", ghcr, {"RegistryUrl": "ghcr.io"}),
}


async def _no_sleep(_: float) -> None:
    return None


async def run_respx(
    config: dict[str, Any], checks: tuple[str, ...]
) -> tuple[dict[str, Seen], tuple[str, ...]]:
    """The checks in-process with one shared, never-sleeping client (the retries still happen)."""
    shared = LocalShared()
    from doctor_oci.runtime import CLIENT_KEY

    shared.seed(
        CLIENT_KEY,
        RegistryClient(OciSettings.model_validate(config), retry_policy=RetryPolicy(sleep=_no_sleep)),
    )
    runner = Runner(config, shared)
    outcomes: dict[str, CheckOutcome] = {}
    try:
        for name in checks:
            outcomes[name] = await runner.run(name)
    finally:
        await shared.aclose()
    recs: dict[str, None] = {}
    for outcome in outcomes.values():
        if outcome.status is not Status.PASS:
            recs.update(dict.fromkeys(outcome.recommendations))
    seen = {
        name: Seen(
            o.status.value,
            o.message,
            o.recommendations,
            o.cause.key if o.cause else None,
            o.cause,
            o.evidence,
            o.remediation,
        )
        for name, o in outcomes.items()
    }
    return seen, tuple(recs)


RESPX_TABLE_ROWS = [row for row in ROWS if row.setup in RESPX_ROWS]


@pytest.mark.parametrize("row", RESPX_TABLE_ROWS, ids=[row.setup for row in RESPX_TABLE_ROWS])
async def test_row_with_respx(row: Row) -> None:
    base, handler, extra = RESPX[row.setup]
    config = {
        "TestRepository": "acme/app" if row.setup != "dockerhub-429" else "library/alpine",
        "TestTag": TAG,
    }
    config.update(extra)
    host = config["RegistryUrl"]  # the configured name: Docker Hub's is docker.io
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host=httpx.URL(base).host).mock(side_effect=handler)
        seen, recs = await run_respx(config, CHECKS)
        assert_row(row, host, seen, recs, together=True)
        for name in CHECKS:
            seen_alone, recs_alone = await run_respx(config, (name,))
            assert_row(row, host, seen_alone, recs_alone, together=False)
            assert seen_alone[name].cause == seen[name].cause, (row.setup, name)


# -- exit codes through the command, and the docs --------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "check", "code"),
    [
        ("wrong-password", "referrers", 1),
        ("wrong-password", "capabilities", 1),
        ("token-wrong-password", "referrers", 1),
        ("token-and-password", "credentials", 0),
        ("open", None, 0),
    ],
)
def test_exit_code_of_the_command(lab: Lab, setup: str, check: str | None, code: int) -> None:
    config, _ = scenario(lab, setup)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OCI__", "DOCTOR_"))}
    for key, value in config.items():
        environ[f"OCI__{key}"] = str(value)
    selection = ["--check", PREFIX + check] if check else ["--tag", "registry"]
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("doctor")), *selection, "--format", "json"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == code, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    if code:
        failing = [r for r in report["results"] if r["status"] == "fail"]
        assert failing and all(r["cause"] for r in failing)
        assert report["recommendations"], "a failing run gets recommendations"


def test_docs_table_is_generated_from_the_rows() -> None:
    from diagnosis_rows import PAGE

    page = PAGE.read_text(encoding="utf-8")
    assert page == page_with_table(page), (
        "docs/checks.md's diagnosis table is stale: run "
        ".venv/bin/python plugins/integration_oci/tests/checks/diagnosis_rows.py"
    )


# -- a broken token service, every way: not "Invalid credentials" -------------------------------


class _HostileTokens(BaseHTTPRequestHandler):
    """A token endpoint answering 200 with :attr:`body` (set per case by the test)."""

    body: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture(scope="module")
def hostile_realm_registry(registry_workdir: Path) -> Iterator[RunningRegistry]:
    """A real token-mode registry whose advertised realm is a hostile loopback token endpoint."""
    peer = _serve(_HostileTokens)

    class Realm(TokenServer):
        @property
        def realm(self) -> str:
            return f"http://127.0.0.1:{peer.server_address[1]}/token"

    registry = start_registry("token", workdir=registry_workdir, token_server_factory=Realm)
    yield registry
    registry.stop()
    peer.shutdown()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"token": "abc', id="malformed-json"),
        pytest.param(b'{"token": "' + b"a" * (5 * 1024 * 1024) + b'"}', id="huge-json"),
        pytest.param(b'{"token": ["not", "a", "string"]}', id="non-string-token"),
        pytest.param(b"[]", id="not-an-object"),
    ],
)
def test_a_broken_token_service_is_named_in_every_check(
    hostile_realm_registry: RunningRegistry, lab: Lab, body: bytes
) -> None:
    _HostileTokens.body = body
    config = hostile_realm_registry.oci_config(TestRepository=REPO, DockerConfig=str(lab.docker_config))
    report = run(config, CHECKS)
    host = hostile_realm_registry.host
    keys = set()
    for result in report.results:
        assert result.status is Status.FAIL, (result.check_id, result.message)
        assert "token service broken" in result.message, result.message
        assert "Invalid credentials" not in result.message and "invalid credentials" not in result.message
        assert result.cause is not None
        keys.add(result.cause.key)
    assert keys == {f"oci.token-service-broken:{host}"}
    assert report.recommendations == (
        f"The token service of {host} is broken: check its logs and configuration",
    )
