"""``doctor oci referrers`` in-process (the core's ``doctor_cli`` fixture): output shapes and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from doctor_oci.client.reference import InvalidReference, has_explicit_registry
from doctor_oci.commands import image_reference, oci_command, render_text, short_digest
from doctor_oci.referrers import Referrer, ReferrersResult, Subject
from doctor_oci.settings import OciSettings
from referrers_helpers import Output

from devtools.images import delete_image, push_image, push_referrer, push_tag_schema_index
from devtools.oci_server import OciTestServer
from devtools.registry import RunningRegistry
from devtools.registry_http import RegistryHttp
from doctor_core.testing import CliResult

SBOM = "application/spdx+json"
PREFIX = "doctor oci referrers: error: "


@pytest.fixture
def referrers_cli(
    doctor_cli: Callable[..., CliResult], capsys: pytest.CaptureFixture[str]
) -> Callable[..., Output]:
    """``referrers_cli(registry_url, *args)``: run ``doctor oci referrers ARGS`` with ``OCI__RegistryUrl``."""

    def run(registry_url: str | None, *args: str) -> Output:
        capsys.readouterr()
        environ = {"OCI__RegistryUrl": registry_url} if registry_url else {}
        return Output(doctor_cli("oci", "referrers", *args, environ=environ), capsys)

    return run


@pytest.fixture
def served(oci_server: Callable[..., OciTestServer], pusher: Callable[[str], RegistryHttp]) -> dict[str, Any]:
    server = oci_server(page_size=1)
    http = pusher(server.url)
    image = push_image(http, "team/app", "v1")
    sbom = push_referrer(http, "team/app", image, SBOM, annotations={"kind": "sbom"})
    sig = push_referrer(http, "team/app", image, "application/vnd.example.sig")
    return {"server": server, "image": image, "sbom": sbom, "sig": sig}


def test_json_output_is_the_result_model(
    referrers_cli: Callable[..., Output], served: dict[str, Any]
) -> None:
    server = served["server"]
    output = referrers_cli(server.url, f"{server.host}/team/app:v1", "--format", "json")
    assert output.code == 0, output.err
    document = json.loads(output.out)
    assert set(document) == {"subject", "method", "referrers_api_supported", "referrers"}
    assert document["subject"] == {
        "reference": f"{server.host}/team/app:v1",
        "digest": served["image"].digest,
    }
    assert document["method"] == "referrers-api+cosign-tags"
    assert document["referrers_api_supported"] is True
    assert document["referrers"][0] == {
        "digest": served["sbom"].digest,
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "artifact_type": SBOM,
        "size": served["sbom"].size,
        "annotations": {"kind": "sbom"},
        "source": "referrers-api",
        "kind": "sbom",
        "tag": None,
    }
    assert len(document["referrers"]) == 2
    assert ReferrersResult.model_validate(document).subject.digest == served["image"].digest


def test_text_output_is_a_header_and_a_table_and_a_bare_image_uses_the_configured_registry(
    referrers_cli: Callable[..., Output], served: dict[str, Any]
) -> None:
    output = referrers_cli(served["server"].url, "team/app:v1", "--artifact-type", SBOM)
    assert output.code == 0, output.err
    lines = output.out.splitlines()
    assert lines[0] == f"Subject:        {served['server'].host}/team/app:v1"
    assert lines[1] == f"Digest:         {served['image'].digest}"
    assert "Method:         referrers-api+cosign-tags" in lines
    assert "Referrers API:  supported" in lines
    header = next(line for line in lines if line.startswith("DIGEST"))
    assert header.split() == ["DIGEST", "KIND", "ARTIFACT", "TYPE", "MEDIA", "TYPE", "SIZE", "SOURCE"]
    rows = lines[lines.index(header) + 1 :]
    assert len(rows) == 1
    # the full digest (issue #15: copyable into the next command), not short_digest's 12 digits
    assert rows[0].split()[:3] == [served["sbom"].digest, "sbom", SBOM]
    assert short_digest(served["sbom"].digest) != served["sbom"].digest


def test_zero_referrers_is_success(
    referrers_cli: Callable[..., Output],
    oci_server: Callable[..., OciTestServer],
    pusher: Callable[[str], RegistryHttp],
) -> None:
    server = oci_server()
    push_image(pusher(server.url), "app", "v1")
    output = referrers_cli(None, f"{server.host}/app:v1")
    assert output.code == 0, output.err
    assert "No referrers found." in output.out


def test_a_malformed_image_is_a_usage_error(referrers_cli: Callable[..., Output]) -> None:
    output = referrers_cli(None, "Bad:Image")
    assert output.code == 2
    assert output.err.startswith(f"{PREFIX}invalid IMAGE 'Bad:Image'")
    assert "lowercase" in output.err
    assert output.out == ""


def test_a_missing_image_is_exit_1_with_one_line(
    referrers_cli: Callable[..., Output], served: dict[str, Any]
) -> None:
    server = served["server"]
    output = referrers_cli(None, f"{server.host}/team/app:nope")
    assert output.code == 1
    assert output.err.startswith(PREFIX)
    assert output.err.count("\n") == 1
    assert "Traceback" not in output.err
    assert output.out == ""


def test_an_unreachable_registry_is_exit_1(referrers_cli: Callable[..., Output]) -> None:
    output = referrers_cli(None, "127.0.0.1:9/app:v1")
    assert output.code == 1
    assert output.err.startswith(PREFIX)


def test_method_api_on_distribution_is_exit_1_and_fallback_works(
    referrers_cli: Callable[..., Output], open_registry: RunningRegistry, unique_repo: str
) -> None:
    image = push_image(open_registry, unique_repo, "v1")
    ref = f"{open_registry.host}/{unique_repo}:v1"
    failed = referrers_cli(open_registry.url, ref, "--method", "api")
    assert failed.code == 1
    assert "referrers API is not supported: 404 without an OCI index (text/plain)" in failed.err
    fallback = referrers_cli(open_registry.url, ref, "--method", "fallback", "--format", "json")
    assert fallback.code == 0, fallback.err
    document = json.loads(fallback.out)
    assert (document["method"], document["referrers_api_supported"]) == ("tag-schema+cosign-tags", None)
    assert document["subject"]["digest"] == image.digest


def test_the_command_object() -> None:
    assert oci_command.name == "oci"


@pytest.mark.parametrize(
    ("image", "explicit"),
    [
        ("app:v1", False),
        ("team/app", False),
        ("localhost/app", True),
        ("reg.example.com/app", True),
        ("127.0.0.1:5000/app", True),
        ("Host/app", True),
        ("app@sha256:" + "a" * 64, False),
    ],
)
def test_explicit_registry_detection(image: str, explicit: bool) -> None:
    assert has_explicit_registry(image) is explicit


def test_image_reference_rules() -> None:
    configured = OciSettings(RegistryUrl="https://registry.example.com:8443")
    assert str(image_reference("app:v1", configured)) == "registry.example.com:8443/app:v1"
    assert str(image_reference("docker.io/library/app:v1", configured)) == "docker.io/library/app:v1"
    assert str(image_reference("other.example/app", configured)) == "other.example/app:latest"
    assert str(image_reference("app:v1", OciSettings())) == "docker.io/library/app:v1"
    with pytest.raises(InvalidReference):
        image_reference("UPPER/x/y:z z", configured)


def test_text_rendering_neutralises_terminal_escapes() -> None:
    digest = "sha256:" + "a" * 64
    result = ReferrersResult(
        subject=Subject(reference="r.example/app:v1", digest=digest),
        method="tag-schema+cosign-tags",
        referrers_api_supported=False,
        referrers=[
            Referrer(
                digest=digest, media_type="x\x1b[31mred", artifact_type=None, size=1, source="tag-schema"
            )
        ],
    )
    text = render_text(result)
    assert "\x1b" not in text
    assert "Referrers API:  not supported" in text
    assert "sha256:aaaaaaaaaaaa" in text


def test_verify_reports_deleted_index_entries_as_stale(
    referrers_cli: Callable[..., Output], open_registry: RunningRegistry, unique_repo: str
) -> None:
    """Issue #15: the fallback trusted the sha256-<hex> index blindly; --verify checks each entry."""
    image = push_image(open_registry, unique_repo, "v1")
    kept = push_referrer(open_registry, unique_repo, image, SBOM)
    gone = push_referrer(open_registry, unique_repo, image, "application/vnd.example.sig")
    push_tag_schema_index(open_registry, unique_repo, image.digest, [kept, gone])
    assert delete_image(open_registry, unique_repo, gone.digest) == 202
    reference = f"{open_registry.host}/{unique_repo}:v1"
    trusting = json.loads(referrers_cli(open_registry.url, reference, "--format", "json").out)
    assert [r["digest"] for r in trusting["referrers"]] == [kept.digest, gone.digest]
    assert "stale" not in trusting
    verified = referrers_cli(open_registry.url, reference, "--verify", "--format", "json")
    assert verified.code == 0, verified.err
    document = json.loads(verified.out)
    assert [r["digest"] for r in document["referrers"]] == [kept.digest]
    assert [r["digest"] for r in document["stale"]] == [gone.digest]
    text = referrers_cli(open_registry.url, reference, "--verify").out
    assert "Stale:          1" in text.splitlines()
    stale_table = text.split("manifest no longer exists):", 1)[1]
    assert gone.digest in stale_table and kept.digest not in stale_table


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_bad_deadline_is_a_usage_error(value: str) -> None:
    # a subprocess: argparse writes its usage error to the process's own stderr
    done = subprocess.run(
        [sys.executable, "-m", "doctor_core.cli", "oci", "referrers", "127.0.0.1:9/app", "--deadline", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "error: argument --deadline:" in done.stderr
