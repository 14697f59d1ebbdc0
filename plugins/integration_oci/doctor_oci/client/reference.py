"""Image references and registry addresses, parsed the way docker and distribution parse them.

:meth:`Reference.parse` follows the distribution/reference grammar and normalisation
(``reference.go``, ``normalize.go``): ``docker.io`` is the default registry, single-segment Docker
Hub names get ``library/``, ``index.docker.io`` becomes ``docker.io``, the default tag is
``latest``, the path is at most 255 characters, digests are ``sha256`` (64 hex) or ``sha512``
(128 hex). Bad input raises :class:`InvalidReference` (a ``ValueError``) saying what is wrong.

:class:`RegistryEndpoint` turns ``OCI.RegistryUrl`` (with or without scheme) or a reference's
registry into the URL the API lives at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from doctor_oci.client.hooks import redact

if TYPE_CHECKING:
    from doctor_oci.client.options import ClientSettings

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "InvalidReference",
    "InvalidRegistryUrl",
    "Reference",
    "RegistryEndpoint",
    "digest_algorithm",
    "has_explicit_registry",
    "is_digest",
    "on_configured_registry",
]

DOCKER_HUB = "docker.io"
#: Where Docker Hub's registry API actually lives.
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
MAX_PATH_LENGTH = 255
#: Hex length of each supported digest algorithm.
DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_DIGEST_RE = re.compile(r"^(?P<alg>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)$")
_BARE_HEX_RE = re.compile(r"^[a-f0-9]{64}$")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})


class InvalidReference(ValueError):
    """An image reference, repository, tag or digest does not follow the grammar."""


class InvalidRegistryUrl(ValueError):
    """``RegistryUrl`` (or a registry override) is not a usable registry address."""


def digest_algorithm(digest: str) -> str:
    """The algorithm of a valid digest (``"sha256"``); :class:`InvalidReference` otherwise."""
    match = _DIGEST_RE.match(digest)
    if match is None:
        raise InvalidReference(f"invalid digest {digest!r}: expected 'sha256:<64 hex>' or 'sha512:<128 hex>'")
    alg, encoded = match["alg"], match["hex"]
    length = DIGEST_LENGTHS.get(alg)
    if length is None:
        raise InvalidReference(f"unsupported digest algorithm {alg!r} in {digest!r} (sha256 or sha512)")
    if len(encoded) != length or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReference(
            f"invalid checksum digest length or format in {digest!r}: "
            f"{alg} needs {length} lowercase hex characters"
        )
    return alg


def is_digest(text: str) -> bool:
    """Whether ``text`` is a valid ``sha256:<64 hex>`` / ``sha512:<128 hex>`` digest."""
    try:
        digest_algorithm(text)
    except InvalidReference:
        return False
    return True


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (first != "localhost" and "." not in first and ":" not in first and first == first.lower()):
        return DOCKER_HUB, name
    return first, rest


def _normalize(domain: str, path: str) -> tuple[str, str]:
    if domain.lower() == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return domain, path


@dataclass(frozen=True)
class Reference:
    """A normalised image reference. ``tag`` is ``None`` only for a digest-only reference."""

    registry: str
    repository: str
    tag: str | None = "latest"
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``[registry/]repository[:tag][@digest]`` with docker's normalisation."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidReference("empty image reference")
        text = text.strip()
        if _BARE_HEX_RE.match(text):
            raise InvalidReference(
                f"invalid reference {text!r}: cannot specify a 64-character hexadecimal string as a name"
            )
        match = _REFERENCE_RE.match(text)
        if match is None:
            name_part = re.split(r"[:@]", text.rsplit("/", 1)[-1], maxsplit=1)[0]
            if _REFERENCE_RE.match(text.lower()) and name_part != name_part.lower():
                raise InvalidReference(f"invalid reference {text!r}: repository name must be lowercase")
            raise InvalidReference(
                f"invalid reference format {text!r}: expected [registry/]repository[:tag][@digest]"
            )
        domain, path = _normalize(*_split_domain(match["name"]))
        if len(path) > MAX_PATH_LENGTH:
            raise InvalidReference(
                f"invalid reference: repository name must not be more than {MAX_PATH_LENGTH} characters"
            )
        digest = match["digest"]
        if digest is not None:
            digest_algorithm(digest)
        tag = match["tag"]
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=domain, repository=path, tag=tag, digest=digest)

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> Reference:
        """The reference the checks probe: ``RegistryUrl`` + ``TestRepository`` + ``TestTag``.

        ``TestTag`` may also be a digest. Without ``RegistryUrl`` the registry is Docker Hub.
        """
        registry = RegistryEndpoint.parse(settings.RegistryUrl).host if settings.RegistryUrl else DOCKER_HUB
        repository = settings.TestRepository.strip("/")
        if not _PATH_RE.match(repository):
            raise InvalidReference(
                f"TestRepository {repository!r} is not a valid repository name "
                "(lowercase letters, digits and separators '.', '_', '-', '/')"
            )
        registry, repository = _normalize(registry, repository)
        if len(repository) > MAX_PATH_LENGTH:
            raise InvalidReference(f"TestRepository must not be more than {MAX_PATH_LENGTH} characters")
        test_tag = settings.TestTag.strip()
        if ":" in test_tag:
            digest_algorithm(test_tag)
            return cls(registry=registry, repository=repository, tag=None, digest=test_tag)
        if not _TAG_RE.match(test_tag):
            raise InvalidReference(f"TestTag {test_tag!r} is not a valid tag (up to 128 of [A-Za-z0-9_.-])")
        return cls(registry=registry, repository=repository, tag=test_tag)

    @property
    def reference(self) -> str:
        """What goes into ``/v2/<name>/manifests/<reference>``: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where a registry's API lives.

    ``host`` is the registry as written in image references (``docker.io``, ``localhost:5000``);
    ``api_host`` is where requests go (``registry-1.docker.io`` for Docker Hub);
    ``base_url`` is ``scheme://api_host`` without a trailing slash.
    """

    scheme: str
    host: str
    api_host: str

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.api_host}"

    @property
    def hostname(self) -> str:
        """``host`` without the port (brackets kept for IPv6)."""
        if self.host.startswith("["):
            return self.host[: self.host.index("]") + 1]
        return self.host.rsplit(":", 1)[0] if ":" in self.host else self.host

    @classmethod
    def parse(cls, text: str) -> RegistryEndpoint:
        """Parse ``RegistryUrl``: ``https://host[:port][/path]``, ``http://...`` or ``host[:port][/path]``.

        Without a scheme https is assumed, except for loopback hosts (``localhost``,
        ``127.0.0.1``, ``[::1]``), which use plain http as docker does. The path (``/v2/`` or
        anything else) is ignored: the API is always at ``/v2/`` on the host. Docker Hub's
        aliases map to ``docker.io`` served from ``registry-1.docker.io``.
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidRegistryUrl("the registry address is empty")
        raw = text.strip()
        explicit_scheme: str | None = None
        if "://" in raw:
            parts = urlsplit(raw)
            explicit_scheme = parts.scheme.lower()
            if explicit_scheme not in {"http", "https"}:
                raise InvalidRegistryUrl(
                    redact(f"registry URL {raw!r} must use https:// or http://, not {parts.scheme}://")
                )
            netloc = parts.netloc
        else:
            netloc = raw.split("/", 1)[0]
        if "@" in netloc:
            raise InvalidRegistryUrl(
                "the registry URL must not contain credentials; use OCI Username/Password or Token"
            )
        if not netloc or not _DOMAIN_RE.match(netloc):
            raise InvalidRegistryUrl(redact(f"{raw!r} is not a valid registry address (host[:port])"))
        host = netloc.lower()
        hostname = host[: host.index("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
        port = host[len(hostname) + 1 :] if len(host) > len(hostname) else ""
        if port and not 0 < int(port) < 65536:
            raise InvalidRegistryUrl(f"port {port} in {raw!r} is out of range")
        if hostname in _HUB_ALIASES and not port:
            if explicit_scheme == "http":
                raise InvalidRegistryUrl("Docker Hub is only served over https")
            return cls(scheme="https", host=DOCKER_HUB, api_host=DOCKER_HUB_API)
        scheme = explicit_scheme or ("http" if hostname in _LOOPBACK else "https")
        return cls(scheme=scheme, host=host, api_host=host)

    @classmethod
    def from_settings(cls, settings: ClientSettings, registry: str | None = None) -> RegistryEndpoint:
        """``registry`` (host[:port]) if given, else ``RegistryUrl``, else Docker Hub."""
        if registry:
            return cls.parse(registry)
        if settings.RegistryUrl:
            return cls.parse(settings.RegistryUrl)
        return cls(scheme="https", host=DOCKER_HUB, api_host=DOCKER_HUB_API)


def has_explicit_registry(image: str) -> bool:
    """Whether ``image`` starts with a registry host (docker's rule: ``localhost``, a '.' or ':',
    or upper case in the first of several '/'-separated parts)."""
    first, separator, _ = image.strip().partition("/")
    if not separator:
        return False
    return first == "localhost" or "." in first or ":" in first or first != first.lower()


def on_configured_registry(name: str, registry_url: str | None) -> str:
    """``name`` (an image or repository as a user writes it) with ``registry_url``'s host in front
    when it names no registry itself: a short name means the configured registry, Docker Hub only
    when none is configured. The one rule for ``doctor oci referrers IMAGE`` and cosign repositories.

    :raises InvalidRegistryUrl: ``registry_url`` is set but unusable.
    """
    text = name.strip()
    if not registry_url or has_explicit_registry(text):
        return text
    return f"{RegistryEndpoint.parse(registry_url).host}/{text}"
