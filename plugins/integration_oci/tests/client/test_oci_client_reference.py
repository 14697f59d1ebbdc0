"""Reference grammar (distribution/reference vectors) and RegistryUrl resolution."""

from __future__ import annotations

import pytest
from doctor_oci.client import InvalidReference, InvalidRegistryUrl, Reference, RegistryEndpoint, is_digest
from doctor_oci.settings import OciSettings

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "b" * 128


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("docker.io/busybox", "docker.io", "library/busybox", "latest", None),
        ("index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", None),
        ("library/foo/bar", "docker.io", "library/foo/bar", "latest", None),
        ("localhost/foo", "localhost", "foo", "latest", None),
        ("LOCALDOMAIN/foo", "LOCALDOMAIN", "foo", "latest", None),
        ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase", "latest", None),
        ("[::1]:5000/repo", "[::1]:5000", "repo", "latest", None),
        ("test.com:5000", "docker.io", "library/test.com", "5000", None),
        ("lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", None),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
        (f"repo@{SHA256}", "docker.io", "library/repo", None, SHA256),
        (f"ghcr.io/o/r:v1@{SHA512}", "ghcr.io", "o/r", "v1", SHA512),
        ("localhost", "docker.io", "library/localhost", "latest", None),
        ("a.b-c__d/x", "a.b-c__d", "x", "latest", None),
    ],
)
def test_valid_references(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.reference == (digest or tag)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[2001:db8::1]:5000", "invalid reference format"),
        ("[fe80::1%eth0]:5000/repo", "invalid reference format"),
        ("repo@sha256:" + "a" * 34, "sha256 needs 64"),
        ("repo@sha256:" + "A" * 64, "lowercase hex"),
        ("repo@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("Uppercase:tag", "must be lowercase"),
        ("example.com/" + "a" * 256, "not be more than 255"),
        ("a" * 64, "64-character hexadecimal"),
        ("", "empty"),
        ("repo:" + "t" * 129, "invalid reference format"),
        ("repo::tag", "invalid reference format"),
    ],
)
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        Reference.parse(text)
    assert issubclass(InvalidReference, ValueError)


def test_str_round_trip() -> None:
    assert str(Reference.parse("busybox")) == "docker.io/library/busybox:latest"
    assert str(Reference.parse(f"localhost:5000/a/b@{SHA256}")) == f"localhost:5000/a/b@{SHA256}"


def test_is_digest() -> None:
    assert is_digest(SHA256) and is_digest(SHA512)
    assert not is_digest("sha256:abc") and not is_digest("latest") and not is_digest("sha1:" + "a" * 40)


@pytest.mark.parametrize(
    ("url", "scheme", "host", "base_url"),
    [
        (
            "registry.example.com:5000",
            "https",
            "registry.example.com:5000",
            "https://registry.example.com:5000",
        ),
        ("https://registry.example.com/", "https", "registry.example.com", "https://registry.example.com"),
        ("http://registry.example.com/v2/", "http", "registry.example.com", "http://registry.example.com"),
        ("registry.example.com/some/path", "https", "registry.example.com", "https://registry.example.com"),
        ("localhost:5000", "http", "localhost:5000", "http://localhost:5000"),
        ("127.0.0.1:5000/", "http", "127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("[::1]:5000", "http", "[::1]:5000", "http://[::1]:5000"),
        ("https://localhost:5000", "https", "localhost:5000", "https://localhost:5000"),
        ("docker.io", "https", "docker.io", "https://registry-1.docker.io"),
        ("https://index.docker.io/v1/", "https", "docker.io", "https://registry-1.docker.io"),
        ("  GHCR.io  ", "https", "ghcr.io", "https://ghcr.io"),
    ],
)
def test_registry_endpoint(url: str, scheme: str, host: str, base_url: str) -> None:
    endpoint = RegistryEndpoint.parse(url)
    assert (endpoint.scheme, endpoint.host, endpoint.base_url) == (scheme, host, base_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://registry.example.com", "must use https:// or http://"),
        ("https://user:secret@registry.example.com", "must not contain credentials"),
        ("", "empty"),
        ("registry.example.com:99999", "out of range"),
        ("http://docker.io", "only served over https"),
        ("bad host!", "not a valid registry address"),
    ],
)
def test_invalid_registry_url(url: str, message: str) -> None:
    with pytest.raises(InvalidRegistryUrl, match=message) as info:
        RegistryEndpoint.parse(url)
    assert "secret" not in str(info.value)


def test_reference_from_settings() -> None:
    ref = Reference.from_settings(
        OciSettings(RegistryUrl="https://r.example.com:5000/", TestRepository="a/b")
    )
    assert str(ref) == "r.example.com:5000/a/b:latest"
    hub = Reference.from_settings(OciSettings(TestRepository="alpine", TestTag="3.20"))
    assert str(hub) == "docker.io/library/alpine:3.20"
    pinned = Reference.from_settings(OciSettings(RegistryUrl="localhost:5000", TestTag=SHA256))
    assert pinned.digest == SHA256 and pinned.tag is None
    with pytest.raises(InvalidReference, match="TestRepository"):
        Reference.from_settings(OciSettings(TestRepository="Bad/Name"))
    with pytest.raises(InvalidReference, match="TestTag"):
        Reference.from_settings(OciSettings(TestTag="-bad"))
