"""The OCI section rejects what can never work before any check runs (exit 2, key named)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from doctor_oci.settings import OciSettings
from pydantic import ValidationError

from doctor_core.testing import CliResult


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
def test_registry_url_forms_that_work(url: str) -> None:
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
def test_registry_url_forms_that_cannot_work(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        OciSettings(RegistryUrl=url)
    assert reason in str(info.value)


def test_bad_registry_url_is_a_configuration_error_exit_2(doctor_cli: Callable[..., CliResult]) -> None:
    result = doctor_cli("--tag", "registry", environ={"OCI__RegistryUrl": "ftp://x"})
    assert result.exit_code == 2
    assert "OCI.RegistryUrl" in result.stderr and "OCI__RegistryUrl" in result.stderr
    assert "Traceback" not in result.stderr


def test_credentials_in_the_registry_url_are_refused_without_echoing_them(
    doctor_cli: Callable[..., CliResult],
) -> None:
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
def test_cosign_repository_forms_that_work(value: str | None, kept: str | None) -> None:
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
def test_cosign_repository_forms_that_cannot_work(value: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        OciSettings(CosignRepository=value)
    assert reason in str(info.value)


# -- credentials an HTTP header can carry (issue #12 item 7) ---------------------------------------
@pytest.mark.parametrize(
    "token",
    [
        "tok\nen-CANARY",
        "tok\r\nX-Injected: 1",
        "tökén-CANARY",
        "two words-CANARY",
        "tab\there-CANARY",
        "nul\x00-CANARY",
    ],
)
def test_static_token_that_no_header_can_carry_is_a_configuration_error(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        OciSettings.model_validate({"Token": token})
    errors = info.value.errors()
    assert [error["loc"] for error in errors] == [("Token",)]
    assert "visible ASCII" in errors[0]["msg"] and "CANARY" not in errors[0]["msg"]


def test_static_token_surrounding_whitespace_is_stripped_and_a_jwt_passes() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_~+/="
    token = OciSettings.model_validate({"Token": f"  {jwt}\n"}).Token
    assert token is not None and token.get_secret_value() == jwt


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Username", "user:name"),
        ("Username", "us\ner"),
        ("Password", "pass\nword-CANARY"),
        ("Password", "p\x7f"),
    ],
)
def test_basic_credentials_with_forbidden_characters_are_refused(key: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        OciSettings.model_validate({key: value})
    errors = info.value.errors()
    assert [error["loc"] for error in errors] == [(key,)]
    assert "RFC 7617" in errors[0]["msg"] and "CANARY" not in errors[0]["msg"]


def test_basic_credentials_are_utf8_so_non_ascii_is_accepted() -> None:
    settings = OciSettings.model_validate({"Username": "jürgen", "Password": "pässwörd €"})
    assert settings.Username == "jürgen" and settings.password() == "pässwörd €"


@pytest.mark.parametrize("token", ["line1\nline2-SECRETVALUE", "nön-ascii-SECRETVALUE"])
def test_bad_static_token_exits_2_naming_the_key_without_the_value(
    doctor_cli: Callable[..., CliResult], token: str
) -> None:
    result = doctor_cli(
        "--tag", "registry", environ={"OCI__RegistryUrl": "http://127.0.0.1:9", "OCI__Token": token}
    )
    assert result.exit_code == 2, result.stderr
    assert "OCI.Token" in result.stderr and "OCI__Token" in result.stderr
    assert "SECRETVALUE" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and "LocalProtocolError" not in result.stderr
