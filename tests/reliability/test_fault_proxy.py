"""The fault proxy itself: each mode does what the matrix relies on (against the real registry)."""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest

from tests.reliability.fault_proxy import HUGE_BODY_BYTES, Fault, FaultKind, FaultProxyError, ProxyPool
from tests.reliability.support import SUBJECT_REPO, ReliabilityRegistry

ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


@pytest.fixture
def proxy(reliability_registry: ReliabilityRegistry, proxy_pool: ProxyPool):  # type: ignore[no-untyped-def]
    started = proxy_pool.proxy(reliability_registry.registry.url)
    yield started
    started.stop()


def _manifest_url(proxy) -> str:  # type: ignore[no-untyped-def]
    return f"{proxy.url}/v2/{SUBJECT_REPO}/manifests/latest"


def test_pass_through_keeps_host_so_upload_locations_point_at_the_proxy(proxy) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(timeout=5) as client:
        assert client.get(_manifest_url(proxy), headers=ACCEPT).status_code == 200
        started = client.post(f"{proxy.url}/v2/{SUBJECT_REPO}/blobs/uploads/")
        assert started.status_code == 202
        assert started.headers["location"].startswith(proxy.url)
        assert client.delete(started.headers["location"]).status_code == 204
    assert proxy.hits == 0


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.REFUSED, httpx.ConnectError),
        (FaultKind.RESET_AFTER_REQUEST, httpx.ReadError),
        (FaultKind.RESET_MID_BODY, httpx.ReadError),
        (FaultKind.STALL, httpx.ReadTimeout),
    ],
)
def test_connection_faults(proxy, kind: FaultKind, error: type[Exception]) -> None:  # type: ignore[no-untyped-def]
    proxy.set_fault(kind)
    with pytest.raises(error):
        httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=1)
    proxy.clear()
    assert httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("kind", "status", "retry_after"),
    [
        (FaultKind.HTTP_500, 500, None),
        (FaultKind.HTTP_502, 502, None),
        (FaultKind.HTTP_503, 503, None),
        (FaultKind.RATE_LIMIT, 429, None),
        (FaultKind.RATE_LIMIT_RETRY_AFTER, 429, "30"),
    ],
)
def test_status_faults(proxy, kind: FaultKind, status: int, retry_after: str | None) -> None:  # type: ignore[no-untyped-def]
    proxy.set_fault(kind)
    response = httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=5)
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    assert proxy.hits == 1


def test_body_faults(proxy) -> None:  # type: ignore[no-untyped-def]
    healthy = httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=5).content
    proxy.set_fault(FaultKind.TRUNCATED_JSON)
    truncated = httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=5).content
    assert healthy.startswith(truncated) and len(truncated) < len(healthy)
    proxy.set_fault(FaultKind.WRONG_CONTENT_TYPE)
    wrong = httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=5)
    assert wrong.headers["content-type"].startswith("text/html")
    proxy.set_fault(FaultKind.HUGE_BODY)
    with httpx.stream("GET", _manifest_url(proxy), headers=ACCEPT, timeout=5) as response:
        assert int(response.headers["content-length"]) == HUGE_BODY_BYTES
        assert sum(len(chunk) for chunk in response.iter_bytes()) == HUGE_BODY_BYTES


def test_trickle_sends_about_one_byte_per_second(proxy) -> None:  # type: ignore[no-untyped-def]
    proxy.set_fault(FaultKind.TRICKLE)
    received = b""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(f"GET /v2/{SUBJECT_REPO}/manifests/latest HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                received += sock.recv(1024)
            except TimeoutError:
                break
    assert received.startswith(b"HTTP/1.1"[: len(received)])
    assert 1 <= len(received) <= 4, received


def test_redirect_goes_to_the_foreign_host_which_records_authorization(proxy) -> None:  # type: ignore[no-untyped-def]
    proxy.set_fault(FaultKind.REDIRECT_FOREIGN)
    response = httpx.get(_manifest_url(proxy), timeout=5)
    assert response.status_code == 307
    target = response.headers["location"]
    assert target.startswith(proxy.foreign.url)
    before = len(proxy.foreign.authorizations)
    bait = httpx.get(target, headers={"Authorization": "Basic dGVzdDp0ZXN0"}, timeout=5)
    assert bait.status_code == 401 and "Basic" in bait.headers["www-authenticate"]
    assert len(proxy.foreign.authorizations) == before + 1


def test_tls_wrong_name_fails_verification_and_path_targeting(proxy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proxy.set_fault(FaultKind.TLS_WRONG_NAME)
    ca = tmp_path / "ca.pem"
    proxy.ca.cert_pem.write_to_path(str(ca))
    with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        httpx.get(_manifest_url(proxy), verify=ssl.create_default_context(cafile=str(ca)), timeout=5)
    proxy.set_fault(FaultKind.HTTP_500, path=r"/referrers/", limit=1)
    assert httpx.get(_manifest_url(proxy), headers=ACCEPT, timeout=5).status_code == 200
    referrers = f"{proxy.url}/v2/{SUBJECT_REPO}/referrers/sha256:{'0' * 64}"
    assert httpx.get(referrers, timeout=5).status_code == 500
    assert httpx.get(referrers, timeout=5).status_code == 404  # limit reached: the registry answers
    assert proxy.hits == 1


def test_misuse_is_a_typed_error(proxy_pool: ProxyPool) -> None:
    with pytest.raises(FaultProxyError, match="loopback"):
        proxy_pool.proxy("http://192.0.2.1:5000")
    with pytest.raises(FaultProxyError, match="regex"):
        Fault(FaultKind.HTTP_500, path="(")
    with pytest.raises(FaultProxyError, match="listener"):
        Fault(FaultKind.REFUSED, path="/v2/")
