"""URL helpers shared by the transport, the authenticator and the Link parser.

``origin`` is what "the same host" means for credentials: scheme, lower-cased host and the
effective port (``https://h`` and ``https://h:443`` are the same origin; ``http://h`` is not).
``describe_request`` is the redacted ``"METHOD URL"`` carried by errors and log lines: query
values other than a few harmless protocol parameters are masked (upload ``_state`` tokens,
pre-signed storage URLs and token requests stay out of output).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from doctor_oci.client.hooks import MASK, redact

__all__ = ["Origin", "describe_origin", "describe_request", "describe_url", "origin", "same_origin"]

Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Query parameters whose values are safe to show (protocol parameters, never credentials).
_SHOWN_PARAMS = frozenset(
    {"n", "last", "digest", "mount", "from", "service", "scope", "artifactType", "artifacttype", "account"}
)


def origin(url: str | httpx.URL) -> Origin:
    """``(scheme, host, effective port)`` of ``url``."""
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(str(url))
    scheme = parsed.scheme.lower()
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS.get(scheme, 0)
    return scheme, parsed.host.lower(), port


def same_origin(a: str | httpx.URL, b: str | httpx.URL) -> bool:
    try:
        return origin(a) == origin(b)
    except (httpx.InvalidURL, ValueError):
        return False


def describe_origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url``: where a request goes, without path, query or userinfo."""
    try:
        scheme, host, port = origin(url)
    except (httpx.InvalidURL, ValueError):
        return MASK
    shown = f"[{host}]" if ":" in host else host
    default = _DEFAULT_PORTS.get(scheme)
    return redact(f"{scheme}://{shown}" + ("" if port == default else f":{port}"))


def describe_url(url: str | httpx.URL) -> str:
    """``url`` without userinfo and with query values outside the harmless set masked, redacted."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return MASK
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [
            (key, value if key in _SHOWN_PARAMS else MASK)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe=":/*,",
    )
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def describe_request(request: httpx.Request | None) -> str | None:
    """``"METHOD URL"`` of ``request`` for errors and logs (see :func:`describe_url`)."""
    if request is None:
        return None
    return f"{request.method} {describe_url(request.url)}"
