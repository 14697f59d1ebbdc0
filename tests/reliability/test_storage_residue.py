"""No data left behind: after the whole reliability suite, the registry holds nothing new.

Runs last (``conftest.py`` moves it to the end of the session), after the fault matrix, the
interrupted runs and everything else that went through the suite's registry. Compared with the
snapshot taken before the first test:

* no new blob (``blobs/``), manifest revision, tag or layer link (``_manifests/``, ``_layers/``);
* no live upload session, except sessions the registry opened for a POST whose *answer* never
  reached doctor: destroyed by the proxy (reset mid-body, trickled past the timeout, replaced by
  50 MiB), or slower than doctor's own request timeout (a loaded machine; doctor gave up on it).
  doctor never learned those sessions' Location, so nobody can cancel them -- the proxy's records
  count them;
* anything else that changed is the residue ``docs/reliability.md`` documents as unavoidable:
  ``_uploads/<uuid>/`` directories (with ``hashstates``) of *cancelled* sessions, which
  distribution 2.8 keeps until upload purging, and the repository directories holding them.
"""

from __future__ import annotations

import fnmatch

import pytest

from devtools.storage import diff, live_uploads, snapshot
from tests.reliability.fault_proxy import FaultKind
from tests.reliability.support import ReliabilityRegistry

REPOS = "docker/registry/v2/repositories"
#: The smallest OCI__TimeoutSeconds the suite gives doctor is 2 s (the fault matrix and isolation
#: tests). doctor's clock also runs while connecting and while a loaded machine schedules it, so a
#: pass-through answer the proxy took longer than 1.5 s over may have been abandoned by doctor.
SHORTEST_CLIENT_TIMEOUT_S = 1.5
#: Faults that forward a request and then destroy the answer.
ANSWER_DESTROYING = frozenset({FaultKind.RESET_MID_BODY, FaultKind.TRICKLE, FaultKind.HUGE_BODY})
FORBIDDEN = (
    "docker/registry/v2/blobs/*",
    f"{REPOS}/*/_manifests/*",
    f"{REPOS}/*/_layers/*",
)


def _is_upload_residue(path: str) -> bool:
    """``repositories/<name>/_uploads[/...]`` or a parent directory of it (a new repository dir)."""
    if not path.startswith(REPOS + "/"):
        return False
    if "/_uploads" in path:
        return True
    # A repository directory created only to hold _uploads: no _manifests/_layers below it (checked above).
    return not any(part in path for part in ("/_manifests", "/_layers"))


@pytest.mark.slow
def test_registry_storage_holds_nothing_new(reliability_registry: ReliabilityRegistry) -> None:
    storage = reliability_registry.storage
    changes = diff(reliability_registry.before, snapshot(storage))
    touched = [*changes.added, *changes.removed, *changes.changed]
    forbidden = [p for p in touched if any(fnmatch.fnmatchcase(p, pattern) for pattern in FORBIDDEN)]
    assert not forbidden, f"new or changed registry content:\n{changes}"
    unexplained = [p for p in touched if not _is_upload_residue(p)]
    assert not unexplained, f"storage changed outside the documented residue: {unexplained}\n{changes}"
    assert not changes.removed, f"doctor removed registry data:\n{changes}"


@pytest.mark.slow
def test_live_upload_sessions_are_explained(reliability_registry: ReliabilityRegistry) -> None:
    storage = reliability_registry.storage
    live = sorted(set(live_uploads(storage)) - reliability_registry.uploads_before)
    destroyed_answers = sum(
        1
        for pool in reliability_registry.pools
        for proxy in pool.proxies
        for record in proxy.records
        if record.method == "POST"
        and "/blobs/uploads/" in record.target
        and (
            (record.applied and record.fault in ANSWER_DESTROYING)
            or record.seconds >= SHORTEST_CLIENT_TIMEOUT_S
        )
    )
    posts = [
        f"{record.fault.value} applied={record.applied} {record.seconds:.2f}s {record.target[:60]}"
        for pool in reliability_registry.pools
        for proxy in pool.proxies
        for record in proxy.records
        if record.method == "POST" and "/blobs/uploads/" in record.target
    ]
    assert len(live) <= destroyed_answers, (
        "\n".join(posts)
        + "\n"
        + (
            f"{len(live)} live upload sessions, but only {destroyed_answers} POST answers never reached "
            f"doctor (destroyed by the proxy, or slower than its timeout):\n" + "\n".join(live)
        )
    )
