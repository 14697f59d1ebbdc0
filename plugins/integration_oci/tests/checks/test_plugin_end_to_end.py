"""The plugin through the real engine: discovery, definitions, config section, a full registry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from doctor_oci import plugin

from devtools.images import PushedImage
from devtools.registry import RunningRegistry
from devtools.storage import diff, live_uploads, snapshot
from doctor_core.api import Doctor
from doctor_core.models import Severity, Status

SEED = {
    "check.integration.oci.credentials": (
        "OCI Registry Credentials",
        Severity.FAIL,
        5,
        ("registry", "oci", "credentials", "secrets", "auth"),
    ),
    "check.integration.oci.pull": (
        "OCI Registry Pull Authorization",
        Severity.FAIL,
        5,
        ("registry", "oci", "pull", "authorization"),
    ),
    "check.integration.oci.push": (
        "OCI Registry Push Authorization",
        Severity.FAIL,
        10,
        ("registry", "oci", "push", "authorization"),
    ),
    "check.integration.oci.referrers": (
        "OCI Registry Referrers API Support",
        Severity.WARN,
        10,
        ("registry", "oci", "referrers", "oci-1.1"),
    ),
    "check.integration.oci.capabilities": (
        "OCI Registry Capability Matrix",
        Severity.INFO,
        30,
        ("registry", "oci", "capabilities", "compatibility"),
    ),
}


def test_definitions_are_the_seeds() -> None:
    checks = list(plugin.doctor_add_checks())
    assert [c.definition.check_id for c in checks] == list(SEED)
    for check in checks:
        name, severity, duration, tags = SEED[check.definition.check_id]
        assert check.definition.name == name
        assert check.definition.default_severity is severity
        assert check.definition.estimated_duration_s == duration
        assert check.definition.tags == tags
        assert isinstance(check.run, str) and callable(check.resolve())


def test_config_section_and_insecure_flag() -> None:
    (section,) = plugin.doctor_add_config_sections()
    assert section.name == "OCI"
    assert [(f.flag, f.key) for f in section.flags] == [("--insecure", "Insecure")]


def test_oci_command_is_registered() -> None:
    (command,) = plugin.doctor_add_commands()
    assert command.name == "oci"


def test_plugin_import_is_cheap() -> None:
    code = (
        "import sys, doctor_oci.plugin as p; list(p.doctor_add_checks()); "
        "bad = [m for m in ('httpx', 'doctor_oci.client', 'doctor_oci.checks.push', 'doctor_oci.runtime') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


#: A ``doctor --tag registry --format json`` run in a fresh interpreter; prints what it imported.
_RUN_AND_LIST_IMPORTS = """
import contextlib, io, json, sys
from doctor_core.cli import run_cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = run_cli(["--tag", "registry", "--format", "json"])
from doctor_example_net.settings import NetSettings
print(json.dumps({
    "code": code,
    "report": json.loads(out.getvalue()),
    "modules": sorted(sys.modules),
    "net_model_built": NetSettings.__pydantic_complete__,
}))
"""


def test_registry_json_run_imports_only_what_it_uses(
    open_registry: RunningRegistry, test_image: PushedImage, tmp_path: Path
) -> None:
    """Issue 16: a run's cold start is mostly imports. A ``--tag registry --format json`` run
    imports the other plugins' settings models (a broken one is reported by any run) but builds
    no validator for a section it does not validate, and leaves the modules of other formats,
    other commands, unselected checks and error-path helpers unimported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCTOR_", "OCI__"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    config = open_registry.oci_config(TestRepository=test_image.repository)
    env.update({f"OCI__{key}": str(value) for key, value in config.items()})
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_IMPORTS],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["code"] == 0 and len(run["report"]["results"]) == 5, run["report"]
    modules = set(run["modules"])
    # The NET section's model is imported (its problems would be reported) but not built.
    assert "doctor_example_net.settings" in modules
    assert run["net_model_built"] is False
    not_needed = {
        "doctor_core.reporters.text",  # only for a report written to a file, or plugin problems
        "doctor_core.reporters.markdown",
        "doctor_core.reporters.junit",
        "doctor_core.cli.helptext",
        "doctor_core.cli.commands.listing",
        "doctor_oci.matrix",
        "doctor_example_net.checks",
        "doctor_example_net.probes",
        "difflib",  # close-match suggestions: usage errors and configuration warnings only
    }
    assert not modules & not_needed, sorted(modules & not_needed)


async def test_full_registry_tag_run_through_the_engine(
    open_registry: RunningRegistry, test_image: PushedImage
) -> None:
    doctor = Doctor(
        {"OCI": open_registry.oci_config(TestRepository=test_image.repository)},
        environ={},
        plugins=(plugin,),
        load_entrypoints=False,
    )
    before = snapshot(open_registry.storage)
    report = await doctor.arun(tags=("registry",))
    statuses = {r.check_id.rsplit(".", 1)[1]: r.status for r in report.results}
    assert statuses == {
        "credentials": Status.PASS,
        "pull": Status.PASS,
        "push": Status.PASS,
        "referrers": Status.WARN,
        "capabilities": Status.WARN,
    }, report.to_json()
    assert "Referrers API: referrer discovery uses tag-based fallback automatically" in report.recommendations
    assert live_uploads(open_registry.storage) == []
    # The only remainder of a full run: the capabilities check's chunked-upload probe must open a
    # session; distribution 2.8 keeps its _uploads/<uuid>/hashstates directory after the cancel.
    changes = diff(before, snapshot(open_registry.storage))
    upload_dir = f"docker/registry/v2/repositories/{test_image.repository}/_uploads"
    assert not changes.removed and not changes.changed, changes
    assert all(path.startswith(upload_dir) for path in changes.added), changes
    assert any(path.endswith("hashstates/sha256/0") for path in changes.added), changes
    push = report.result("check.integration.oci.push")
    # One client per run: the push check's requests are its own, the /v2/ ping is shared.
    assert push.metrics["http_requests"] >= 1
