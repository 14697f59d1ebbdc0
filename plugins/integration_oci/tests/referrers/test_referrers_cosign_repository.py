"""cosign's ``COSIGN_REPOSITORY``: cosign-style tags read from another repository.

Against real Debian ``docker-registry`` instances (no referrers API, so the fallback runs): the
image and its ``sha256-<hex>`` index in repository A, cosign-style tags for its digest in
repository B -- on the same registry, and on a second registry. Where credentials go is observed
on the wire: a recording proxy (``tests/reliability/fault_proxy.py``) in front of each registry,
and the token server of the token-auth registry, which records which user asked for each token.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from doctor_oci.client import AuthenticationError, RegistryClient
from doctor_oci.client.reference import InvalidReference, Reference
from doctor_oci.referrers import discover_referrers, discovery, parse_cosign_repository
from doctor_oci.referrers.cosign import cosign_repository_in_effect
from doctor_oci.settings import OciSettings
from referrers_helpers import Output

from devtools.images import (
    Descriptor,
    PushedImage,
    push_cosign_tags,
    push_image,
    push_referrer,
    push_tag_schema_index,
)
from devtools.oci_server import OciTestServer
from devtools.registry import RunningRegistry
from devtools.registry_http import RegistryHttp
from doctor_core.testing import CliResult
from tests.reliability.fault_proxy import FaultProxy

SBOM = "application/spdx+json"
PREFIX = "doctor oci referrers: error: "


@dataclass(frozen=True)
class Signed:
    """Image in ``repo`` with an SBOM in its tag-schema index and its own cosign ``.sig``; all
    three cosign tags for its digest in ``sigs`` (same registry)."""

    registry: RunningRegistry
    repo: str
    sigs: str
    image: PushedImage
    sbom: Descriptor
    own: dict[str, Descriptor]
    moved: dict[str, Descriptor]

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def ref(self) -> str:
        return f"{self.host}/{self.repo}:v1"

    @property
    def settings(self) -> OciSettings:
        return OciSettings(**self.registry.oci_config())

    @property
    def without(self) -> dict[str, str]:
        """digest -> source when the cosign tags are read from the image's own repository."""
        return {self.sbom.digest: "tag-schema", self.own["sig"].digest: "cosign-tags"}

    @property
    def with_moved(self) -> dict[str, str]:
        """digest -> source when they are read from ``sigs``."""
        return {self.sbom.digest: "tag-schema", **{d.digest: "cosign-tags" for d in self.moved.values()}}


def sign(registry: RunningRegistry, repo: str) -> Signed:
    image = push_image(registry, repo, "v1")
    sbom = push_referrer(registry, repo, image, SBOM)
    push_tag_schema_index(registry, repo, image.digest, [sbom])
    own = push_cosign_tags(registry, repo, image.digest, ["sig"])
    sigs = f"{repo}-signatures"
    moved = push_cosign_tags(registry, sigs, image.digest)
    return Signed(registry, repo, sigs, image, sbom, own, moved)


@pytest.fixture
def signed(open_registry: RunningRegistry, unique_repo: str) -> Signed:
    return sign(open_registry, unique_repo)


@pytest.fixture
def isolated_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """No docker config or containers auth.json of the machine; ``docker_config(auths)`` writes one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "DOCKER_AUTH_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)

    def docker_config(auths: dict[str, tuple[str, str]] | None = None) -> Path:
        path = tmp_path / f"docker-config-{len(list(tmp_path.glob('docker-config-*')))}.json"
        entries = {
            host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
            for host, (user, password) in (auths or {}).items()
        }
        path.write_text(json.dumps({"auths": entries}))
        return path

    return docker_config


def found(result: Any) -> dict[str, str]:
    return {referrer.digest: referrer.source for referrer in result.referrers}


def record_opened_clients(monkeypatch: pytest.MonkeyPatch) -> list[RegistryClient]:
    """Every client discovery opens from now on (the list fills as they are opened)."""
    opened: list[RegistryClient] = []
    original = discovery.open_client

    async def recording(settings: OciSettings, reference: Reference, **options: Any) -> RegistryClient:
        client = await original(settings, reference, **options)
        opened.append(client)
        return client

    monkeypatch.setattr(discovery, "open_client", recording)
    return opened


# -- the library, one registry ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["auto", "fallback"])
async def test_cosign_tags_are_read_from_the_cosign_repository_instead(
    signed: Signed, method: Literal["auto", "fallback"]
) -> None:
    before = await discover_referrers(signed.ref, method=method, settings=signed.settings)
    assert found(before) == signed.without
    assert before.cosign_repository is None
    assert "cosign_repository" not in json.loads(before.model_dump_json())

    cosign = f"{signed.host}/{signed.sigs}"
    after = await discover_referrers(
        signed.ref, method=method, settings=signed.settings, cosign_repository=cosign
    )
    # the sha256-<hex> index is still read in the image's repository; the cosign tags only in B
    assert found(after) == signed.with_moved
    assert signed.own["sig"].digest not in found(after)
    assert after.method == "tag-schema+cosign-tags"
    assert after.referrers_api_supported is (None if method == "fallback" else False)
    assert after.cosign_repository == cosign
    assert json.loads(after.model_dump_json())["cosign_repository"] == cosign


async def test_a_reference_works_and_the_same_registry_reuses_the_client(
    signed: Signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = record_opened_clients(monkeypatch)
    cosign = Reference.parse(f"{signed.host}/{signed.sigs}")
    result = await discover_referrers(signed.ref, settings=signed.settings, cosign_repository=cosign)
    assert found(result) == signed.with_moved
    assert len(opened) == 1, "one client for the subject, reused for the cosign repository"
    async with RegistryClient(signed.settings) as client:
        again = await discover_referrers(signed.ref, client=client, cosign_repository=cosign)
        assert found(again) == signed.with_moved
    assert len(opened) == 1


async def test_a_missing_cosign_repository_holds_no_cosign_tags(signed: Signed) -> None:
    cosign = f"{signed.host}/{signed.repo}-never-pushed"
    result = await discover_referrers(signed.ref, settings=signed.settings, cosign_repository=cosign)
    assert found(result) == {signed.sbom.digest: "tag-schema"}
    assert result.cosign_repository == cosign


async def test_the_subjects_own_repository_is_no_relocation(signed: Signed) -> None:
    result = await discover_referrers(
        signed.ref, settings=signed.settings, cosign_repository=f"{signed.host}/{signed.repo}"
    )
    assert found(result) == signed.without
    assert result.cosign_repository is None


async def test_the_referrers_api_path_reads_the_cosign_repository_too(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]
) -> None:
    """Issue #15: cosign v2 writes its tags also where the API exists, so the cosign repository is
    read beside the API (changed: it used to be skipped on the API path)."""
    server = oci_server()
    http = pusher(server.url)
    image = push_image(http, "team/app", "v1")
    sbom = push_referrer(http, "team/app", image, SBOM)
    moved = push_cosign_tags(http, "team/signatures", image.digest, ["sig"])
    result = await discover_referrers(
        f"{server.host}/team/app:v1",
        settings=OciSettings(RegistryUrl=server.url),
        cosign_repository=f"{server.host}/team/signatures",
    )
    assert result.method == "referrers-api+cosign-tags"
    assert [(r.digest, r.source) for r in result.referrers] == [
        (sbom.digest, "referrers-api"),
        (moved["sig"].digest, "cosign-tags"),
    ]
    assert result.cosign_repository == f"{server.host}/team/signatures"
    # with --method api only the API is read: nothing listens on port 9
    only_api = await discover_referrers(
        f"{server.host}/team/app:v1",
        method="api",
        settings=OciSettings(RegistryUrl=server.url),
        cosign_repository="127.0.0.1:9/team/signatures",
    )
    assert (only_api.method, only_api.cosign_repository) == ("referrers-api", None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("team/Signatures", "must be lowercase"),
        ("registry.example.com/team/signatures:v1", "cannot have a tag"),
        ("registry.example.com/team/signatures@sha256:" + "a" * 64, "cannot have a digest"),
        ("localhost:5000", "cannot have a tag"),
        ("registry.example.com:99999/team/signatures", "out of range"),
        ("team//signatures", "expected [REGISTRY/]REPOSITORY"),
    ],
)
async def test_a_malformed_cosign_repository_is_a_value_error_before_any_request(
    value: str, reason: str
) -> None:
    # 127.0.0.1:9 refuses connections: a request would raise ConnectError, not ValueError
    with pytest.raises(ValueError, match=r"^invalid cosign repository ") as info:
        await discover_referrers("127.0.0.1:9/app:v1", cosign_repository=value)
    assert isinstance(info.value, InvalidReference)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("team/signatures", "docker.io/team/signatures"),
        ("signatures", "docker.io/library/signatures"),
        ("index.docker.io/team/signatures", "docker.io/team/signatures"),
        (" registry.example.com:5000/team/signatures ", "registry.example.com:5000/team/signatures"),
        ("localhost/signatures", "localhost/signatures"),
        (Reference.parse("registry.example.com/team/signatures"), "registry.example.com/team/signatures"),
    ],
)
def test_cosign_repository_values_as_cosign_reads_them(value: str | Reference, expected: str) -> None:
    parsed = parse_cosign_repository(value)
    assert str(parsed) == expected
    assert (parsed.tag, parsed.digest) == (None, None)


def test_a_reference_with_a_tag_or_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="without tag or digest"):
        parse_cosign_repository(Reference.parse("registry.example.com/team/signatures:v2"))
    with pytest.raises(ValueError, match="without tag or digest"):
        parse_cosign_repository(Reference.parse("registry.example.com/team/sig@sha256:" + "b" * 64))


def test_which_value_is_in_effect_for_the_command_and_the_check() -> None:
    configured = OciSettings(RegistryUrl="https://registry.example.com:8443", CosignRepository="team/config")
    env = {"COSIGN_REPOSITORY": "other.example/team/env"}
    chosen = cosign_repository_in_effect(configured, "team/option", env)
    assert chosen is not None and (str(chosen), chosen.source) == (
        "registry.example.com:8443/team/option",
        "--cosign-repository",
    )
    chosen = cosign_repository_in_effect(configured, None, env)
    assert chosen is not None and (str(chosen), chosen.source) == (
        "registry.example.com:8443/team/config",
        "OCI.CosignRepository",
    )
    chosen = cosign_repository_in_effect(OciSettings(RegistryUrl="registry.example.com"), None, env)
    assert chosen is not None and (str(chosen), chosen.source) == (
        "other.example/team/env",
        "COSIGN_REPOSITORY",
    )
    # no RegistryUrl: a bare name is Docker Hub, as for cosign
    chosen = cosign_repository_in_effect(OciSettings(), None, {"COSIGN_REPOSITORY": "team/env"})
    assert chosen is not None and str(chosen) == "docker.io/team/env"
    # an empty value stops the search: the image's own repository
    assert cosign_repository_in_effect(configured, "", env) is None
    assert cosign_repository_in_effect(OciSettings(CosignRepository=""), None, env) is None
    assert cosign_repository_in_effect(OciSettings(), None, {"COSIGN_REPOSITORY": " "}) is None
    assert cosign_repository_in_effect(OciSettings(), None, {}) is None
    with pytest.raises(InvalidReference, match=r"^invalid COSIGN_REPOSITORY 'Team/X:y': "):
        cosign_repository_in_effect(
            OciSettings(RegistryUrl="r.example"), None, {"COSIGN_REPOSITORY": "Team/X:y"}
        )


# -- the library, a second registry ------------------------------------------------------------------
async def test_on_a_second_registry_configured_credentials_are_never_sent_there(
    open_registry: RunningRegistry,
    registry_factory: Callable[..., RunningRegistry],
    unique_repo: str,
    isolated_credentials: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A static token configured for the first registry is sent before any challenge: a client that
    leaked it would show an ``Authorization`` header at the second registry's proxy."""
    second = registry_factory("open")
    image = push_image(open_registry, unique_repo, "v1")
    sbom = push_referrer(open_registry, unique_repo, image, SBOM)
    push_tag_schema_index(open_registry, unique_repo, image.digest, [sbom])
    moved = push_cosign_tags(second, "team/signatures", image.digest)
    opened = record_opened_clients(monkeypatch)
    with FaultProxy(open_registry.url) as first_proxy, FaultProxy(second.url) as second_proxy:
        first_host, second_host = (f"127.0.0.1:{p.port}" for p in (first_proxy, second_proxy))
        settings = OciSettings.model_validate(
            {
                "RegistryUrl": first_proxy.url,
                "Token": "token-for-the-first-registry",
                "DockerConfig": isolated_credentials(),
            }
        )
        result = await discover_referrers(
            f"{first_host}/{unique_repo}:v1",
            settings=settings,
            cosign_repository=f"{second_host}/team/signatures",
        )
        first_records, second_records = list(first_proxy.records), list(second_proxy.records)
    assert found(result) == {sbom.digest: "tag-schema", **{d.digest: "cosign-tags" for d in moved.values()}}
    assert result.cosign_repository == f"{second_host}/team/signatures"
    # the token did go to the first registry (so the proxies would have seen a leak) ...
    assert any(r.authorization_scheme == "Bearer" for r in first_records)
    # ... and the second registry was read (its cosign tags, directly) without any Authorization header
    assert any("/team/signatures/manifests/sha256-" in r.target for r in second_records)
    assert not [r for r in second_records if r.had_authorization]
    # the second client had no configured credentials, and both clients were closed
    assert [c.credentials.source for c in opened] == ["config:Token", "none"]
    assert all(c._http.is_closed for c in opened)
    # the second client counts in the first one's metrics (a check's http_requests covers both)
    assert opened[1].metrics is opened[0].metrics
    assert opened[0].metrics.requests == len(first_records) + len(second_records)


async def test_on_a_second_registry_its_own_docker_config_credentials_are_used(
    open_registry: RunningRegistry,
    token_registry: RunningRegistry,
    unique_repo: str,
    isolated_credentials: Callable[..., Path],
) -> None:
    """The bait: the configured Basic credentials are *valid* on the second (token-auth) registry.
    Its token server records which user each token was asked for: never the configured one."""
    tokens = token_registry.token_server
    assert tokens is not None
    image = push_image(open_registry, unique_repo, "v1")
    moved = push_cosign_tags(token_registry, unique_repo, image.digest)
    tokens.clear_requests()
    admin, admin_password = token_registry.credentials("admin")
    ref = f"{open_registry.host}/{unique_repo}:v1"
    cosign = f"{token_registry.host}/{unique_repo}"
    configured = OciSettings.model_validate(
        {
            "RegistryUrl": open_registry.url,
            "Username": admin,
            "Password": admin_password,
            "DockerConfig": isolated_credentials(),
        }
    )
    expected = f"reading cosign-style tags from {re.escape(cosign)}: .*none were sent"
    with pytest.raises(AuthenticationError, match=expected):
        await discover_referrers(ref, settings=configured, cosign_repository=cosign)
    assert tokens.requests and {request.user for request in tokens.requests} == {None}

    tokens.clear_requests()
    with_docker_config = configured.model_copy(
        update={
            "DockerConfig": isolated_credentials({token_registry.host: token_registry.credentials("reader")})
        }
    )
    result = await discover_referrers(ref, settings=with_docker_config, cosign_repository=cosign)
    assert found(result) == {d.digest: "cosign-tags" for d in moved.values()}
    assert {request.user for request in tokens.requests} == {"reader"}


# -- the command ---------------------------------------------------------------------------------------
@pytest.fixture
def referrers_cli(
    doctor_cli: Callable[..., CliResult], capsys: pytest.CaptureFixture[str]
) -> Callable[..., Output]:
    """``referrers_cli(environ, *args)``: ``doctor oci referrers ARGS`` with that configuration
    environment (``COSIGN_REPOSITORY`` is read from the process environment: monkeypatch it)."""

    def run(environ: dict[str, str], *args: str) -> Output:
        capsys.readouterr()
        return Output(doctor_cli("oci", "referrers", *args, environ=environ), capsys)

    return run


@pytest.fixture
def signed_cli(signed: Signed, referrers_cli: Callable[..., Output]) -> Callable[..., dict[str, Any]]:
    """``signed_cli(*args, **environ)`` -> the JSON document of ``doctor oci referrers IMAGE ARGS``."""

    def run(*args: str, **environ: str) -> dict[str, Any]:
        output = referrers_cli(
            {"OCI__RegistryUrl": signed.registry.url, **environ}, signed.ref, "--format", "json", *args
        )
        assert output.code == 0, output.err
        document: dict[str, Any] = json.loads(output.out)
        return document

    return run


def digests(document: dict[str, Any]) -> dict[str, str]:
    return {r["digest"]: r["source"] for r in document["referrers"]}


def test_command_honours_cosign_repository_from_the_environment(
    signed: Signed, signed_cli: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = signed_cli()
    assert "cosign_repository" not in plain and digests(plain) == signed.without
    monkeypatch.setenv("COSIGN_REPOSITORY", f"{signed.host}/{signed.sigs}")
    document = signed_cli()
    assert document["cosign_repository"] == f"{signed.host}/{signed.sigs}"
    assert digests(document) == signed.with_moved
    # a bare repository names one on OCI.RegistryUrl
    monkeypatch.setenv("COSIGN_REPOSITORY", signed.sigs)
    assert signed_cli()["cosign_repository"] == f"{signed.host}/{signed.sigs}"


def test_command_option_overrides_configuration_and_environment_and_empty_disables(
    signed: Signed, signed_cli: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = f"{signed.repo}-elsewhere"
    monkeypatch.setenv("COSIGN_REPOSITORY", elsewhere)
    assert digests(signed_cli()) == {signed.sbom.digest: "tag-schema"}  # nothing in 'elsewhere'
    document = signed_cli("--cosign-repository", f"{signed.host}/{signed.sigs}")
    assert (document["cosign_repository"], digests(document)) == (
        f"{signed.host}/{signed.sigs}",
        signed.with_moved,
    )
    # OCI.CosignRepository beats COSIGN_REPOSITORY, the option beats both
    assert digests(signed_cli(OCI__CosignRepository=signed.sigs)) == signed.with_moved
    assert digests(signed_cli("--cosign-repository", elsewhere, OCI__CosignRepository=signed.sigs)) == {
        signed.sbom.digest: "tag-schema"
    }
    # '' ignores the environment variable: the image's own repository
    disabled = signed_cli("--cosign-repository", "")
    assert "cosign_repository" not in disabled and digests(disabled) == signed.without
    assert digests(signed_cli(OCI__CosignRepository="")) == signed.without


def test_command_text_output_says_where_cosign_tags_were_read(
    signed: Signed, referrers_cli: Callable[..., Output]
) -> None:
    environ = {"OCI__RegistryUrl": signed.registry.url}
    moved = referrers_cli(environ, signed.ref, "--cosign-repository", signed.sigs)
    assert moved.code == 0, moved.err
    lines = moved.out.splitlines()
    assert lines[lines.index("Method:         tag-schema+cosign-tags") + 1] == (
        f"Cosign tags:    {signed.host}/{signed.sigs}"
    )
    assert "Referrers:      4" in lines
    plain = referrers_cli(environ, signed.ref)
    assert plain.code == 0 and "Cosign tags" not in plain.out


@pytest.mark.parametrize(
    ("option", "environment", "named"),
    [
        ("Team/Signatures", None, "invalid --cosign-repository 'Team/Signatures': "),
        ("team/signatures:v1", None, "invalid --cosign-repository 'team/signatures:v1': "),
        (None, "team/signatures@sha256:" + "c" * 64, "invalid COSIGN_REPOSITORY 'team/signatures@sha256:"),
    ],
)
def test_command_malformed_cosign_repository_is_a_usage_error(
    referrers_cli: Callable[..., Output],
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    environment: str | None,
    named: str,
) -> None:
    if environment is not None:
        monkeypatch.setenv("COSIGN_REPOSITORY", environment)
    args = ["--cosign-repository", option] if option is not None else []
    output = referrers_cli({}, "127.0.0.1:9/app:v1", *args)
    assert output.code == 2
    assert output.err.startswith(PREFIX + named), output.err
    assert output.err.count("\n") == 1 and "Traceback" not in output.err
    assert output.out == ""


def test_command_malformed_configuration_key_is_a_configuration_error(
    referrers_cli: Callable[..., Output],
) -> None:
    output = referrers_cli({"OCI__CosignRepository": "team/signatures:v1"}, "127.0.0.1:9/app:v1")
    assert output.code == 2
    assert "OCI.CosignRepository" in output.err and "OCI__CosignRepository" in output.err
    assert "cannot have a tag" in output.err
    assert "Traceback" not in output.err


async def test_an_image_on_another_registry_gets_no_configured_credentials_either(
    open_registry: RunningRegistry,
    registry_factory: Callable[..., RunningRegistry],
    isolated_credentials: Callable[..., Path],
) -> None:
    """The same rule for the subject's own client (``doctor oci referrers other-host/app``)."""
    second = registry_factory("open")
    push_image(second, "team/app", "v1")
    with FaultProxy(second.url) as proxy:
        settings = OciSettings.model_validate(
            {
                "RegistryUrl": open_registry.url,
                "Token": "token-for-the-first-registry",
                "DockerConfig": isolated_credentials(),
            }
        )
        result = await discover_referrers(f"127.0.0.1:{proxy.port}/team/app:v1", settings=settings)
        records = list(proxy.records)
    assert result.referrers == []
    assert records and not [r for r in records if r.had_authorization]
