"""The plugin author's pytest kit, registered as the ``pytest11`` entry point ``doctor``.

pytest loads this module in *every* session of an environment where doctor-core is installed, so
importing it is cheap and does nothing: doctor's own modules are imported inside the fixtures.

Fixtures:

``doctor_factory(*plugins, config=None, environ=None, load_entrypoints=False, **kwargs)``
    builds a :class:`doctor_core.Doctor` around in-process plugins, with an empty environment and
    no installed plugins unless asked.
``run_check(check_or_id, config=None, *, plugins=(), environ=None, timeout=None, target=None)``
    runs one check (a :class:`~doctor_core.Check` or an installed check id) and returns its
    :class:`~doctor_core.CheckResult`; ``await run_check.arun(...)`` inside async tests. For a
    check run per target (:mod:`doctor_core.targets`), ``target`` picks the one to run and return.
``doctor_cli(*args, environ=None, cwd=None, plugins=(), load_entrypoints=True)``
    runs the command line in-process and returns :class:`CliResult`.

Helper: :func:`assert_result` compares a result with clear failure messages.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from doctor_core.api import Doctor
    from doctor_core.models import CheckResult
    from doctor_core.types import Check


@dataclass(frozen=True)
class CliResult:
    """What one in-process command line run produced."""

    exit_code: int
    stdout: str
    stderr: str


def assert_result(
    result: CheckResult,
    *,
    status: Any = None,
    evidence: Mapping[str, Any] | None = None,
    message_contains: str | None = None,
) -> None:
    """Assert a check result's status, an evidence subset and a message fragment.

    Failure messages show the whole result, so a failing plugin test says what actually happened.
    """
    shown = (
        f"\n  check:    {result.check_id}\n  status:   {result.status.value}\n  message:  {result.message!r}"
        f"\n  evidence: {result.evidence!r}"
    )
    if status is not None:
        expected = getattr(status, "value", status)
        if result.status.value != str(expected).lower():
            raise AssertionError(
                f"expected status {str(expected).lower()!r}, got {result.status.value!r}{shown}"
            )
    if message_contains is not None and message_contains not in result.message:
        raise AssertionError(f"expected the message to contain {message_contains!r}{shown}")
    for key, value in (evidence or {}).items():
        if key not in result.evidence:
            raise AssertionError(f"evidence key {key!r} is missing{shown}")
        if result.evidence[key] != value:
            raise AssertionError(f"evidence {key!r}: expected {value!r}, got {result.evidence[key]!r}{shown}")


def _make_doctor(
    plugins: Iterable[object],
    *,
    config: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None,
    load_entrypoints: bool,
    **kwargs: Any,
) -> Doctor:
    from doctor_core.api import Doctor

    return Doctor(
        {} if config is None else config,
        environ={} if environ is None else environ,
        plugins=tuple(plugins),
        load_entrypoints=load_entrypoints,
        **kwargs,
    )


@pytest.fixture
def doctor_factory() -> Callable[..., Doctor]:
    """Build a :class:`~doctor_core.Doctor` from in-process plugin objects (no installed plugins)."""

    def factory(
        *plugins: object,
        config: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        load_entrypoints: bool = False,
        **kwargs: Any,
    ) -> Doctor:
        return _make_doctor(
            plugins, config=config, environ=environ, load_entrypoints=load_entrypoints, **kwargs
        )

    return factory


def _check_plugin(checks: tuple[Check, ...]) -> object:
    """An in-process plugin contributing exactly the checks it was given."""
    from doctor_core.hookspecs import hookimpl

    class CheckHolder:
        __name__ = "doctor-testing"

        @hookimpl
        def doctor_add_checks(self) -> tuple[Check, ...]:
            return checks

    return CheckHolder()


class CheckRunner:
    """The ``run_check`` fixture: ``run_check(check, config)`` or ``await run_check.arun(...)``."""

    def _prepare(
        self,
        check: Check | str,
        plugins: Iterable[object],
        config: Mapping[str, Any] | None,
        environ: Mapping[str, str] | None,
    ) -> tuple[Doctor, str]:
        extra = list(plugins)
        if isinstance(check, str):
            return (
                _make_doctor(extra, config=config, environ=environ, load_entrypoints=not extra),
                check,
            )
        holder = _check_plugin((check,))
        doctor = _make_doctor([*extra, holder], config=config, environ=environ, load_entrypoints=False)
        return doctor, check.definition.check_id

    def __call__(
        self,
        check: Check | str,
        config: Mapping[str, Any] | None = None,
        *,
        plugins: Iterable[object] = (),
        environ: Mapping[str, str] | None = None,
        timeout: float | None = None,
        target: str | None = None,
    ) -> CheckResult:
        doctor, check_id = self._prepare(check, plugins, config, environ)
        targets = (target,) if target is not None else ()
        return doctor.run(check_ids=(check_id,), timeout=timeout, targets=targets).result(check_id, target)

    async def arun(
        self,
        check: Check | str,
        config: Mapping[str, Any] | None = None,
        *,
        plugins: Iterable[object] = (),
        environ: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the check's timeout, passed to the engine
        target: str | None = None,
    ) -> CheckResult:
        doctor, check_id = self._prepare(check, plugins, config, environ)
        targets = (target,) if target is not None else ()
        report = await doctor.arun(check_ids=(check_id,), timeout=timeout, targets=targets)
        return report.result(check_id, target)


@pytest.fixture
def run_check() -> CheckRunner:
    """Run one check with a configuration mapping and get its :class:`~doctor_core.CheckResult`."""
    return CheckRunner()


@pytest.fixture
def doctor_cli() -> Iterator[Callable[..., CliResult]]:
    """Run ``doctor ARGS...`` in-process; returns ``CliResult(exit_code, stdout, stderr)``.

    ``environ`` replaces the process environment for the run (default: empty), ``cwd`` is the
    working directory (restored afterwards), ``plugins`` are in-process plugin objects and
    ``load_entrypoints`` whether installed plugins are loaded too.
    """
    original = os.getcwd()

    def run(
        *args: str,
        environ: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        plugins: Iterable[object] = (),
        load_entrypoints: bool = True,
        prog: str = "doctor",
    ) -> CliResult:
        from doctor_core.cli import run_cli

        out, err = io.StringIO(), io.StringIO()
        if cwd is not None:
            os.chdir(cwd)
        try:
            code = run_cli(
                list(args),
                environ={} if environ is None else dict(environ),
                stdout=out,
                stderr=err,
                plugins=tuple(plugins),
                load_entrypoints=load_entrypoints,
                prog=prog,
            )
        finally:
            os.chdir(original)
        return CliResult(code, out.getvalue(), err.getvalue())

    yield run
    os.chdir(original)
