"""Credentials stay with their origin, every kind, on the wire (issue #12 item 1).

Real loopback servers (:class:`devtools.hostile_http.HostileServer`) play the registry, its
token service and the *other* origin a hostile redirect points at; the other origin records
every request, so "nothing secret arrived" is proven, not assumed. Another port is another
origin, as is the same host over http instead of https.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from doctor_oci.client import CredentialRedirectRefused, InsecureTransportRefused, RegistryClient
from doctor_oci.client.credentials import Credentials
from doctor_oci.settings import OciSettings
from pydantic import SecretStr

from devtools.hostile_http import HostileServer, Recorded, Reply, bearer_challenge, tls_ca

IDENTITY = "Idt-ORIGINCANARY-1f2e"
PASSWORD = "Pw-ORIGINCANARY-9d8c"
USER = "alice"
TOKEN_OK = json.dumps({"token": "access-ok", "expires_in": 300}).encode()


def secret_forms() -> list[str]:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [IDENTITY, PASSWORD, basic, "access-ok"]


def assert_nothing_secret(server: HostileServer) -> None:
    received = server.received()
    assert not [form for form in secret_forms() if form in received], received


@pytest.fixture
def recorder() -> Iterator[HostileServer]:
    """The other origin: answers 200 with a token to everything, records what it got."""
    with HostileServer(
        lambda request: Reply(200, (("Content-Type", "application/json"),), TOKEN_OK)
    ) as server:
        yield server


def registry_with_token_service(
    token_answer: Callable[[Recorded], Reply], *, ca: trustme.CA | None = None
) -> HostileServer:
    """A registry whose realm is its own ``/token``, answered by ``token_answer``."""

    def handle(request: Recorded) -> Reply:
        if request.path.startswith("/token"):
            return token_answer(request)
        if request.headers.get("authorization") == "Bearer access-ok":
            return Reply(200, (("Docker-Distribution-API-Version", "registry/2.0"),), b"{}")
        return Reply(401, (bearer_challenge(f"{server.origin}/token"),), b"")

    server = HostileServer(handle, ca=ca)
    return server


def client_for(
    server: HostileServer, credentials: Credentials, tmp_path: Path, **keys: Any
) -> RegistryClient:
    if server.ca is not None:
        keys.setdefault("CaBundle", server.write_ca(tmp_path / "ca.pem"))
    return RegistryClient(
        OciSettings(RegistryUrl=server.origin, TimeoutSeconds=5, **keys), credentials=credentials
    )


def identity() -> Credentials:
    return Credentials(method="bearer", source="docker-config", identity_token=SecretStr(IDENTITY))


def basic() -> Credentials:
    return Credentials(method="basic", source="config", username=USER, password=SecretStr(PASSWORD))


@pytest.mark.parametrize("status", [307, 308])
async def test_refresh_token_post_is_not_redirected_to_another_origin(
    recorder: HostileServer, tmp_path: Path, status: int
) -> None:
    def token(request: Recorded) -> Reply:
        return Reply(status, (("Location", f"{recorder.origin}/steal?sig=QUERYSECRET"),))

    with registry_with_token_service(token) as registry:
        async with client_for(registry, identity(), tmp_path) as client:
            with pytest.raises(CredentialRedirectRefused) as info:
                await client.ping()
        posts = [r for r in registry.requests if r.method == "POST"]
    assert len(posts) == 1 and IDENTITY in posts[0].body.decode()  # it did go to its own realm
    assert recorder.requests == []
    error = info.value
    assert error.target == recorder.origin and error.status == status
    assert recorder.origin in str(error) and "QUERYSECRET" not in str(error) + repr(error)
    assert IDENTITY not in str(error) + repr(error)


async def test_basic_token_request_is_not_redirected_to_another_origin(
    recorder: HostileServer, tmp_path: Path
) -> None:
    def token(request: Recorded) -> Reply:
        return Reply(307, (("Location", f"{recorder.origin}/token"),))

    with registry_with_token_service(token) as registry:
        async with client_for(registry, basic(), tmp_path) as client:
            with pytest.raises(CredentialRedirectRefused):
                await client.ping()
        gets = [r for r in registry.requests if r.path.startswith("/token")]
    assert gets and gets[0].headers["authorization"].startswith("Basic ")
    assert recorder.requests == []


async def test_same_origin_redirect_of_the_token_request_is_followed(tmp_path: Path) -> None:
    def token(request: Recorded) -> Reply:
        if request.path.startswith("/token/moved"):
            assert IDENTITY in request.body.decode()  # 307 keeps the body, on the same origin
            return Reply(200, (("Content-Type", "application/json"),), TOKEN_OK)
        return Reply(307, (("Location", "/token/moved"),))

    with registry_with_token_service(token) as registry:
        async with client_for(registry, identity(), tmp_path) as client:
            result = await client.ping()
    assert result.status == 200 and result.authenticated


async def test_https_token_post_is_not_redirected_to_plain_http(
    recorder: HostileServer, tmp_path: Path
) -> None:
    def token(request: Recorded) -> Reply:
        return Reply(308, (("Location", f"http://127.0.0.1:{recorder.port}/token"),))

    with registry_with_token_service(token, ca=tls_ca()) as registry:
        assert registry.origin.startswith("https://")
        async with client_for(registry, identity(), tmp_path) as client:
            with pytest.raises(CredentialRedirectRefused) as info:
                await client.ping()
    assert info.value.target.startswith("http://") and recorder.requests == []


@pytest.mark.parametrize("make_credentials", [identity, basic], ids=["identity-token", "basic"])
@pytest.mark.parametrize("insecure", [False, True])
async def test_plain_http_realm_of_an_https_registry_never_gets_credentials(
    recorder: HostileServer, tmp_path: Path, make_credentials: Callable[[], Credentials], insecure: bool
) -> None:
    def handle(request: Recorded) -> Reply:
        return Reply(401, (bearer_challenge(f"{recorder.origin}/token"),))

    with HostileServer(handle, ca=tls_ca()) as registry:
        async with client_for(registry, make_credentials(), tmp_path, Insecure=insecure) as client:
            with pytest.raises(InsecureTransportRefused, match="plain http"):
                await client.ping()
    assert recorder.requests == []


async def test_realm_on_another_https_origin_gets_the_credentials(tmp_path: Path) -> None:
    """The realm the registry names may be another origin (auth.docker.io): that is allowed."""
    ca = tls_ca()
    with HostileServer(
        lambda r: Reply(200, (("Content-Type", "application/json"),), TOKEN_OK), ca=ca
    ) as realm:

        def handle(request: Recorded) -> Reply:
            if request.headers.get("authorization") == "Bearer access-ok":
                return Reply(200)
            return Reply(401, (bearer_challenge(f"{realm.origin}/token"),))

        with HostileServer(handle, ca=ca) as registry:
            async with client_for(registry, identity(), tmp_path) as client:
                assert (await client.ping()).authenticated
    assert [r.method for r in realm.requests] == ["POST"] and IDENTITY in realm.requests[0].body.decode()
    assert "authorization" not in realm.requests[0].headers  # no access token goes to the realm
    assert IDENTITY not in registry.received()  # the identity token never goes to the registry
    assert "Bearer access-ok" in registry.received()  # the access token does


async def test_blob_redirect_to_a_cdn_works_without_authorization(tmp_path: Path) -> None:
    blob = b"layer-bytes" * 100
    with HostileServer(
        lambda request: Reply(200, (("Content-Type", "application/octet-stream"),), blob)
    ) as cdn:

        def handle(request: Recorded) -> Reply:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return Reply(401, (("WWW-Authenticate", 'Basic realm="r"'),))
            if request.path.startswith("/v2/app/blobs/"):
                return Reply(307, (("Location", f"{cdn.origin}/blob?X-Amz-Signature=abc"),))
            return Reply(200)

        with HostileServer(handle) as registry:
            async with client_for(registry, basic(), tmp_path) as client:
                response = await client.request("GET", "/v2/app/blobs/sha256:" + "0" * 64)
    assert response.status_code == 200 and response.content == blob
    assert len(cdn.requests) == 1 and "authorization" not in cdn.requests[0].headers
    assert_nothing_secret(cdn)


async def test_access_token_is_not_sent_across_an_https_to_http_redirect(
    recorder: HostileServer, tmp_path: Path
) -> None:
    def handle(request: Recorded) -> Reply:
        if request.headers.get("authorization") != "Bearer static-ORIGINCANARY":
            return Reply(401, (bearer_challenge(f"{registry.origin}/token"),))
        return Reply(302, (("Location", f"http://127.0.0.1:{recorder.port}{request.path}"),))

    with HostileServer(handle, ca=tls_ca()) as registry:
        credentials = Credentials(
            method="bearer", source="config:Token", token=SecretStr("static-ORIGINCANARY")
        )
        async with client_for(registry, credentials, tmp_path) as client:
            response = await client.request("GET", "/v2/app/manifests/latest")
    assert response.status_code == 200
    assert len(recorder.requests) == 1 and "ORIGINCANARY" not in recorder.received()


async def test_same_origin_redirect_keeps_basic_authorization(tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def handle(request: Recorded) -> Reply:
        if request.headers.get("authorization") != expected:
            return Reply(401, (("WWW-Authenticate", 'Basic realm="r"'),))
        if request.path == "/v2/a":
            return Reply(307, (("Location", "/v2/b"),))
        return Reply(200, (), b"moved")

    with HostileServer(handle) as registry:
        async with client_for(registry, basic(), tmp_path) as client:
            response = await client.request("GET", "/v2/a")
    assert response.status_code == 200 and response.content == b"moved"
    assert (
        registry.requests[-1].path == "/v2/b" and registry.requests[-1].headers["authorization"] == expected
    )
