"""Configuration: precedence file < mapping < environment < flags, errors naming key and source."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr

from doctor_core import ConfigError, ConfigSection, PluginError, SecretRef
from doctor_core.config import Configuration
from doctor_core.redaction import redact


class Inner(BaseModel):
    Depth: int = 0


class Settings(BaseModel):
    RegistryUrl: str | None = None
    TestRepository: str = "library/alpine"
    TimeoutSeconds: float = Field(default=10.0, gt=0)
    Insecure: bool = False
    Password: SecretStr | None = None
    PasswordSecretRef: SecretRef | None = None
    Nested: Inner = Inner()


SECTIONS = {"OCI": ConfigSection("OCI", Settings)}


def _write(tmp_path: Path, text: str, name: str = "doctor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "OCI:\n  RegistryUrl: file.example\n  TestRepository: from/file\n  Insecure: false\n"
    )
    config = Configuration(
        SECTIONS,
        config_file=path,
        environ={"OCI__TestRepository": "from/env", "oci__insecure": "false", "OCI__Nested__Depth": "3"},
        flags={"OCI.Insecure": True},
    )
    settings = config.section("OCI")
    assert settings.RegistryUrl == "file.example"
    assert settings.TestRepository == "from/env"
    assert settings.Insecure is True
    assert settings.Nested.Depth == 3
    assert config.section("oci") is settings  # cached, case-insensitive


def test_file_discovery_env_variable_then_cwd(tmp_path: Path) -> None:
    default = _write(tmp_path, "OCI:\n  TestRepository: from/cwd\n")
    other = _write(tmp_path, "OCI:\n  TestRepository: from/env-file\n", "other.yaml")
    assert Configuration(SECTIONS, environ={}, cwd=tmp_path).section("OCI").TestRepository == "from/cwd"
    config = Configuration(SECTIONS, environ={"DOCTOR_CONFIG": str(other)}, cwd=tmp_path)
    assert config.section("OCI").TestRepository == "from/env-file"
    assert Configuration(SECTIONS, data={}, environ={}, cwd=tmp_path).file is None
    assert default.exists()


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "OCI:\n  RegistryUrl: [unclosed\n  Other: 1\n")
    with pytest.raises(ConfigError, match=r"doctor.yaml.*not valid YAML at line \d+") as caught:
        Configuration(SECTIONS, config_file=path, environ={})
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "mapping of sections at the top level, not a list"),
        ("OCI: 5\n", "OCI: must be a mapping"),
    ],
)
def test_wrong_shapes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Configuration(SECTIONS, config_file=_write(tmp_path, text), environ={})


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Configuration(SECTIONS, config_file=tmp_path / "nope.yaml", environ={})


def test_wrong_type_names_dotted_key_reason_and_source_without_the_value(tmp_path: Path) -> None:
    config = Configuration(SECTIONS, environ={"OCI__TimeoutSeconds": "soon-ish"})
    with pytest.raises(ConfigError) as caught:
        config.section("OCI")
    text = str(caught.value)
    assert caught.value.key == "OCI.TimeoutSeconds"
    assert "environment variable OCI__TimeoutSeconds" in text
    assert "valid number" in text
    assert "soon-ish" not in text


def test_secret_ref_to_missing_variable_names_the_key(tmp_path: Path) -> None:
    config = Configuration(
        SECTIONS, data={"OCI": {"PasswordSecretRef": "env:DTP_MISSING_PASSWORD"}}, environ={}
    )
    with pytest.raises(ConfigError, match=r"OCI\.PasswordSecretRef.*DTP_MISSING_PASSWORD.*is not set"):
        config.section("OCI")


def test_secret_ref_file_and_secret_values_are_registered_for_redaction(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("file-secret-42\n")
    config = Configuration(
        SECTIONS,
        data={"OCI": {"PasswordSecretRef": f"file:{secret_file}"}},
        environ={"OCI__Password": "env-secret-43"},
    )
    settings = config.section("OCI")
    assert settings.PasswordSecretRef.get() == "file-secret-42"
    assert redact("a file-secret-42 b env-secret-43") == "a *** b ***"


def test_unknown_keys_and_sections_warn_with_suggestions(tmp_path: Path) -> None:
    path = _write(tmp_path, "OCI:\n  RegistryUrll: x\nOCX:\n  A: 1\n")
    config = Configuration(SECTIONS, config_file=path, environ={"OCI__Tagg": "v"})
    assert config.section("OCI").RegistryUrl is None
    joined = "\n".join(config.warnings)
    assert "unknown configuration key 'OCI.RegistryUrll'" in joined and "'RegistryUrl'" in joined
    assert "unknown configuration section 'OCX'" in joined and "'OCI'" in joined
    assert "environment variable OCI__Tagg" in joined


def test_model_given_as_an_import_string_is_imported_on_first_use(tmp_path: Path) -> None:
    lazy = {"OCI": ConfigSection("OCI", "tests.core.test_core_config:Settings")}
    config = Configuration(lazy, environ={"OCI__TestRepository": "from/env"}, cwd=tmp_path)
    settings = config.section("OCI")
    # (pytest may import this file under another module name: compare by name, not identity)
    assert type(settings).__name__ == "Settings" and settings.TestRepository == "from/env"
    broken = {"OCI": ConfigSection("OCI", "tests.core.no_such_module:Settings")}
    with pytest.raises(PluginError, match=r"config section 'OCI': cannot import model"):
        Configuration(broken, data={"OCI": {"RegistryUrl": "x"}}, environ={})


PASTED = "Sup3r-S3cret-Passw0rd!xyz"  # a password pasted where a reference belongs


@pytest.mark.parametrize(
    ("ref", "described"),
    [
        (PASTED, "got a value of 25 characters without a scheme"),
        (f"env:{PASTED}", "by the secret reference (25 characters, not a valid variable name) is not set"),
        (f"file:{PASTED}", "named by the reference (25 characters, without a directory) does not exist"),
        (f"pw:{PASTED}", "whose part before ':' (2 characters) is not 'env' or 'file'"),
    ],
    ids=["bare", "env", "file", "scheme"],
)
def test_a_secret_ref_that_may_be_the_secret_is_described_never_echoed(ref: str, described: str) -> None:
    """Issue #12 item 6: ``OCI__PasswordSecretRef=<pw>`` (or env:/file:<pw>) must not print <pw>."""
    config = Configuration(SECTIONS, environ={"OCI__PasswordSecretRef": ref})
    with pytest.raises(ConfigError) as caught:
        config.section("OCI")
    text = str(caught.value)
    assert caught.value.key == "OCI.PasswordSecretRef"
    assert described in text
    for fragment in (PASTED, PASTED[:8], PASTED[-8:], "S3cret"):
        assert fragment not in text


def test_a_secret_ref_naming_a_real_path_or_variable_shows_it(tmp_path: Path) -> None:
    config = Configuration(SECTIONS, environ={"OCI__PasswordSecretRef": f"file:{tmp_path}/absent"})
    with pytest.raises(ConfigError, match=r"secret file '.*/absent' does not exist"):
        config.section("OCI")
    config = Configuration(SECTIONS, environ={"OCI__PasswordSecretRef": "env:DTP_UNSET_VARIABLE"})
    with pytest.raises(ConfigError, match=r"environment variable 'DTP_UNSET_VARIABLE' .*is not set"):
        config.section("OCI")


class StrictSecrets(BaseModel):
    Token: SecretStr | None = None
    ApiTokenName: str | None = Field(default=None, pattern=r"^[a-z]+$")


def test_an_error_about_a_secret_bearing_key_never_quotes_its_value() -> None:
    """Even a validator whose message quotes its input (a pattern error does) shows no secret."""
    sections = {"S": ConfigSection("S", StrictSecrets)}
    config = Configuration(sections, environ={"S__ApiTokenName": "Hunter2-Secret-Value"})
    with pytest.raises(ConfigError) as caught:
        config.section("S")
    assert caught.value.key == "S.ApiTokenName"
    assert "Hunter2-Secret-Value" not in str(caught.value)
