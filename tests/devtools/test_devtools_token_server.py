"""The token server speaks the Docker token protocol and its tokens are accepted by distribution 2.8."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import load_pem_x509_certificate

from devtools.images import PushedImage, push_image
from devtools.registry import RunningRegistry
from devtools.token_server import Scope, TokenRequest, TokenServer, TokenServerError, libtrust_key_id

USERS = {"admin": "admin-password-123", "reader": "reader-password-456"}


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer(USERS) as token_server:
        yield token_server


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _sig = token.split(".")

    def pad(part: str) -> str:
        return part + "=" * (-len(part) % 4)

    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(
        base64.urlsafe_b64decode(pad(claims))
    )


def _get(
    server: TokenServer, *scopes: str, auth: tuple[str, str] | None = None, **params: str
) -> httpx.Response:
    query: list[tuple[str, str]] = [("service", server.service), *(("scope", s) for s in scopes)]
    query += list(params.items())
    # A tuple of pairs: httpx types a list of them as an (invariant) list of (str, any primitive).
    return httpx.get(server.realm, params=tuple(query), auth=auth)


def test_token_is_es256_signed_by_the_rootcertbundle_key(server: TokenServer) -> None:
    response = _get(server, "repository:test/a:pull", auth=("admin", USERS["admin"]))
    assert response.status_code == 200
    token = response.json()["token"]
    header, claims = _decode(token)
    assert header["alg"] == "ES256"
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", header["kid"])
    assert claims["iss"] == server.issuer
    assert claims["aud"] == server.service  # a single string: distribution rejects an array
    assert claims["sub"] == "admin"
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    cert = load_pem_x509_certificate(server.signer.certificate_pem())
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert header["kid"] == libtrust_key_id(public_key)
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public_key.verify(der, signing_input.encode() + b"x", ec.ECDSA(hashes.SHA256()))


def test_response_fields(server: TokenServer) -> None:
    body = _get(server, "repository:test/a:pull", auth=("reader", USERS["reader"])).json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert "refresh_token" not in body


def test_grants_are_the_intersection_of_requested_and_allowed(server: TokenServer) -> None:
    scopes = ("repository:test/a:pull,push,delete", "repository:test/b:pull registry:catalog:*")
    admin = _decode(_get(server, *scopes, auth=("admin", USERS["admin"])).json()["token"])[1]
    assert admin["access"] == [
        {"type": "repository", "name": "test/a", "actions": ["pull", "push", "delete"]},
        {"type": "repository", "name": "test/b", "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    reader = _decode(_get(server, *scopes, auth=("reader", USERS["reader"])).json()["token"])[1]
    assert reader["access"] == [
        {"type": "repository", "name": "test/a", "actions": ["pull"]},
        {"type": "repository", "name": "test/b", "actions": ["pull"]},
    ]


def test_anonymous_gets_a_token_granting_nothing_by_default(server: TokenServer) -> None:
    response = _get(server, "repository:test/a:pull")
    assert response.status_code == 200
    claims = _decode(response.json()["token"])[1]
    assert claims["access"] == [] and claims["sub"] == ""


def test_anonymous_actions_are_configurable() -> None:
    with TokenServer(USERS, anonymous_actions=("pull",)) as server:
        claims = _decode(_get(server, "repository:test/a:pull,push").json()["token"])[1]
    assert claims["access"] == [{"type": "repository", "name": "test/a", "actions": ["pull"]}]


@pytest.mark.parametrize(
    "auth", [("admin", "wrong"), ("nobody", "whatever"), ("admin", "")], ids=["wrong", "unknown", "empty"]
)
def test_wrong_credentials_get_401(server: TokenServer, auth: tuple[str, str]) -> None:
    response = _get(server, "repository:test/a:pull", auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert "token" not in response.json()


def test_garbled_authorization_header_gets_401(server: TokenServer) -> None:
    response = httpx.get(server.realm, headers={"Authorization": "Basic !!!notbase64"})
    assert response.status_code == 401


def test_malformed_scope_is_a_400(server: TokenServer) -> None:
    assert _get(server, "repository-without-actions").status_code == 400
    with pytest.raises(ValueError, match="malformed scope"):
        Scope.parse("justtext")
    assert Scope.parse("repository:host:5000/x:pull") == Scope("repository", "host:5000/x", ("pull",))


def test_requests_are_recorded_with_scopes_and_user(server: TokenServer) -> None:
    _get(server, "repository:test/a:pull", "repository:test/b:push", auth=("admin", USERS["admin"]))
    _get(server, "repository:test/a:pull repository:test/c:pull")
    _get(server, auth=("admin", "wrong"))
    assert server.requests == [
        TokenRequest("GET", ("repository:test/a:pull", "repository:test/b:push"), "admin"),
        TokenRequest("GET", ("repository:test/a:pull", "repository:test/c:pull"), None),
        TokenRequest("GET", (), "admin"),
    ]
    server.clear_requests()
    assert server.requests == []


def test_oauth2_password_grant(server: TokenServer) -> None:
    form = {
        "grant_type": "password",
        "username": "reader",
        "password": USERS["reader"],
        "service": server.service,
        "client_id": "doctor",
        "scope": "repository:test/a:pull,push repository:test/b:pull",
    }
    response = httpx.post(server.realm, data=form)
    assert response.status_code == 200
    body = response.json()
    assert "token" not in body  # OAuth2 answers carry only access_token
    assert body["scope"] == form["scope"]
    claims = _decode(body["access_token"])[1]
    assert claims["access"] == [
        {"type": "repository", "name": "test/a", "actions": ["pull"]},
        {"type": "repository", "name": "test/b", "actions": ["pull"]},
    ]
    assert server.requests[-1] == TokenRequest(
        "POST", ("repository:test/a:pull,push", "repository:test/b:pull"), "reader"
    )
    assert httpx.post(server.realm, data={**form, "password": "wrong"}).status_code == 401
    assert httpx.post(server.realm, data={**form, "client_id": ""}).status_code == 400
    assert httpx.post(server.realm, data={**form, "grant_type": "client_credentials"}).status_code == 400


def test_refresh_tokens_from_get_offline_token_and_post(server: TokenServer) -> None:
    login = _get(server, auth=("admin", USERS["admin"]), offline_token="true", client_id="doctor").json()
    refresh = login["refresh_token"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "service": server.service,
        "client_id": "doctor",
        "scope": "repository:test/a:push",
    }
    body = httpx.post(server.realm, data=form).json()
    assert _decode(body["access_token"])[1]["sub"] == "admin"
    assert httpx.post(server.realm, data={**form, "refresh_token": "made-up"}).status_code == 401
    offline = httpx.post(
        server.realm,
        data={
            "grant_type": "password",
            "username": "reader",
            "password": USERS["reader"],
            "client_id": "doctor",
            "access_type": "offline",
            "service": server.service,
        },
    ).json()
    assert offline["refresh_token"] and offline["refresh_token"] != refresh
    # Anonymous requests never get a refresh token.
    assert "refresh_token" not in _get(server, offline_token="true").json()


def test_oauth_post_can_be_disabled_and_expiry_omitted() -> None:
    with TokenServer(USERS, oauth_post=False, expires_in=None) as server:
        assert httpx.post(server.realm, data={"grant_type": "password"}).status_code == 404
        body = _get(server, "repository:test/a:pull", auth=("admin", USERS["admin"])).json()
        assert "expires_in" not in body
        claims = _decode(body["token"])[1]
        assert claims["exp"] - claims["iat"] == 60
    with pytest.raises(TokenServerError, match="expires_in"):
        TokenServer(USERS, expires_in=0)


def test_unknown_path_is_404(server: TokenServer) -> None:
    assert httpx.get(server.realm.replace("/token", "/other")).status_code == 404


# -- against the real registry --------------------------------------------------------------------


@pytest.fixture
def reader_image(token_registry: RunningRegistry, unique_repo: str) -> PushedImage:
    return push_image(token_registry, unique_repo, "latest", user="admin")


def _bearer(registry: RunningRegistry, scope: str, user: str | None) -> dict[str, str]:
    assert registry.token_server is not None
    auth = registry.credentials(user) if user else None
    token = _get(registry.token_server, scope, auth=auth).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_registry_accepts_reader_token_for_pull(
    token_registry: RunningRegistry, reader_image: PushedImage
) -> None:
    repo = reader_image.repository
    headers = _bearer(token_registry, f"repository:{repo}:pull", "reader")
    response = httpx.get(
        f"{token_registry.url}/v2/{repo}/manifests/latest",
        headers={**headers, "Accept": reader_image.media_type},
    )
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == reader_image.digest


def test_registry_refuses_reader_push_with_insufficient_scope(
    token_registry: RunningRegistry, reader_image: PushedImage
) -> None:
    repo = reader_image.repository
    headers = _bearer(token_registry, f"repository:{repo}:pull,push", "reader")
    response = httpx.post(f"{token_registry.url}/v2/{repo}/blobs/uploads/", headers=headers)
    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    # The admin token for the same scope is accepted (and the session it opens is cancelled).
    admin = _bearer(token_registry, f"repository:{repo}:pull,push", "admin")
    opened = httpx.post(f"{token_registry.url}/v2/{repo}/blobs/uploads/", headers=admin)
    assert opened.status_code == 202
    cancel = _bearer(token_registry, f"repository:{repo}:delete", "admin")
    assert httpx.delete(opened.headers["location"], headers=cancel).status_code == 204


def test_registry_refuses_anonymous_pull_and_tampered_tokens(
    token_registry: RunningRegistry, reader_image: PushedImage
) -> None:
    repo = reader_image.repository
    url = f"{token_registry.url}/v2/{repo}/manifests/latest"
    anonymous = httpx.get(url, headers=_bearer(token_registry, f"repository:{repo}:pull", None))
    assert anonymous.status_code == 401
    assert 'error="insufficient_scope"' in anonymous.headers["www-authenticate"]
    headers = _bearer(token_registry, f"repository:{repo}:pull", "admin")
    head, claims, sig = headers["Authorization"].removeprefix("Bearer ").split(".")
    forged = base64.urlsafe_b64encode(
        json.dumps({**_decode(f"{head}.{claims}.x")[1], "sub": "mallory"}).encode()
    ).rstrip(b"=")
    tampered = httpx.get(url, headers={"Authorization": f"Bearer {head}.{forged.decode()}.{sig}"})
    assert tampered.status_code == 401
    assert 'error="invalid_token"' in tampered.headers["www-authenticate"]


def test_helper_client_does_the_token_dance_once_per_scope(
    token_registry: RunningRegistry, reader_image: PushedImage
) -> None:
    assert token_registry.token_server is not None
    token_registry.token_server.clear_requests()
    reader = token_registry.http("reader")
    for _ in range(3):
        assert reader.get_manifest(reader_image.repository, "latest").digest == reader_image.digest
    scopes = [r.scopes for r in token_registry.token_server.requests if r.user == "reader"]
    assert scopes == [(f"repository:{reader_image.repository}:pull",)]


@pytest.mark.parametrize(
    "token_options", [{"use_x5c": True}, {"anonymous_actions": ("pull",)}], ids=["x5c", "anon"]
)
def test_registry_variants(
    registry_factory: Callable[..., RunningRegistry], token_options: dict[str, Any], unique_repo: str
) -> None:
    registry = registry_factory("token", token_options=token_options)
    image = push_image(registry, unique_repo, "v1")
    assert registry.token_server is not None
    anonymous = _bearer(registry, f"repository:{unique_repo}:pull", None)
    response = httpx.get(
        f"{registry.url}/v2/{unique_repo}/manifests/v1", headers={**anonymous, "Accept": image.media_type}
    )
    header = _decode(anonymous["Authorization"].removeprefix("Bearer "))[0]
    if token_options.get("use_x5c"):
        assert "x5c" in header and "kid" not in header
        assert response.status_code == 401  # accepted token, but anonymous is granted nothing
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    else:
        assert response.status_code == 200
