"""No secret (password, token, identity token, base64 auth, Authorization value) leaks anywhere.

Covers exception ``str``/``repr``, the client's and Credentials' ``repr``, ping results and the
client's debug log events, for credentials from the configuration, the docker config and a token
service, against both respx and the real token registry.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import structlog
from doctor_oci.client import RegistryClient, RegistryError, RetryPolicy, install_hooks, installed_hooks
from doctor_oci.settings import OciSettings
from structlog.testing import capture_logs

from devtools.registry import RunningRegistry
from doctor_core import logs

PASSWORD = "Pa55-word-very-secret"
TOKEN = "tok3n-issued-by-service-XYZ"
STATIC = "static-bearer-TOKEN-999"
IDENTITY = "identity-refresh-SECRET-42"
REG = "https://r.example.com"


def forbidden_values() -> list[str]:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    return [PASSWORD, TOKEN, STATIC, IDENTITY, basic, f"Bearer {TOKEN}", f"Bearer {STATIC}", f"Basic {basic}"]


def assert_clean(texts: list[str]) -> None:
    blob = "\n".join(texts)
    for secret in forbidden_values():
        assert secret not in blob, f"secret leaked: {secret[:6]}..."


def describe(value: Any) -> list[str]:
    return [str(value), repr(value)]


async def exercise(client: RegistryClient) -> list[str]:
    """Run every path that produces text: ping, failing requests, errors, reprs."""
    texts: list[str] = [*describe(client), *describe(client.credentials), repr(client.metrics)]
    ping = await client.ping()
    texts += describe(ping)
    for call in (
        lambda: client.get_manifest("app", "latest"),
        lambda: client.list_tags("app"),
        lambda: client.get_manifest("app", "sha256:" + "0" * 64),
    ):
        try:
            await call()
        except RegistryError as error:
            texts += describe(error)
            texts += [str(error.detail), str(error.request)]
    return texts


def token_registry_mock(router: respx.MockRouter) -> None:
    challenge = f'Bearer realm="https://auth.example.com/token?secret={PASSWORD}",service="reg"'

    def registry(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        if auth in (f"Bearer {TOKEN}", f"Bearer {STATIC}") and request.url.path == "/v2/":
            return httpx.Response(200)
        if auth:
            # a registry echoing the credentials back in its error message must not leak them either
            return httpx.Response(403, json={"errors": [{"code": "DENIED", "message": f"denied for {auth}"}]})
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    router.route(host="r.example.com").mock(side_effect=registry)
    router.get(host="auth.example.com").respond(200, json={"token": TOKEN, "refresh_token": IDENTITY})
    router.post(host="auth.example.com").respond(200, json={"access_token": TOKEN})


@pytest.fixture
def raw_client_logger() -> Iterator[None]:
    """The client's raw events, before doctor's redacting log pipeline: they must be clean already.

    The client's logger hook is a plain structlog logger; doctor's redaction and secret registry
    (the other hooks) stay installed.
    """
    plain = dataclasses.replace(installed_hooks(), logger_factory=lambda: structlog.get_logger("doctor_oci"))
    previous = install_hooks(plain)
    yield
    install_hooks(previous)


@pytest.mark.parametrize("mode", ["password", "static", "docker-auth", "identity"])
async def test_no_secret_in_errors_reprs_or_logs(
    mode: str,
    isolated_credentials: Path,
    settings: Callable[..., OciSettings],
    raw_client_logger: None,
) -> None:
    keys: dict[str, Any] = {"RegistryUrl": REG}
    if mode == "password":
        keys.update(Username="alice", Password=PASSWORD)
    elif mode == "static":
        keys.update(Token=STATIC)
    else:
        entry: dict[str, str] = {"auth": base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}
        if mode == "identity":
            entry = {"identitytoken": IDENTITY}
        config = isolated_credentials / ".docker/config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"auths": {"r.example.com": entry}}))
    with respx.mock(assert_all_called=False) as router, capture_logs() as events:
        token_registry_mock(router)
        client = RegistryClient(settings(**keys), retry_policy=RetryPolicy(sleep=_no_sleep))
        try:
            texts = await exercise(client)
        finally:
            await client.aclose()
        sent = [call.request.headers.get("authorization") for call in router.calls]
    assert any(sent), "the flows above did send credentials"
    assert any(event["event"] == "oci.http.request" for event in events), "debug events were emitted"
    texts += [repr(event) for event in events]
    assert_clean(texts)


async def test_no_secret_against_real_token_registry(token_registry: RunningRegistry) -> None:
    _, password = token_registry.credentials("admin")
    config = token_registry.oci_config(TimeoutSeconds=5)
    wrong = token_registry.oci_config(Password=password + "-wrong", TimeoutSeconds=5)
    texts: list[str] = []
    stream = io.StringIO()
    logs.configure(verbose=True, fmt="json", stream=stream)
    try:
        for keys in (config, wrong):
            async with RegistryClient(OciSettings(**keys)) as client:
                texts += await exercise(client)
    finally:
        logs.reset()
    lines = stream.getvalue().splitlines()
    assert any('"oci.http.request"' in line for line in lines), (
        "doctor's debug log carried the request events"
    )
    texts += lines
    assert_clean(texts)
    blob = "\n".join(texts)
    assert password not in blob and password + "-wrong" not in blob


async def _no_sleep(delay: float) -> None:
    return None
