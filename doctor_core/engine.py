"""The runner: selected checks in, one :class:`~doctor_core.models.Report` out.

Contract:

* bounded concurrency (``RunOptions.concurrency``); each check under its own timeout
  (``estimated_duration_s * timeout_factor`` unless ``timeout`` overrides it), the whole run under
  ``deadline`` seconds;
* checks run per target (:mod:`doctor_core.targets`) get the concurrency bound per target;
* a check's callable is resolved only when it is about to run; ``async`` functions run in a task
  of their own, plain functions in a daemon thread (a hung sync check cannot be interrupted, but
  it cannot keep the process alive either);
* every check gets a deadline (``ctx.deadline``: its start plus its timeout, or the run's deadline
  if earlier), also readable by library code through :func:`doctor_core.deadlines.time_left`;
* whatever goes wrong inside a check -- import failure, exception, ``SystemExit``,
  ``KeyboardInterrupt`` raised by code or any other ``BaseException``
  (:func:`~doctor_core.isolation.is_plugin_fault`), timeout, a return value that is not a
  :class:`~doctor_core.models.CheckOutcome` -- becomes a result with status ``error``;
  every text of a result is redacted;
* at its timeout or the run's deadline a check is cancelled and given ``deadline_grace_s`` for its
  cleanup; one that has not stopped by then (it swallowed ``CancelledError``, or a sync check is
  stuck in its thread) is *abandoned*: reported as such, and nobody waits for it any more;
* cancellation of the run (Ctrl-C in the CLI, ``task.cancel()`` for embedders) cancels running
  checks so their ``finally`` blocks run (within ``cleanup_grace_s``, longer: cleanup such as
  cancelling an upload session is worth it when the user stops the run), marks them ``error``
  "interrupted", marks checks not started ``skip`` "not run: interrupted", and still returns the
  report (``interrupted=True``);
* a single step of a check (the code between two ``await``) that holds the event loop for
  ``BLOCKING_STEP_S`` or more -- ``time.sleep`` in async code -- is named in the check's result
  (metric ``event_loop_blocked_ms``, a note in the message); each step is timed with two clock
  reads, so healthy checks are not slowed;
* ``sys.stdout`` goes to stderr while checks and hooks run
  (:func:`~doctor_core.isolation.plugin_stdout_to_stderr`);
* shared resources are closed after every check has finished, in reverse order of creation.

Results are ordered as the checks were given (discovery order), not by finish time.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from doctor_core.deadlines import CHECK_DEADLINE
from doctor_core.defaults import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_S, DEFAULT_TIMEOUT_FACTOR
from doctor_core.isolation import is_plugin_fault, note_abandoned, plugin_stdout_to_stderr
from doctor_core.models import CheckDefinition, CheckOutcome, CheckResult, Report, Status, Summary
from doctor_core.plugins import PluginManager
from doctor_core.redaction import describe_exception, redact, redact_value, register_secret
from doctor_core.targets import ScopedResources
from doctor_core.types import Check, CheckContext

T = TypeVar("T")

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_DEADLINE_S", "DEFAULT_TIMEOUT_FACTOR", "Engine", "RunOptions"]

_RECOMMENDING = frozenset({Status.INFO, Status.WARN, Status.FAIL, Status.ERROR})
#: A step of a check holding the event loop this long (seconds) is named in its result.
BLOCKING_STEP_S = 1.0


@dataclass(frozen=True)
class RunOptions:
    """Knobs of one run. ``timeout`` overrides every check's own timeout when set."""

    timeout: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    deadline: float = DEFAULT_DEADLINE_S
    timeout_factor: float = DEFAULT_TIMEOUT_FACTOR
    cleanup_grace_s: float = 5.0
    deadline_grace_s: float = 1.0
    close_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not self.deadline > 0:
            raise ValueError("deadline must be a positive number of seconds")

    def timeout_for(self, definition: CheckDefinition) -> float:
        return (
            self.timeout
            if self.timeout is not None
            else definition.estimated_duration_s * self.timeout_factor
        )


class RunResources:
    """The per-run :class:`~doctor_core.types.SharedResources`: single-flight creation, ordered close."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._created: list[tuple[str, Any]] = []

    async def get(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(factory())
            self._tasks[key] = task
            task.add_done_callback(functools.partial(self._settled, key))
        return await asyncio.shield(task)

    def _settled(self, key: str, task: asyncio.Future[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            if self._tasks.get(key) is task:
                del self._tasks[key]  # a failed creation is retried by the next caller
            return
        self._created.append((key, task.result()))

    async def aclose(self, timeout_s: float, on_error: Callable[[str, BaseException], None]) -> None:
        """Close every created object (``aclose()`` or ``close()``), newest first, each in ``timeout_s``."""
        for task in list(self._tasks.values()):
            if not task.done():
                task.cancel()
        for key, obj in reversed(self._created):
            closer = getattr(obj, "aclose", None) or getattr(obj, "close", None)
            if not callable(closer):
                continue
            try:
                async with asyncio.timeout(timeout_s):
                    value = closer()
                    if inspect.isawaitable(value):
                        await value
            except Exception as exc:
                on_error(key, exc)
        self._created.clear()
        self._tasks.clear()


def _in_daemon_thread(
    function: Callable[..., Any], *args: Any, name: str, timer: _StepTimer
) -> asyncio.Future[Any]:
    """``function(*args)`` in a daemon thread (a sync check, a check module's import).

    A hung call does not keep the process from exiting; its result is delivered if the loop still runs.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def deliver(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            value = context.run(function, *args)
        except BaseException as exc:
            ok, value = False, exc
        else:
            ok = True
        try:
            loop.call_soon_threadsafe(deliver, ok, value)
        except RuntimeError:
            return  # the loop is closed: nobody waits for this result any more

    thread = threading.Thread(target=target, name=name, daemon=True)
    timer.threads.append(thread)
    thread.start()
    return future


class _StepTimer:
    """The longest single step (code between two ``await``) of one check's tasks, in seconds.

    Also holds the worker threads the check was given (a sync check, a check module's import), to
    tell "stopped" from "its thread is still running" when the engine stops waiting.
    """

    __slots__ = ("longest", "threads")

    def __init__(self) -> None:
        self.longest = 0.0
        self.threads: list[threading.Thread] = []

    def threads_running(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def record(self, seconds: float) -> None:
        if seconds > self.longest:
            self.longest = seconds


#: The timer of the check whose code runs in this context; tasks a check creates inherit it.
_STEP_TIMER: contextvars.ContextVar[_StepTimer | None] = contextvars.ContextVar(
    "doctor_step_timer", default=None
)


class _Timed:
    """Awaits ``awaitable`` exactly as ``await`` would, timing each step it runs on the event loop."""

    __slots__ = ("_awaitable", "_timer")

    def __init__(self, awaitable: Awaitable[T], timer: _StepTimer) -> None:
        self._awaitable = awaitable
        self._timer = timer

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        clock = time.perf_counter
        while True:
            began = clock()
            try:
                if error is None:
                    yielded = steps.send(value)
                else:
                    thrown, error = error, None
                    yielded = steps.throw(thrown)
            except StopIteration as stop:
                self._timer.record(clock() - began)
                return stop.value
            except BaseException:
                self._timer.record(clock() - began)
                raise
            self._timer.record(clock() - began)
            try:
                value = yield yielded
            except GeneratorExit:
                close = getattr(steps, "close", None)
                if close is not None:
                    close()
                raise
            except BaseException as exc:  # delivered into the awaitable, as ``await`` does
                value, error = None, exc


async def _timed(awaitable: Awaitable[T], timer: _StepTimer) -> T:
    return await _Timed(awaitable, timer)  # type: ignore[no-any-return]


def _timing_task_factory(
    previous: Any,
) -> Callable[..., asyncio.Future[Any]]:
    """A task factory timing the steps of tasks created by a check (``gather``, ``TaskGroup`` ...)."""

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        timer = _STEP_TIMER.get()
        if timer is not None:
            coro = _timed(coro, timer)
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    return factory


@dataclass(frozen=True, eq=False, repr=False)  # internal: never compared or printed
class _Raised:
    """A ``BaseException`` raised by a check, carried out of its task as a value.

    ``SystemExit`` and ``KeyboardInterrupt`` escaping a task would stop the event loop itself.
    """

    error: BaseException
    loading: bool = False


def _abandoned_note(grace_s: float) -> str:
    return f"the check did not stop within {grace_s:g} s of being cancelled; abandoned"


class _Abandoned(Exception):
    """The check did not stop within its grace after being cancelled; nobody waits for it now."""


def _advice_key(check_id: str, target: str | None) -> str:
    """Where a run's recommendations are kept: per check, and per target when it has one."""
    return check_id if target is None else f"{check_id}\x00{target}"


def _with_target(result: CheckResult, check: Check) -> CheckResult:
    """The result naming the target its check ran for (:mod:`doctor_core.targets`), if any."""
    target = getattr(check, "target", None)
    return result if target is None else result.model_copy(update={"target": target})


def plugin_configs(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What each plugin's checks get as ``ctx.config``: the validated model of the plugin's section
    when it contributes exactly one (the usual case), else ``None`` -- a plugin with several
    sections reads each from ``ctx.sections[name]``. One type, whatever the plugin declares."""
    return {plugin: _single(models) for plugin, models in sections.items()}


def _single(models: Mapping[str, Any]) -> Any:
    return next(iter(models.values())) if len(models) == 1 else None


class Engine:
    """Runs checks for one :class:`~doctor_core.plugins.PluginManager`.

    ``sections`` maps a plugin name to its validated configuration sections by section name: a
    check gets them as ``ctx.sections``, and as ``ctx.config`` the plugin's one section
    (:func:`plugin_configs`).
    """

    def __init__(
        self,
        plugins: PluginManager,
        sections: Mapping[str, Mapping[str, Any]],
        log_factory: Callable[..., Any],
    ):
        self._plugins = plugins
        self._sections = sections
        self._configs = plugin_configs(sections)
        self._log_factory = log_factory
        self._stop_reason: str | None = None
        self._grace_s: float | None = None
        self._run_end = float("inf")
        #: Per run: a check's import string -> the thread importing it (see :meth:`_resolve`).
        self._resolving: dict[tuple[str, str], tuple[asyncio.Future[Any], threading.Thread]] = {}

    async def run(self, checks: Sequence[Check], options: RunOptions) -> Report:
        with plugin_stdout_to_stderr():
            loop = asyncio.get_running_loop()
            previous = loop.get_task_factory()
            loop.set_task_factory(_timing_task_factory(previous))
            try:
                return await self._run(checks, options)
            finally:
                loop.set_task_factory(previous)

    async def _run(self, checks: Sequence[Check], options: RunOptions) -> Report:
        started_at = datetime.now(UTC)
        start = time.monotonic()
        self._run_end = start + options.deadline
        self._resolving = {}
        definitions = tuple(check.definition for check in checks)
        self._plugins.notify("doctor_run_started", checks=definitions)
        resources = RunResources()
        # ``concurrency`` bounds the checks running at once *per target* (one group for checks
        # without a target): targets are different systems, so N registries are checked side by
        # side instead of N times slower (doctor_core.targets).
        semaphores: dict[str | None, asyncio.Semaphore] = {}
        recommendations: dict[str, list[str]] = {}
        tasks = [
            asyncio.ensure_future(
                self._run_one(
                    check,
                    options,
                    semaphores.setdefault(
                        getattr(check, "target", None), asyncio.Semaphore(options.concurrency)
                    ),
                    resources,
                    recommendations,
                )
            )
            for check in checks
        ]
        interrupted = False
        close_timeout_s = options.close_timeout_s
        try:
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=options.deadline)
                if pending:
                    close_timeout_s = min(close_timeout_s, options.deadline_grace_s)
                    await self._stop(
                        tasks, f"run deadline of {options.deadline:g} s reached", options.deadline_grace_s
                    )
        except asyncio.CancelledError:
            interrupted = True
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self._stop(tasks, "interrupted", options.cleanup_grace_s)
        finally:
            await self._close(resources, close_timeout_s)
        results = [
            _with_target(self._collect(task, check), check) for task, check in zip(tasks, checks, strict=True)
        ]
        advice: list[str] = []
        for result in results:
            if result.status in _RECOMMENDING:
                for item in recommendations.get(_advice_key(result.check_id, result.target), ()):
                    if item not in advice:
                        advice.append(item)
        report = Report(
            started_at=started_at,
            duration_ms=int((time.monotonic() - start) * 1000),
            summary=Summary.of(results),
            results=tuple(results),
            recommendations=tuple(advice),
            plugin_errors=self._plugins.problems,
            interrupted=interrupted,
            causes=Report.causes_of(results),
        )
        self._plugins.notify("doctor_run_finished", report=report)
        return report

    async def _stop(self, tasks: Sequence[asyncio.Future[CheckResult]], reason: str, grace_s: float) -> None:
        """Cancel unfinished checks; each gives its own check ``grace_s`` to clean up, then abandons it."""
        self._stop_reason = reason
        self._grace_s = grace_s
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if not pending:
            return
        try:
            # Each wrapper waits at most ``grace_s`` for its check; the margin is for the wrapper.
            await asyncio.wait(pending, timeout=grace_s + 0.5)
        except asyncio.CancelledError:  # a second Ctrl-C: stop waiting for cleanup
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()

    async def _close(self, resources: RunResources, timeout_s: float) -> None:
        def on_error(key: str, exc: BaseException) -> None:
            self._plugins.record_problem("doctor_core.engine", f"close:{key}", exc)

        try:
            await resources.aclose(timeout_s, on_error)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()

    def _collect(self, task: asyncio.Future[CheckResult], check: Check) -> CheckResult:
        if task.done() and not task.cancelled():
            failure = task.exception()
            if failure is None:
                return task.result()
            # _run_one turns a check's own exceptions into results; reaching here means the
            # engine's wrapper itself failed (a broken lifecycle hook, a bug): say what it was.
            return self._error(check.definition, describe_exception(failure), 0, Status.ERROR)
        reason = self._stop_reason or "interrupted"
        grace = self._grace_s if self._grace_s is not None else 0
        return self._error(
            check.definition,
            f"{reason} ({_abandoned_note(grace)})",
            0,
            Status.ERROR,
        )

    @staticmethod
    def _error(definition: CheckDefinition, message: str, duration_ms: int, status: Status) -> CheckResult:
        return CheckResult(
            check_id=definition.check_id,
            name=definition.name,
            plugin=definition.plugin,
            tags=definition.tags,
            default_severity=definition.default_severity,
            status=status,
            message=redact(message),
            duration_ms=duration_ms,
        )

    async def _run_one(
        self,
        check: Check,
        options: RunOptions,
        semaphore: asyncio.Semaphore,
        resources: RunResources,
        recommendations: dict[str, list[str]],
    ) -> CheckResult:
        definition = check.definition
        started = False
        start = time.monotonic()
        try:
            async with semaphore:
                started = True
                start = time.monotonic()
                self._plugins.notify("doctor_check_started", definition=definition)
                result = await self._execute(check, options, resources, recommendations, start)
        except (asyncio.CancelledError, _Abandoned) as stopped:
            reason = self._stop_reason or "interrupted"
            elapsed = int((time.monotonic() - start) * 1000)
            if isinstance(stopped, _Abandoned):
                result = self._error(definition, f"{reason} ({stopped})", elapsed, Status.ERROR)
            elif started:
                result = self._error(definition, reason, elapsed, Status.ERROR)
            else:
                result = self._error(definition, f"not run: {reason}", 0, Status.SKIP)
        except Exception as exc:  # a defect in doctor itself: still one result, never a crash
            elapsed = int((time.monotonic() - start) * 1000)
            result = self._error(
                definition, f"internal error: {describe_exception(exc)}", elapsed, Status.ERROR
            )
        self._plugins.notify("doctor_check_finished", result=result)
        return result

    async def _wind_down(
        self, inner: asyncio.Future[Any], grace_s: float, definition: CheckDefinition, timer: _StepTimer
    ) -> str | None:
        """Cancel the check's task and wait ``grace_s`` for it; why it was abandoned, or ``None``.

        A sync check's thread cannot be cancelled: when it is still running, the check is abandoned
        at once (waiting would not help).
        """
        inner.cancel()
        try:
            await asyncio.wait([inner], timeout=grace_s)
        except asyncio.CancelledError:  # stopped while winding down (a second Ctrl-C): give up on it
            if not inner.done():
                note_abandoned(f"check {definition.check_id}", inner)
            raise
        if inner.done() and not timer.threads_running():
            return None
        note_abandoned(f"check {definition.check_id}", inner)
        if inner.done():
            return "its thread cannot be cancelled and is still running; abandoned"
        return _abandoned_note(grace_s)

    async def _invoke(self, check: Check, ctx: CheckContext, timer: _StepTimer) -> Any:
        """The check itself, in its own task; what it raises comes back as :class:`_Raised`.

        A check given as an import string is imported in a daemon thread, under the check's
        timeout: a module whose import hangs is abandoned like a hanging check.
        """
        CHECK_DEADLINE.set(ctx.deadline)
        _STEP_TIMER.set(timer)
        name = f"doctor-check-{ctx.definition.check_id}"
        try:
            if isinstance(check.run, str):
                function = await self._resolve(check, name, timer)
            else:
                function = check.resolve()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # SystemExit & co. must not escape the task
            return _Raised(exc, loading=True)
        try:
            if inspect.iscoroutinefunction(function):
                outcome = await _Timed(function(ctx), timer)
            else:
                outcome = await _in_daemon_thread(function, ctx, name=name, timer=timer)
            if inspect.isawaitable(outcome):
                outcome = await _Timed(outcome, timer)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # SystemExit & co. must not escape the task
            return _Raised(exc)
        return outcome

    async def _resolve(self, check: Check, name: str, timer: _StepTimer) -> Any:
        """``check.resolve()`` in a daemon thread, once per run for each check and import string.

        A check run per target is one :class:`Check` per target with the same import string: they
        share one import (one thread, not one per target -- each thread start waits for the GIL
        hand-over on the event loop). Each waiter keeps its own timeout and is told about the
        thread, so a hanging import is reported alike by every check waiting for it.
        """
        assert isinstance(check.run, str)
        key = (check.definition.check_id, check.run)
        shared = self._resolving.get(key)
        if shared is None:
            future = _in_daemon_thread(check.resolve, name=name, timer=timer)
            # Retrieved even when every waiter was cancelled first (no "never retrieved" warning).
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            shared = self._resolving[key] = (future, timer.threads[-1])
        else:
            timer.threads.append(shared[1])
        return await asyncio.shield(shared[0])

    async def _execute(
        self,
        check: Check,
        options: RunOptions,
        resources: RunResources,
        recommendations: dict[str, list[str]],
        start: float,
    ) -> CheckResult:
        definition = check.definition
        timeout_s = options.timeout_for(definition)

        def elapsed() -> int:
            return int((time.monotonic() - start) * 1000)

        target = getattr(check, "target", None)  # a doctor_core.targets.PlannedCheck's target
        config = self._configs.get(definition.plugin) if target is None else getattr(check, "config", None)
        ctx = CheckContext(
            definition=definition,
            config=config,
            sections=self._sections.get(definition.plugin, {}),
            shared=ScopedResources(resources, target) if target is not None else resources,
            target=target,
            log=self._log_factory(check_id=definition.check_id),
            secrets=register_secret,
            timeout_s=timeout_s,
            deadline=min(start + timeout_s, self._run_end),
        )
        timer = _StepTimer()
        inner = asyncio.ensure_future(self._invoke(check, ctx, timer))
        try:
            done, _ = await asyncio.wait([inner], timeout=timeout_s)
        except asyncio.CancelledError:
            grace = self._grace_s if self._grace_s is not None else options.cleanup_grace_s
            why = await self._wind_down(inner, grace, definition, timer)
            if why is not None:
                raise _Abandoned(why) from None
            raise
        if not done:
            grace = options.deadline_grace_s
            why = await self._wind_down(inner, grace, definition, timer)
            note = "" if why is None else f" ({why})"
            return self._error(definition, f"timed out after {timeout_s:g} s{note}", elapsed(), Status.ERROR)
        outcome = inner.result()
        if isinstance(outcome, _Raised):
            error = outcome.error
            if not is_plugin_fault(error):
                raise error  # the user's own Ctrl-C outside the CLI: let it interrupt
            prefix = "cannot load the check: " if outcome.loading else ""
            return self._error(definition, prefix + describe_exception(error), elapsed(), Status.ERROR)
        if not isinstance(outcome, CheckOutcome):
            return self._error(
                definition,
                f"the check returned {type(outcome).__name__}, expected a CheckOutcome",
                elapsed(),
                Status.ERROR,
            )
        message = outcome.message
        metrics = dict(outcome.metrics)
        if timer.longest >= BLOCKING_STEP_S:
            metrics["event_loop_blocked_ms"] = int(timer.longest * 1000)
            message = (
                f"{message} [note: this check blocked the event loop for {timer.longest:.1f} s at once, "
                "delaying every other check; it makes a blocking call in async code]"
            )
        recommendations[_advice_key(definition.check_id, target)] = [
            redact(item) for item in outcome.recommendations
        ]
        return CheckResult(
            check_id=definition.check_id,
            name=definition.name,
            plugin=definition.plugin,
            tags=definition.tags,
            default_severity=definition.default_severity,
            status=outcome.status,
            message=redact(message),
            evidence=redact_value(dict(outcome.evidence)),
            remediation=tuple(redact(step) for step in outcome.remediation),
            duration_ms=elapsed(),
            metrics=metrics,
            cause=_redacted_cause(outcome.cause),
        )


def _redacted_cause(cause: Any) -> Any:
    """The outcome's root cause (a ``Cause`` or None) as the result carries it: redacted like the
    message."""
    if cause is None:
        return None
    return cause.model_copy(
        update={
            "key": redact(cause.key),
            "summary": redact(cause.summary),
            "remediation": tuple(redact(step) for step in cause.remediation),
        }
    )
