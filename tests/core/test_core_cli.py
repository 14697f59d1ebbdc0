"""The command line: the seed's Quick Start verbatim, exit codes, errors without tracebacks."""

from __future__ import annotations

import argparse
import io
import json
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
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
    CommandApp,
    ConfigSection,
    RenderOptions,
    Report,
    Reporter,
    Status,
    hookimpl,
)
from doctor_core.cli import run_cli
from doctor_core.testing import CliResult
from tests.core.conftest import REPO, PluginSite, isolated_site, subprocess_env

QUICK_START = [
    "stella doctor --tag registry",
    "stella doctor --check check.integration.oci.referrers",
    "stella doctor --tag registry --format json --output registry-health.json",
    "stella doctor --tag registry --verbose",
]


def _cli(
    doctor_cli: Callable[..., CliResult],
    seed_plugin: ModuleType,
    command: str,
    scenario: str = "fallback",
    cwd: Path | None = None,
    environ: dict[str, str] | None = None,
) -> CliResult:
    prog, *args = shlex.split(command)
    env = {"SEED__Scenario": scenario, **(environ or {})}
    return doctor_cli(*args, prog=prog, plugins=[seed_plugin], load_entrypoints=False, environ=env, cwd=cwd)


@pytest.mark.parametrize("prefix", ["stella doctor", "doctor"])
def test_seed_quick_start_verbatim(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path, prefix: str
) -> None:
    commands = [c.replace("stella doctor", prefix) for c in QUICK_START]

    result = _cli(doctor_cli, seed_plugin, commands[0], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Registry Checks Summary\n=======================\n")
    assert "Overall: 3 passed, 1 warning, 1 info, 0 failures" in result.stdout
    assert result.stderr == ""

    result = _cli(doctor_cli, seed_plugin, commands[1], cwd=tmp_path)
    assert result.stdout.startswith("Doctor Checks Summary\n")
    assert result.stdout.count("check.integration.oci") == 1

    result = _cli(doctor_cli, seed_plugin, commands[2], cwd=tmp_path)
    assert result.exit_code == 0
    written = (tmp_path / "registry-health.json").read_text()
    data = json.loads(written)
    assert data["summary"]["warnings"] == 1 and len(data["results"]) == 5
    assert (
        result.stdout
        == "Overall: 3 passed, 1 warning, 1 info, 0 failures (report written to registry-health.json)\n"
    )

    result = _cli(doctor_cli, seed_plugin, commands[3], cwd=tmp_path)
    assert "    Remediation:\n      1. Check registry version against compatibility matrix" in result.stdout
    assert "    referrers_supported: false" in result.stdout


def test_stella_requires_doctor(doctor_cli: Callable[..., CliResult]) -> None:
    result = doctor_cli("list", prog="stella", load_entrypoints=False)
    assert result.exit_code == 2 and "usage: stella doctor" in result.stderr


def _plugin_with(status: Status) -> object:
    class Plugin:
        @hookimpl
        def doctor_add_checks(self) -> Iterable[Check]:
            async def run(ctx: CheckContext) -> CheckOutcome:
                return CheckOutcome(status=status, message=status.value)

            return [Check(CheckDefinition(check_id="check.cli.one", name="one", tags=("cli",)), run=run)]

    return Plugin()


@pytest.mark.parametrize(
    ("status", "fail_on", "code"),
    [
        (Status.PASS, "fail", 0),
        (Status.INFO, "fail", 0),
        (Status.WARN, "fail", 0),
        (Status.WARN, "warn", 1),
        (Status.FAIL, "fail", 1),
        (Status.ERROR, "fail", 1),
        (Status.SKIP, "warn", 0),
    ],
)
def test_exit_codes(doctor_cli: Callable[..., CliResult], status: Status, fail_on: str, code: int) -> None:
    result = doctor_cli("--fail-on", fail_on, plugins=[_plugin_with(status)], load_entrypoints=False)
    assert result.exit_code == code, result.stdout + result.stderr


def test_usage_errors_exit_2_with_suggestions_and_no_traceback(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType
) -> None:
    result = _cli(doctor_cli, seed_plugin, "doctor --check check.integration.oci.referals")
    assert result.exit_code == 2
    assert result.stderr.startswith("doctor: error: unknown check id 'check.integration.oci.referals'")
    assert "did you mean: check.integration.oci.referrers" in result.stderr
    assert "Traceback" not in result.stderr
    result = _cli(doctor_cli, seed_plugin, "doctor --tag registy")
    assert result.exit_code == 2 and "did you mean: registry" in result.stderr
    result = _cli(doctor_cli, seed_plugin, "doctor --format yaml")
    assert result.exit_code == 2 and "unknown output format 'yaml'" in result.stderr
    result = _cli(doctor_cli, seed_plugin, "doctor --timeout -1")
    assert result.exit_code == 2 and "must be greater than 0" in result.stderr
    result = _cli(doctor_cli, seed_plugin, "doctor lsit")
    assert result.exit_code == 2 and "unknown command 'lsit' (did you mean: list?)" in result.stderr


def test_config_errors_exit_2_naming_the_key(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    result = _cli(doctor_cli, seed_plugin, "doctor --tag registry", environ={"SEED__Scenario": "broken"})
    assert result.exit_code == 2
    assert result.stderr.startswith("doctor: error: SEED.Scenario: ")
    assert "environment variable SEED__Scenario" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("SEED: [\n")
    result = _cli(doctor_cli, seed_plugin, f"doctor --config {bad}")
    assert result.exit_code == 2 and "is not valid YAML at line" in result.stderr
    good = tmp_path / "doctor.yaml"
    good.write_text("SEED:\n  Scenaro: healthy\n")
    result = doctor_cli("--tag", "registry", plugins=[seed_plugin], load_entrypoints=False, cwd=tmp_path)
    assert result.exit_code == 0
    assert "doctor: warning: unknown configuration key 'SEED.Scenaro'" in result.stderr


def test_secret_ref_to_missing_file_is_exit_2_with_the_key(
    doctor_cli: Callable[..., CliResult], good_section_plugin: object, tmp_path: Path
) -> None:
    result = doctor_cli(
        environ={"SECRETS__TokenSecretRef": f"file:{tmp_path}/missing"},
        plugins=[good_section_plugin],
        load_entrypoints=False,
    )
    assert result.exit_code == 2
    assert "SECRETS.TokenSecretRef" in result.stderr and "does not exist" in result.stderr


@pytest.fixture
def good_section_plugin() -> object:
    from pydantic import BaseModel

    from doctor_core import ConfigFlag, ConfigSection, SecretRef

    class Settings(BaseModel):
        TokenSecretRef: SecretRef | None = None
        Loud: bool = False

    class Plugin:
        @hookimpl
        def doctor_add_config_sections(self) -> Iterable[ConfigSection]:
            return [ConfigSection("SECRETS", Settings, flags=(ConfigFlag("--loud", "Loud", "be loud"),))]

        @hookimpl
        def doctor_add_checks(self) -> Iterable[Check]:
            async def run(ctx: CheckContext) -> CheckOutcome:
                return CheckOutcome(status=Status.PASS, message=f"loud={ctx.config.Loud}")

            return [Check(CheckDefinition(check_id="check.secrets.one", name="one"), run=run)]

    return Plugin()


def test_config_flags_override_environment(
    doctor_cli: Callable[..., CliResult], good_section_plugin: object
) -> None:
    env = {"SECRETS__Loud": "false"}
    result = doctor_cli(environ=env, plugins=[good_section_plugin], load_entrypoints=False)
    assert "loud=False" in result.stdout
    result = doctor_cli("--loud", environ=env, plugins=[good_section_plugin], load_entrypoints=False)
    assert "loud=True" in result.stdout


def test_list_plugins_schema(doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType) -> None:
    result = doctor_cli("list", "--tag", "referrers", plugins=[seed_plugin], load_entrypoints=False)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "SEVERITY", "DURATION", "PLUGIN", "TAGS"]
    assert lines[1].split()[:3] == ["check.integration.oci.referrers", "warn", "10s"]
    result = doctor_cli("list", "--format", "json", plugins=[seed_plugin], load_entrypoints=False)
    assert json.loads(result.stdout)[0]["check_id"] == "check.integration.oci.credentials"
    result = doctor_cli("plugins", "--format", "json", plugins=[seed_plugin], load_entrypoints=False)
    names = [p["name"] for p in json.loads(result.stdout)["plugins"]]
    assert names == ["doctor_core.reporters", "tests.core.fixtures.seed_plugin"]
    result = doctor_cli("schema", load_entrypoints=False)
    assert json.loads(result.stdout)["title"] == "doctor report"


def test_list_reports_a_broken_configuration_file(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("OCI:\n  RegistryUrl: [unclosed\n")
    options = {"plugins": [seed_plugin], "load_entrypoints": False}
    # A file the user named: an error, as for a run.
    result = doctor_cli("list", "--config", str(broken), **options)
    assert result.exit_code == 2 and result.stdout == ""
    assert "not valid YAML at line 3" in result.stderr and "broken.yaml" in result.stderr
    result = doctor_cli("list", "--config", str(tmp_path / "missing.yaml"), **options)
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = doctor_cli("list", environ={"DOCTOR_CONFIG": str(broken)}, **options)
    assert result.exit_code == 2 and "not valid YAML" in result.stderr
    # ./doctor.yaml found by default: a warning, and the listing still works.
    (tmp_path / "doctor.yaml").write_text(broken.read_text())
    result = doctor_cli("list", cwd=tmp_path, **options)
    assert result.exit_code == 0
    assert "check.integration.oci.credentials" in result.stdout
    assert result.stderr.startswith("doctor: warning: configuration file") and "doctor.yaml" in result.stderr
    # A valid file: silent.
    (tmp_path / "doctor.yaml").write_text("OCI:\n  RegistryUrl: https://r.example\n")
    result = doctor_cli("list", cwd=tmp_path, **options)
    assert (result.exit_code, result.stderr) == (0, "")


def test_plugin_command_gets_config_flags(
    doctor_cli: Callable[..., CliResult], plugin_site: PluginSite
) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    disable = ",".join(plugin_site.foreign_plugins())
    result = doctor_cli(
        "greet", "world", "--loud", environ={"DOCTOR_DISABLE_PLUGINS": disable, "GOOD__Greeting": "hi"}
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hi world!\n"
    result = doctor_cli("--help", environ={"DOCTOR_DISABLE_PLUGINS": disable})
    assert "greet      say hello" in result.stdout and "--loud" in result.stdout
    assert "130 interrupted" in result.stdout


def test_internal_error_is_one_redacted_line(doctor_cli: Callable[..., CliResult]) -> None:
    class Broken:
        @hookimpl
        def doctor_add_reporters(self) -> Iterable[Reporter]:
            def render(report: Report, options: RenderOptions) -> str:
                raise RuntimeError("render failed token=abc123def456")

            return [Reporter("broken", "x", render)]

    result = doctor_cli("--format", "broken", plugins=[Broken()], load_entrypoints=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "doctor: internal error: RuntimeError: render failed token=***; run with --verbose for details\n"
    )
    result = doctor_cli("--format", "broken", "--verbose", plugins=[Broken()], load_entrypoints=False)
    assert "Traceback" in result.stderr and "abc123def456" not in result.stderr


def _import_log(
    args: list[str], env: dict[str, str], python_flags: tuple[str, ...] = ()
) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, *python_flags, "-X", "importtime", "-m", "doctor_core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
    )
    modules = {
        line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")
    }
    return proc.stdout, modules


def test_version_and_help_stay_cheap(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path)
    out, modules = _import_log(["--version"], env)
    assert out == "doctor 0.1.0\n"
    heavy = {"pydantic", "pluggy", "stevedore", "structlog", "httpx", "yaml"}
    assert not modules & heavy, modules & heavy
    out, modules = _import_log(["--help"], env)
    assert "usage: doctor" in out
    assert "structlog" not in modules and "httpx" not in modules
    assert not [m for m in modules if ".checks" in m or m.endswith("_checks")], modules


@pytest.mark.parametrize("args", [["list"], ["list", "--format", "json"], ["--help"]], ids=" ".join)
def test_list_and_help_do_not_import_pydantic(tmp_path: Path, args: list[str]) -> None:
    """With the real plugins installed (OCI, both examples), listing and help stay pydantic-free:
    definitions are dataclasses, settings models and check bodies are import strings."""
    env = subprocess_env(tmp_path)
    out, modules = _import_log(args, env)
    expected = "--format NAME" if args == ["--help"] else "check.integration.oci.pull"
    assert expected in out, out
    assert "check.example.dns.resolve" in out or "prometheus" in out, out  # the examples are loaded
    heavy = {"pydantic", "pydantic_core", "httpx", "structlog", "yaml"}
    assert not modules & heavy, sorted(modules & heavy)
    assert not {"doctor_oci.settings", "doctor_example_net.settings", "doctor_core.models"} & modules
    assert not [m for m in modules if ".checks" in m or m.endswith("_checks")], modules


#: Runs the ``doctor`` console script (``main``) and prints how many collections ran between
#: ``main`` and the end of start-up (:func:`doctor_core.cli.startup_done`, called just before the
#: checks run), and whether the collector is on for the checks.
_COLLECTOR_PROBE = """
import atexit, gc, json, sys
from doctor_core import api, cli
passes = []
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(1))
seen = {}
done = cli.startup_done
def probe():
    seen["collections_during_startup"] = len(passes) - before
    done()
cli.startup_done = probe
arun = api.Doctor.arun
async def checks(self, *args, **kwargs):
    seen["enabled_for_checks"] = gc.isenabled()
    return await arun(self, *args, **kwargs)
api.Doctor.arun = checks
atexit.register(lambda: print(json.dumps(seen)))
sys.argv = ["doctor", *sys.argv[1:]]
before = len(passes)
cli.main()
"""


def test_console_script_does_not_collect_garbage_while_starting_up(tmp_path: Path) -> None:
    """Issue 16: start-up leaves almost no garbage, so the console script does not collect while
    it imports, loads plugins and reads the configuration; the checks run with the collector on."""
    done = subprocess.run(
        [sys.executable, "-c", _COLLECTOR_PROBE, "--tag", "registry", "--format", "json"],
        capture_output=True,
        text=True,
        env=subprocess_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "collections_during_startup": 0,
        "enabled_for_checks": True,
    }


def test_run_cli_in_process_leaves_the_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from doctor_core import api

    seen: list[bool] = []
    arun = api.Doctor.arun

    async def probe(self: api.Doctor, *args: Any, **kwargs: Any) -> Report:
        seen.append(gc.isenabled())
        return await arun(self, *args, **kwargs)

    monkeypatch.setattr(api.Doctor, "arun", probe)
    out = io.StringIO()
    run_cli(
        ["--format", "json"],
        environ={},
        stdout=out,
        stderr=io.StringIO(),
        plugins=[_plugin_with(Status.PASS)],
        load_entrypoints=False,
    )
    assert seen == [True] and gc.isenabled()
    assert json.loads(out.getvalue())["summary"]["passed"] == 1


def test_bad_config_model_string_is_a_plugin_problem_on_the_command_line(
    doctor_cli: Callable[..., CliResult], plugin_site: PluginSite
) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    plugin_site.add_distribution("dtp-badmodel", {"dtp_badmodel": "dtp_bad_model"}, ["dtp_bad_model"])
    env = {"DOCTOR_DISABLE_PLUGINS": ",".join(plugin_site.foreign_plugins())}

    result = doctor_cli("list", environ=env)
    assert result.exit_code == 0 and result.stderr == ""  # listing does not import the models
    assert "check.dtp.badmodel.run" in result.stdout

    # A run reads the configuration: the problems are reported (naming the distribution), and a
    # flag of a section left out is ignored rather than being a configuration error.
    result = doctor_cli("--tag", "dtp", "--missing-flag", environ=env)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "plugin 'dtp_badmodel' (distribution dtp-badmodel) failed at invalid-contribution" in result.stdout
    assert "dtp_no_such_module:Settings" in result.stdout and "NotAModel" in result.stdout

    result = doctor_cli("--tag", "dtp", "--strict-plugins", environ=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("doctor: error: plugin problems with --strict-plugins: ")
    # The one wording of a plugin problem (PluginProblem.describe), as in the report and `doctor plugins`.
    assert "plugin 'dtp_badmodel' (distribution dtp-badmodel) failed at invalid-contribution" in result.stderr
    assert "Traceback" not in result.stderr

    result = doctor_cli("plugins", "--format", "json", environ=env)
    assert result.exit_code == 0
    problems = json.loads(result.stdout)["problems"]
    assert [p["distribution"] for p in problems] == ["dtp-badmodel", "dtp-badmodel"]


def _core_only(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = isolated_site(tmp_path)
    env = subprocess_env(tmp_path, PYTHONPATH=f"{site}:{REPO}")
    return subprocess.run(
        [sys.executable, "-S", "-m", "doctor_core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )


def test_core_alone_has_no_checks(tmp_path: Path) -> None:
    proc = _core_only(tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("No checks are installed")
    proc = _core_only(tmp_path, "--tag", "x")
    assert proc.returncode == 2
    assert proc.stderr == (
        "doctor: error: no checks are installed; install a doctor plugin "
        "(for example doctor-integration-oci) "
        "and run 'doctor list' to see its checks\n"
    )
    proc = _core_only(tmp_path)
    assert proc.returncode == 0 and "No checks were run." in proc.stdout


# ------------------------------------------------------------------ output target and format
def test_output_dash_is_stdout(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    result = _cli(doctor_cli, seed_plugin, "doctor --tag registry --format json -o -", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["warnings"] == 1
    assert not (tmp_path / "-").exists()
    result = _cli(doctor_cli, seed_plugin, "doctor --tag registry -o -", cwd=tmp_path)
    assert result.stdout.startswith("Registry Checks Summary\n") and not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("r.json", lambda text: json.loads(text)["schema_version"] == "1.1"),
        ("r.XML", lambda text: text.startswith('<?xml version="1.0"')),
        ("r.md", lambda text: text.startswith("# Registry Checks Summary\n")),
        ("r.txt", lambda text: text.startswith("Registry Checks Summary\n=====")),
    ],
)
def test_format_inferred_from_the_output_extension(
    doctor_cli: Callable[..., CliResult],
    seed_plugin: ModuleType,
    tmp_path: Path,
    name: str,
    check: Callable[[str], bool],
) -> None:
    result = _cli(doctor_cli, seed_plugin, f"doctor --tag registry -o {name}", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert check((tmp_path / name).read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--format text -o r.json", "--format text contradicts the output file 'r.json' (.json is json)"),
        ("--format json -o r.xml", "--format json contradicts the output file 'r.xml' (.xml is junit)"),
        ("-o report", "cannot tell the format of 'report' from its extension; give --format"),
        ("-o r.log", "cannot tell the format of 'r.log' from its extension; give --format"),
    ],
)
def test_format_and_output_name_that_disagree_are_a_usage_error(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path, args: str, message: str
) -> None:
    result = _cli(doctor_cli, seed_plugin, f"doctor --tag registry {args}", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"doctor: error: {message}"), result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a text file


def test_explicit_format_writes_any_unclaimed_extension(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    command = "doctor --tag registry --format junit -o doctor.report"
    result = _cli(doctor_cli, seed_plugin, command, cwd=tmp_path)
    assert result.exit_code == 0
    ET.fromstring((tmp_path / "doctor.report").read_text())


def test_report_file_is_replaced_whole_keeping_its_permissions(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    """The new report is written beside the old one and renamed over it: a reader (or a crash)
    never sees a half-written file, and no temporary file is left behind."""
    target = tmp_path / "r.json"
    target.write_text("previous good report")
    target.chmod(0o640)
    before = target.stat().st_ino
    result = _cli(doctor_cli, seed_plugin, "doctor --tag registry -o r.json", cwd=tmp_path)
    assert result.exit_code == 0
    assert target.stat().st_ino != before  # replaced by a rename, not truncated in place
    assert target.stat().st_mode & 0o777 == 0o640
    assert json.loads(target.read_text())["summary"]["total"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_write_failing_half_way_keeps_the_previous_report(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    """A reporter whose text cannot be encoded fails after part of it was written: the previous
    report stays whole and the temporary file is removed."""

    class Broken:
        @hookimpl
        def doctor_add_reporters(self) -> Iterable[Reporter]:
            def render(report: Report, options: RenderOptions) -> str:
                return "x" * 100_000 + "\ud800 cannot be encoded"

            return [Reporter("broken", "fails half-way", render, file_extension="bad", exact_text=True)]

    target = tmp_path / "r.bad"
    target.write_text("previous good report")
    result = doctor_cli(
        "--tag", "registry", "-o", "r.bad",
        plugins=[seed_plugin, Broken()], load_entrypoints=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 2 and "UnicodeEncodeError" in result.stderr
    assert target.read_text() == "previous good report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.bad"]


def test_junit_file_agrees_with_the_exit_code_under_fail_on_warn(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    result = _cli(
        doctor_cli, seed_plugin, "doctor --tag registry --format junit --fail-on warn -o r.xml", cwd=tmp_path
    )
    assert result.exit_code == 1
    suite = ET.fromstring((tmp_path / "r.xml").read_text())
    assert suite.get("failures") == "1"
    assert result.stdout.endswith("Failed: warnings fail the run (--fail-on warn)\n")
    result = _cli(doctor_cli, seed_plugin, "doctor --tag registry --format json --fail-on warn", cwd=tmp_path)
    assert result.exit_code == 1 and json.loads(result.stdout)["summary"]["failed"] is True


# ------------------------------------------------------------------------------------ colour
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _colour_run(seed_plugin: ModuleType, environ: dict[str, str], *args: str, tty: bool) -> str:
    out = _Terminal() if tty else io.StringIO()
    env = {"SEED__Scenario": "fallback", **environ}
    run_cli(
        ["--tag", "registry", *args],
        environ=env,
        stdout=out,
        stderr=io.StringIO(),
        plugins=[seed_plugin],
        load_entrypoints=False,
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("environ", "args", "tty", "colour"),
    [
        ({}, (), True, True),
        ({}, (), False, False),
        ({"NO_COLOR": "1"}, (), True, False),
        ({"NO_COLOR": ""}, (), True, True),  # no-color.org: an empty NO_COLOR does not disable
        ({"FORCE_COLOR": "1"}, (), False, True),
        ({"FORCE_COLOR": "0"}, (), False, False),
        ({"FORCE_COLOR": ""}, (), False, False),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, (), False, False),
        ({"FORCE_COLOR": "1"}, ("--no-color",), True, False),  # the flag wins
        ({"FORCE_COLOR": "1"}, ("--format", "json"), False, False),  # never in machine formats
    ],
)
def test_colour_follows_no_color_force_color_and_the_flag(
    seed_plugin: ModuleType, environ: dict[str, str], args: tuple[str, ...], tty: bool, colour: bool
) -> None:
    assert ("\x1b[" in _colour_run(seed_plugin, environ, *args, tty=tty)) is colour


# ------------------------------------------------------------------------------------- help
def test_help_has_examples_and_the_plugins_environment_variables_without_pydantic(tmp_path: Path) -> None:
    out, modules = _import_log(["--help"], subprocess_env(tmp_path))
    assert "\nexamples:\n  doctor list\n" in out
    assert "  doctor --tag registry --format junit --fail-on warn -o doctor.xml\n" in out
    assert "\nenvironment (a plugin key: SECTION__Key=value, case-insensitive):\n" in out
    for variable in ("DOCTOR_CONFIG", "NO_COLOR=1", "FORCE_COLOR=1", "OCI__RegistryUrl", "OCI__Token"):
        assert f"\n  {variable} " in out, variable
    assert not {"pydantic", "pydantic_core", "doctor_oci.settings"} & modules


def test_declared_config_keys_name_exactly_the_models_keys() -> None:
    """Every installed section that lists its keys for --help lists exactly its model's keys."""
    from doctor_core import Doctor

    doctor = Doctor({}, environ={})
    sections = doctor.plugin_manager.config_sections()
    assert "OCI" in sections
    for name, owned in sections.items():
        declared = [key.name for key in owned.section.help_keys()]
        if owned.section.keys:
            assert declared == [key.name for key in owned.section.model_keys()], name


def test_help_lists_keys_declared_derived_from_a_model_class_or_one_line_per_section(
    doctor_cli: Callable[..., CliResult],
) -> None:
    from pydantic import BaseModel, Field

    from doctor_core import ConfigKey, ConfigSection

    class Settings(BaseModel):
        Level: int = Field(default=1, description="how loud")

    class Plugin:
        @hookimpl
        def doctor_add_config_sections(self) -> Iterable[ConfigSection]:
            return [
                ConfigSection("DECLARED", "nowhere.mod:S", keys=(ConfigKey("Url", "where to go\x1b[2J"),)),
                ConfigSection("CLASS", Settings),
                ConfigSection("LAZY", "nowhere.settings:S", description="lazy section"),
            ]

    result = doctor_cli("--help", plugins=[Plugin()], load_entrypoints=False)
    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "DECLARED__Url where to go\\x1b[2J" in lines  # plugin text neutralised
    assert "CLASS__Level how loud" in lines
    assert "LAZY__<Key> lazy section" in lines


# ------------------------------------------------------------ global options, sub-commands
def _nested_command_plugin(seen: list[dict[str, object]]) -> object:
    """A plugin command with a nested sub-command, like ``doctor oci referrers IMAGE``."""
    from doctor_core import Command

    def configure(parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="tool_command", required=True)
        show = sub.add_parser("show")
        show.add_argument("image")
        show.add_argument("-v", "--version-of", dest="version_of", default=None)  # the plugin's own -v wins

    def run(ns: argparse.Namespace, app: CommandApp) -> int:
        seen.append({key: getattr(ns, key, None) for key in ("image", "no_color", "verbose", "version_of")})
        return 0

    class Plugin:
        @hookimpl
        def doctor_add_commands(self) -> Iterable[Command]:
            return [Command("tool", "a tool", configure, run)]

    return Plugin()


@pytest.mark.parametrize(
    "args",
    [
        ["tool", "show", "IMAGE", "--no-color"],
        ["--no-color", "tool", "show", "IMAGE"],
        ["tool", "--no-color", "show", "IMAGE"],
        ["stella", "doctor", "tool", "show", "IMAGE", "--no-color"],
    ],
    ids=" ".join,
)
def test_global_options_go_where_users_put_them_plugin_commands_too(
    doctor_cli: Callable[..., CliResult], args: list[str]
) -> None:
    seen: list[dict[str, object]] = []
    prog = "doctor"
    if args[0] == "stella":
        prog, args = "stella", args[1:]
    result = doctor_cli(*args, prog=prog, plugins=[_nested_command_plugin(seen)], load_entrypoints=False)
    assert result.exit_code == 0, result.stderr
    assert seen == [{"image": "IMAGE", "no_color": True, "verbose": False, "version_of": None}]
    seen.clear()
    result = doctor_cli(
        "tool", "show", "IMAGE", "-v", "1", plugins=[_nested_command_plugin(seen)], load_entrypoints=False
    )
    assert result.exit_code == 0, result.stderr
    assert seen[0]["version_of"] == "1"  # a plugin's own option beats a common one


def test_run_options_in_either_order_and_after_list(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, tmp_path: Path
) -> None:
    a = _cli(doctor_cli, seed_plugin, "doctor --format json --tag registry", scenario="healthy", cwd=tmp_path)
    b = _cli(doctor_cli, seed_plugin, "doctor --tag registry --format json", scenario="healthy", cwd=tmp_path)
    c = _cli(
        doctor_cli, seed_plugin, "doctor run --tag registry --format json", scenario="healthy", cwd=tmp_path
    )
    for result in (a, b, c):
        assert result.exit_code == 0, result.stderr
        assert len(json.loads(result.stdout)["results"]) == 5
    result = _cli(doctor_cli, seed_plugin, "doctor list --verbose --format json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5
    result = _cli(doctor_cli, seed_plugin, "doctor --verbose --format json list", cwd=tmp_path)
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 5


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("doctor --newopt X", "doctor: error: unrecognized arguments: --newopt X\n"),
        ("doctor --newopt", "doctor: error: unrecognized arguments: --newopt\n"),
        ("doctor list --newopt X", "doctor: error: unrecognized arguments: --newopt X\n"),
        (
            "doctor --tag registry list --output x.json",
            "doctor: error: unrecognized arguments: --output x.json\n",
        ),
        ("doctor --output x.json list", "doctor: error: argument -o/--output: not an option of 'list'\n"),
        ("stella doctor --newopt X", "stella doctor: error: unrecognized arguments: --newopt X\n"),
    ],
)
def test_an_unknown_option_is_never_an_unknown_command(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType, command: str, message: str
) -> None:
    result = _cli(doctor_cli, seed_plugin, command)
    assert result.exit_code == 2
    assert result.stderr.endswith(message), result.stderr
    assert "unknown command" not in result.stderr and result.stdout == ""


def test_a_plugin_command_is_configured_only_when_it_is_the_command_given(
    doctor_cli: Callable[..., CliResult], seed_plugin: ModuleType
) -> None:
    from doctor_core import Command

    def configure(parser: argparse.ArgumentParser) -> None:
        raise RuntimeError("broken options")

    class Plugin:
        @hookimpl
        def doctor_add_commands(self) -> Iterable[Command]:
            return [Command("tool", "a broken tool", configure, lambda ns, app: 0)]

    plugins = [seed_plugin, Plugin()]
    for args in (["list"], ["--help"], ["--tag", "registry", "--format", "json"]):
        result = doctor_cli(
            *args, plugins=plugins, load_entrypoints=False, environ={"SEED__Scenario": "healthy"}
        )
        assert result.exit_code == 0, (args, result.stderr)
    result = doctor_cli("tool", plugins=plugins, load_entrypoints=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("doctor: error: command 'tool' of plugin ")
    assert "could not set up its options: RuntimeError: broken options" in result.stderr
