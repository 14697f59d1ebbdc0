"""The fault matrix: every fault of the proxy x every OCI check, and x ``doctor oci referrers``.

Each cell runs ``doctor`` in a subprocess against its own :class:`FaultProxy` (in front of the
suite's real registry) with ``OCI__TimeoutSeconds=2`` and ``--timeout 6``, and asserts:

* **bounded**: the run ends by itself within the check timeout plus a margin (never killed);
* **calm**: no ``Traceback`` on stderr; stdout is exactly one JSON report (for the command: exit 1
  with one error line on stderr);
* **honest**: a fault that breaks every request makes the check report ``fail``/``warn``/``error``
  (or its default severity, e.g. ``info`` for capabilities) with a message naming the fault --
  ``fail`` for every check when the registry cannot be reached at all (``NO_ANSWER_FAULTS``); a
  fault that only corrupts a body may leave the verdict unchanged (the check did not need that
  body), but any other verdict must name the fault;
* **right exit code**: 1 exactly when the report has a ``fail`` or ``error``;
* **bounded memory**: peak RSS stays within 40 MiB of the fault-free run (the 50 MiB body).

Cells run in parallel threads (each a process) the first time any cell is needed, so the whole
matrix costs about as much as its slowest cells. The summary table is printed at the end of the
session (``conftest.py``). Cells that fail because of a known product bug are ``xfail`` with the
bug named (see ``KNOWN_BUGS``; non-strict, so a fix shows up as XPASS).
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.fault_proxy import FaultKind, ProxyPool
from tests.reliability.runner import DoctorRun, base_environment, run_doctor
from tests.reliability.support import SUBJECT_REPO, SUBJECT_TAG, ReliabilityRegistry

CHECKS = ("credentials", "pull", "push", "referrers", "capabilities")
COMMAND = "oci-referrers"
TARGETS = (*CHECKS, COMMAND)
OCI_TIMEOUT_S = 2
CHECK_TIMEOUT_S = 6
#: Start-up of a Python process on a loaded 2-core machine, plus reporting.
MARGIN_S = 8.0
#: The command has no engine timeout: bounded only by the client's own deadlines.
COMMAND_BUDGET_S = 20.0
KILL_AFTER_S = 25.0
MEMORY_HEADROOM_KB = 40 * 1024
PARALLEL_CELLS = 3  # 2 cores: more makes healthy answers miss the 2 s client timeout

FAULTS: tuple[FaultKind, ...] = (
    FaultKind.NONE,
    FaultKind.REFUSED,
    FaultKind.RESET_AFTER_REQUEST,
    FaultKind.RESET_MID_BODY,
    FaultKind.STALL,
    FaultKind.TRICKLE,
    FaultKind.HTTP_500,
    FaultKind.HTTP_502,
    FaultKind.HTTP_503,
    FaultKind.RATE_LIMIT_RETRY_AFTER,
    FaultKind.RATE_LIMIT,
    FaultKind.TRUNCATED_JSON,
    FaultKind.HUGE_BODY,
    FaultKind.WRONG_CONTENT_TYPE,
    FaultKind.REDIRECT_FOREIGN,
    FaultKind.TLS_WRONG_NAME,
)
#: Faults after which the registry answers nothing at all: every check must report ``fail``,
#: whatever its default severity (that grades the registry's answers, and none came).
NO_ANSWER_FAULTS = frozenset(
    {FaultKind.REFUSED, FaultKind.STALL, FaultKind.TRICKLE, FaultKind.TLS_WRONG_NAME}
)
#: Faults that corrupt only some bodies or headers: a check that did not need them may pass.
BODY_FAULTS = frozenset({FaultKind.TRUNCATED_JSON, FaultKind.WRONG_CONTENT_TYPE})

FAULT_WORDS: dict[FaultKind, str] = {
    FaultKind.REFUSED: r"refused|cannot connect",
    FaultKind.RESET_AFTER_REQUEST: r"reset|closed|disconnect",
    FaultKind.RESET_MID_BODY: r"reset|closed|disconnect|incomplete",
    FaultKind.STALL: r"timed out|timeout",
    FaultKind.TRICKLE: r"timed out|timeout|too slow",
    FaultKind.HTTP_500: r"\b500\b",
    FaultKind.HTTP_502: r"\b502\b",
    FaultKind.HTTP_503: r"\b503\b",
    FaultKind.RATE_LIMIT_RETRY_AFTER: r"\b429\b|rate limit",
    FaultKind.RATE_LIMIT: r"\b429\b|rate limit",
    FaultKind.TRUNCATED_JSON: r"json|truncat|digest mismatch|incomplete|malformed",
    FaultKind.HUGE_BODY: r"exceeds|too large|limit",
    FaultKind.WRONG_CONTENT_TYPE: r"content.type|media.type",
    FaultKind.REDIRECT_FOREIGN: r"redirect|another host|foreign",
    FaultKind.TLS_WRONG_NAME: r"tls|certificate|ssl",
}

_RANK = {"pass": 1, "info": 2, "warn": 3, "fail": 4, "error": 5, "skip": 0}
DEFAULT_SEVERITY = {
    "credentials": "fail",
    "pull": "fail",
    "push": "fail",
    "referrers": "warn",
    "capabilities": "info",
}
#: The fault-free verdicts on distribution 2.8 (no referrers API: the fallback is used).
HEALTHY = {
    "credentials": {"pass"},
    "pull": {"pass"},
    "push": {"pass"},
    "referrers": {"warn"},
    "capabilities": {"warn", "info"},
}

KNOWN_BUGS: dict[tuple[FaultKind, str], str] = {}


@dataclass(frozen=True)
class Cell:
    fault: FaultKind
    target: str

    @property
    def id(self) -> str:
        return f"{self.fault.value}-{self.target}"

    @property
    def check_id(self) -> str:
        return f"check.integration.oci.{self.target}"


CELLS = [Cell(fault, target) for fault in FAULTS for target in TARGETS]


@dataclass(frozen=True)
class CellRun:
    cell: Cell
    run: DoctorRun
    hits: int
    foreign_authorizations: tuple[str, ...]


class Matrix:
    """Runs cells on demand; the first request runs every selected cell in parallel."""

    def __init__(
        self, registry: ReliabilityRegistry, pool: ProxyPool, home: Path, selected: list[Cell]
    ) -> None:
        self.registry = registry
        self.pool = pool
        self.home = home
        self.selected = selected
        self._results: dict[Cell, CellRun] = {}
        self._lock = threading.Lock()

    def get(self, cell: Cell) -> CellRun:
        with self._lock:
            if cell not in self._results:
                wanted = [c for c in dict.fromkeys([*self.selected, cell]) if c not in self._results]
                with ThreadPoolExecutor(PARALLEL_CELLS) as executor:
                    for done in executor.map(self._run, wanted):
                        self._results[done.cell] = done
            return self._results[cell]

    def _run(self, cell: Cell) -> CellRun:
        proxy = self.pool.proxy(self.registry.registry.url)
        proxy.set_fault(cell.fault)
        env = base_environment(
            self.home,
            {
                "OCI__RegistryUrl": proxy.url,
                "OCI__TestRepository": SUBJECT_REPO,
                "OCI__TestTag": SUBJECT_TAG,
                "OCI__TimeoutSeconds": str(OCI_TIMEOUT_S),
            },
        )
        if cell.fault is FaultKind.TLS_WRONG_NAME:
            ca_file = self.home / f"proxy-ca-{proxy.port}.pem"
            proxy.ca.cert_pem.write_to_path(str(ca_file))
            env["OCI__CaBundle"] = str(ca_file)
        if cell.target == COMMAND:
            args = ["oci", "referrers", f"{SUBJECT_REPO}:{SUBJECT_TAG}", "--format", "json"]
        else:
            args = ["--check", cell.check_id, "--format", "json", "--timeout", str(CHECK_TIMEOUT_S)]
        before = len(self.pool.foreign.records) if self.pool.foreign else 0
        run = run_doctor(args, env, timeout=KILL_AFTER_S)
        foreign = self.pool.foreign.records[before:] if self.pool.foreign else []
        auths = tuple(r.authorization for r in foreign if r.authorization)
        proxy.stop()
        return CellRun(cell, run, proxy.hits, auths)


@pytest.fixture(scope="session")
def matrix(
    request: pytest.FixtureRequest,
    reliability_registry: ReliabilityRegistry,
    proxy_pool: ProxyPool,
    run_home: Path,
) -> Matrix:
    selected = [
        item.callspec.params["cell"]  # type: ignore[attr-defined]
        for item in request.session.items
        if getattr(item, "callspec", None) is not None
        and "cell" in item.callspec.params  # type: ignore[attr-defined]
        and item.path.name == Path(__file__).name
    ]
    return Matrix(reliability_registry, proxy_pool, run_home, selected)


def _describe(cell_run: CellRun) -> str:
    run = cell_run.run
    return (
        f"\ncell {cell_run.cell.id}: exit {run.exit_code} in {run.duration_s:.1f}s, "
        f"rss {run.maxrss_kb // 1024} MiB, fault hits {cell_run.hits}"
        f"\n--- stdout ---\n{run.stdout[-2500:]}\n--- stderr ---\n{run.stderr[-2500:]}"
    )


def _assert_calm(cell_run: CellRun, budget: float) -> None:
    run = cell_run.run
    assert not run.killed, f"still running after {KILL_AFTER_S}s: killed{_describe(cell_run)}"
    assert run.duration_s <= budget, f"took {run.duration_s:.1f}s > {budget}s{_describe(cell_run)}"
    assert "Traceback" not in run.stderr, f"traceback on stderr{_describe(cell_run)}"
    assert not cell_run.foreign_authorizations, f"credentials sent to the foreign host{_describe(cell_run)}"


def _names_fault(fault: FaultKind, text: str) -> bool:
    return re.search(FAULT_WORDS[fault], text, re.IGNORECASE) is not None


def _check_cell(cell_run: CellRun, baseline_rss: int) -> None:
    cell = cell_run.cell
    run = cell_run.run
    _assert_calm(cell_run, CHECK_TIMEOUT_S + MARGIN_S)
    result: dict[str, Any] = run.result(cell.check_id)
    status, message = result["status"], result["message"]
    report = run.report()
    bad = report["summary"]["failures"] + report["summary"]["errors"]
    assert run.exit_code == (1 if bad else 0), f"wrong exit code{_describe(cell_run)}"
    assert run.maxrss_kb <= baseline_rss + MEMORY_HEADROOM_KB, f"memory not bounded{_describe(cell_run)}"
    if cell.fault is FaultKind.NONE:
        assert status in HEALTHY[cell.target], f"fault-free run is not healthy{_describe(cell_run)}"
        return
    if cell.fault in BODY_FAULTS and status in HEALTHY[cell.target] and not _names_fault(cell.fault, message):
        return  # the corrupted part was not needed for the verdict
    assert status != "pass", f"check passed although every request failed{_describe(cell_run)}"
    floor = _RANK[DEFAULT_SEVERITY[cell.target]]
    assert _RANK[status] >= floor, f"status below the check's severity{_describe(cell_run)}"
    if cell.fault in NO_ANSWER_FAULTS:
        assert status == "fail", f"an unreachable registry must fail every check{_describe(cell_run)}"
    assert _names_fault(cell.fault, message), (
        f"message {message!r} does not name the fault ({FAULT_WORDS[cell.fault]}){_describe(cell_run)}"
    )


def _check_command_cell(cell_run: CellRun, baseline_rss: int) -> None:
    cell = cell_run.cell
    run = cell_run.run
    _assert_calm(cell_run, COMMAND_BUDGET_S)
    assert run.maxrss_kb <= baseline_rss + MEMORY_HEADROOM_KB, f"memory not bounded{_describe(cell_run)}"
    if cell.fault is FaultKind.NONE:
        assert run.exit_code == 0, f"fault-free lookup failed{_describe(cell_run)}"
        return
    if cell.fault in BODY_FAULTS and run.exit_code == 0:
        return
    assert run.exit_code == 1, f"expected exit 1 (lookup failed){_describe(cell_run)}"
    assert run.stderr.strip(), f"no error message on stderr{_describe(cell_run)}"
    assert _names_fault(cell.fault, run.stderr), f"stderr does not name the fault{_describe(cell_run)}"


def _params() -> list[Any]:
    params = []
    for cell in CELLS:
        reason = KNOWN_BUGS.get((cell.fault, cell.target))
        marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    return params


@pytest.mark.slow
@pytest.mark.parametrize("cell", _params())
def test_cell(cell: Cell, matrix: Matrix) -> None:
    baseline = matrix.get(Cell(FaultKind.NONE, cell.target)).run.maxrss_kb
    cell_run = matrix.get(cell)
    if cell.target == COMMAND:
        _check_command_cell(cell_run, baseline)
    else:
        _check_cell(cell_run, baseline)
