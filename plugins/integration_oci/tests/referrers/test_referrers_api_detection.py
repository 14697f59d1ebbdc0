"""Referrers API support detection and hostile answers, with respx (cases a real registry cannot show)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from doctor_oci.client import RegistryClient
from doctor_oci.client.budget import BudgetExceeded, PageBudget
from doctor_oci.client.errors import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RegistryError,
    ResponseTooLarge,
)
from doctor_oci.referrers import (
    MAX_PAGES,
    ReferrersApiUnsupported,
    discover_referrers,
    list_api_referrers,
    probe_referrers_api,
    referrers_tag,
)
from referrers_helpers import (
    MOCK_URL,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    index_bytes,
    manifest_bytes,
)

SUBJECT_BYTES = manifest_bytes()
SUBJECT = digest_of(SUBJECT_BYTES)
OTHER = "sha256:" + "e" * 64
REFERRERS = f"/v2/app/referrers/{SUBJECT}"
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64
SBOM = "application/spdx+json"
SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"


def _subject_routes(router: respx.MockRouter) -> None:
    headers = {"Docker-Content-Digest": SUBJECT, "Content-Type": OCI_MANIFEST}
    router.head("/v2/app/manifests/v1").respond(200, headers=headers)
    router.get("/v2/app/manifests/v1").respond(200, headers=headers, content=SUBJECT_BYTES)


def _index_response(entries: list[Any], status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers={"Content-Type": OCI_INDEX, **headers}, content=index_bytes(entries)
    )


# ----------------------------------------------------------------------------- support detection


@pytest.mark.parametrize(
    ("response", "supported", "reason_part", "code"),
    [
        (_index_response([descriptor(A, SBOM)]), True, "200 with an OCI index", None),
        (
            httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<html>welcome</html>"),
            False,
            "200 without an OCI index (text/html)",
            None,
        ),
        (
            httpx.Response(200, headers={"Content-Type": OCI_INDEX}, content=b"{broken"),
            False,
            "200 without an OCI index",
            None,
        ),
        (
            httpx.Response(
                404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            ),
            False,
            "404 MANIFEST_UNKNOWN without an OCI index (application/json)",
            "MANIFEST_UNKNOWN",
        ),
        (
            httpx.Response(
                404, headers={"Content-Type": "text/plain; charset=utf-8"}, content=b"404 page not found"
            ),
            False,
            "404 without an OCI index (text/plain)",
            None,
        ),
        (
            httpx.Response(
                400, json={"errors": [{"code": "MANIFEST_INVALID", "message": "unknown subject"}]}
            ),
            False,
            "400 MANIFEST_INVALID",
            "MANIFEST_INVALID",
        ),
        (httpx.Response(405), False, "405 (method not allowed)", None),
        (httpx.Response(406), False, "406 (not acceptable)", None),
        (httpx.Response(501), False, "501 (not implemented)", None),
        (_index_response([], status=404), True, "404 with an OCI index", None),
    ],
    ids=[
        "200-index",
        "false-200-html",
        "200-malformed-json",
        "404-manifest-unknown-ghcr",
        "404-text-plain",
        "400-quay",
        "405",
        "406",
        "501",
        "404-with-index",
    ],
)
async def test_support_detection_rules(
    router: respx.MockRouter,
    mock_client: RegistryClient,
    response: httpx.Response,
    supported: bool,
    reason_part: str,
    code: str | None,
) -> None:
    route = router.get(REFERRERS).mock(return_value=response)
    probe = await probe_referrers_api(mock_client, "app", SUBJECT)
    assert probe.supported is supported
    assert reason_part in probe.reason
    assert probe.status == response.status_code
    assert probe.error_code == code
    assert (probe.index is not None) is supported
    assert route.call_count == 1


async def test_404_name_unknown_means_the_repository_is_missing_and_is_not_cached(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    route = router.get(REFERRERS).respond(
        404, json={"errors": [{"code": "NAME_UNKNOWN", "message": "no repo"}]}
    )
    with pytest.raises(NotFound) as caught:
        await probe_referrers_api(mock_client, "app", SUBJECT)
    assert caught.value.code == "NAME_UNKNOWN"
    with pytest.raises(NotFound):
        await probe_referrers_api(mock_client, "app", SUBJECT)
    assert route.call_count == 2


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, PermissionDenied)])
async def test_401_and_403_are_errors_not_unsupported(
    router: respx.MockRouter, mock_client: RegistryClient, status: int, error: type[Exception]
) -> None:
    router.get(REFERRERS).respond(status, json={"errors": [{"code": "DENIED", "message": "no"}]})
    with pytest.raises(error):
        await probe_referrers_api(mock_client, "app", SUBJECT)


async def test_a_server_error_is_raised_not_taken_for_unsupported(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    router.get(REFERRERS).respond(500, json={"errors": [{"code": "UNKNOWN", "message": "boom"}]})
    with pytest.raises(RegistryError) as caught:
        await probe_referrers_api(mock_client, "app", SUBJECT)
    assert caught.value.status == 500


async def test_concurrent_probes_share_one_request(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    route = router.get(REFERRERS).mock(return_value=_index_response([descriptor(A, SBOM)]))
    probes = await asyncio.gather(*(probe_referrers_api(mock_client, "app", SUBJECT) for _ in range(5)))
    assert {probe.supported for probe in probes} == {True}
    assert route.call_count == 1


async def test_an_unsupported_repository_is_not_probed_again_for_another_digest(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    first = router.get(REFERRERS).respond(404, text="404 page not found")
    second = router.get(f"/v2/app/referrers/{OTHER}").respond(404, text="404 page not found")
    assert not (await probe_referrers_api(mock_client, "app", SUBJECT)).supported
    assert not (await probe_referrers_api(mock_client, "app", OTHER)).supported
    assert (first.call_count, second.call_count) == (1, 0)


async def test_the_cache_is_per_repository(router: respx.MockRouter, mock_client: RegistryClient) -> None:
    router.get(REFERRERS).respond(404, text="404 page not found")
    other_repo = router.get(f"/v2/other/referrers/{SUBJECT}").mock(return_value=_index_response([]))
    assert not (await probe_referrers_api(mock_client, "app", SUBJECT)).supported
    assert (await probe_referrers_api(mock_client, "other", SUBJECT)).supported
    assert other_repo.call_count == 1


# ----------------------------------------------------------------------------- native listing


async def test_api_listing_follows_relative_links_and_filters_client_side_when_the_registry_did_not(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    _subject_routes(router)
    page2 = f"{REFERRERS}?page=2"
    router.get(REFERRERS, params={"artifactType": SBOM}).mock(
        return_value=_index_response([descriptor(A, SBOM), descriptor(B, SIG)], Link=f'<{page2}>; rel="next"')
    )
    router.get(REFERRERS, params={"page": "2"}).mock(return_value=_index_response([descriptor(C, SBOM)]))
    result = await discover_referrers(f"{MOCK_URL[8:]}/app:v1", SBOM, client=mock_client)
    assert result.method == "referrers-api+cosign-tags"
    assert result.referrers_api_supported is True
    assert [r.digest for r in result.referrers] == [A, C]
    assert {r.source for r in result.referrers} == {"referrers-api"}


@pytest.mark.parametrize("how", ["header", "annotation"])
async def test_a_filter_the_registry_says_it_applied_is_trusted(
    router: respx.MockRouter, mock_client: RegistryClient, how: str
) -> None:
    _subject_routes(router)
    entries = [descriptor(A, SBOM), descriptor(B, SIG)]
    if how == "header":
        response = _index_response(entries, status=200, **{"OCI-Filters-Applied": "artifactType"})
    else:
        body = index_bytes(
            entries, annotations={"org.opencontainers.referrers.filtersApplied": "artifactType"}
        )
        response = httpx.Response(200, headers={"Content-Type": OCI_INDEX}, content=body)
    router.get(REFERRERS, params={"artifactType": SBOM}).mock(return_value=response)
    result = await discover_referrers("registry.test/app:v1", SBOM, client=mock_client)
    assert [r.digest for r in result.referrers] == [A, B]


async def test_malformed_api_entries_are_skipped(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    _subject_routes(router)
    entries = [descriptor(A, SBOM), {"digest": "nope"}, 17, descriptor(B, SIG, size=-5), descriptor(C, None)]
    router.get(REFERRERS).mock(return_value=_index_response(entries))
    result = await discover_referrers("registry.test/app:v1", client=mock_client)
    assert [(r.digest, r.artifact_type) for r in result.referrers] == [(A, SBOM), (C, None)]


async def test_a_link_to_another_host_is_refused(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    _subject_routes(router)
    evil_route = router.get(url__startswith="https://evil.test").respond(200)
    router.get(REFERRERS).mock(
        return_value=_index_response(
            [descriptor(A, SBOM)], Link=f'<https://evil.test{REFERRERS}?p=2>; rel="next"'
        )
    )
    with pytest.raises(ProtocolError, match="another host"):
        await discover_referrers("registry.test/app:v1", client=mock_client)
    assert evil_route.call_count == 0


async def test_a_pagination_loop_is_detected(router: respx.MockRouter, mock_client: RegistryClient) -> None:
    _subject_routes(router)
    router.get(REFERRERS, params={"page": "2"}).mock(
        return_value=_index_response([descriptor(B, SBOM)], Link=f'<{REFERRERS}?page=3>; rel="next"')
    )
    router.get(REFERRERS, params={"page": "3"}).mock(
        return_value=_index_response([descriptor(C, SBOM)], Link=f'<{REFERRERS}?page=2>; rel="next"')
    )
    router.get(REFERRERS).mock(
        return_value=_index_response([descriptor(A, SBOM)], Link=f'<{REFERRERS}?page=2>; rel="next"')
    )
    with pytest.raises(ProtocolError, match="loop"):
        await discover_referrers("registry.test/app:v1", client=mock_client)


async def test_endless_pagination_stops_at_the_listing_budget(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    """Issue #15/#12: no fixed page cap; the listing's budget stops endless distinct pages with a
    clear error (the default budget allows MAX_PAGES pages; a small one keeps the test fast)."""
    _subject_routes(router)

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        entry = descriptor("sha256:" + f"{number:064x}", SBOM)
        return _index_response([entry], Link=f'<{REFERRERS}?page={number + 1}>; rel="next"')

    route = router.get(REFERRERS).mock(side_effect=page)
    probe = await probe_referrers_api(mock_client, "app", SUBJECT)
    with pytest.raises(BudgetExceeded, match="more than 50 pages") as caught:
        budget = PageBudget("the referrers list", max_pages=50)
        await list_api_referrers(mock_client, "app", probe, budget=budget)
    assert caught.value.limit == "pages" and isinstance(caught.value, ProtocolError)
    assert route.call_count == 50
    assert MAX_PAGES >= 1000  # 10,000 referrers at 10 per page fit the default budget


async def test_a_page_that_is_not_an_index_is_a_protocol_error(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    _subject_routes(router)
    router.get(REFERRERS, params={"page": "2"}).respond(
        200, headers={"Content-Type": "text/html"}, text="<p>"
    )
    router.get(REFERRERS).mock(return_value=_index_response([], Link=f'<{REFERRERS}?page=2>; rel="next"'))
    with pytest.raises(ProtocolError, match="page 2 of the referrers list is not an OCI index"):
        await discover_referrers("registry.test/app:v1", client=mock_client)


async def test_a_50_mb_referrers_body_is_cut_off_at_the_cap(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    sent: list[int] = []

    async def huge() -> AsyncIterator[bytes]:
        chunk = b"[" * (1024 * 1024)
        for number in range(50):
            sent.append(number)
            yield chunk

    router.get(REFERRERS).mock(
        side_effect=lambda request: httpx.Response(200, headers={"Content-Type": OCI_INDEX}, content=huge())
    )
    with pytest.raises(ResponseTooLarge):
        await probe_referrers_api(mock_client, "app", SUBJECT)
    assert len(sent) < 50


async def test_method_api_on_a_registry_without_the_api_is_an_error_with_the_reason(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    _subject_routes(router)
    router.get(REFERRERS).respond(404, headers={"Content-Type": "text/plain"}, text="404 page not found")
    with pytest.raises(ReferrersApiUnsupported, match=r"404 without an OCI index \(text/plain\)"):
        await discover_referrers("registry.test/app:v1", method="api", client=mock_client)


# ----------------------------------------------------------------------------- fallback edge cases


def _fallback_routes(router: respx.MockRouter, tag_response: httpx.Response, tags: list[str]) -> None:
    _subject_routes(router)
    router.get(REFERRERS).respond(404, headers={"Content-Type": "text/plain"}, text="404 page not found")
    router.get(f"/v2/app/manifests/{referrers_tag(SUBJECT)}").mock(return_value=tag_response)
    router.get("/v2/app/tags/list").respond(200, json={"name": "app", "tags": tags})


async def test_a_tag_schema_index_whose_entries_are_not_descriptors(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    body = index_bytes([{"mediaType": OCI_MANIFEST}, "x", descriptor(A, SBOM), {"digest": B, "size": "big"}])
    response = httpx.Response(
        200, headers={"Content-Type": OCI_INDEX, "Docker-Content-Digest": digest_of(body)}, content=body
    )
    _fallback_routes(router, response, ["v1", referrers_tag(SUBJECT)])
    result = await discover_referrers("registry.test/app:v1", client=mock_client)
    assert result.method == "tag-schema+cosign-tags"
    assert result.referrers_api_supported is False
    assert [(r.digest, r.source) for r in result.referrers] == [(A, "tag-schema")]


async def test_a_referrers_tag_holding_the_subject_itself_means_no_referrers(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    """GitLab answers ``manifests/sha256-<hex>`` with the subject manifest."""
    response = httpx.Response(
        200, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": SUBJECT}, content=SUBJECT_BYTES
    )
    _fallback_routes(router, response, ["v1"])
    result = await discover_referrers("registry.test/app:v1", client=mock_client)
    assert result.referrers == []


async def test_a_referrers_tag_that_is_not_an_index_means_no_referrers(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    body = manifest_bytes(artifactType=SBOM)
    response = httpx.Response(
        200, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest_of(body)}, content=body
    )
    _fallback_routes(router, response, ["v1"])
    assert (await discover_referrers("registry.test/app:v1", client=mock_client)).referrers == []


async def test_a_referrers_tag_with_malformed_json_means_no_referrers(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    response = httpx.Response(200, headers={"Content-Type": OCI_INDEX}, content=b'{"manifests": [')
    _fallback_routes(router, response, ["v1"])
    assert (await discover_referrers("registry.test/app:v1", client=mock_client)).referrers == []


async def test_cosign_tags_and_the_index_are_merged_without_duplicates(
    router: respx.MockRouter, mock_client: RegistryClient
) -> None:
    signature = manifest_bytes(annotations={"kind": "sig"})
    sig_digest = digest_of(signature)
    body = index_bytes(
        [
            descriptor(sig_digest, "application/vnd.oci.image.config.v1+json", size=len(signature)),
            descriptor(A, SBOM),
        ]
    )
    response = httpx.Response(
        200, headers={"Content-Type": OCI_INDEX, "Docker-Content-Digest": digest_of(body)}, content=body
    )
    stem = referrers_tag(SUBJECT)
    _fallback_routes(router, response, ["v1", f"{stem}.sig", f"{stem}.att", "sha256-" + "f" * 64 + ".sig"])
    router.get(f"/v2/app/manifests/{stem}.sig").respond(
        200, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sig_digest}, content=signature
    )
    att = manifest_bytes(artifactType="application/vnd.dsse.envelope.v1+json")
    router.get(f"/v2/app/manifests/{stem}.att").respond(
        200, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest_of(att)}, content=att
    )
    result = await discover_referrers("registry.test/app:v1", client=mock_client)
    assert [(r.digest, r.source) for r in result.referrers] == [
        (sig_digest, "tag-schema"),
        (A, "tag-schema"),
        (digest_of(att), "cosign-tags"),
    ]
    attestation = result.referrers[2]
    assert attestation.artifact_type == "application/vnd.dsse.envelope.v1+json"
    assert attestation.size == len(att)


async def test_arguments_are_validated(mock_client: RegistryClient) -> None:
    with pytest.raises(ValueError, match="method"):
        await discover_referrers("registry.test/app:v1", method="magic", client=mock_client)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        await discover_referrers("registry.test/app:v1", concurrency=0, client=mock_client)
    with pytest.raises(ValueError, match="artifact_type"):
        await discover_referrers("registry.test/app:v1", "  ", client=mock_client)
