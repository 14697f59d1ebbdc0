"""The OCI section rejects what can never work before any check runs (exit 2, key named)."""

from __future__ import annotations

import pytest
from doctor_oci.settings import OciSettings
from pydantic import ValidationError


@pytest.mark.parametrize(
    "url",
    [
        "registry.example.com",
        "registry.example.com:5000",
        "https://r.example/v2/",
        "http://localhost:5000",
        "[::1]:5000",
    ],
)
def test_registry_url_forms_that_work(url):
    assert OciSettings(RegistryUrl=url).RegistryUrl == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://registry.example.com", "must use https:// or http://"),
        ("https://user:secret@registry.example.com", "must not contain credentials"),
        ("registry.example.com:99999", "out of range"),
        ("not a host", "not a valid registry address"),
    ],
)
def test_registry_url_forms_that_cannot_work(url, reason):
    with pytest.raises(ValidationError) as info:
        OciSettings(RegistryUrl=url)
    assert reason in str(info.value)


def test_bad_registry_url_is_a_configuration_error_exit_2(doctor_cli):
    result = doctor_cli("--tag", "registry", environ={"OCI__RegistryUrl": "ftp://x"})
    assert result.exit_code == 2
    assert "OCI.RegistryUrl" in result.stderr and "OCI__RegistryUrl" in result.stderr
    assert "Traceback" not in result.stderr


def test_credentials_in_the_registry_url_are_refused_without_echoing_them(doctor_cli):
    """pydantic's own error text carries the input; the core's message must not."""
    result = doctor_cli(
        "--tag", "registry", environ={"OCI__RegistryUrl": "https://user:s3cr3tpw@registry.example.com"}
    )
    assert result.exit_code == 2
    assert "must not contain credentials" in result.stderr
    assert "s3cr3tpw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("team/signatures", "team/signatures"),
        (" registry.example.com:5000/team/signatures ", "registry.example.com:5000/team/signatures"),
        ("", ""),  # explicitly none: COSIGN_REPOSITORY is then ignored
        (None, None),  # unset: COSIGN_REPOSITORY applies
    ],
)
def test_cosign_repository_forms_that_work(value, kept):
    assert OciSettings(CosignRepository=value).CosignRepository == kept


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("team/signatures:v1", "cannot have a tag"),
        ("team/signatures@sha256:" + "a" * 64, "cannot have a digest"),
        ("Team/Signatures", "must be lowercase"),
        ("registry.example.com:0/team/signatures", "out of range"),
    ],
)
def test_cosign_repository_forms_that_cannot_work(value, reason):
    with pytest.raises(ValidationError) as info:
        OciSettings(CosignRepository=value)
    assert reason in str(info.value)
