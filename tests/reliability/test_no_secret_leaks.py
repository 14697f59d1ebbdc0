"""No secret leaks: recognizable credentials never appear in any output, and never travel where they must not.

Canary credentials (a password, a static token, a docker ``identitytoken`` and a docker ``auth``
value) are configured every way doctor reads them; then every check runs in every output format,
with ``--verbose`` and ``--log-format json``, into ``--output`` files, and through fault cells. Each
canary -- and its base64 forms, and base64 of ``user:password`` -- must be absent from stdout,
stderr and every written file.

Where credentials go is proven on the wire: the :class:`FaultProxy` records which requests carried
an ``Authorization`` header, and the :class:`ForeignHost` behind ``redirect-foreign`` (another host,
plain http, answering with a Basic challenge as bait) must never receive one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.registry import RunningRegistry
from devtools.token_server import TokenServer
from tests.reliability.fault_proxy import FaultKind, ForeignHost, ProxyPool
from tests.reliability.runner import DoctorRun, base_environment, run_doctor

USER = "admin"
PASSWORD = "Pw-LEAKCANARY-7f3a9c"
TOKEN = "Tok-LEAKCANARY-51d0e2"
IDENTITY_TOKEN = "Idt-LEAKCANARY-a4b8c6"
DOCKER_PASSWORD = "Dcp-LEAKCANARY-93e1f0"
CANARIES = (PASSWORD, TOKEN, IDENTITY_TOKEN, DOCKER_PASSWORD)
FORMATS = ("text", "json", "junit", "markdown", "prometheus")
TIMEOUT_ARGS = ("--timeout", "8")


def forbidden_forms() -> set[str]:
    """Each canary, its base64/urlsafe-base64 forms (padded and not), and base64 of user:secret."""
    forms: set[str] = set()
    for secret in CANARIES:
        for raw in (secret, f"{USER}:{secret}"):
            for encoder in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encoder(raw.encode()).decode()
                forms |= {encoded, encoded.rstrip("=")}
        forms.add(secret)
    return forms


FORBIDDEN = forbidden_forms()


def leaks(text: str) -> list[str]:
    return sorted(form for form in FORBIDDEN if form in text)


@dataclass(frozen=True)
class Scenario:
    name: str
    env: dict[str, str]
    args: tuple[str, ...]
    output_file: Path | None = None


@pytest.fixture(scope="module")
def canary_registry(registry_factory: Callable[..., RunningRegistry]) -> Iterator[RunningRegistry]:
    """htpasswd over TLS whose admin password is the canary."""
    yield registry_factory("htpasswd-tls", users={USER: PASSWORD, "reader": DOCKER_PASSWORD})


@pytest.fixture(scope="module")
def registry_factory(
    registry_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RunningRegistry]]:
    """Module-scoped variant of the root ``registry_factory`` (one canary registry for all cases)."""
    from devtools.registry import start_registry

    started: list[RunningRegistry] = []

    def start(mode: Any, **options: Any) -> RunningRegistry:
        registry = start_registry(mode, workdir=tmp_path_factory.mktemp("canary"), **options)
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()


def _docker_config(home: Path, host: str, entry: dict[str, str]) -> None:
    docker = home / ".docker"
    docker.mkdir(parents=True, exist_ok=True)
    (docker / "config.json").write_text(json.dumps({"auths": {host: entry}}))


def _scenarios(registry: RunningRegistry, base: Path) -> list[Scenario]:
    url = registry.url
    host = url.split("://", 1)[1]
    common = {
        "OCI__RegistryUrl": url,
        "OCI__CaBundle": str(registry.ca_bundle),
        "OCI__TestRepository": "canary/repo",
        "OCI__TimeoutSeconds": "3",
    }
    scenarios: list[Scenario] = []

    def home(name: str) -> Path:
        return base / name

    password_env = base_environment(home("pw"), {**common, "OCI__Username": USER, "OCI__Password": PASSWORD})
    for fmt in FORMATS:
        scenarios.append(Scenario(f"password-{fmt}", password_env, ("--tag", "registry", "--format", fmt)))
        out = base / f"report-{fmt}.out"
        scenarios.append(
            Scenario(
                f"password-{fmt}-output",
                password_env,
                ("--tag", "registry", "--format", fmt, "--output", str(out)),
                out,
            )
        )
    scenarios.append(Scenario("password-verbose", password_env, ("--tag", "registry", "--verbose")))
    scenarios.append(
        Scenario(
            "password-logjson",
            password_env,
            ("--tag", "registry", "--log-format", "json", "--verbose", "--format", "json"),
        )
    )
    wrong = base_environment(
        home("wrong"), {**common, "OCI__Username": USER, "OCI__Password": DOCKER_PASSWORD}
    )
    scenarios.append(Scenario("wrong-password-verbose", wrong, ("--tag", "registry", "--verbose")))
    secret_file = base / "password.txt"
    secret_file.write_text(PASSWORD + "\n")
    ref_env = base_environment(
        home("ref"), {**common, "OCI__Username": USER, "OCI__PasswordSecretRef": f"file:{secret_file}"}
    )
    scenarios.append(Scenario("secretref-logjson", ref_env, ("--tag", "registry", "--log-format", "json")))
    token_env = base_environment(home("token"), {**common, "OCI__Token": TOKEN})
    scenarios.append(
        Scenario("token-verbose", token_env, ("--tag", "registry", "--verbose", "--format", "json"))
    )
    auth_home = home("dockerauth")
    _docker_config(auth_home, host, {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()})
    scenarios.append(
        Scenario(
            "docker-auth",
            base_environment(auth_home, common),
            ("--tag", "registry", "--verbose", "--log-format", "json"),
        )
    )
    idt_home = home("identity")
    _docker_config(idt_home, host, {"identitytoken": IDENTITY_TOKEN})
    scenarios.append(
        Scenario(
            "docker-identitytoken", base_environment(idt_home, common), ("--tag", "registry", "--verbose")
        )
    )
    bad_home = home("badauth")
    _docker_config(bad_home, host, {"auth": base64.b64encode(f"{USER}:{DOCKER_PASSWORD}".encode()).decode()})
    scenarios.append(
        Scenario(
            "docker-auth-rejected",
            base_environment(bad_home, common),
            ("--tag", "registry", "--verbose", "--format", "markdown"),
        )
    )
    scenarios.append(
        Scenario("referrers-command", password_env, ("oci", "referrers", "canary/repo:latest", "--verbose"))
    )
    return [
        Scenario(s.name, s.env, (*s.args, *TIMEOUT_ARGS) if s.args[0] != "oci" else s.args, s.output_file)
        for s in scenarios
    ]


def _assert_no_leak(name: str, run: DoctorRun, output_file: Path | None) -> None:
    assert not run.killed, f"{name}: killed"
    assert "Traceback" not in run.stderr, f"{name}: traceback\n{run.stderr[-2000:]}"
    for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        found = leaks(text)
        assert not found, f"{name}: {stream} contains {found}:\n{text[-3000:]}"
    if output_file is not None:
        assert output_file.is_file(), f"{name}: no report file written"
        found = leaks(output_file.read_text(errors="replace"))
        assert not found, f"{name}: {output_file.name} contains {found}"


@pytest.mark.slow
def test_no_canary_in_any_output(canary_registry: RunningRegistry, tmp_path: Path) -> None:
    scenarios = _scenarios(canary_registry, tmp_path)
    with ThreadPoolExecutor(5) as executor:
        runs = list(executor.map(lambda s: run_doctor(s.args, s.env, timeout=40), scenarios))
    for scenario, run in zip(scenarios, runs, strict=True):
        _assert_no_leak(scenario.name, run, scenario.output_file)
    by_name = {s.name: r for s, r in zip(scenarios, runs, strict=True)}
    # The canaries are real credentials: the run with the right password must have authenticated,
    # or the test would prove nothing about what happens with credentials in play.
    report = json.loads(by_name["password-json"].stdout)
    credentials = next(r for r in report["results"] if r["check_id"].endswith(".credentials"))
    assert credentials["status"] == "pass", credentials
    assert credentials["evidence"]["credentials_valid"] is True


LEAK_FAULTS = (
    FaultKind.REDIRECT_FOREIGN,
    FaultKind.HTTP_500,
    FaultKind.RATE_LIMIT,
    FaultKind.RESET_MID_BODY,
    FaultKind.TRUNCATED_JSON,
    FaultKind.HUGE_BODY,
    FaultKind.WRONG_CONTENT_TYPE,
    FaultKind.STALL,
)


@pytest.mark.slow
def test_fault_cells_with_credentials_leak_nothing(canary_registry: RunningRegistry, tmp_path: Path) -> None:
    """Every check through a TLS proxy injecting faults, authenticated with the canary password."""
    assert canary_registry.ca_bundle is not None and canary_registry.tls_ca is not None
    with ProxyPool() as pool:
        foreign = pool.foreign
        assert isinstance(foreign, ForeignHost)

        def cell(fault: FaultKind) -> tuple[FaultKind, DoctorRun, Any]:
            proxy = pool.proxy(
                canary_registry.url, upstream_ca=canary_registry.ca_bundle, tls_ca=canary_registry.tls_ca
            )
            # Only repository requests: /v2/ stays healthy so credentials are really in play.
            proxy.set_fault(fault, path=r"^/v2/.+")
            env = base_environment(
                tmp_path / f"home-{fault.value}",
                {
                    "OCI__RegistryUrl": proxy.url,
                    "OCI__CaBundle": str(canary_registry.ca_bundle),
                    "OCI__Username": USER,
                    "OCI__Password": PASSWORD,
                    "OCI__TestRepository": "canary/repo",
                    "OCI__TimeoutSeconds": "2",
                },
            )
            run = run_doctor(
                ["--tag", "registry", "--verbose", "--log-format", "json", "--timeout", "6"], env, timeout=40
            )
            return fault, run, proxy

        with ThreadPoolExecutor(4) as executor:
            results = list(executor.map(cell, LEAK_FAULTS))
        for fault, run, proxy in results:
            _assert_no_leak(f"fault {fault.value}", run, None)
            assert any(r.had_authorization for r in proxy.records), (
                f"fault {fault.value}: no request carried credentials; the cell proves nothing"
            )
            insecure = [r for r in proxy.records if r.had_authorization and proxy.url.startswith("http://")]
            assert not insecure
        assert foreign.records, "the redirect fault never reached the foreign host"
        assert foreign.authorizations == [], "credentials were sent to another host"


class _RecordingTokenServer(TokenServer):
    """The test token server, remembering every access and refresh token it hands out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.issued: list[str] = []
        super().__init__(*args, **kwargs)

    def issue(self, *args: Any, **kwargs: Any) -> tuple[str, int]:
        token, lifetime = super().issue(*args, **kwargs)
        self.issued.append(token)
        return token, lifetime

    def _new_refresh_token(self, user: str) -> str:
        token = super()._new_refresh_token(user)
        self.issued.append(token)
        return token


@pytest.mark.slow
def test_token_auth_leaks_no_token(registry_factory: Callable[..., RunningRegistry], tmp_path: Path) -> None:
    """Token auth end to end: the password, a docker identity token and every token issued stay hidden.

    The identity token is a real one (``offline_token=true`` from the registry's token server), so
    doctor exchanges it with the OAuth2 refresh-token grant; the runs must authenticate, or the test
    would prove nothing about tokens in play.
    """
    registry = registry_factory("token", users={USER: PASSWORD}, token_server_factory=_RecordingTokenServer)
    server = registry.token_server
    assert isinstance(server, _RecordingTokenServer)
    answer = httpx.get(
        server.realm,
        params={"service": server.service, "offline_token": "true", "client_id": "test"},
        auth=(USER, PASSWORD),
        timeout=10,
    )
    answer.raise_for_status()
    identity = answer.json()["refresh_token"]
    host = registry.url.split("://", 1)[1]
    common = {
        "OCI__RegistryUrl": registry.url,
        "OCI__TestRepository": "canary/repo",
        "OCI__TimeoutSeconds": "5",
    }
    password_env = base_environment(
        tmp_path / "pw", {**common, "OCI__Username": USER, "OCI__Password": PASSWORD}
    )
    idt_home = tmp_path / "identity"
    _docker_config(idt_home, host, {"identitytoken": identity})
    identity_env = base_environment(idt_home, common)
    out = tmp_path / "report.md"
    json_logs = ("--tag", "registry", "--format", "json", "--verbose", "--log-format", "json", *TIMEOUT_ARGS)
    scenarios = [
        Scenario("token-password-logjson", password_env, json_logs),
        Scenario(
            "token-password-output",
            password_env,
            ("--tag", "registry", "--format", "markdown", "--output", str(out), *TIMEOUT_ARGS),
            out,
        ),
        Scenario("token-identity-logjson", identity_env, json_logs),
        Scenario(
            "token-identity-referrers", identity_env, ("oci", "referrers", "canary/repo:latest", "--verbose")
        ),
    ]
    with ThreadPoolExecutor(4) as executor:
        runs = list(executor.map(lambda s: run_doctor(s.args, s.env, timeout=40), scenarios))
    issued = list(server.issued)
    assert len(issued) >= 4, "the runs did not go through the token exchange"
    secrets = {identity, *issued}
    for scenario, run in zip(scenarios, runs, strict=True):
        _assert_no_leak(scenario.name, run, scenario.output_file)
        texts = [run.stdout, run.stderr]
        if scenario.output_file is not None:
            texts.append(scenario.output_file.read_text(errors="replace"))
        for text in texts:
            found = [f"{secret[:6]}..." for secret in secrets if secret in text]
            assert not found, f"{scenario.name}: issued token(s) {found} in the output"
    by_name = {s.name: r for s, r in zip(scenarios, runs, strict=True)}
    for name in ("token-password-logjson", "token-identity-logjson"):
        report = json.loads(by_name[name].stdout)
        credentials = next(r for r in report["results"] if r["check_id"].endswith(".credentials"))
        assert credentials["status"] == "pass", (name, credentials)
    assert any(request.method == "POST" for request in server.requests), "identity token not exchanged"
