"""Credentials resolution: configuration, docker config, credential helpers, containers auth.json."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from doctor_oci.client import resolve_credentials
from doctor_oci.settings import OciSettings

Settings = Callable[..., OciSettings]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def helper_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """``helper(name, shell_body)``: put an executable ``docker-credential-<name>`` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def make(name: str, body: str) -> Path:
        script = bin_dir / f"docker-credential-{name}"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
        return script

    return make


REG = "https://r.example.com"


# -- configuration --------------------------------------------------------------------------------
def test_configured_username_password(settings: Settings) -> None:
    configured = settings(RegistryUrl=REG, Username="bob", Password="s3cret-pw")
    creds = resolve_credentials(configured, "r.example.com")
    assert (creds.method, creds.username, creds.source, creds.problem) == ("basic", "bob", "config", None)
    assert creds.usable_basic == ("bob", "s3cret-pw")


def test_configured_secret_ref(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REG_PW", "from-env-pw")
    configured = settings(RegistryUrl=REG, Username="bob", PasswordSecretRef="env:REG_PW")
    creds = resolve_credentials(configured, "r.example.com")
    assert creds.source == "config:PasswordSecretRef" and creds.usable_basic == ("bob", "from-env-pw")


def test_configured_token(settings: Settings) -> None:
    creds = resolve_credentials(settings(RegistryUrl=REG, Token="static-token-value"), "r.example.com")
    assert (creds.method, creds.source) == ("bearer", "config:Token")
    assert creds.token is not None and creds.token.get_secret_value() == "static-token-value"


def test_configured_credentials_belong_to_the_configured_registry_only(
    settings: Settings, isolated_credentials: Path
) -> None:
    write_json(
        isolated_credentials / ".docker/config.json",
        {"auths": {"other.example.com": {"auth": b64("carol:pw-carol")}}},
    )
    configured = settings(RegistryUrl=REG, Username="bob", Password="s3cret-pw", Token=None)
    assert resolve_credentials(configured, "r.example.com").usable_basic == ("bob", "s3cret-pw")
    # Another host: its own docker config entry, never bob's password...
    other = resolve_credentials(configured, "other.example.com")
    assert (other.username, other.source) == ("carol", "docker-config")
    # ...or nothing at all.
    assert resolve_credentials(configured, "third.example.com").method == "anonymous"
    token = settings(RegistryUrl=REG, Token="static-token-value")
    assert resolve_credentials(token, "third.example.com").token is None
    # Without RegistryUrl the configured registry is Docker Hub, under any of its names.
    hub = settings(Username="bob", Password="s3cret-pw")
    assert resolve_credentials(hub, "docker.io").username == "bob"
    assert resolve_credentials(hub, "r.example.com").method == "anonymous"


def test_username_without_password_is_a_problem_not_a_crash(
    settings: Settings, isolated_credentials: Path
) -> None:
    write_json(
        isolated_credentials / ".docker/config.json", {"auths": {"r.example.com": {"auth": b64("x:y")}}}
    )
    creds = resolve_credentials(settings(RegistryUrl=REG, Username="bob"), "r.example.com")
    assert (creds.method, creds.username, creds.source) == ("basic", "bob", "config")
    assert creds.problem is not None and "has no password" in creds.problem
    assert creds.usable_basic is None


# -- docker config ------------------------------------------------------------------------------
def test_docker_config_auth_with_nul_padding(settings: Settings, isolated_credentials: Path) -> None:
    path = write_json(
        isolated_credentials / ".docker/config.json",
        {"auths": {"r.example.com:5000": {"auth": b64("alice:pw-alice\x00\x00")}}},
    )
    creds = resolve_credentials(settings(), "r.example.com:5000")
    assert (creds.method, creds.username, creds.source, creds.location) == (
        "basic",
        "alice",
        "docker-config",
        str(path),
    )
    assert creds.usable_basic == ("alice", "pw-alice")


def test_docker_config_env_directory_and_setting(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json(tmp_path / "dc/config.json", {"auths": {"r.example.com": {"auth": b64("envuser:pw1")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    assert resolve_credentials(settings(), "r.example.com").username == "envuser"
    explicit = write_json(tmp_path / "other.json", {"auths": {"r.example.com": {"auth": b64("setuser:pw2")}}})
    assert resolve_credentials(settings(DockerConfig=str(explicit)), "r.example.com").username == "setuser"
    missing = resolve_credentials(settings(DockerConfig=str(tmp_path / "nope.json")), "r.example.com")
    assert missing.method == "anonymous" and missing.problem is not None and "nope.json" in missing.problem


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_key(settings: Settings, isolated_credentials: Path, host: str) -> None:
    write_json(
        isolated_credentials / ".docker/config.json",
        {"auths": {"https://index.docker.io/v1/": {"auth": b64("hubuser:hubpw")}}},
    )
    assert resolve_credentials(settings(), host).username == "hubuser"


def test_legacy_key_with_scheme_and_path(settings: Settings, isolated_credentials: Path) -> None:
    write_json(
        isolated_credentials / ".docker/config.json",
        {"auths": {"https://legacy.example.com/v1/": {"auth": b64("old:oldpw")}}},
    )
    assert resolve_credentials(settings(), "legacy.example.com").username == "old"
    assert resolve_credentials(settings(), "other.example.com").method == "anonymous"


def test_identitytoken(settings: Settings, isolated_credentials: Path) -> None:
    write_json(
        isolated_credentials / ".docker/config.json",
        {"auths": {"r.example.com": {"auth": b64("<token>:"), "identitytoken": "refresh-abc-123"}}},
    )
    creds = resolve_credentials(settings(), "r.example.com")
    assert creds.method == "bearer" and creds.identity_token is not None
    assert creds.identity_token.get_secret_value() == "refresh-abc-123"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"auths": {"r.example.com": {"auth": "%%%"}}}', "base64"),
        ('{"auths": ' + "[" * 100_000, "nests JSON too deeply"),
    ],
)
def test_malformed_docker_config_is_a_problem(
    settings: Settings, isolated_credentials: Path, content: str, message: str
) -> None:
    path = isolated_credentials / ".docker/config.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    creds = resolve_credentials(settings(), "r.example.com")
    assert creds.method == "anonymous" and creds.problem is not None
    assert message in creds.problem and str(path) in creds.problem


# -- credential helpers ---------------------------------------------------------------------------
def test_cred_helper_beats_creds_store(
    settings: Settings, isolated_credentials: Path, helper_dir: Callable[[str, str], Path], tmp_path: Path
) -> None:
    stdin_copy = tmp_path / "stdin.txt"
    helper_dir(
        "good", f'cat > {stdin_copy}; echo \'{{"ServerURL":"x","Username":"helped","Secret":"helper-pw"}}\''
    )
    helper_dir("store", 'echo \'{"ServerURL":"x","Username":"stored","Secret":"store-pw"}\'')
    write_json(
        isolated_credentials / ".docker/config.json",
        {"credsStore": "store", "credHelpers": {"r.example.com": "good"}, "auths": {"r.example.com": {}}},
    )
    creds = resolve_credentials(settings(), "r.example.com")
    assert (creds.method, creds.username, creds.source) == ("basic", "helped", "credential-helper:good")
    assert creds.usable_basic == ("helped", "helper-pw")
    assert stdin_copy.read_text().strip() == "r.example.com"
    other = resolve_credentials(settings(), "other.example.com")
    assert (other.username, other.source) == ("stored", "credential-helper:store")


def test_creds_store_gets_docker_hub_server_url(
    settings: Settings, isolated_credentials: Path, helper_dir: Callable[[str, str], Path], tmp_path: Path
) -> None:
    stdin_copy = tmp_path / "stdin.txt"
    helper_dir("desktop", f'cat > {stdin_copy}; echo \'{{"Username":"<token>","Secret":"identity-xyz"}}\'')
    write_json(isolated_credentials / ".docker/config.json", {"credsStore": "desktop"})
    creds = resolve_credentials(settings(), "docker.io")
    assert stdin_copy.read_text().strip() == "https://index.docker.io/v1/"
    assert creds.method == "bearer" and creds.identity_token is not None
    assert creds.identity_token.get_secret_value() == "identity-xyz"


def test_helper_not_found_means_anonymous(
    settings: Settings, isolated_credentials: Path, helper_dir: Callable[[str, str], Path]
) -> None:
    helper_dir("empty", "echo 'credentials not found in native keychain'; exit 1")
    write_json(isolated_credentials / ".docker/config.json", {"credsStore": "empty"})
    creds = resolve_credentials(settings(), "r.example.com")
    assert creds.method == "anonymous" and creds.problem is None
    assert creds.note is not None and "no credentials" in creds.note


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'this is garbage'", "not JSON"),
        ("head -c 50000 /dev/zero | tr '\\0' '['", "not JSON"),  # 50k-deep: no RecursionError
        ('echo \'{"Username": "u"}\'', "without a 'Secret'"),
        ("echo 'boom: something broke' >&2; exit 3", "failed (exit 3)"),
    ],
)
def test_broken_helper_is_a_problem(
    settings: Settings,
    isolated_credentials: Path,
    helper_dir: Callable[[str, str], Path],
    body: str,
    message: str,
) -> None:
    helper_dir("bad", body)
    write_json(isolated_credentials / ".docker/config.json", {"credHelpers": {"r.example.com": "bad"}})
    creds = resolve_credentials(settings(), "r.example.com")
    assert creds.method == "anonymous" and creds.source == "credential-helper:bad"
    assert creds.problem is not None and message in creds.problem


def test_hanging_helper_times_out(
    settings: Settings, isolated_credentials: Path, helper_dir: Callable[[str, str], Path]
) -> None:
    helper_dir("hang", "sleep 30")
    write_json(isolated_credentials / ".docker/config.json", {"credsStore": "hang"})
    started = time.monotonic()
    creds = resolve_credentials(settings(), "r.example.com", helper_timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert creds.problem is not None and "did not answer within 0.5 s" in creds.problem


def test_missing_helper_is_a_problem(settings: Settings, isolated_credentials: Path) -> None:
    write_json(isolated_credentials / ".docker/config.json", {"credsStore": "does-not-exist-anywhere"})
    creds = resolve_credentials(settings(), "r.example.com")
    assert creds.problem is not None and "not on PATH" in creds.problem


# -- containers auth.json -----------------------------------------------------------------------------
def test_containers_auth_file_namespaces_longest_match(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_json(
        tmp_path / "auth.json",
        {
            "auths": {
                "quay.io": {"auth": b64("general:pw-general")},
                "quay.io/org": {"auth": b64("orguser:pw-org")},
                "quay.io/org/special": {"auth": b64("special:pw-special")},
            }
        },
    )
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    assert resolve_credentials(settings(), "quay.io", repository="org/special").username == "special"
    assert resolve_credentials(settings(), "quay.io", repository="org/other").username == "orguser"
    general = resolve_credentials(settings(), "quay.io", repository="elsewhere/x")
    assert (general.username, general.source) == ("general", "containers-auth")


def test_containers_auth_xdg_paths_and_docker_config_first(
    settings: Settings, tmp_path: Path, isolated_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json(
        tmp_path / "run/containers/auth.json", {"auths": {"docker.io": {"auth": b64("podman:pw-podman")}}}
    )
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert resolve_credentials(settings(), "docker.io").username == "podman"
    write_json(
        isolated_credentials / ".docker/config.json", {"auths": {"docker.io": {"auth": b64("docker:pw-d")}}}
    )
    assert resolve_credentials(settings(), "docker.io").username == "docker"


def test_containers_auth_config_home(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json(
        tmp_path / "cfg/containers/auth.json", {"auths": {"r.example.com": {"auth": b64("cfg:pw-cfg")}}}
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert resolve_credentials(settings(), "r.example.com").username == "cfg"


def test_nothing_anywhere_is_anonymous(settings: Settings) -> None:
    creds = resolve_credentials(settings(), "r.example.com")
    assert (creds.method, creds.source, creds.problem) == ("anonymous", "none", None)


async def test_opening_a_client_with_a_slow_helper_keeps_the_event_loop_running(
    settings: Settings, isolated_credentials: Path, helper_dir: Callable[[str, str], Path]
) -> None:
    """Other checks and their timeouts keep running while a credential helper is being asked."""
    import asyncio

    from doctor_oci.client import RegistryClient

    answer = '{"ServerURL":"r.example.com","Username":"u","Secret":"slow-secret"}'
    helper_dir("slow", f"sleep 0.6; echo '{answer}'")
    write_json(isolated_credentials / ".docker/config.json", {"credsStore": "slow"})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    try:
        client = await RegistryClient.open(settings(RegistryUrl="https://r.example.com"))
    finally:
        task.cancel()
    async with client:
        assert client.credentials.source == "credential-helper:slow"
    assert ticks >= 10, f"the event loop was blocked while the helper ran (ticks={ticks})"
