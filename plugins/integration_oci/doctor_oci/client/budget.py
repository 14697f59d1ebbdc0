"""One allowance for a paged operation: bytes, entries, pages and wall time across all its pages.

A response is already bounded on its own (the transport's ``max_body_bytes``), but a registry can
serve endless *distinct* ``Link: rel="next"`` pages, each within that bound: without an allowance
for the whole operation memory and time grow without limit (issue #12: ~70 MiB per tags page to a
``MemoryError``; 100 referrers pages of 14k entries peaked at 2.4 GiB). :class:`PageBudget` is the
one mechanism for that, used by :meth:`RegistryClient.list_tags` and the referrers API listing
alike; there is no separate page cap anywhere.

Use: create one per operation, :meth:`PageBudget.body_cap` gives the next response's byte cap
(never more than what is left), :meth:`PageBudget.charge` books a page after it was read and
raises :class:`BudgetExceeded` (a :class:`ProtocolError`, so callers and the CLI treat it like any
other registry misbehaviour: one clear error, exit 1) when a limit is passed. The defaults are
generous for real registries (distribution 2.8 answers ``n=1000`` with every tag; 10,000
referrers at 10 per page are 1,000 pages) and keep a hostile registry under ~200 MB of memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from doctor_oci.client.errors import ProtocolError, ResponseTooLarge

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_TAGS",
    "BudgetExceeded",
    "PageBudget",
]

#: Response bytes across all pages of one operation.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Entries (referrer descriptors) across all pages: 50,000 referrers are ~90 MB of objects.
DEFAULT_MAX_ENTRIES = 50_000
#: Tags across all pages (short strings: 250,000 are ~20 MB).
DEFAULT_MAX_TAGS = 250_000
#: Pages followed (10,000 referrers at 10 per page need 1,000).
DEFAULT_MAX_PAGES = 5_000
#: Wall time of the whole listing, in seconds (the command's ``--deadline`` bounds it further).
DEFAULT_MAX_SECONDS = 120.0


class BudgetExceeded(ProtocolError):
    """A paged listing went past its :class:`PageBudget`; ``limit`` names the limit that was hit
    (``bytes``, ``entries``, ``pages`` or ``seconds``)."""

    def __init__(self, message: str, *, limit: str, request: str | None = None) -> None:
        self.limit = limit
        super().__init__(message, request=request)


@dataclass
class PageBudget:
    """The allowance of one paged operation (see the module docstring); not shared between operations.

    ``what`` names the listing in messages (``"the tag list"``, ``"the referrers list"``).
    """

    what: str = "the list"
    max_bytes: int = DEFAULT_MAX_BYTES
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_pages: int = DEFAULT_MAX_PAGES
    max_seconds: float | None = DEFAULT_MAX_SECONDS
    bytes_used: int = field(default=0, init=False)
    entries: int = field(default=0, init=False)
    pages: int = field(default=0, init=False)
    _started: float = field(default_factory=time.monotonic, init=False, repr=False)

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_entries, self.max_pages) < 1:
            raise ValueError("a page budget's max_bytes, max_entries and max_pages must be positive")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError("a page budget's max_seconds must be positive (or None)")

    def body_cap(self, response_cap: int) -> int:
        """The byte cap for the next response: ``response_cap`` or what is left, whichever is less
        (at least 1, so that an exhausted budget fails on the next page's first byte)."""
        return max(1, min(response_cap, self.max_bytes - self.bytes_used))

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def remaining_seconds(self) -> float | None:
        """Seconds left of ``max_seconds`` (``None``: no time limit)."""
        return None if self.max_seconds is None else self.max_seconds - self.elapsed()

    def before_page(self, request: str | None = None) -> None:
        """Raise when one more page is not allowed (page count or time already used up)."""
        if self.pages >= self.max_pages:
            raise self._exceeded("pages", f"more than {self.max_pages} pages", request)
        left = self.remaining_seconds()
        if left is not None and left <= 0:
            raise self._exceeded("seconds", f"took more than {self.max_seconds:g} s", request)

    async def read_page(
        self, fetch: Callable[[int], Awaitable[T]], response_cap: int, request: str | None = None
    ) -> T:
        """Run ``fetch(body_cap)`` for the next page within what is left of the budget.

        Raises :class:`BudgetExceeded` before the request when no page is left, when the time
        runs out during it (the request is cancelled), or when the body passes the remaining
        bytes (the transport stops reading there). The caller books the page with :meth:`charge`.
        """
        self.before_page(request)
        cap = self.body_cap(response_cap)
        try:
            async with asyncio.timeout(self.remaining_seconds()):
                return await fetch(cap)
        except TimeoutError:
            raise self._exceeded("seconds", f"took more than {self.max_seconds:g} s", request) from None
        except ResponseTooLarge:
            if cap < response_cap:
                raise self._exceeded("bytes", f"more than {self.max_bytes} bytes", request) from None
            raise

    def charge(self, body_bytes: int, entries: int, request: str | None = None) -> None:
        """Book one page that was read; raise :class:`BudgetExceeded` when a limit is passed."""
        self.pages += 1
        self.bytes_used += body_bytes
        self.entries += entries
        if self.bytes_used > self.max_bytes:
            raise self._exceeded("bytes", f"more than {self.max_bytes} bytes", request)
        if self.entries > self.max_entries:
            raise self._exceeded("entries", f"more than {self.max_entries} entries", request)

    def _exceeded(self, limit: str, detail: str, request: str | None) -> BudgetExceeded:
        return BudgetExceeded(
            f"{self.what} is too large: {detail} (after {self.pages} pages, {self.entries} entries, "
            f"{self.bytes_used} bytes in {self.elapsed():.1f} s; doctor's limit for one listing)",
            limit=limit,
            request=request,
        )
