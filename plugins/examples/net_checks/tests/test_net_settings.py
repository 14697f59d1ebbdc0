"""The ``NET`` section model: defaults, accepted forms, and errors that name what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from doctor_example_net.settings import Endpoint, NetSettings, parse_endpoint
from pydantic import ValidationError


def test_defaults_match_the_documented_ones() -> None:
    settings = NetSettings()

    assert settings.Hosts == ["localhost"]
    assert settings.TlsEndpoints == []
    assert settings.ExpiryWarnDays == 21
    assert settings.TimeoutSeconds == 5
    assert settings.CaBundle is None


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("example.com:443", Endpoint("example.com", 443)),
        (" 127.0.0.1:8443 ", Endpoint("127.0.0.1", 8443)),
        ("[::1]:443", Endpoint("::1", 443)),
    ],
)
def test_endpoints_parse_and_print_back(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text) == endpoint
    assert parse_endpoint(str(endpoint)) == endpoint


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("example.com", "is not 'host:port'"),
        ("::1:443", "is not 'host:port'"),
        (":443", "is not 'host:port'"),
        ("example.com:https", "port must be a number"),
        ("example.com:0", "port must be a number"),
        ("example.com:70000", "port must be a number"),
    ],
)
def test_bad_endpoints_are_refused_naming_the_value(text: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        NetSettings(TlsEndpoints=[text])

    assert reason in str(raised.value)
    assert "TlsEndpoints" in str(raised.value)


def test_a_missing_ca_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a readable file"):
        NetSettings(CaBundle=tmp_path / "missing.pem")


@pytest.mark.parametrize(
    "fields",
    [{"ExpiryWarnDays": -1}, {"TimeoutSeconds": 0}, {"Hosts": ["two words"]}, {"Unknown": 1}],
)
def test_out_of_range_and_unknown_keys_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NetSettings.model_validate(fields)
