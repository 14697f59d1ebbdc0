"""``PageBudget``: one allowance per paged listing (issue #12 item 3)."""

from __future__ import annotations

import asyncio

import pytest
from doctor_oci.client.budget import BudgetExceeded, PageBudget
from doctor_oci.client.errors import ProtocolError, ResponseTooLarge


def test_each_limit_stops_the_listing_with_a_clear_error() -> None:
    budget = PageBudget("the tag list", max_bytes=100, max_entries=10, max_pages=3)
    budget.charge(40, 4)
    with pytest.raises(BudgetExceeded, match=r"^the tag list is too large: more than 10 entries") as caught:
        budget.charge(40, 7)
    assert caught.value.limit == "entries" and isinstance(caught.value, ProtocolError)
    bytes_budget = PageBudget(max_bytes=100)
    with pytest.raises(BudgetExceeded, match="more than 100 bytes"):
        bytes_budget.charge(101, 1)
    pages = PageBudget(max_pages=2)
    pages.charge(1, 1)
    pages.charge(1, 1)
    with pytest.raises(BudgetExceeded, match="more than 2 pages"):
        pages.before_page()


def test_the_body_cap_is_what_is_left() -> None:
    budget = PageBudget(max_bytes=1000)
    assert budget.body_cap(4096) == 1000
    budget.charge(900, 1)
    assert budget.body_cap(4096) == 100
    assert budget.body_cap(50) == 50


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        PageBudget(max_pages=0)
    with pytest.raises(ValueError, match="positive"):
        PageBudget(max_seconds=0)


async def test_read_page_turns_time_and_bytes_into_budget_errors() -> None:
    slow = PageBudget("the referrers list", max_seconds=0.2)

    async def hang(cap: int) -> None:
        await asyncio.sleep(10)

    with pytest.raises(BudgetExceeded, match=r"took more than 0\.2 s") as caught:
        await slow.read_page(hang, 4096)
    assert caught.value.limit == "seconds"

    almost = PageBudget(max_bytes=1000)
    almost.charge(990, 1)

    async def big(cap: int) -> None:
        raise ResponseTooLarge(f"over {cap}", limit=cap)

    with pytest.raises(BudgetExceeded, match="more than 1000 bytes"):
        await almost.read_page(big, 4096)
    # a page larger than the per-response cap itself stays ResponseTooLarge
    with pytest.raises(ResponseTooLarge):
        await PageBudget().read_page(big, 4096)
