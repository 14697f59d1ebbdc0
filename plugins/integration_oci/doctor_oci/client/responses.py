"""Which registry response means which error: the one place that maps a response to a
:mod:`~doctor_oci.client.errors` class (status, the registry's error codes and message, a
redirect to another host, ``Retry-After``)."""

from __future__ import annotations

from typing import Any

import httpx

from doctor_oci.client.errors import (
    MAX_DETAIL_CHARS,
    AuthenticationError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    RedirectedToAnotherHost,
    RegistryError,
    Unsupported,
)
from doctor_oci.client.headers import parse_retry_after
from doctor_oci.client.jsonbody import parse_json
from doctor_oci.client.urls import describe_request, same_origin

__all__ = ["error_from_response", "parse_error_body", "redirected_to_another_host"]


def parse_error_body(content: bytes) -> tuple[tuple[str, ...], str | None]:
    """``(codes, first message)`` of an ``{"errors":[{"code","message","detail"}]}`` body.

    Any other body (HTML, plain text, broken JSON) gives ``((), short text)``: the spec allows any
    format for 4xx bodies, so this never raises.
    """
    text = content[:8192].decode("utf-8", errors="replace").strip()
    try:
        data = parse_json(text, what="the error body") if text.startswith("{") else None
    except ProtocolError:
        data = None
    codes: list[str] = []
    message: str | None = None
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        for item in data["errors"]:
            if not isinstance(item, dict):
                continue
            code = item.get("code")
            if isinstance(code, str) and code:
                codes.append(code.upper())
            if message is None and isinstance(item.get("message"), str) and item["message"]:
                message = item["message"]
    elif data is None and text and not text.lstrip().startswith("<"):
        message = text
    if message is not None and len(message) > MAX_DETAIL_CHARS:
        message = message[:MAX_DETAIL_CHARS] + "..."
    return tuple(codes), message


def redirected_to_another_host(response: httpx.Response) -> RedirectedToAnotherHost | None:
    """The error for a 401 that came from another host the registry redirected to, else ``None``.

    ``response`` is the last response of a redirect chain (its ``history`` holds the earlier hops,
    as the transport records them). Only a 401 qualifies: the transport never sends credentials
    to another host, so that host's 401 cannot be about the configured credentials. The message
    names the original request by method and path (no query: it may carry signed values).
    """
    if response.status_code != 401 or not response.history:
        return None
    try:
        first = response.history[0].request
        last = response.request
    except RuntimeError:
        return None
    if same_origin(first.url, last.url):
        return None
    host = last.url.host + (f":{last.url.port}" if last.url.port is not None else "")
    codes, detail = parse_error_body(response.content) if response.content else ((), None)
    return RedirectedToAnotherHost(
        f"the registry redirected {first.method} {first.url.path} to another host ({host}), which "
        f"answered {response.status_code}; credentials are never sent to another host",
        host=host,
        status=response.status_code,
        codes=codes,
        request=describe_request(last),
        detail=detail,
    )


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


def error_from_response(
    response: httpx.Response,
    *,
    request: str | None = None,
    credentials_sent: bool = False,
    credentials_valid: bool | None = None,
) -> RegistryError:
    """The typed error a non-success ``response`` stands for.

    A 401 from another host the registry redirected to is :class:`RedirectedToAnotherHost`
    (see :func:`redirected_to_another_host`). ``credentials_sent`` says whether the request
    carried credentials (a 401 then means they were rejected, not missing); ``credentials_valid``
    overrides what a 403 says about them.
    Authentication nuances that need the client's state (``insufficient_scope`` after a token
    was granted) are decided by ``RegistryClient.error_for``, which calls this for the rest.
    """
    status = response.status_code
    elsewhere = redirected_to_another_host(response)
    if elsewhere is not None:
        return elsewhere
    codes, detail = parse_error_body(response.content) if response.content else ((), None)
    kwargs: dict[str, Any] = {"status": status, "codes": codes, "request": request, "detail": detail}
    said = (
        f" ({', '.join(codes)}{': ' + detail if detail else ''})"
        if codes
        else (f" ({detail})" if detail else "")
    )
    if status == 401:
        if credentials_sent:
            return AuthenticationError(f"the registry rejected the credentials (HTTP 401){said}", **kwargs)
        return AuthenticationError(f"the registry requires authentication (HTTP 401){said}", **kwargs)
    if status == 403:
        valid = credentials_sent if credentials_valid is None else credentials_valid
        return PermissionDenied(f"access denied (HTTP 403){said}", credentials_valid=valid, **kwargs)
    if status == 404:
        return NotFound(f"not found (HTTP 404){said}", **kwargs)
    if status == 429:
        return RateLimited(
            f"rate limited by the registry (HTTP 429){said}", retry_after=_retry_after(response), **kwargs
        )
    if status == 405 or (status == 400 and "UNSUPPORTED" in codes):
        return Unsupported(f"the registry does not support this operation (HTTP {status}){said}", **kwargs)
    if 200 <= status < 400:
        return ProtocolError(f"unexpected HTTP {status} from the registry{said}", **kwargs)
    return RegistryError(f"the registry answered HTTP {status}{said}", **kwargs)
