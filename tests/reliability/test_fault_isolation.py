"""A fault on one endpoint affects only the checks that use it: the others report what they would anyway.

The proxy targets one path pattern (the referrers endpoint, or blob uploads) while all five checks
run together (``--tag registry``). The checks that never touch that endpoint must give their
fault-free verdict; the affected ones must name the fault.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.fault_proxy import FaultKind, ProxyPool
from tests.reliability.runner import DoctorRun, base_environment, run_doctor
from tests.reliability.support import SUBJECT_REPO, SUBJECT_TAG, ReliabilityRegistry

PREFIX = "check.integration.oci."
HEALTHY = {"credentials": {"pass"}, "pull": {"pass"}, "push": {"pass"}, "referrers": {"warn"}}
REFERRERS_PATH = r"^/v2/.+/referrers/"
UPLOADS_PATH = r"^/v2/.+/blobs/uploads/"

# (fault, path, checks that must be unaffected, affected check, words naming the fault)
SCENARIOS = [
    (FaultKind.HTTP_500, REFERRERS_PATH, ("credentials", "pull", "push"), "referrers", r"\b500\b"),
    (FaultKind.STALL, REFERRERS_PATH, ("credentials", "pull", "push"), "referrers", r"timed out|timeout"),
    (
        FaultKind.RESET_AFTER_REQUEST,
        REFERRERS_PATH,
        ("credentials", "pull", "push"),
        "referrers",
        r"reset|closed",
    ),
    (FaultKind.HTTP_503, UPLOADS_PATH, ("credentials", "pull", "referrers"), "push", r"\b503\b"),
    (FaultKind.RATE_LIMIT, UPLOADS_PATH, ("credentials", "pull", "referrers"), "push", r"429|rate limit"),
]


@pytest.mark.slow
def test_targeted_faults_affect_only_their_check(
    reliability_registry: ReliabilityRegistry, proxy_pool: ProxyPool, run_home: Path
) -> None:
    def run(scenario: tuple[FaultKind, str, tuple[str, ...], str, str]) -> DoctorRun:
        fault, path = scenario[0], scenario[1]
        proxy = proxy_pool.proxy(reliability_registry.registry.url)
        proxy.set_fault(fault, path=path)
        env = base_environment(
            run_home,
            {
                "OCI__RegistryUrl": proxy.url,
                "OCI__TestRepository": SUBJECT_REPO,
                "OCI__TestTag": SUBJECT_TAG,
                "OCI__TimeoutSeconds": "2",
            },
        )
        try:
            return run_doctor(["--tag", "registry", "--format", "json", "--timeout", "8"], env, timeout=40)
        finally:
            proxy.stop()

    with ThreadPoolExecutor(5) as executor:
        runs = list(executor.map(run, SCENARIOS))
    problems = []
    for (fault, path, unaffected, affected, words), doctor_run in zip(SCENARIOS, runs, strict=True):
        label = f"{fault.value} on {path}"
        if "Traceback" in doctor_run.stderr or doctor_run.killed:
            problems.append(f"{label}: traceback or killed\n{doctor_run.stderr[-1500:]}")
            continue
        for name in unaffected:
            result = doctor_run.result(PREFIX + name)
            if result["status"] not in HEALTHY[name]:
                problems.append(f"{label}: {name} changed to {result['status']}: {result['message']}")
        hit = doctor_run.result(PREFIX + affected)
        if hit["status"] == "pass" or not re.search(words, hit["message"], re.IGNORECASE):
            problems.append(f"{label}: {affected} did not report the fault: {hit['status']} {hit['message']}")
    assert not problems, "\n".join(problems)
