"""The one JSON parser for bodies a registry, token service or credential helper sends.

Every registry-supplied JSON document (token answers, tag lists, manifests, referrers indexes,
error bodies, credential-helper output) goes through :func:`parse_json`, so one set of limits
holds everywhere:

* **Nesting depth** is at most :data:`MAX_JSON_DEPTH` (64; OCI documents nest about 5 deep).
  CPython's ``json`` recurses once per level: 200,000 ``[`` would raise ``RecursionError``,
  which no caller handles and which the CLI reports as an internal error. Here it is a
  :class:`~doctor_oci.client.errors.ProtocolError` (the peer sent something the protocol does
  not allow), as is a document deeper than the limit that the C parser happened to accept
  (code walking the result must not be the one to recurse too deep).
* **Bytes** are never unbounded here: callers pass bodies the transport already capped.
* **Text** must be UTF-8 (RFC 8259 section 8.1); other bytes are a protocol error.

Go's ``encoding/json`` refuses nesting beyond 10,000; doctor is stricter because nothing it
reads needs more than a handful of levels.
"""

from __future__ import annotations

import json
from typing import Any

from doctor_oci.client.errors import ProtocolError

__all__ = ["MAX_JSON_DEPTH", "json_depth_exceeds", "parse_json"]

#: Deepest nesting of arrays/objects accepted in a registry JSON body.
MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``value`` (a parsed JSON document) nests containers deeper than ``limit``.

    Iterative (an explicit stack), so it cannot itself run out of recursion depth.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(
    body: bytes | str,
    *,
    what: str,
    status: int | None = None,
    request: str | None = None,
) -> Any:
    """``body`` parsed as JSON, or :class:`ProtocolError` ("<what> is not valid JSON ...").

    ``what`` names the document for the message (``"the tag list"``); ``status`` and ``request``
    (a redacted ``"METHOD URL"``) are carried by the error. Never raises ``RecursionError``,
    ``UnicodeDecodeError`` or ``ValueError``: every failure is a :class:`ProtocolError`.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not UTF-8 text", status=status, request=request) from None
    try:
        data = json.loads(text)
    except RecursionError:
        data = None
        too_deep = True
    except ValueError:
        raise ProtocolError(f"{what} is not valid JSON", status=status, request=request) from None
    else:
        too_deep = json_depth_exceeds(data)
    if too_deep:
        raise ProtocolError(
            f"{what} nests JSON deeper than {MAX_JSON_DEPTH} levels; refused",
            status=status,
            request=request,
        )
    return data
