"""The time a running check has left, for the check and for library code working on its behalf.

The engine gives every check a deadline: its start plus its timeout, or the run's deadline when
that comes first (a ``time.monotonic()`` value). A check reads it as ``ctx.deadline`` or
``ctx.remaining()``; code that does not get the context -- a shared HTTP client used by several
checks -- calls :func:`time_left`, which reads the deadline of the check whose task (or worker
thread) is calling. Outside a check it returns ``None``: no deadline is known.

Why it matters: at the deadline the engine cancels the check, gives its cleanup a short grace and
then abandons it. A client that plans retries or per-attempt timeouts past the deadline only
wastes them; bounded by :func:`time_left`, it fails with its own, more precise error in time.
"""

from __future__ import annotations

import contextvars
import time

__all__ = ["time_left"]

#: The monotonic deadline of the check running in this context (set by the engine).
CHECK_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "doctor_check_deadline", default=None
)


def time_left() -> float | None:
    """Seconds until the current check's deadline (``<= 0`` once passed), or ``None`` outside a check."""
    deadline = CHECK_DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()
