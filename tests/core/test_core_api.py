"""The embedding API, the pytest kit, progress, logging and Ctrl-C in a real process."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from doctor_core import (
    Check,
    CheckContext,
    CheckDefinition,
    CheckOutcome,
    ConfigError,
    Doctor,
    Status,
    UsageError,
    logs,
)
from doctor_core.progress import LiveProgress, wanted
from doctor_core.testing import CheckRunner, assert_result
from tests.core.conftest import REPO, PluginSite, subprocess_env


async def _ok(ctx: CheckContext) -> CheckOutcome:
    ctx.log.debug("probing", header="Authorization: Bearer abcdefghijkl")
    return CheckOutcome(status=Status.PASS, message="fine", evidence={"n": 1})


CHECK = Check(CheckDefinition(check_id="check.kit.ok", name="ok", tags=("kit",)), run=_ok)


def test_run_and_arun_give_the_same_report(
    doctor_factory: Callable[..., Doctor], seed_plugin: ModuleType
) -> None:
    doctor = doctor_factory(seed_plugin, config={"SEED": {"Scenario": "healthy"}})
    assert [d.check_id for d in doctor.checks(tags=["pull"])] == ["check.integration.oci.pull"]
    report = doctor.run(tags=["registry"])
    assert report.summary.passed == 5 and report.summary.overall is Status.PASS


async def test_arun_validates_config_before_any_check_starts(
    doctor_factory: Callable[..., Doctor], seed_plugin: ModuleType
) -> None:
    started = []

    class Listener:
        from doctor_core import hookimpl

        @hookimpl
        def doctor_check_started(self, definition: CheckDefinition) -> None:
            started.append(definition)

    doctor = doctor_factory(seed_plugin, Listener(), config={"SEED": {"Scenario": "nope"}})
    with pytest.raises(ConfigError, match=r"SEED\.Scenario"):
        await doctor.arun(tags=["registry"])
    assert started == []


def test_selection_union_and_empty(doctor_factory: Callable[..., Doctor], seed_plugin: ModuleType) -> None:
    doctor = doctor_factory(seed_plugin)
    ids = [d.check_id for d in doctor.checks(tags=["pull"], check_ids=["check.integration.oci.push"])]
    assert ids == ["check.integration.oci.pull", "check.integration.oci.push"]
    assert len(doctor.checks()) == 5
    with pytest.raises(UsageError, match="no checks are installed"):
        doctor_factory().checks(tags=["x"])


def test_run_check_fixture_and_assert_result(run_check: CheckRunner) -> None:
    result = run_check(CHECK)
    assert_result(result, status="pass", evidence={"n": 1}, message_contains="fin")
    with pytest.raises(AssertionError, match="expected status 'fail', got 'pass'"):
        assert_result(result, status=Status.FAIL)
    with pytest.raises(AssertionError, match="evidence 'n': expected 2, got 1"):
        assert_result(result, evidence={"n": 2})


async def test_run_check_async(run_check: CheckRunner) -> None:
    result = await run_check.arun(CHECK)
    assert result.status is Status.PASS


def test_logging_is_silent_by_default_and_redacted_when_verbose(
    run_check: CheckRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    run_check(CHECK)
    assert capsys.readouterr().err == ""
    stream = io.StringIO()
    logs.configure(verbose=True, fmt="json", stream=stream)
    run_check(CHECK)
    line = stream.getvalue()
    assert '"event": "probing"' in line and '"check_id": "check.kit.ok"' in line
    assert "abcdefghijkl" not in line


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_only_on_a_terminal(
    doctor_factory: Callable[..., Doctor], seed_plugin: ModuleType
) -> None:
    tty, pipe = _Tty(), io.StringIO()
    assert wanted(stderr=tty, stdout=tty, machine_readable=False, output_file=False)
    assert not wanted(stderr=pipe, stdout=tty, machine_readable=False, output_file=False)
    assert not wanted(stderr=tty, stdout=tty, machine_readable=True, output_file=False)
    assert not wanted(stderr=tty, stdout=pipe, machine_readable=False, output_file=False)
    doctor = doctor_factory(seed_plugin, LiveProgress(tty))
    doctor.run()
    drawn = tty.getvalue()
    assert "running: check.integration.oci.credentials" in drawn
    assert "[5/5]" in drawn and drawn.endswith("\r\x1b[K")


def test_sigint_cancels_cleanly_prints_what_finished_and_exits_130(
    plugin_site: PluginSite, tmp_path: Path
) -> None:
    plugin_site.add_distribution("dtp-slow", {"dtp_slow": "dtp_slow"}, ["dtp_slow"])
    markers = tmp_path / "markers"
    markers.mkdir()
    env = subprocess_env(
        tmp_path,
        PYTHONPATH=f"{plugin_site.path}:{REPO}",
        DTP_MARKER_DIR=str(markers),
        DOCTOR_DISABLE_PLUGINS=",".join(plugin_site.foreign_plugins()),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "doctor_core.cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while not (markers / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert (markers / "cleaned").exists()
    assert "check.dtp.slow.quick  PASS   quick" in out
    assert "check.dtp.slow.wait   ERROR  interrupted" in out
    assert "Interrupted: the results above are the checks that finished." in out
    assert "Traceback" not in err


def test_ctx_config_is_one_model_and_every_section_is_in_ctx_sections(
    doctor_factory: Callable[..., Doctor],
) -> None:
    """A plugin with one section gets its model as ctx.config; with two, ctx.config is None and
    each section is in ctx.sections by name -- never a model in one case and a dict in the other."""
    from pydantic import BaseModel

    from doctor_core import ConfigSection, hookimpl

    class Alpha(BaseModel):
        Level: int = 1

    class Beta(BaseModel):
        Name: str = "b"

    seen: dict[int, tuple[Any, dict[str, Any]]] = {}  # ctx.config and ctx.sections are Any

    def plugin(sections: list[tuple[str, type[BaseModel]]]) -> object:
        class Plugin:
            @hookimpl
            def doctor_add_config_sections(self) -> Iterable[ConfigSection]:
                return [ConfigSection(name, model) for name, model in sections]

            @hookimpl
            def doctor_add_checks(self) -> Iterable[Check]:
                async def run(ctx: CheckContext) -> CheckOutcome:
                    seen[len(sections)] = (ctx.config, dict(ctx.sections))
                    return CheckOutcome(status=Status.PASS, message="ok")

                check_id = f"check.sections.n{len(sections)}"
                return [Check(CheckDefinition(check_id=check_id, name=check_id), run=run)]

        return Plugin()

    doctor_factory(plugin([("ALPHA", Alpha)]), environ={"ALPHA__Level": "3"}).run()
    doctor_factory(plugin([("ALPHA", Alpha), ("BETA", Beta)]), environ={"BETA__Name": "x"}).run()
    config, sections = seen[1]
    assert isinstance(config, Alpha) and config.Level == 3 and sections == {"ALPHA": config}
    config, sections = seen[2]
    assert config is None
    assert sections["ALPHA"].Level == 1 and sections["BETA"].Name == "x"
