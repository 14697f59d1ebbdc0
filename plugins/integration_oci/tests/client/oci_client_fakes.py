"""Test doubles shared by the OCI client tests."""

from __future__ import annotations


class FakeSleep:
    """Records the delays a retry policy asks for, without sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
