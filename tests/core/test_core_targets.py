"""Checks per target (doctor_core.targets), through the plugin test kit as a third party uses it.

The plugin below is what a plugin author writes: a section with a list of hosts, one check
declaring ``targets`` from that list. Nothing here mocks the engine: the real Doctor plans,
runs, reports and renders.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from doctor_core import CheckContext, CheckDefinition, CheckOutcome, Doctor, Status
from doctor_core.hookspecs import hookimpl
from doctor_core.targets import Target
from doctor_core.testing import CheckRunner, CliResult
from doctor_core.types import Check, ConfigSection


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Name: str
    Verdict: str = "pass"
    Password: SecretStr | None = None


class HostSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Hosts: list[Host] = []


def host_targets(config: HostSettings | None) -> list[Target]:
    return [Target(host.Name, host) for host in (config.Hosts if config else [])]


SEEN: list[tuple[str | None, str | None]] = []


async def probe(ctx: CheckContext) -> CheckOutcome:
    host: Host | None = ctx.config if isinstance(ctx.config, Host) else None

    async def make() -> dict[str, str | None]:
        return {"owner": ctx.target}

    shared = await ctx.shared.get("client", make)
    SEEN.append((ctx.target, shared["owner"]))
    if host is None:
        return CheckOutcome(status=Status.PASS, message="no hosts: ran once")
    status = Status(host.Verdict)
    return CheckOutcome(
        status=status,
        message=f"{host.Name} says {status.value}",
        evidence={"host": host.Name},
        recommendations=(f"look at {host.Name}",) if status is not Status.PASS else (),
    )


async def plain(ctx: CheckContext) -> CheckOutcome:
    return CheckOutcome(status=Status.PASS, message="once")


class HostPlugin:
    __name__ = "hosts"

    def __init__(self, targets: object = host_targets) -> None:
        self.targets = targets

    @hookimpl
    def doctor_add_checks(self) -> list[Check]:
        return [
            Check(
                CheckDefinition(check_id="check.hosts.probe", name="Probe", tags=("hosts",)),
                run=probe,
                targets=self.targets,  # type: ignore[arg-type]
            ),
            Check(CheckDefinition(check_id="check.hosts.plain", name="Plain", tags=("plain",)), run=plain),
        ]

    @hookimpl
    def doctor_add_config_sections(self) -> list[ConfigSection]:
        return [ConfigSection(name="HOSTS", model=HostSettings)]


CONFIG = {"HOSTS": {"Hosts": [{"Name": "alpha"}, {"Name": "beta", "Verdict": "fail"}]}}


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def test_one_result_per_target_each_with_its_own_config_and_shared_scope(
    doctor_factory: Callable[..., Doctor],
) -> None:
    report = doctor_factory(HostPlugin(), config=CONFIG).run(check_ids=["check.hosts.probe"])
    assert [(r.check_id, r.target, r.status) for r in report.results] == [
        ("check.hosts.probe", "alpha", Status.PASS),
        ("check.hosts.probe", "beta", Status.FAIL),
    ]
    assert report.result("check.hosts.probe", "beta").evidence == {"host": "beta"}
    # ctx.shared is scoped: the same key gave each target its own object.
    assert sorted(SEEN) == [("alpha", "alpha"), ("beta", "beta")]
    assert report.summary.failures == 1 and report.summary.overall is Status.FAIL
    assert report.recommendations == ("look at beta",)
    assert report.targets() == ("alpha", "beta")


def test_no_targets_configured_runs_once_with_target_null(doctor_factory: Callable[..., Doctor]) -> None:
    report = doctor_factory(HostPlugin(), config={}).run()
    assert [(r.check_id, r.target) for r in report.results] == [
        ("check.hosts.probe", None),
        ("check.hosts.plain", None),
    ]
    payload = json.loads(report.to_json())
    assert payload["schema_version"] == "1.1"
    assert [r["target"] for r in payload["results"]] == [None, None]


def test_text_report_without_targets_is_unchanged(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory(HostPlugin(), config={})
    text = doctor.render(doctor.run(), "text", title="Registry Checks Summary")
    lines = text.splitlines()
    assert lines[:2] == ["Registry Checks Summary", "======================="]
    assert lines[2].split() == ["check.hosts.probe", "PASS", "no", "hosts:", "ran", "once"]
    assert lines[4] == "Overall: 2 passed, 0 warnings, 0 failures"
    assert len(lines) == 5 and "target" not in text.lower()


def test_text_report_groups_by_target(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory(HostPlugin(), config=CONFIG)
    text = doctor.render(doctor.run(), "text", title="Hosts Checks Summary")
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[:2] == ["Hosts Checks Summary: alpha", "==========================="]
    assert "alpha says pass" in blocks[0] and "beta" not in blocks[0]
    assert blocks[0].splitlines()[-1] == "Overall: 1 passed, 0 warnings, 0 failures"
    assert blocks[1].startswith("Hosts Checks Summary: beta\n")
    assert blocks[1].splitlines()[-1] == "Overall: 0 passed, 0 warnings, 1 failure"
    assert blocks[2].startswith("Hosts Checks Summary\n")  # the check without targets
    assert "check.hosts.plain" in blocks[2]
    assert "Overall (all targets): 2 passed, 0 warnings, 1 failure" in blocks[3]
    assert "- look at beta" in blocks[3]


def test_junit_and_markdown_name_the_target(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory(HostPlugin(), config=CONFIG)
    report = doctor.run(check_ids=["check.hosts.probe"])
    suite = ET.fromstring(doctor.render(report, "junit").split("\n", 1)[1])
    cases = [(case.get("classname"), case.get("name")) for case in suite.iter("testcase")]
    assert cases == [("hosts.alpha", "check.hosts.probe [alpha]"), ("hosts.beta", "check.hosts.probe [beta]")]
    markdown = doctor.render(report, "markdown")
    assert "| Target | Check | Status | Message |" in markdown
    assert "| beta | `check.hosts.probe` | FAIL | beta says fail |" in markdown


def test_target_selection_and_unknown_target(doctor_factory: Callable[..., Doctor]) -> None:
    doctor = doctor_factory(HostPlugin(), config=CONFIG)
    report = doctor.run(targets=["beta"])
    assert [(r.check_id, r.target) for r in report.results] == [("check.hosts.probe", "beta")]
    from doctor_core.errors import UsageError

    with pytest.raises(
        UsageError, match=r"unknown target 'bet' \(did you mean: beta\?\); targets: alpha, beta"
    ):
        doctor.run(targets=["bet"])


def test_cli_target_exit_codes_and_usage_error(doctor_cli: Callable[..., CliResult]) -> None:
    import yaml

    plugin = HostPlugin()
    config = yaml.safe_dump(CONFIG)
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "doctor.yaml"
        path.write_text(config)
        both = doctor_cli("--config", str(path), "--tag", "hosts", plugins=[plugin], load_entrypoints=False)
        assert both.exit_code == 1, both  # beta fails: the exit code is over all targets
        assert "Hosts Checks Summary: alpha" in both.stdout and "Hosts Checks Summary: beta" in both.stdout
        alpha = doctor_cli(
            "--config", str(path), "--target", "alpha", plugins=[plugin], load_entrypoints=False
        )
        assert alpha.exit_code == 0, alpha
        assert "beta" not in alpha.stdout and "check.hosts.plain" not in alpha.stdout
        wrong = doctor_cli(
            "--config", str(path), "--target", "alpah", plugins=[plugin], load_entrypoints=False
        )
        assert wrong.exit_code == 2
        assert "unknown target 'alpah' (did you mean: alpha?)" in wrong.stderr
        assert wrong.stdout == ""


def test_environment_list_indices_reach_the_targets(doctor_factory: Callable[..., Doctor]) -> None:
    environ = {
        "HOSTS__Hosts__0__Name": "gamma",
        "HOSTS__Hosts__1__Name": "delta",
        "HOSTS__Hosts__1__Verdict": "warn",
        "HOSTS__Hosts__1__Password": "hunter2-secret",
    }
    report = doctor_factory(HostPlugin(), environ=environ).run(check_ids=["check.hosts.probe"])
    assert [(r.target, r.status) for r in report.results] == [("gamma", Status.PASS), ("delta", Status.WARN)]


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        (lambda config: 42, "returned int, expected a list of Target"),
        (lambda config: [Target("a b")], "target name 'a b' is not letters, digits"),
        (lambda config: [Target("x"), Target("x")], "target name 'x' is given twice"),
        ("no_such_module_xyz:targets", "ModuleNotFoundError"),
    ],
)
def test_a_broken_targets_declaration_is_one_error_result(
    doctor_factory: Callable[..., Doctor], targets: Callable[[object], object] | str, problem: str
) -> None:
    report = doctor_factory(HostPlugin(targets), config=CONFIG).run()
    probe_result = report.result("check.hosts.probe")
    assert probe_result.status is Status.ERROR and probe_result.target is None
    assert "cannot list the targets of this check" in probe_result.message
    assert problem in probe_result.message
    assert report.result("check.hosts.plain").status is Status.PASS


def test_run_check_runs_one_target(run_check: CheckRunner) -> None:
    result = run_check("check.hosts.probe", CONFIG, plugins=[HostPlugin()], target="beta")
    assert (result.target, result.status) == ("beta", Status.FAIL)
    assert SEEN == [("beta", "beta")]  # only that target ran


def test_concurrency_bounds_each_target_separately(doctor_factory: Callable[..., Doctor]) -> None:
    """--concurrency 1 with three targets: one check per target at a time, the targets side by side."""
    import asyncio

    running: dict[str | None, int] = {}
    peak: dict[str | None, int] = {}
    overall: list[int] = [0, 0]

    async def slow(ctx: CheckContext) -> CheckOutcome:
        running[ctx.target] = running.get(ctx.target, 0) + 1
        overall[0] += 1
        peak[ctx.target] = max(peak.get(ctx.target, 0), running[ctx.target])
        overall[1] = max(overall[1], overall[0])
        await asyncio.sleep(0.05)
        running[ctx.target] -= 1
        overall[0] -= 1
        return CheckOutcome(status=Status.PASS, message="ok")

    class Two(HostPlugin):
        @hookimpl
        def doctor_add_checks(self) -> list[Check]:
            return [
                Check(
                    CheckDefinition(check_id=f"check.hosts.slow{i}", name="Slow"),
                    run=slow,
                    targets=host_targets,
                )
                for i in range(2)
            ]

    config = {"HOSTS": {"Hosts": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]}}
    report = doctor_factory(Two(), config=config).run(concurrency=1)
    assert len(report.results) == 6 and report.summary.passed == 6
    assert peak == {"a": 1, "b": 1, "c": 1}  # never two checks of one target at once
    assert overall[1] == 3  # the three targets ran side by side


class ByImportString(HostPlugin):
    """The probe given as an import string, as real plugins give their checks (imported when run)."""

    def __init__(self, spec: str) -> None:
        super().__init__()
        self.spec = spec

    @hookimpl
    def doctor_add_checks(self) -> list[Check]:
        definition = CheckDefinition(check_id="check.hosts.lazy", name="Lazy", estimated_duration_s=0.1)
        return [Check(definition, run=self.spec, targets=host_targets)]


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:run"


def test_a_check_run_per_target_is_imported_once_per_run(
    doctor_factory: Callable[..., Doctor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One import thread for the check, not one per target (each thread start is an event-loop stall)."""
    import threading

    spec = _module(
        tmp_path,
        monkeypatch,
        "dtp_lazy_probe",
        "from doctor_core import CheckOutcome, Status\n"
        "async def run(ctx):\n"
        "    return CheckOutcome(status=Status.PASS, message=f'{ctx.target} ok')\n",
    )
    started: list[str] = []
    original = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    config = {"HOSTS": {"Hosts": [{"Name": f"h{i}"} for i in range(5)]}}
    doctor = doctor_factory(ByImportString(spec), config=config)
    for _ in range(2):  # and once again in the next run of the same Doctor
        report = doctor.run()
        assert [(r.target, r.message) for r in report.results] == [(f"h{i}", f"h{i} ok") for i in range(5)]
    assert started.count("doctor-check-check.hosts.lazy") == 2


def test_a_hanging_import_is_reported_alike_by_every_target(
    doctor_factory: Callable[..., Doctor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _module(
        tmp_path, monkeypatch, "dtp_hanging_probe", "import time\ntime.sleep(5)\nasync def run(ctx): ...\n"
    )
    config = {"HOSTS": {"Hosts": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]}}
    report = doctor_factory(ByImportString(spec), config=config).run(timeout=0.3)
    assert [(r.target, r.status) for r in report.results] == [(t, Status.ERROR) for t in "abc"]
    assert {r.message for r in report.results} == {
        "timed out after 0.3 s (its thread cannot be cancelled and is still running; abandoned)"
    }
