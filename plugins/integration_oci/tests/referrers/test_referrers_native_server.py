"""The native path against devtools.oci_server: a registry that follows the OCI 1.1 referrers API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from doctor_oci.client import RegistryClient
from doctor_oci.client.errors import NotFound
from doctor_oci.referrers import discover_referrers, discover_referrers_sync, probe_referrers_api
from doctor_oci.settings import OciSettings

from devtools.images import PushedImage, push_image, push_referrer
from devtools.oci_server import OciTestServer
from devtools.registry_http import RegistryHttp

SBOM = "application/spdx+json"
SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
LEGACY = "application/vnd.example.legacy.config.v1+json"


def _populate(http: RegistryHttp, sboms: int = 3, sigs: int = 2) -> tuple[PushedImage, dict[str, str]]:
    """An image with ``sboms`` + ``sigs`` referrers and one pre-1.1 (config media type) artifact.

    Returns the image and ``{referrer digest: artifact type}``.
    """
    image = push_image(http, "app", "v1")
    push_image(http, "app", "unrelated")
    expected: dict[str, str] = {}
    for number in range(sboms):
        found = push_referrer(http, "app", image, SBOM, annotations={"n": str(number)})
        expected[found.digest] = SBOM
    for number in range(sigs):
        found = push_referrer(http, "app", image, SIG, annotations={"n": f"sig-{number}"})
        expected[found.digest] = SIG
    legacy = push_referrer(http, "app", image, LEGACY, artifact_type_in_config=True)
    expected[legacy.digest] = LEGACY
    return image, expected


def _referrer_pages(server: OciTestServer) -> int:
    return sum(1 for method, path in server.requests if method == "GET" and "/referrers/" in path)


async def test_pagination_across_several_pages(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]
) -> None:
    server = oci_server(page_size=2)
    image, expected = _populate(pusher(server.url))
    result = await discover_referrers(f"{server.host}/app:v1", settings=OciSettings(RegistryUrl=server.url))
    assert result.method == "referrers-api+cosign-tags"
    assert result.referrers_api_supported is True
    assert result.subject.digest == image.digest
    assert result.subject.reference == f"{server.host}/app:v1"
    assert {r.digest: r.artifact_type for r in result.referrers} == expected
    assert len(result.referrers) == 6
    assert _referrer_pages(server) == 3
    first = result.referrers[0]
    assert (first.annotations, first.source, first.media_type) == (
        {"n": "0"},
        "referrers-api",
        "application/vnd.oci.image.manifest.v1+json",
    )


@pytest.mark.parametrize("apply_filter", [True, False], ids=["server-filters", "client-filters"])
async def test_artifact_type_filter_whether_or_not_the_server_applies_it(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp], apply_filter: bool
) -> None:
    server = oci_server(page_size=2, apply_filter=apply_filter)
    _, expected = _populate(pusher(server.url))
    result = await discover_referrers(
        f"{server.host}/app:v1", SIG, method="api", settings=OciSettings(RegistryUrl=server.url)
    )
    assert {r.digest for r in result.referrers} == {d for d, t in expected.items() if t == SIG}
    assert all(r.artifact_type == SIG for r in result.referrers)
    referrer_requests = [path for method, path in server.requests if "/referrers/" in path]
    assert all("artifactType=" in path for path in referrer_requests)
    assert len(referrer_requests) == (1 if apply_filter else 3)


async def test_the_artifact_type_of_a_pre_1_1_artifact_is_its_config_media_type(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]
) -> None:
    server = oci_server()
    _populate(pusher(server.url))
    result = await discover_referrers(
        f"{server.host}/app:v1", LEGACY, settings=OciSettings(RegistryUrl=server.url)
    )
    assert [r.artifact_type for r in result.referrers] == [LEGACY]


async def test_an_image_without_referrers_gives_an_empty_result(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]
) -> None:
    server = oci_server()
    image = push_image(pusher(server.url), "lonely", "v1")
    result = await discover_referrers(
        f"{server.host}/lonely@{image.digest}", settings=OciSettings(RegistryUrl=server.url)
    )
    assert (result.method, result.referrers_api_supported) == ("referrers-api+cosign-tags", True)
    assert result.referrers == []
    assert result.subject.digest == image.digest


async def test_a_missing_repository_is_not_found(oci_server: Callable[..., OciTestServer]) -> None:
    server = oci_server()
    async with RegistryClient(OciSettings(RegistryUrl=server.url)) as client:
        with pytest.raises(NotFound) as probed:
            await probe_referrers_api(client, "nothere", "sha256:" + "1" * 64)
        assert probed.value.code == "NAME_UNKNOWN"
        with pytest.raises(NotFound):
            await discover_referrers(f"{server.host}/nothere:v1", client=client)


async def test_the_probe_is_shared_with_a_later_discovery_on_the_same_client(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]
) -> None:
    server = oci_server()
    image, expected = _populate(pusher(server.url))
    async with RegistryClient(OciSettings(RegistryUrl=server.url)) as client:
        probe = await probe_referrers_api(client, "app", image.digest)
        assert probe.supported and probe.reason == "200 with an OCI index"
        result = await discover_referrers(f"{server.host}/app:v1", client=client)
    assert len(result.referrers) == len(expected)
    assert _referrer_pages(server) == 1


def test_the_sync_facade(
    oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]
) -> None:
    server = oci_server()
    _, expected = _populate(pusher(server.url), sboms=1, sigs=0)
    result = discover_referrers_sync(
        f"{server.host}/app:v1", SBOM, settings=OciSettings(RegistryUrl=server.url)
    )
    assert len(result.referrers) == 1
    assert expected[result.referrers[0].digest] == SBOM


async def test_the_sync_facade_refuses_to_run_inside_an_event_loop() -> None:
    with pytest.raises(RuntimeError, match="await discover_referrers"):
        discover_referrers_sync("127.0.0.1:1/app:v1")
