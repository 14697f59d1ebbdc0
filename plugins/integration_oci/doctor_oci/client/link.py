"""RFC 8288 ``Link`` header parsing for pagination (tags list, catalog, referrers).

Only ``rel="next"`` matters. Relative targets are resolved against the request URL; a target on
another origin is refused with :class:`ProtocolError` (a paginated response must not send the
client, and its credentials, elsewhere). Malformed headers give ``None``.
"""

from __future__ import annotations

from urllib.parse import urljoin

from doctor_oci.client.errors import ProtocolError
from doctor_oci.client.urls import describe_url, same_origin

__all__ = ["next_link", "parse_links"]


def _split_outside(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside ``<...>`` and quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    in_angle = in_quote = False
    escaped = False
    for char in text:
        if in_quote:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
            continue
        if char == '"':
            in_quote = True
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char == separator and not in_angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_links(link_header: str | None) -> list[tuple[str, dict[str, str]]]:
    """``[(target, params)]`` for each link-value; parameter names lower-cased, quotes removed."""
    if not link_header:
        return []
    links: list[tuple[str, dict[str, str]]] = []
    for value in _split_outside(link_header, ","):
        value = value.strip()
        if not value.startswith("<") or ">" not in value:
            continue
        target, _, rest = value[1:].partition(">")
        params: dict[str, str] = {}
        for param in _split_outside(rest, ";"):
            name, sep, raw = param.strip().partition("=")
            if not name:
                continue
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1].replace('\\"', '"')
            params[name.strip().lower()] = raw if sep else ""
        links.append((target.strip(), params))
    return links


def next_link(link_header: str | None, base_url: str) -> str | None:
    """The absolute URL of the ``rel="next"`` link, or ``None``.

    ``base_url`` is the URL of the response carrying the header. Raises :class:`ProtocolError`
    when the link points at another scheme, host or port.
    """
    for target, params in parse_links(link_header):
        if "next" not in params.get("rel", "").lower().split():
            continue
        if not target:
            return None
        absolute = urljoin(base_url, target)
        if not absolute.lower().startswith(("http://", "https://")):
            return None
        if not same_origin(absolute, base_url):
            raise ProtocolError(
                f"the registry's pagination link points to another host ({describe_url(absolute)})",
                request=f"GET {describe_url(base_url)}",
            )
        return absolute
    return None
