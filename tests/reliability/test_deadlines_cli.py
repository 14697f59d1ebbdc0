"""``--deadline`` and ``--timeout`` are honoured against a registry that stalls (issue #13).

Before: ``--deadline 2`` returned after 5.5 s and ``--timeout 1`` after 4 s, because the engine
waited 5 s for cleanup after cancelling and the OCI client planned its requests and retries by
``OCI__TimeoutSeconds`` alone. Now a check's deadline bounds the client
(``doctor_core.deadlines.time_left``) and a check that does not stop within the 1 s grace is
abandoned. Here every request to the registry stalls (the proxy accepts and never answers) with
``OCI__TimeoutSeconds=30``, so only the run's own limits can end the run.

Asserted: the report's ``duration_ms`` (the engine's own clock) within the limit + 1.2 s, each
check's ``duration_ms`` within its timeout + 1.1 s, and the process's wall time within the limit +
1 s + a start-up margin for a loaded machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.fault_proxy import FaultKind, ProxyPool
from tests.reliability.runner import base_environment, run_doctor
from tests.reliability.support import SUBJECT_REPO, SUBJECT_TAG, ReliabilityRegistry

#: Interpreter start-up and imports on a machine shared by many test runs.
STARTUP_MARGIN_S = 2.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "limit_s", "per_check_s"),
    [(["--deadline", "2"], 2.0, None), (["--timeout", "1"], 1.0, 1.0)],
    ids=["deadline-2", "timeout-1"],
)
def test_run_limits_are_honoured_against_a_stalling_registry(
    args: list[str],
    limit_s: float,
    per_check_s: float | None,
    reliability_registry: ReliabilityRegistry,
    proxy_pool: ProxyPool,
    run_home: Path,
) -> None:
    proxy = proxy_pool.proxy(reliability_registry.registry.url)
    proxy.set_fault(FaultKind.STALL)
    env = base_environment(
        run_home,
        {
            "OCI__RegistryUrl": proxy.url,
            "OCI__TestRepository": SUBJECT_REPO,
            "OCI__TestTag": SUBJECT_TAG,
            "OCI__TimeoutSeconds": "30",
        },
    )
    try:
        run = run_doctor(["--tag", "registry", "--format", "json", *args], env, timeout=60)
    finally:
        proxy.stop()
    described = (
        f"exit {run.exit_code} after {run.duration_s:.2f} s\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    )
    assert not run.killed, described
    assert "Traceback" not in run.stderr, described
    report = run.report()
    assert report["duration_ms"] <= (limit_s + 1.2) * 1000, described
    assert run.duration_s < limit_s + 1 + STARTUP_MARGIN_S, described
    assert run.exit_code == 1, described
    for result in report["results"]:
        assert result["status"] in ("fail", "error"), described
        assert "timed out" in result["message"].lower() or "deadline" in result["message"], described
        if per_check_s is not None:
            assert result["duration_ms"] <= (per_check_s + 1.1) * 1000, described
