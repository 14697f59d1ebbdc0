"""SIGINT / SIGTERM in the middle of the push and capabilities checks: clean exit, no live upload session.

The proxy holds one request of the check's upload flow (``FaultKind.DELAY``): the DELETE that
cancels the push probe's session, or the PATCH of the capabilities check's chunked-upload probe. At
that moment the POST has gone through -- the registry has a live session that only doctor knows
about. The signal arrives while the request is held; doctor must then still cancel the session
(a held request is dropped by the proxy when doctor hangs up, so only a new DELETE can do it), print
what finished, exit 130, and never show a traceback.
"""

from __future__ import annotations

import itertools
import signal
from pathlib import Path

import pytest

from devtools.storage import live_uploads
from tests.reliability.fault_proxy import FaultKind, ProxyPool
from tests.reliability.runner import base_environment, run_doctor
from tests.reliability.support import SUBJECT_REPO, ReliabilityRegistry

_fresh = itertools.count(1)
#: doctor_oci.checks._uploads.CANCEL_TIMEOUT_S: how long cleanup may wait after a cancellation.
CLEANUP_BOUND_S = 5.0
#: Start-up and report writing on a loaded machine.
MARGIN_S = 5.0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("check", "method", "hold_s"),
    [
        # The signal lands while the session-opening POST is in flight (forwarded after 2 s).
        ("push", "POST", 2.0),
        # ... while the cancelling DELETE is in flight: cleanup must not be aborted by the signal.
        ("push", "DELETE", 2.0),
        # ... while the chunked-upload PATCH stalls (dropped when doctor hangs up): a new DELETE is due.
        ("capabilities", "PATCH", 30.0),
    ],
    ids=["push-during-post", "push-during-cancel", "capabilities-during-patch"],
)
def test_signal_mid_upload_leaves_no_live_session(
    check: str,
    method: str,
    hold_s: float,
    signum: signal.Signals,
    reliability_registry: ReliabilityRegistry,
    proxy_pool: ProxyPool,
    run_home: Path,
) -> None:
    storage = reliability_registry.storage
    before = set(live_uploads(storage))
    # A repository without the blob the push probe would mount: the probe must open a real session.
    repository = SUBJECT_REPO if check == "capabilities" else f"reliability/interrupt-{next(_fresh)}"
    proxy = proxy_pool.proxy(reliability_registry.registry.url)
    path = r"/blobs/uploads/" if method == "POST" else r"/blobs/uploads/[^?]"
    proxy.set_fault(FaultKind.DELAY, path=path, methods=[method], limit=1, delay_s=hold_s)
    env = base_environment(
        run_home,
        {
            "OCI__RegistryUrl": proxy.url,
            "OCI__TestRepository": repository,
            "OCI__TimeoutSeconds": "5",
        },
    )
    run = run_doctor(
        ["--check", f"check.integration.oci.{check}", "--format", "json", "--timeout", "20"],
        env,
        timeout=30,
        signal_after=(proxy.hit_event, 0.3, signum),
    )
    proxy.stop()
    described = (
        f"exit {run.exit_code} in {run.duration_s:.1f}s\n"
        f"stdout:\n{run.stdout[-2000:]}\nstderr:\n{run.stderr[-2000:]}"
    )
    assert proxy.hits == 1, f"the {method} was never held: the signal did not land mid-check\n{described}"
    assert not run.killed, described
    assert run.duration_s < CLEANUP_BOUND_S + MARGIN_S, f"cleanup was not bounded\n{described}"
    assert run.exit_code == 130, described
    assert "Traceback" not in run.stderr, described
    assert "interrupted" in run.stderr, described
    report = run.report()
    assert report["interrupted"] is True, described
    posts = [r for r in proxy.records if r.method == "POST" and "/blobs/uploads/" in r.target]
    assert posts, f"no upload session was opened{described}"
    left = sorted(set(live_uploads(storage)) - before)
    assert not left, f"upload sessions left live after {signum.name}: {left}\n{described}"
