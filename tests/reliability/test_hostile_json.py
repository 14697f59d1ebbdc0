"""Deeply nested JSON through the real CLI (issue #12 item 4): a protocol error, never RecursionError.

A hostile registry on loopback answers 200,000 ``[`` as its token, its manifest, its tag list,
its referrers index and inside every error body. Before, ``RecursionError`` escaped:
``doctor oci referrers`` exited 2 ("internal error", although 2 means a usage or configuration
error). Now each reader (:func:`doctor_oci.client.jsonbody.parse_json`) reports the registry's
fault, the checks fail (never ``error``) and every run meets the hostile-input budget.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.hostile_http import HostileServer, Recorded, Reply, bearer_challenge
from tests.reliability.hostile_budget import assert_within_budget, describe
from tests.reliability.runner import DoctorRun, base_environment, run_doctor, said

DEADLINE_S = 8.0
RUN_ARGS = ("--tag", "registry", "--format", "json", "--timeout", "5", "--deadline", str(int(DEADLINE_S)))
DEEP = b"[" * 200_000
DEEP_ERROR = b'{"errors":' + DEEP
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def deep_token(server: Callable[[], HostileServer]) -> Callable[[Recorded], Reply]:
    def handle(request: Recorded) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, (("Content-Type", "application/json"),), DEEP)
        return Reply(401, (bearer_challenge(f"{server().origin}/token"),), DEEP_ERROR)

    return handle


def deep_everything(server: Callable[[], HostileServer]) -> Callable[[Recorded], Reply]:
    digest = "sha256:" + hashlib.sha256(DEEP).hexdigest()

    def handle(request: Recorded) -> Reply:
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            return Reply(200, (("Docker-Distribution-API-Version", "registry/2.0"),), b"{}")
        if "/manifests/" in path and request.method in {"GET", "HEAD"}:
            return Reply(200, (("Content-Type", MANIFEST_TYPE), ("Docker-Content-Digest", digest)), DEEP)
        if path.endswith("/tags/list"):
            return Reply(200, (("Content-Type", "application/json"),), DEEP)
        if "/referrers/" in path:
            return Reply(200, (("Content-Type", INDEX_TYPE),), DEEP)
        return Reply(404, (("Content-Type", "application/json"),), DEEP_ERROR)

    return handle


@dataclass(frozen=True)
class Case:
    name: str
    handler: Callable[[Callable[[], HostileServer]], Callable[[Recorded], Reply]]
    #: None: a check run (RUN_ARGS); else the arguments after the registry host
    referrers: str | None = None


CASES = [
    Case("deep-token", deep_token),
    Case("deep-everything", deep_everything),
    Case("referrers-deep-everything", deep_everything, referrers="app:latest"),
    Case("referrers-deep-everything-by-digest", deep_everything, referrers="app@sha256:" + "a" * 64),
]


@pytest.mark.slow
def test_deep_json_is_the_registrys_fault_within_the_budget(tmp_path: Path) -> None:
    def run_case(case: Case) -> tuple[Case, DoctorRun]:
        holder: list[HostileServer] = []
        server = HostileServer(case.handler(lambda: holder[0]))
        holder.append(server)
        with server:
            env = base_environment(
                tmp_path / case.name, {"OCI__RegistryUrl": server.origin, "OCI__TimeoutSeconds": "3"}
            )
            if case.referrers is None:
                args = list(RUN_ARGS)
            else:
                args = ["oci", "referrers", f"{server.host}/{case.referrers}", "--format", "json"]
            run = run_doctor(args, env, timeout=DEADLINE_S + 30)
        return case, run

    with ThreadPoolExecutor(2) as executor:
        outcomes = list(executor.map(run_case, CASES))
    failures = []
    for case, run in outcomes:
        try:
            assert_within_budget(run, DEADLINE_S)
            assert "RecursionError" not in run.output and "internal error" not in run.output.lower()
            if case.referrers is None:
                assert run.exit_code == 1, f"exit {run.exit_code}"
                results = run.report()["results"]
                assert all(r["status"] != "error" for r in results), [
                    (r["check_id"], r["status"]) for r in results
                ]
                # The short message says the consequence; what happened is said once, in the cause.
                texts = [said(r) for r in results]
                assert any("nests JSON deeper" in text for text in texts), texts
            else:
                assert run.exit_code in (0, 1), f"exit {run.exit_code}"
                json.loads(run.stdout) if run.stdout.strip().startswith("{") else None
        except AssertionError as exc:
            failures.append(f"[{case.name}] {exc}{describe(run)}")
    assert not failures, "\n\n".join(failures)
