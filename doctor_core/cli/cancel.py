"""The one way the command line runs async work: SIGINT and SIGTERM cancel it cleanly.

A run (``doctor.arun``) turns the cancellation into a partial report marked interrupted; a plugin
command that lets :class:`asyncio.CancelledError` out is reported as interrupted (exit 130).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def _cancel_on_signal(awaitable: Awaitable[T]) -> T:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed = []
    if task is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, task.cancel)
            except (ValueError, NotImplementedError, RuntimeError):
                continue  # not the main thread, or no signal support: Ctrl-C raises KeyboardInterrupt
            installed.append(sig)
    try:
        return await awaitable
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_cancellable(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` in a bounded event loop (:func:`doctor_core.isolation.run_bounded`),
    SIGINT/SIGTERM cancelling it; :class:`asyncio.CancelledError` propagates when it gives up."""
    from doctor_core.isolation import run_bounded

    return run_bounded(_cancel_on_signal(awaitable))
