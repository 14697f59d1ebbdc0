"""doctor_oci.client on its own: httpx and the standard library, the host's services as hooks.

Without doctor (a fresh interpreter that imports only ``doctor_oci.client``): a real token-auth
registry is pinged with plain settings, nothing of doctor, pydantic or structlog is imported, and
the default hooks mask the secrets the client registered. With doctor (``doctor_oci.settings``
imported): doctor's hooks are installed and secrets registered before are handed over. Each hook
is used: the logger, the deadline, the secret callback.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from doctor_oci import client as client_package
from doctor_oci.client import (
    Credentials,
    RegistryClient,
    RegistryError,
    RegistryTimeout,
    RetryPolicy,
    SecretValue,
    install_hooks,
    installed_hooks,
)
from doctor_oci.settings import OciSettings

import doctor_core
from devtools.registry import RunningRegistry

STANDALONE = textwrap.dedent(
    """
    import asyncio, base64, dataclasses, sys
    from pathlib import Path
    from typing import Any

    from doctor_oci.client import (
        AuthenticationError, ClientHooks, RegistryClient, RegistryError, SecretValue, installed_hooks,
    )
    from doctor_oci.client.hooks import redact

    url, user, password = sys.argv[1:4]

    @dataclasses.dataclass(frozen=True)
    class Plain:  # a ClientSettings that is no pydantic model
        RegistryUrl: str
        Username: str | None = None
        Password: SecretValue | None = None
        PasswordSecretRef: Any = None
        Token: SecretValue | None = None
        TestRepository: str = "app"
        TestTag: str = "latest"
        TimeoutSeconds: float = 5.0
        CaBundle: Path | None = None
        Insecure: bool = False
        DockerConfig: Path | None = None

        def password(self) -> str | None:
            return self.Password.get_secret_value() if self.Password else None

    async def main() -> None:
        async with RegistryClient(Plain(url, user, SecretValue(password))) as client:
            ping = await client.ping()
            assert (ping.status, ping.authenticated, ping.auth_scheme) == (200, True, "bearer"), ping
            assert password not in repr(client) + repr(client.credentials)
        async with RegistryClient(Plain(url, user, SecretValue(password + "-wrong"))) as client:
            ping = await client.ping()
            assert isinstance(ping.error, AuthenticationError), ping

    asyncio.run(main())
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    error = RegistryError(f"registry echoed {password} and Basic {basic}", detail=password)
    for text in (str(error), repr(error), error.detail or ""):
        assert password not in text and basic not in text, text
    assert redact(f"a {password} b") == "a *** b"
    shaped = "Bearer abcdefgh12345678"
    assert redact(shaped) == shaped  # no shapes: only the client's own secrets (shapes: the host's job)
    assert installed_hooks() == ClientHooks()
    loaded = {"doctor_core", "pydantic", "structlog", "doctor_oci.settings", "doctor_oci.hosting"}
    print(sorted(loaded & set(sys.modules)))
    """
)


def test_the_client_runs_without_doctor_pydantic_or_structlog(token_registry: RunningRegistry) -> None:
    user, password = token_registry.credentials("admin")
    done = subprocess.run(
        [sys.executable, "-c", STANDALONE, token_registry.url, user, password],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert password not in done.stdout + done.stderr


def test_importing_the_client_package_is_cheap() -> None:
    code = (
        "import sys, doctor_oci.client.hooks; "
        "print(sorted(m for m in ('httpx', 'doctor_core') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_every_exported_name_resolves() -> None:
    for name in client_package.__all__:
        assert getattr(client_package, name) is not None, name
    assert client_package.transport.RetryPolicy is RetryPolicy  # submodules stay attributes
    with pytest.raises(AttributeError):
        _ = client_package.no_such_name


def test_secrets_registered_before_doctor_hosts_are_handed_over() -> None:
    code = textwrap.dedent(
        """
        from doctor_oci.client.hooks import register_secret
        register_secret("early-SECRET-value", username="alice")
        import base64, doctor_core, doctor_oci.hosting
        from doctor_oci.client.hooks import installed_hooks
        assert installed_hooks() is doctor_oci.hosting.DOCTOR_HOOKS
        basic = base64.b64encode(b"alice:early-SECRET-value").decode()
        print(doctor_core.redact(f"x early-SECRET-value {basic} y"))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "x *** *** y"


def test_with_doctor_the_hooks_are_doctors() -> None:
    hooks = installed_hooks()
    assert hooks.redact is doctor_core.redact and hooks.register_secret is doctor_core.register_secret
    assert hooks.time_left is doctor_core.time_left
    credentials = OciSettings.model_validate(
        {"RegistryUrl": "https://r.example.com", "Username": "bob", "Password": "hosted-PASS-1"}
    )
    client = RegistryClient(credentials)
    try:
        basic = base64.b64encode(b"bob:hosted-PASS-1").decode()
        assert doctor_core.redact(f"hosted-PASS-1 {basic}") == "*** ***"  # registered with doctor
        assert "hosted-PASS-1" not in str(RegistryError("echo hosted-PASS-1"))
    finally:
        asyncio.run(client.aclose())


def test_secret_value_never_shows_itself() -> None:
    secret = SecretValue("hidden-value")
    assert "hidden-value" not in repr(secret) + str(secret) + repr(Credentials(password=secret))
    assert secret.get_secret_value() == "hidden-value" and secret == SecretValue("hidden-value")


# -- each hook is used ----------------------------------------------------------------------------
@pytest.fixture
def hooks() -> Iterator[dict[str, Any]]:
    """Install recording hooks (on top of doctor's), restored afterwards."""
    seen: dict[str, Any] = {"events": [], "secrets": [], "deadline": None}

    class Recorder:
        def debug(self, event: str, /, **fields: Any) -> None:
            seen["events"].append((event, fields))

    def register(value: str | None, *, username: str | None = None) -> None:
        seen["secrets"].append(value)
        doctor_core.register_secret(value, username=username)

    previous = install_hooks(
        dataclasses.replace(
            installed_hooks(),
            register_secret=register,
            logger_factory=Recorder,
            time_left=lambda: seen["deadline"],
        )
    )
    yield seen
    install_hooks(previous)


async def test_the_hooks_see_secrets_and_requests(
    token_registry: RunningRegistry, hooks: dict[str, Any]
) -> None:
    config = token_registry.oci_config(TimeoutSeconds=5)
    async with RegistryClient(OciSettings(**config), retry_policy=RetryPolicy(base_delay=0.01)) as client:
        ping = await client.ping()
    assert ping.authenticated
    assert config["Password"] in hooks["secrets"]
    assert len(hooks["secrets"]) >= 3  # the password, the Basic value, the token service's token
    requests = [fields for event, fields in hooks["events"] if event == "oci.http.request"]
    assert {(fields["method"], fields["status"]) for fields in requests} >= {("GET", 401), ("GET", 200)}


async def test_the_deadline_hook_bounds_a_request(hooks: dict[str, Any]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = OciSettings(RegistryUrl=f"http://127.0.0.1:{port}", TimeoutSeconds=30)
        hooks["deadline"] = 0.5
        started = time.monotonic()
        async with RegistryClient(settings, credentials=Credentials(source="none")) as client:
            with pytest.raises(RegistryTimeout):
                await client.request("GET", "/v2/")
    assert time.monotonic() - started < 5
