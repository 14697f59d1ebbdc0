"""Containment of plugin faults: what a plugin can do to the process, and how doctor stops it.

A plugin runs inside doctor's process, so nothing here is a sandbox; these are the faults doctor
contains, each with one mechanism used everywhere it applies:

* **Exceptions that are not errors.** ``SystemExit``, ``KeyboardInterrupt`` and any other
  ``BaseException`` raised by plugin code are that plugin's fault (:func:`is_plugin_fault`), except
  a ``KeyboardInterrupt`` that can only be the user's Ctrl-C: the one Python raises from its
  default SIGINT handler. The CLI (and :func:`run_bounded`) turn SIGINT into a cancellation of the
  run instead, so under them every ``KeyboardInterrupt`` raised inside a check is the check's own.
* **Imports that never return.** :func:`call_with_timeout` runs a plugin's import in a daemon
  thread and stops waiting after a bound; the thread stays stuck, but cannot keep the process alive.
* **Work that ignores cancellation.** The engine abandons such a check (:func:`note_abandoned`);
  :func:`run_bounded` gives what is still running a bounded time at the end instead of waiting
  forever as :func:`asyncio.run` does, and the console script exits with ``os._exit`` when
  anything was abandoned (:func:`abandoned`), so neither non-daemon threads nor ``atexit``
  handlers can hold the process.
* **Writes to stdout.** While plugin code runs (imports, hooks, checks), ``sys.stdout`` is sent to
  stderr (:func:`plugin_stdout_to_stderr`): stdout carries only the report, so JSON and JUnit stay
  parseable. Writes to file descriptor 1 itself (``os.write(1, ...)``, C extensions) are not caught.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:  # asyncio is imported where it is used: ``doctor list`` does not need it
    import asyncio

T = TypeVar("T")

__all__ = [
    "PluginAborted",
    "PluginTimeout",
    "abandoned",
    "call_with_timeout",
    "is_plugin_fault",
    "note_abandoned",
    "plugin_stdout_to_stderr",
    "run_bounded",
]

#: Seconds :func:`run_bounded` waits, after the main coroutine returned, for tasks still running.
SHUTDOWN_GRACE_S = 1.0


class PluginTimeout(Exception):
    """Plugin code did not return within its bound (it is still running, in a daemon thread)."""


class PluginAborted(Exception):
    """Plugin code raised a ``BaseException`` that is not an ``Exception`` (``SystemExit(5)``, ...).

    Carried as an ordinary ``Exception`` so that a caller's ``except Exception`` contains it; the
    message is the original's ``"TypeName: message"``.
    """


def is_user_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` can only be the user's Ctrl-C rather than something plugin code raised.

    True for a ``KeyboardInterrupt`` in the main thread while SIGINT still has Python's default
    handler (which raises exactly that). Under the CLI and :func:`run_bounded`, SIGINT cancels the
    run instead, so a ``KeyboardInterrupt`` seen there was raised by code.
    """
    if not isinstance(exc, KeyboardInterrupt):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        return signal.getsignal(signal.SIGINT) is signal.default_int_handler
    except (ValueError, TypeError):  # pragma: no cover - no signal support
        return False


def is_plugin_fault(exc: BaseException) -> bool:
    """Whether ``exc``, raised by plugin code, is contained as that plugin's error.

    Everything is, except a cancellation (the caller's own control flow) and a genuine Ctrl-C.
    """
    aio = sys.modules.get("asyncio")  # not imported: ``exc`` cannot be a CancelledError
    if aio is not None and isinstance(exc, aio.CancelledError):
        return False
    return not is_user_interrupt(exc)


# ------------------------------------------------------------------------ abandoned work
_abandoned_lock = threading.Lock()
_abandoned: list[str] = []
_abandoned_tasks: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()


def note_abandoned(what: str, task: asyncio.Future[Any] | None = None) -> None:
    """Record that ``what`` (a check, an import) was left running: the process must not wait for it.

    With ``task``, :func:`run_bounded` does not give that task a second grace period at shutdown.
    """
    with _abandoned_lock:
        _abandoned.append(what)
        if task is not None:
            _abandoned_tasks.add(task)


def abandoned() -> tuple[str, ...]:
    """What was left running in this process, in the order it was abandoned."""
    with _abandoned_lock:
        return tuple(_abandoned)


def call_with_timeout(function: Callable[[], T], timeout_s: float, name: str) -> T:
    """``function()`` in a daemon thread; :class:`PluginTimeout` when it has not returned in ``timeout_s``.

    An ``Exception`` raised by ``function`` is re-raised here, in the caller's thread; any other
    ``BaseException`` (``SystemExit``, a ``KeyboardInterrupt`` raised by the code -- the user's
    Ctrl-C arrives in the caller's thread, not in this one) becomes :class:`PluginAborted`.
    A timed-out call keeps its thread; it is recorded with :func:`note_abandoned`.
    """
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as exc:  # delivered to the caller, which decides what it means
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        note_abandoned(name)
        raise PluginTimeout(f"did not finish within {timeout_s:g} s (still running; left behind)")
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    if isinstance(value, Exception):
        raise value
    from doctor_core.redaction import describe_exception

    raise PluginAborted(describe_exception(value)) from None


# ------------------------------------------------------------------------------- stdout
class _ToStderr:
    """A text stream that writes to whatever ``sys.stderr`` is at the time of each write."""

    encoding = "utf-8"
    errors = "replace"

    def write(self, text: str) -> int:
        stream = sys.stderr
        if stream is None or stream is self:
            return len(text)
        return stream.write(text)

    def flush(self) -> None:
        stream = sys.stderr
        if stream is not None and stream is not self:
            stream.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


_stdout_lock = threading.Lock()
_stdout_depth = 0
_saved_stdout: TextIO | None = None


@contextlib.contextmanager
def plugin_stdout_to_stderr() -> Iterator[None]:
    """Send ``sys.stdout`` to stderr while plugin code runs (re-entrant, process-wide).

    Callers that write the report keep a reference to the real stdout taken before (the CLI
    takes ``sys.stdout`` when it starts), so only plugin output is moved.
    """
    global _stdout_depth, _saved_stdout
    with _stdout_lock:
        if _stdout_depth == 0:
            _saved_stdout = sys.stdout
            sys.stdout = _ToStderr()
        _stdout_depth += 1
    try:
        yield
    finally:
        with _stdout_lock:
            _stdout_depth -= 1
            if _stdout_depth == 0:
                if isinstance(sys.stdout, _ToStderr) and _saved_stdout is not None:
                    sys.stdout = _saved_stdout
                _saved_stdout = None


# -------------------------------------------------------------------------- event loop
def run_bounded(main: Coroutine[Any, Any, T], *, shutdown_grace_s: float = SHUTDOWN_GRACE_S) -> T:
    """:func:`asyncio.run`, except that shutting down never waits without bound.

    ``asyncio.run`` cancels the tasks still running when ``main`` returns and then waits for all
    of them: a check that swallows ``CancelledError`` would hang the process there. Here they get
    ``shutdown_grace_s`` seconds; what is still running then is abandoned (recorded with
    :func:`note_abandoned`, its "destroyed but pending" warning silenced). The default executor
    and async generators get the same bound. In the main thread, SIGINT cancels ``main`` (as
    ``asyncio.run`` does on the first Ctrl-C) unless a handler is already installed.
    """
    import asyncio

    loop = asyncio.new_event_loop()
    left_behind: set[asyncio.Future[Any]] = set()

    def exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("task") in left_behind or context.get("future") in left_behind:
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(exception_handler)
    try:
        asyncio.set_event_loop(loop)
        task = loop.create_task(main)
        installed = False
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            try:
                loop.add_signal_handler(signal.SIGINT, task.cancel)
                installed = True
            except (ValueError, NotImplementedError, RuntimeError):  # pragma: no cover
                installed = False
        try:
            return loop.run_until_complete(task)
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGINT)
    finally:
        try:
            _shutdown(loop, shutdown_grace_s, left_behind)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _shutdown(loop: asyncio.AbstractEventLoop, grace_s: float, left_behind: set[asyncio.Future[Any]]) -> None:
    import asyncio

    end = time.monotonic() + grace_s
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    with _abandoned_lock:
        waited = [task for task in pending if task not in _abandoned_tasks]
    if waited:
        loop.run_until_complete(asyncio.wait(waited, timeout=grace_s))
    for task in pending:
        if not task.done():
            left_behind.add(task)
            if task in waited:
                note_abandoned(f"task {task.get_name()}", task)
    for step in (loop.shutdown_asyncgens, loop.shutdown_default_executor):
        remaining = max(0.05, end - time.monotonic())
        future = loop.create_task(step())
        loop.run_until_complete(asyncio.wait([future], timeout=remaining))
        if not future.done():
            left_behind.add(future)
            future.cancel()
            note_abandoned(step.__name__)
