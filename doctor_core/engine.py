"""The runner: selected checks in, one :class:`~doctor_core.models.Report` out.

Contract:

* bounded concurrency (``RunOptions.concurrency``); each check under its own timeout
  (``estimated_duration_s * timeout_factor`` unless ``timeout`` overrides it), the whole run under
  ``deadline`` seconds;
* a check's callable is resolved only when it is about to run; ``async`` functions are awaited,
  plain functions run in a daemon thread (a hung sync check cannot be interrupted, but it cannot
  keep the process alive either);
* whatever goes wrong inside a check -- import failure, exception, timeout, a return value that is
  not a :class:`~doctor_core.models.CheckOutcome` -- becomes a result with status ``error``;
  every text of a result is redacted;
* cancellation of the run (Ctrl-C in the CLI, ``task.cancel()`` for embedders) cancels running
  checks so their ``finally`` blocks run (within ``cleanup_grace_s``), marks them ``error``
  "interrupted", marks checks not started ``skip`` "not run: interrupted", and still returns the
  report (``interrupted=True``);
* shared resources are closed after every check has finished, in reverse order of creation.

Results are ordered as the checks were given (discovery order), not by finish time.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from doctor_core.defaults import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_S, DEFAULT_TIMEOUT_FACTOR
from doctor_core.models import Cause, CheckDefinition, CheckOutcome, CheckResult, Report, Status, Summary
from doctor_core.plugins import PluginManager
from doctor_core.redact import describe_exception, redact, redact_value, register_secret
from doctor_core.types import Check, CheckContext

T = TypeVar("T")

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_DEADLINE_S", "DEFAULT_TIMEOUT_FACTOR", "Engine", "RunOptions"]

_RECOMMENDING = frozenset({Status.INFO, Status.WARN, Status.FAIL, Status.ERROR})


@dataclass(frozen=True)
class RunOptions:
    """Knobs of one run. ``timeout`` overrides every check's own timeout when set."""

    timeout: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    deadline: float = DEFAULT_DEADLINE_S
    timeout_factor: float = DEFAULT_TIMEOUT_FACTOR
    cleanup_grace_s: float = 5.0
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
            task.add_done_callback(lambda done, key=key: self._settled(key, done))
        return await asyncio.shield(task)  # type: ignore[no-any-return]

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


def _run_in_daemon_thread(function: Callable[[CheckContext], Any], ctx: CheckContext) -> asyncio.Future[Any]:
    """Run a sync check in a daemon thread: a hung one does not keep the process from exiting."""
    import contextvars

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
            value = context.run(function, ctx)
        except BaseException as exc:
            ok, value = False, exc
        else:
            ok = True
        try:
            loop.call_soon_threadsafe(deliver, ok, value)
        except RuntimeError:
            return  # the loop is closed: nobody waits for this result any more

    threading.Thread(target=target, name=f"doctor-check-{ctx.definition.check_id}", daemon=True).start()
    return future


class Engine:
    """Runs checks for one :class:`~doctor_core.plugins.PluginManager`.

    ``configs`` maps a plugin name to what its checks get as ``ctx.config`` (the validated section
    model, a dict of models when the plugin declares several sections, or ``None``).
    """

    def __init__(self, plugins: PluginManager, configs: Mapping[str, Any], log_factory: Callable[..., Any]):
        self._plugins = plugins
        self._configs = configs
        self._log_factory = log_factory
        self._stop_reason: str | None = None

    async def run(self, checks: Sequence[Check], options: RunOptions) -> Report:
        started_at = datetime.now(UTC)
        start = time.monotonic()
        definitions = tuple(check.definition for check in checks)
        self._plugins.notify("doctor_run_started", checks=definitions)
        resources = RunResources()
        semaphore = asyncio.Semaphore(options.concurrency)
        recommendations: dict[str, list[str]] = {}
        tasks = [
            asyncio.ensure_future(self._run_one(check, options, semaphore, resources, recommendations))
            for check in checks
        ]
        interrupted = False
        try:
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=options.deadline)
                if pending:
                    await self._stop(tasks, f"run deadline of {options.deadline:g} s reached", options)
        except asyncio.CancelledError:
            interrupted = True
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self._stop(tasks, "interrupted", options)
        finally:
            await self._close(resources, options)
        results = [self._collect(task, check, options) for task, check in zip(tasks, checks, strict=True)]
        advice: list[str] = []
        for result in results:
            if result.status in _RECOMMENDING:
                for item in recommendations.get(result.check_id, ()):
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
        )
        self._plugins.notify("doctor_run_finished", report=report)
        return report

    async def _stop(self, tasks: list[asyncio.Future[CheckResult]], reason: str, options: RunOptions) -> None:
        """Cancel unfinished checks and give their cleanup code ``cleanup_grace_s`` to run."""
        self._stop_reason = reason
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if not pending:
            return
        try:
            await asyncio.wait(pending, timeout=options.cleanup_grace_s)
        except asyncio.CancelledError:  # a second Ctrl-C: stop waiting for cleanup
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()

    async def _close(self, resources: RunResources, options: RunOptions) -> None:
        def on_error(key: str, exc: BaseException) -> None:
            self._plugins.record_problem("doctor_core.engine", f"close:{key}", exc)

        try:
            await resources.aclose(options.close_timeout_s, on_error)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()

    def _collect(self, task: asyncio.Future[CheckResult], check: Check, options: RunOptions) -> CheckResult:
        if task.done() and not task.cancelled():
            failure = task.exception()
            if failure is None:
                return task.result()
            # _run_one turns a check's own exceptions into results; reaching here means the
            # engine's wrapper itself failed (a broken lifecycle hook, a bug): say what it was.
            return self._error(check.definition, describe_exception(failure), 0, Status.ERROR)
        reason = self._stop_reason or "interrupted"
        return self._error(
            check.definition,
            f"{reason} (the check did not stop within {options.cleanup_grace_s:g} s)",
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
        except asyncio.CancelledError:
            reason = self._stop_reason or "interrupted"
            elapsed = int((time.monotonic() - start) * 1000)
            if started:
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

        try:
            function = check.resolve()
        except Exception as exc:
            return self._error(
                definition, f"cannot load the check: {describe_exception(exc)}", elapsed(), Status.ERROR
            )
        ctx = CheckContext(
            definition=definition,
            config=self._configs.get(definition.plugin),
            shared=resources,
            log=self._log_factory(check_id=definition.check_id),
            secrets=register_secret,
            timeout_s=timeout_s,
            run_options={"timeout": options.timeout, "deadline": options.deadline},
        )
        scope = asyncio.timeout(timeout_s)
        try:
            async with scope:
                if inspect.iscoroutinefunction(function):
                    outcome = await function(ctx)
                else:
                    outcome = await _run_in_daemon_thread(function, ctx)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
        except TimeoutError as exc:
            if scope.expired():
                return self._error(definition, f"timed out after {timeout_s:g} s", elapsed(), Status.ERROR)
            return self._error(definition, describe_exception(exc), elapsed(), Status.ERROR)
        except Exception as exc:
            return self._error(definition, describe_exception(exc), elapsed(), Status.ERROR)
        if not isinstance(outcome, CheckOutcome):
            return self._error(
                definition,
                f"the check returned {type(outcome).__name__}, expected a CheckOutcome",
                elapsed(),
                Status.ERROR,
            )
        recommendations[definition.check_id] = [redact(item) for item in outcome.recommendations]
        return CheckResult(
            check_id=definition.check_id,
            name=definition.name,
            plugin=definition.plugin,
            tags=definition.tags,
            default_severity=definition.default_severity,
            status=outcome.status,
            message=redact(outcome.message),
            evidence=redact_value(dict(outcome.evidence)),
            remediation=tuple(redact(step) for step in outcome.remediation),
            duration_ms=elapsed(),
            metrics=dict(outcome.metrics),
            cause=_redacted_cause(outcome.cause),
        )


def _redacted_cause(cause: Cause | None) -> Cause | None:
    """The outcome's root cause with every string redacted (``None`` stays ``None``)."""
    if cause is None:
        return None
    return Cause(
        key=redact(cause.key),
        summary=redact(cause.summary),
        remediation=tuple(redact(step) for step in cause.remediation),
    )
