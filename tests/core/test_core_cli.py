"""The command line: the seed's Quick Start verbatim, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from doctor_core import Check, CheckDefinition, CheckOutcome, Status, hookimpl
from tests.core.conftest import REPO, isolated_site, subprocess_env

QUICK_START = [
    "stella doctor --tag registry",
    "stella doctor --check check.integration.oci.referrers",
    "stella doctor --tag registry --format json --output registry-health.json",
    "stella doctor --tag registry --verbose",
]


def _cli(doctor_cli, seed_plugin, command: str, scenario: str = "fallback", cwd=None, environ=None):
    prog, *args = shlex.split(command)
    env = {"SEED__Scenario": scenario, **(environ or {})}
    return doctor_cli(*args, prog=prog, plugins=[seed_plugin], load_entrypoints=False, environ=env, cwd=cwd)


@pytest.mark.parametrize("prefix", ["stella doctor", "doctor"])
def test_seed_quick_start_verbatim(doctor_cli, seed_plugin, tmp_path, prefix):
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


def test_stella_requires_doctor(doctor_cli):
    result = doctor_cli("list", prog="stella", load_entrypoints=False)
    assert result.exit_code == 2 and "usage: stella doctor" in result.stderr


def _plugin_with(status: Status):
    class Plugin:
        @hookimpl
        def doctor_add_checks(self):
            async def run(ctx):
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
def test_exit_codes(doctor_cli, status, fail_on, code):
    result = doctor_cli("--fail-on", fail_on, plugins=[_plugin_with(status)], load_entrypoints=False)
    assert result.exit_code == code, result.stdout + result.stderr


def test_usage_errors_exit_2_with_suggestions_and_no_traceback(doctor_cli, seed_plugin):
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


def test_config_errors_exit_2_naming_the_key(doctor_cli, seed_plugin, tmp_path):
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


def test_secret_ref_to_missing_file_is_exit_2_with_the_key(doctor_cli, good_section_plugin, tmp_path):
    result = doctor_cli(
        environ={"SECRETS__TokenSecretRef": f"file:{tmp_path}/missing"},
        plugins=[good_section_plugin],
        load_entrypoints=False,
    )
    assert result.exit_code == 2
    assert "SECRETS.TokenSecretRef" in result.stderr and "does not exist" in result.stderr


@pytest.fixture
def good_section_plugin():
    from pydantic import BaseModel

    from doctor_core import ConfigFlag, ConfigSection, SecretRef

    class Settings(BaseModel):
        TokenSecretRef: SecretRef | None = None
        Loud: bool = False

    class Plugin:
        @hookimpl
        def doctor_add_config_sections(self):
            return [ConfigSection("SECRETS", Settings, flags=(ConfigFlag("--loud", "Loud", "be loud"),))]

        @hookimpl
        def doctor_add_checks(self):
            async def run(ctx):
                return CheckOutcome(status=Status.PASS, message=f"loud={ctx.config.Loud}")

            return [Check(CheckDefinition(check_id="check.secrets.one", name="one"), run=run)]

    return Plugin()


def test_config_flags_override_environment(doctor_cli, good_section_plugin):
    env = {"SECRETS__Loud": "false"}
    result = doctor_cli(environ=env, plugins=[good_section_plugin], load_entrypoints=False)
    assert "loud=False" in result.stdout
    result = doctor_cli("--loud", environ=env, plugins=[good_section_plugin], load_entrypoints=False)
    assert "loud=True" in result.stdout


def test_list_plugins_schema(doctor_cli, seed_plugin):
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


def test_list_reports_a_broken_configuration_file(doctor_cli, seed_plugin, tmp_path):
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


def test_plugin_command_gets_config_flags(doctor_cli, plugin_site):
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


def test_internal_error_is_one_redacted_line(doctor_cli):
    class Broken:
        @hookimpl
        def doctor_add_reporters(self):
            from doctor_core import Reporter

            def render(report, options):
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


def test_version_and_help_stay_cheap(tmp_path):
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
def test_list_and_help_do_not_import_pydantic(tmp_path, args):
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


def test_bad_config_model_string_is_a_plugin_problem_on_the_command_line(doctor_cli, plugin_site):
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
    assert "dtp_badmodel (dtp-badmodel) at invalid-contribution" in result.stderr
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


def test_core_alone_has_no_checks(tmp_path):
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
