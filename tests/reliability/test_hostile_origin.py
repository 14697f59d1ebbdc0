"""Every credential stays with its origin, through the real CLI (issue #12 item 1).

A hostile registry on loopback (``devtools.hostile_http``) names its own ``/token`` realm and
then redirects the credential exchange -- ``307``/``308`` to another port (another origin), or
from https to plain http -- or names a plain-http realm for an https registry. The other origin
is a recording server: it must receive nothing at all. Each kind of credential doctor reads is
used: a docker ``identitytoken``, a credential helper's token, ``Username``/``Password``.
Every run must also meet the hostile-input budget (:mod:`tests.reliability.hostile_budget`).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.hostile_http import HostileServer, Recorded, Reply, bearer_challenge, tls_ca
from tests.reliability.hostile_budget import assert_within_budget, describe
from tests.reliability.runner import DoctorRun, base_environment, run_doctor, said

CREDENTIALS = "check.integration.oci.credentials"
DEADLINE_S = 8.0
ARGS = ("--check", CREDENTIALS, "--format", "json", "--timeout", "5", "--deadline", str(int(DEADLINE_S)))
IDENTITY = "Idt-HOSTILEORIGIN-5e4d3c"
HELPER_TOKEN = "Hlp-HOSTILEORIGIN-2b1a09"
PASSWORD = "Pw-HOSTILEORIGIN-8f7e6d"
CANARIES = (IDENTITY, HELPER_TOKEN, PASSWORD)


@dataclass(frozen=True)
class Case:
    name: str
    tls: bool
    #: "identity" (docker config), "helper" (credential helper token), "basic" (Username/Password)
    credential: str
    #: "redirect-307", "redirect-308" (to the recorder), "http-realm" (the realm is the recorder)
    attack: str
    insecure: bool = False
    expect: str = "another origin"


CASES = [
    Case("identity-307-other-port", tls=False, credential="identity", attack="redirect-307"),
    Case("identity-308-other-port", tls=False, credential="identity", attack="redirect-308"),
    Case("identity-308-https-to-http", tls=True, credential="identity", attack="redirect-308"),
    Case("helper-token-307-https-to-http", tls=True, credential="helper", attack="redirect-307"),
    Case("basic-307-other-port", tls=False, credential="basic", attack="redirect-307"),
    Case(
        "basic-http-realm-insecure",
        tls=True,
        credential="basic",
        attack="http-realm",
        insecure=True,
        expect="plain http",
    ),
    Case(
        "identity-http-realm-insecure",
        tls=True,
        credential="identity",
        attack="http-realm",
        insecure=True,
        expect="plain http",
    ),
]


def _registry(case: Case, recorder: HostileServer) -> HostileServer:
    def handle(request: Recorded) -> Reply:
        if request.path.startswith("/token"):
            status = 308 if case.attack == "redirect-308" else 307
            return Reply(status, (("Location", f"{recorder.origin}/collect?state=s3cr3tq"),))
        realm = f"{recorder.origin}/token" if case.attack == "http-realm" else f"{server.origin}/token"
        return Reply(401, (bearer_challenge(realm),), b'{"errors":[{"code":"UNAUTHORIZED"}]}')

    server = HostileServer(handle, ca=tls_ca() if case.tls else None)
    return server


def _setup(case: Case, home: Path, registry: HostileServer) -> dict[str, str]:
    env = base_environment(home, {"OCI__RegistryUrl": registry.origin, "OCI__TimeoutSeconds": "3"})
    docker = home / ".docker"
    docker.mkdir(parents=True, exist_ok=True)
    if registry.ca is not None:
        env["OCI__CaBundle"] = str(registry.write_ca(home / "ca.pem"))
    if case.insecure:
        env["OCI__Insecure"] = "true"
    if case.credential == "identity":
        config = {"auths": {registry.host: {"identitytoken": IDENTITY}}}
        (docker / "config.json").write_text(json.dumps(config))
    elif case.credential == "helper":
        bin_dir = home / "bin"
        bin_dir.mkdir()
        helper = bin_dir / "docker-credential-hostile"
        answer = json.dumps({"Username": "<token>", "Secret": HELPER_TOKEN})
        helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{answer}'\n")
        helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        (docker / "config.json").write_text(json.dumps({"credHelpers": {registry.host: "hostile"}}))
    else:
        env.update(OCI__Username="alice", OCI__Password=PASSWORD)
    return env


@pytest.fixture
def recorder() -> Iterator[Callable[[], HostileServer]]:
    servers: list[HostileServer] = []

    def make() -> HostileServer:
        server = HostileServer(lambda request: Reply(200, (), b'{"token": "stolen"}')).__enter__()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.__exit__(None, None, None)


@pytest.mark.slow
def test_credentials_never_follow_a_redirect_or_realm_off_their_origin(
    tmp_path: Path, recorder: Callable[[], HostileServer]
) -> None:
    def run_case(case: Case) -> tuple[Case, DoctorRun, HostileServer, HostileServer]:
        other = recorder()
        with _registry(case, other) as registry:
            env = _setup(case, tmp_path / case.name, registry)
            run = run_doctor(list(ARGS), env, timeout=DEADLINE_S + 30)
        return case, run, registry, other

    with ThreadPoolExecutor(3) as executor:
        outcomes = list(executor.map(run_case, CASES))
    failures = []
    for case, run, registry, other in outcomes:
        try:
            assert_within_budget(run, DEADLINE_S)
            assert other.requests == [], f"the other origin received:\n{other.received()}"
            assert run.exit_code == 1, f"exit {run.exit_code}"
            result = run.result(CREDENTIALS)
            assert result["status"] == "fail", result
            # The short message says the consequence; what happened (and where to) is in the cause.
            text = said(result)
            assert case.expect in text, text
            if case.attack.startswith("redirect"):
                assert other.origin in text and "s3cr3tq" not in run.output
                token_requests = [r for r in registry.requests if r.path.startswith("/token")]
                assert token_requests, "the credential exchange went to the realm the registry named"
            for canary in CANARIES:
                assert canary not in run.output, f"{canary} in the output"
        except AssertionError as exc:
            failures.append(f"[{case.name}] {exc}{describe(run)}")
    assert not failures, "\n\n".join(failures)
