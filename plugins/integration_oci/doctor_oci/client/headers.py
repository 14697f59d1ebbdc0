"""Parsers of the registry response headers doctor acts on (rate limits, ``Retry-After``).

A leaf module: the standard library and httpx's header type only, so every layer (errors,
transport, client, checks) can use one parser. ``WWW-Authenticate`` and ``Link`` have their own
leaf modules (:mod:`~doctor_oci.client.challenge`, :mod:`~doctor_oci.client.link`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RateLimit", "parse_rate_limit", "parse_retry_after"]


@dataclass
class RateLimit:
    """Docker Hub style rate-limit headers: ``ratelimit-limit: 100;w=21600`` and friends."""

    limit: int | None
    remaining: int | None
    window_s: int | None
    source: str | None


def _limit_value(text: str | None) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    first, *params = [part.strip() for part in text.split(";")]
    value: int | None
    try:
        value = int(first.split(",")[0].strip())
    except ValueError:
        value = None
    window: int | None = None
    for param in params:
        key, _, raw = param.partition("=")
        if key.strip().lower() == "w":
            with contextlib.suppress(ValueError):
                window = int(raw.strip())
    return value, window


def parse_rate_limit(headers: httpx.Headers | Mapping[str, str]) -> RateLimit | None:
    """The rate limit the headers announce, or ``None`` when none is sent (no limit applies)."""
    hdrs = headers if isinstance(headers, httpx.Headers) else httpx.Headers(dict(headers))
    limit_text = hdrs.get("ratelimit-limit")
    remaining_text = hdrs.get("ratelimit-remaining")
    source = hdrs.get("docker-ratelimit-source")
    if limit_text is None and remaining_text is None:
        return None
    limit, window = _limit_value(limit_text)
    remaining, remaining_window = _limit_value(remaining_text)
    return RateLimit(limit=limit, remaining=remaining, window_s=window or remaining_window, source=source)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); ``None`` if absent or garbage.

    Garbage includes non-finite numbers (``inf``, ``nan``) and negative delta-seconds; an HTTP
    date in the past means "now" (``0.0``).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    try:
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
