"""The runner: failures become results, timeouts, deadline, cancellation, shared resources."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from typing import NoReturn, cast

import pytest

from doctor_core import (
    Check,
    CheckContext,
    CheckDefinition,
    CheckOutcome,
    CheckResult,
    Doctor,
    Report,
    Status,
    hookimpl,
)
from doctor_core.redaction import register_secret
from doctor_core.types import CheckFunction


def _plugin(*checks: Check, listener: object | None = None) -> object:
    class Plugin:
        __name__ = "engine-test"

        @hookimpl
        def doctor_add_checks(self) -> Iterable[Check]:
            return checks

    return Plugin()


def _check(
    check_id: str,
    run: Callable[[CheckContext], object] | str,
    duration: float = 1.0,
    tags: tuple[str, ...] = ("t",),
) -> Check:
    """A check around ``run``, which may break the check contract on purpose (a wrong return
    type, never returning): the engine must turn that into a result, so ``run`` is any callable."""
    return Check(
        CheckDefinition(check_id=check_id, name=check_id, estimated_duration_s=duration, tags=tags),
        cast("CheckFunction", run),
    )


def _doctor(*checks: Check, extra: Iterable[object] = ()) -> Doctor:
    return Doctor({}, environ={}, plugins=[_plugin(*checks), *extra], load_entrypoints=False)


async def _ok(ctx: CheckContext) -> CheckOutcome:
    return CheckOutcome(status=Status.PASS, message="fine")


async def test_exception_becomes_error_with_type_and_redacted_message() -> None:
    register_secret("s3cr3t-value")

    async def boom(ctx: CheckContext) -> CheckOutcome:
        raise ConnectionError("login with s3cr3t-value failed")

    report = await _doctor(_check("check.e.boom", boom)).arun()
    result = report.result("check.e.boom")
    assert result.status is Status.ERROR
    assert result.message == "ConnectionError: login with *** failed"


async def test_timeout_from_estimated_duration_and_override() -> None:
    cleaned = []

    async def hang(ctx: CheckContext) -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append(ctx.timeout_s)

    doctor = _doctor(_check("check.e.hang", hang, duration=0.05))
    started = time.monotonic()
    report = await doctor.arun()
    assert report.result("check.e.hang").message == "timed out after 0.15 s"
    assert report.result("check.e.hang").status is Status.ERROR
    report = await doctor.arun(timeout=0.1)
    assert report.result("check.e.hang").message == "timed out after 0.1 s"
    assert cleaned == [pytest.approx(0.15), 0.1]
    assert time.monotonic() - started < 5


async def test_a_checks_own_timeout_error_is_not_reported_as_our_timeout() -> None:
    async def own(ctx: CheckContext) -> CheckOutcome:
        raise TimeoutError("upstream took too long")

    report = await _doctor(_check("check.e.own", own)).arun()
    assert report.result("check.e.own").message == "TimeoutError: upstream took too long"


async def test_wrong_return_type_and_unimportable_module_are_errors() -> None:
    async def wrong(ctx: CheckContext) -> dict[str, str]:
        return {"status": "pass"}

    doctor = _doctor(_check("check.e.wrong", wrong), _check("check.e.missing", "no_such_module_dtp:run"))
    report = await doctor.arun()
    assert report.result("check.e.wrong").message == "the check returned dict, expected a CheckOutcome"
    missing = report.result("check.e.missing")
    assert missing.status is Status.ERROR
    assert missing.message.startswith("cannot load the check: ModuleNotFoundError")


async def test_sync_checks_run_in_a_thread_and_a_hung_one_times_out() -> None:
    release = threading.Event()

    def sync_ok(ctx: CheckContext) -> CheckOutcome:
        return CheckOutcome(status=Status.PASS, message=threading.current_thread().name)

    def sync_hang(ctx: CheckContext) -> CheckOutcome:
        release.wait(10)
        return CheckOutcome(status=Status.PASS, message="late")

    report = await _doctor(_check("check.e.sync", sync_ok), _check("check.e.synchang", sync_hang)).arun(
        timeout=0.2
    )
    release.set()
    assert report.result("check.e.sync").message == "doctor-check-check.e.sync"
    # Issue #12: a sync check stuck in its thread is abandoned at its timeout, and says so.
    assert report.result("check.e.synchang").message == (
        "timed out after 0.2 s (its thread cannot be cancelled and is still running; abandoned)"
    )


async def test_results_keep_selection_order_and_concurrency_is_bounded() -> None:
    running = 0
    peak = 0

    async def slow(ctx: CheckContext) -> CheckOutcome:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return CheckOutcome(status=Status.PASS, message=ctx.definition.check_id)

    checks = [_check(f"check.e.n{i}", slow) for i in (3, 1, 2, 5, 4)]
    report = await _doctor(*checks).arun(concurrency=2)
    assert [r.check_id for r in report.results] == [f"check.e.n{i}" for i in (3, 1, 2, 5, 4)]
    assert peak == 2


async def test_cancellation_runs_cleanup_and_returns_a_partial_report() -> None:
    cleanup = []
    started = asyncio.Event()

    async def long(ctx: CheckContext) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            cleanup.append(ctx.definition.check_id)

    doctor = _doctor(
        _check("check.e.a", _ok),
        _check("check.e.b", long, duration=100),
        _check("check.e.c", long, duration=100),
        _check("check.e.d", long, duration=100),
    )
    task = asyncio.create_task(doctor.arun(concurrency=2))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    report = await task
    assert report.interrupted is True
    assert sorted(cleanup) == ["check.e.b", "check.e.c"]
    assert report.result("check.e.a").status is Status.PASS
    assert (report.result("check.e.b").status, report.result("check.e.b").message) == (
        Status.ERROR,
        "interrupted",
    )
    assert (report.result("check.e.c").status, report.result("check.e.c").message) == (
        Status.ERROR,
        "interrupted",
    )
    assert (report.result("check.e.d").status, report.result("check.e.d").message) == (
        Status.SKIP,
        "not run: interrupted",
    )


async def test_run_deadline_stops_everything() -> None:
    async def long(ctx: CheckContext) -> None:
        await asyncio.sleep(30)

    report = await _doctor(
        _check("check.e.x", long, duration=100), _check("check.e.y", long, duration=100)
    ).arun(concurrency=1, deadline=0.1)
    assert report.interrupted is False
    assert report.result("check.e.x").message == "run deadline of 0.1 s reached"
    assert report.result("check.e.y").message == "not run: run deadline of 0.1 s reached"


async def test_shared_resources_single_flight_and_closed_in_reverse_order() -> None:
    created = []
    closed = []

    class Resource:
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    class SyncResource:
        def close(self) -> None:
            closed.append("sync")

    async def make(name: str) -> Resource:
        await asyncio.sleep(0.01)
        created.append(name)
        return Resource(name)

    async def user(ctx: CheckContext) -> CheckOutcome:
        first = await ctx.shared.get("client", lambda: make("client"))
        await ctx.shared.get("sync", lambda: asyncio.sleep(0, SyncResource()))
        return CheckOutcome(status=Status.PASS, message=first.name)

    checks = [_check(f"check.e.u{i}", user) for i in range(4)]
    report = await _doctor(*checks).arun()
    assert report.summary.passed == 4
    assert created == ["client"]
    assert closed == ["sync", "client"]


async def test_evidence_and_texts_are_redacted_and_recommendations_deduplicated() -> None:
    register_secret("tok-123456")

    async def leaky(ctx: CheckContext) -> CheckOutcome:
        return CheckOutcome(
            status=Status.WARN,
            message="token tok-123456",
            evidence={"header": "Authorization: Bearer tok-123456", "count": 2, "ok": False},
            remediation=("rotate tok-123456",),
            recommendations=("Upgrade", "Rotate"),
        )

    async def also(ctx: CheckContext) -> CheckOutcome:
        return CheckOutcome(status=Status.INFO, message="i", recommendations=("Rotate", "Monitor"))

    async def passing(ctx: CheckContext) -> CheckOutcome:
        return CheckOutcome(status=Status.PASS, message="p", recommendations=("Never shown",))

    report = await _doctor(
        _check("check.e.a", leaky), _check("check.e.b", also), _check("check.e.c", passing)
    ).arun()
    result = report.result("check.e.a")
    assert "tok-123456" not in report.to_json()
    assert result.evidence["count"] == 2 and result.evidence["ok"] is False
    assert report.recommendations == ("Upgrade", "Rotate", "Monitor")


async def test_lifecycle_hooks_see_the_run_and_a_raising_listener_is_recorded() -> None:
    events: list[tuple[str, int | str]] = []

    class Listener:
        @hookimpl
        def doctor_run_started(self, checks: tuple[CheckDefinition, ...]) -> None:
            events.append(("run", len(checks)))

        @hookimpl
        def doctor_check_started(self, definition: CheckDefinition) -> None:
            events.append(("start", definition.check_id))

        @hookimpl
        def doctor_check_finished(self, result: CheckResult) -> None:
            events.append(("done", result.status.value))

        @hookimpl
        def doctor_run_finished(self, report: Report) -> None:
            events.append(("finished", report.summary.total))

    class Broken:
        @hookimpl
        def doctor_check_started(self, definition: CheckDefinition) -> None:
            raise RuntimeError("listener down")

    doctor = _doctor(_check("check.e.a", _ok), extra=[Listener(), Broken()])
    report = await doctor.arun()
    assert events == [("run", 1), ("start", "check.e.a"), ("done", "pass"), ("finished", 1)]
    assert report.result("check.e.a").status is Status.PASS
    assert [p.stage for p in doctor.plugin_problems] == ["hook:doctor_check_started"]


def test_sync_run_refuses_a_running_loop() -> None:
    doctor = _doctor(_check("check.e.a", _ok))

    async def inside() -> None:
        with pytest.raises(RuntimeError, match=r"use 'await doctor\.arun"):
            doctor.run()

    asyncio.run(inside())
    assert doctor.run().result("check.e.a").status is Status.PASS


async def test_a_failure_of_the_engine_wrapper_is_named_not_called_an_interruption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the per-check wrapper itself raises (not the check), the result names that error."""
    from doctor_core import engine as engine_module

    async def broken_run_one(self: object, check: Check, *args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("wrapper exploded")

    monkeypatch.setattr(engine_module.Engine, "_run_one", broken_run_one)
    report = await _doctor(_check("check.t.ok", _ok)).arun()
    result = report.result("check.t.ok")
    assert result.status is Status.ERROR
    assert result.message == "RuntimeError: wrapper exploded"
    assert not report.interrupted


async def test_a_check_and_library_code_see_the_checks_deadline() -> None:
    """ctx.deadline / ctx.remaining() and doctor_core.deadlines.time_left() (issue #13)."""
    from doctor_core.deadlines import time_left

    seen: dict[str, float | None] = {}

    async def reads(ctx: CheckContext) -> CheckOutcome:
        seen["remaining"] = ctx.remaining()
        seen["deadline"] = ctx.deadline
        # library code without the context, also in a task the check starts
        seen["time_left"] = await asyncio.ensure_future(asyncio.sleep(0, result=time_left()))
        return CheckOutcome(status=Status.PASS, message="ok")

    def reads_sync(ctx: CheckContext) -> CheckOutcome:
        seen["thread"] = time_left()
        return CheckOutcome(status=Status.PASS, message="ok")

    before = time.monotonic()
    doctor = _doctor(_check("check.e.reads", reads), _check("check.e.readsync", reads_sync))
    report = await doctor.arun(timeout=5, deadline=3)
    assert {r.status for r in report.results} == {Status.PASS}
    assert seen["deadline"] is not None and before + 2.5 < seen["deadline"] <= time.monotonic() + 3
    for key in ("remaining", "time_left", "thread"):
        value = seen[key]
        assert value is not None and 2.5 < value <= 3, (key, value)  # the run's deadline comes first
    assert time_left() is None  # outside a check: no deadline


async def test_base_exceptions_in_checks_and_hooks_are_contained() -> None:
    class Odd(BaseException):
        pass

    async def exits(ctx: CheckContext) -> CheckOutcome:
        raise SystemExit(5)

    async def interrupts(ctx: CheckContext) -> CheckOutcome:
        raise KeyboardInterrupt

    async def odd(ctx: CheckContext) -> CheckOutcome:
        raise Odd("odd")

    class BadListener:
        __name__ = "bad-listener"

        @hookimpl
        def doctor_check_finished(self, result: CheckResult) -> None:
            raise SystemExit(7)

    doctor = _doctor(
        _check("check.e.exits", exits),
        _check("check.e.kbd", interrupts),
        _check("check.e.odd", odd),
        _check("check.e.ok", _ok),
        extra=[BadListener()],
    )
    report = await doctor.arun()
    assert report.result("check.e.exits").message == "SystemExit: 5"
    assert report.result("check.e.kbd").message == "KeyboardInterrupt"
    assert report.result("check.e.odd").message == "Odd: odd"
    assert report.result("check.e.ok").status is Status.PASS
    assert not report.interrupted
    problems = report.plugin_errors
    assert any(p.stage == "hook:doctor_check_finished" and "SystemExit" in p.error for p in problems)


def test_doctor_run_returns_on_time_when_a_check_ignores_cancellation() -> None:
    """Doctor.run (run_bounded): asyncio.run would wait forever for the swallowing task."""

    async def swallows(ctx: CheckContext) -> CheckOutcome:
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:  # swallowed on purpose: the fault under test
                continue

    started = time.monotonic()
    report = _doctor(_check("check.e.swallows", swallows), _check("check.e.ok", _ok)).run(timeout=0.3)
    assert time.monotonic() - started < 0.3 + 1 + 1 + 1  # timeout, grace, shutdown grace, margin
    assert report.result("check.e.swallows").message == (
        "timed out after 0.3 s (the check did not stop within 1 s of being cancelled; abandoned)"
    )
    assert report.result("check.e.ok").status is Status.PASS
