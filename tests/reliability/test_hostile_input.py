"""Property-based tests: every parser and decoder of registry input returns a value or a typed error.

A registry (or anything pretending to be one) controls the headers and bodies doctor reads. The
contract tested here: whatever bytes arrive, the code under test returns its value or raises its
documented error type (``ValueError`` subclasses, ``RegistryError``, ``ConfigError``) -- never a
``KeyError``/``TypeError``/``OverflowError``/``RecursionError`` that would surface as a traceback or an
``error`` result with an internal message.

HTTP-level decoders (manifest, tag list, token response) are driven through a real
:class:`RegistryClient` whose transport is an ``httpx.MockTransport`` answering with the generated
bytes: the local registry cannot be made to send arbitrary garbage, the client code is real.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from doctor_oci.checks import _common
from doctor_oci.client import (
    RegistryClient,
    RegistryError,
    RetryPolicy,
    parse_error_body,
    parse_rate_limit,
    parse_retry_after,
)
from doctor_oci.client.challenge import Challenge, parse_www_authenticate
from doctor_oci.client.credentials import Credentials
from doctor_oci.client.link import next_link, parse_links
from doctor_oci.client.reference import InvalidReference, InvalidRegistryUrl, Reference, RegistryEndpoint
from doctor_oci.referrers import descriptors
from doctor_oci.settings import OciSettings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doctor_core.config import Configuration
from doctor_core.errors import ConfigError
from doctor_core.types import ConfigSection

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = "http://127.0.0.1:5999"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
HOSTILE_YAML = [
    "OCI: [",
    "OCI:\n  - a\n",
    ": :",
    "OCI: !!python/object:os.system x",
    "\x00",
    "OCI:\n  TimeoutSeconds: .inf\n",
    "&a [*a]",
    "OCI:\n  TimeoutSeconds: 1e999\n",
]

header_text = st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=200)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
challenge_pieces = st.lists(
    st.sampled_from(
        [
            "Bearer",
            "Basic",
            " ",
            ",",
            "=",
            '"',
            "\\",
            "realm",
            "service",
            "scope",
            "error",
            '"http://127.0.0.1/token"',
            "repository:a/b:pull,push",
            "insufficient_scope",
            "token68==",
        ]
    ),
    max_size=30,
).map("".join)


# ----------------------------------------------------------------------------- header parsers
@PROPERTY
@given(st.one_of(header_text, challenge_pieces) | st.lists(header_text, max_size=4))
def test_www_authenticate_never_raises(value: Any) -> None:
    challenges = parse_www_authenticate(value)
    assert isinstance(challenges, list)
    for challenge in challenges:
        assert isinstance(challenge, Challenge)
        assert isinstance(challenge.scopes, tuple)
        assert challenge.realm is None or isinstance(challenge.realm, str)


@PROPERTY
@given(st.text(alphabet=st.sampled_from('<>;,="\\ relnxt/?&:aA1'), max_size=80) | header_text)
def test_link_parser_value_or_protocol_error(value: str) -> None:
    assert isinstance(parse_links(value), list)
    try:
        result = next_link(value, f"{BASE}/v2/repo/tags/list")
    except RegistryError:
        return
    assert result is None or result.startswith(BASE)


@PROPERTY
@given(header_text)
def test_retry_after_and_rate_limit_never_raise(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (isinstance(seconds, float) and 0 <= seconds < math.inf)
    raw = value.encode("latin-1")
    parse_rate_limit(httpx.Headers([(b"ratelimit-limit", raw), (b"ratelimit-remaining", raw)]))


reference_text = st.text(alphabet=st.sampled_from("abcAB019._-/:@[]sha256"), max_size=90) | st.text(
    max_size=60
)


@PROPERTY
@given(reference_text)
def test_reference_parser_value_or_invalid_reference(value: str) -> None:
    try:
        reference = Reference.parse(value)
    except InvalidReference:
        return
    assert reference.repository
    assert Reference.parse(str(reference)) == reference


@PROPERTY
@given(reference_text | header_text)
def test_registry_url_parser_value_or_typed_error(value: str) -> None:
    try:
        endpoint = RegistryEndpoint.parse(value)
    except InvalidRegistryUrl:
        return
    assert endpoint.base_url.startswith(("http://", "https://"))


# ----------------------------------------------------------------------------- body decoders
body_bytes = st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())


@PROPERTY
@given(body_bytes)
def test_error_body_decoders_never_raise(body: bytes) -> None:
    codes, message = parse_error_body(body)
    assert all(isinstance(code, str) for code in codes)
    assert message is None or isinstance(message, str)
    code = descriptors.error_code(body)
    assert code is None or isinstance(code, str)
    response = httpx.Response(404, content=body, request=httpx.Request("GET", f"{BASE}/v2/"))
    common_code = _common.error_code(response)
    assert common_code is None or isinstance(common_code, str)


index_bodies = st.builds(
    lambda manifests, extra: json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests, **extra},
        allow_nan=True,
    ).encode(),
    st.lists(
        json_values
        | st.fixed_dictionaries(
            {"mediaType": json_values, "digest": json_values, "size": json_values},
            optional={"artifactType": json_values, "annotations": json_values},
        ),
        max_size=6,
    ),
    st.dictionaries(st.sampled_from(["annotations", "subject", "artifactType"]), json_values, max_size=2),
)


@PROPERTY
@given(index_bodies | body_bytes, st.sampled_from([None, OCI_INDEX, "text/html"]))
def test_referrers_index_decoder_never_raises(body: bytes, content_type: str | None) -> None:
    index = descriptors.parse_index(body, content_type)
    if index is None:
        return
    parsed = descriptors.referrers_from_index(index, "referrers-api")
    assert parsed.skipped >= 0
    for referrer in parsed.referrers:
        assert descriptors.is_valid_digest(referrer.digest)
    descriptors.filters_applied(["artifactType"], index)


# ----------------------------------------------------------------------------- through the real client
def _client(handler: Callable[[httpx.Request], httpx.Response], **settings_kw: Any) -> RegistryClient:
    settings = OciSettings.model_validate({"RegistryUrl": BASE, "TimeoutSeconds": 2, **settings_kw})

    async def no_sleep(_seconds: float) -> None:
        return None

    return RegistryClient(
        settings,
        transport=httpx.MockTransport(handler),
        credentials=Credentials(),
        retry_policy=RetryPolicy(sleep=no_sleep, max_attempts=1),
    )


async def _close(client: RegistryClient) -> None:
    closer = getattr(client, "aclose", None)
    if closer is not None:
        await closer()


digest_headers = st.one_of(
    st.none(),
    st.just("sha256:" + "0" * 64),
    header_text,
)


@PROPERTY
@given(
    body_bytes | index_bodies,
    digest_headers,
    st.sampled_from(
        [None, "application/vnd.oci.image.manifest.v1+json", "application/json", "text/html", ";;;"]
    ),
)
def test_manifest_decoder_value_or_registry_error(
    body: bytes, digest: str | None, content_type: str | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers: list[tuple[bytes, bytes]] = []
        if digest is not None:
            headers.append((b"Docker-Content-Digest", digest.encode("latin-1")))
        if content_type is not None:
            headers.append((b"Content-Type", content_type.encode("latin-1")))
        return httpx.Response(200, content=body, headers=headers)

    async def scenario() -> None:
        client = _client(handler)
        try:
            manifest = await client.get_manifest("test/repo", "latest")
            assert isinstance(manifest.data, dict)
        except RegistryError:
            pass
        finally:
            await _close(client)

    asyncio.run(scenario())


@PROPERTY
@given(
    body_bytes | json_values.map(lambda v: json.dumps({"name": "r", "tags": v}, allow_nan=True).encode()),
    st.none() | header_text,
)
def test_tag_list_decoder_value_or_registry_error(body: bytes, link: str | None) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = [(b"Content-Type", b"application/json")]
        if link is not None and "page=2" not in str(request.url):
            headers.append((b"Link", link.encode("latin-1")))
        return httpx.Response(200, content=body, headers=headers)

    async def scenario() -> None:
        client = _client(handler)
        try:
            tags = await client.list_tags("test/repo", max_pages=3)
            assert all(isinstance(tag, str) for tag in tags)
        except RegistryError:
            pass
        finally:
            await _close(client)

    asyncio.run(scenario())


token_bodies = st.one_of(
    body_bytes,
    st.fixed_dictionaries(
        {
            "token": st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=30)
            | json_values.filter(lambda v: not isinstance(v, str))
        },
        optional={
            "expires_in": st.sampled_from([math.inf, -math.inf, math.nan, 1e400, -5, 0, 10**30, "300", True])
            | json_values,
            "access_token": json_values,
            "refresh_token": json_values,
            "scope": json_values,
        },
    ).map(lambda d: json.dumps(d, allow_nan=True).encode()),
)


@PROPERTY
@given(token_bodies)
def test_token_response_decoder_value_or_registry_error(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return httpx.Response(200, json={})
        return httpx.Response(
            401, headers={"WWW-Authenticate": f'Bearer realm="{BASE}/token",service="svc"'}, json={}
        )

    async def scenario() -> None:
        client = _client(handler)
        try:
            await client.ping()
        except RegistryError:
            pass
        finally:
            await _close(client)

    asyncio.run(scenario())


# ----------------------------------------------------------------------------- the config loader
config_keys = st.sampled_from(
    [
        "RegistryUrl",
        "registryurl",
        "Username",
        "Password",
        "Token",
        "TestRepository",
        "TestTag",
        "TimeoutSeconds",
        "CaBundle",
        "Insecure",
        "DockerConfig",
        "PasswordSecretRef",
        "Unknown",
        "OCI",
        "",
    ]
)
config_values = json_values | st.sampled_from(
    ["env:DOCTOR_NOPE_UNSET", "file:/nonexistent/secret", "-1", "1e9"]
)


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(["OCI", "oci", "Other", "OCI "]),
        st.dictionaries(config_keys, config_values, max_size=6) | json_values,
        max_size=3,
    ),
    st.dictionaries(
        st.sampled_from(
            [
                "OCI__TimeoutSeconds",
                "OCI__Insecure",
                "OCI__TestRepository",
                "OCI__Nested__Deep",
                "OCI__",
                "DOCTOR_CONFIG_X",
            ]
        ),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_config_loader_model_or_config_error(data: dict[str, Any], environ: dict[str, str]) -> None:
    sections = {"OCI": ConfigSection(name="OCI", model=OciSettings)}
    try:
        configuration = Configuration(sections, data=data, environ=environ)
        configuration.section("OCI")
    except ConfigError as exc:
        assert str(exc)
    else:
        assert all(isinstance(w, str) for w in configuration.warnings)


@PROPERTY
@given(st.text(max_size=200) | st.sampled_from(HOSTILE_YAML))
def test_config_file_yaml_or_config_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "doctor.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    sections = {"OCI": ConfigSection(name="OCI", model=OciSettings)}
    try:
        Configuration(sections, config_file=path, environ={}).section("OCI")
    except ConfigError as exc:
        assert str(path) in str(exc) or "OCI" in str(exc)


def test_non_ascii_token_is_a_typed_error() -> None:
    """A token no HTTP header can carry is the token service's protocol error, stored on the ping."""
    from doctor_oci.client.errors import ProtocolError

    body = json.dumps({"token": "\u0080abc"}).encode()
    bearer_sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        if "authorization" in request.headers:
            bearer_sent.append(request.headers["authorization"])
        return httpx.Response(
            401, headers={"WWW-Authenticate": f'Bearer realm="{BASE}/token",service="svc"'}, json={}
        )

    async def scenario() -> None:
        client = _client(handler)
        try:
            result = await client.ping()
        finally:
            await _close(client)
        assert result.status == 401 and not result.authenticated
        assert isinstance(result.error, ProtocolError), repr(result.error)
        assert "token" in str(result.error) and "header" in str(result.error)
        assert bearer_sent == [], "the unusable token must never be sent"

    asyncio.run(scenario())


def test_infinite_expires_in_is_a_typed_error() -> None:
    """``expires_in: Infinity`` (valid for Python's json) is ignored: the token gets the default lifetime."""
    body = b'{"token":"abc","expires_in":Infinity}'

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return httpx.Response(200, json={})
        return httpx.Response(
            401, headers={"WWW-Authenticate": f'Bearer realm="{BASE}/token",service="svc"'}, json={}
        )

    async def scenario() -> None:
        client = _client(handler)
        try:
            result = await client.ping()
        finally:
            await _close(client)
        assert result.status == 200 and result.authenticated and result.error is None

    asyncio.run(scenario())
