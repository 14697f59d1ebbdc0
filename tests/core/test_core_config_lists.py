"""Lists of models in a section: YAML lists and environment indices (``S__Entries__0__Key``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from doctor_core import ConfigError, ConfigSection
from doctor_core.config import Configuration
from doctor_core.redaction import redact


class Entry(BaseModel):
    Name: str
    RegistryUrl: str | None = None
    Password: SecretStr | None = None
    Weight: int = 1


class Settings(BaseModel):
    RegistryUrl: str | None = None
    Registries: list[Entry] = []


SECTIONS = {"OCI": ConfigSection("OCI", Settings)}


def test_yaml_list_with_environment_updating_and_adding_entries(tmp_path: Path) -> None:
    path = tmp_path / "doctor.yaml"
    path.write_text(
        "OCI:\n  Registries:\n    - name: mirror\n      registryurl: https://a.example\n"
        "    - Name: ghcr\n      RegistryUrl: https://ghcr.io\n"
    )
    config = Configuration(
        SECTIONS,
        config_file=path,
        environ={
            "OCI__Registries__1__RegistryUrl": "https://b.example",
            "OCI__Registries__2__Name": "third",
            "OCI__Registries__2__Password": "list-entry-secret",
        },
    )
    entries = config.section("OCI").Registries
    assert [(e.Name, e.RegistryUrl) for e in entries] == [
        ("mirror", "https://a.example"),  # keys matched case-insensitively inside entries
        ("ghcr", "https://b.example"),  # the environment updated entry 1
        ("third", None),  # and added entry 2
    ]
    assert entries[2].Password is not None
    assert "list-entry-secret" not in redact("password list-entry-secret")


def test_unknown_key_inside_an_entry_is_a_warning_with_its_index() -> None:
    config = Configuration(
        SECTIONS, data={"OCI": {"Registries": [{"Name": "m", "RegistyUrl": "x"}]}}, environ={}
    )
    assert config.section("OCI").Registries[0].Name == "m"
    assert any(
        "unknown configuration key 'OCI.Registries.0.RegistyUrl'" in w and "did you mean 'RegistryUrl'" in w
        for w in config.warnings
    ), config.warnings


def test_environment_gap_names_the_key() -> None:
    config = Configuration(
        SECTIONS, environ={"OCI__Registries__0__Name": "a", "OCI__Registries__2__Name": "c"}
    )
    with pytest.raises(ConfigError) as caught:
        config.section("OCI")
    assert "OCI.Registries" in str(caught.value) and "entry 1 is missing" in str(caught.value)


def test_non_index_keys_for_a_list_are_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Configuration(SECTIONS, environ={"OCI__Registries__mirror__Name": "a"})
    assert "OCI.Registries" in str(caught.value) and "indices 0, 1" in str(caught.value)


def test_validation_error_inside_an_entry_names_index_and_source() -> None:
    config = Configuration(SECTIONS, environ={"OCI__Registries__0__RegistryUrl": "https://x.example"})
    with pytest.raises(ConfigError, match=r"OCI\.Registries\.0\.Name: Field required"):
        config.section("OCI")
    config = Configuration(
        SECTIONS, environ={"OCI__Registries__0__Name": "a", "OCI__Registries__0__Weight": "heavy"}
    )
    with pytest.raises(ConfigError) as caught:
        config.section("OCI")
    text = str(caught.value)
    assert "OCI.Registries.0.Weight" in text and "environment variable OCI__Registries__0__Weight" in text
    assert "heavy" not in text  # the value itself is never shown
