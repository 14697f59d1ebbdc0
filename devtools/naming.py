"""Valid, unique repository names for tests (distribution's grammar: lower-case path components)."""

from __future__ import annotations

import re

_NAME_INVALID = re.compile(r"[^a-z0-9]+")
_MAX_SLUG = 60


def repository_name(test_name: str, number: int, *, namespace: str = "test") -> str:
    """``<namespace>/<slug of test_name>-<number>``: lower-case, separators collapsed to ``-``.

    ``Test_Weird[Param/1]`` and 7 give ``test/test-weird-param-1-7``; a name with nothing usable
    becomes ``repo``.
    """
    if number < 0:
        raise ValueError(f"number must be >= 0, got {number}")
    slug = _NAME_INVALID.sub("-", test_name.lower()).strip("-")[:_MAX_SLUG].strip("-") or "repo"
    ns = _NAME_INVALID.sub("-", namespace.lower()).strip("-")
    if not ns:
        raise ValueError(f"namespace {namespace!r} has no usable characters")
    return f"{ns}/{slug}-{number}"
