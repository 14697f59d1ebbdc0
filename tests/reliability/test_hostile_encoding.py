"""Decompression bombs through the real CLI (issue #12 item 2): bounded memory, time and layers.

A hostile registry on loopback answers *every* request of every OCI check with a bomb: three
stacked ``gzip`` layers (a few hundred bytes that used to grow doctor to gigabytes), one gzip
layer of 1 MiB that decodes to 1 GiB, and two layers of 1.8 KB decoding to 1 GiB. doctor must
report the registry's fault (exit 1, the checks fail naming it) within the hostile-input budget:
peak RSS <= 200 MB, wall <= the deadline + 2 s (:mod:`tests.reliability.hostile_budget`).
"""

from __future__ import annotations

import functools
import gzip
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.hostile_http import HostileServer, Recorded, Reply
from tests.reliability.hostile_budget import assert_within_budget, describe
from tests.reliability.runner import DoctorRun, base_environment, run_doctor

DEADLINE_S = 8.0
ARGS = ("--tag", "registry", "--format", "json", "--timeout", "5", "--deadline", str(int(DEADLINE_S)))
MiB = 1024 * 1024
CREDENTIALS = "check.integration.oci.credentials"


@functools.cache
def gzip_of_zeros(decoded: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    piece = bytes(MiB)
    return b"".join(compressor.compress(piece) for _ in range(decoded // MiB)) + compressor.flush()


@dataclass(frozen=True)
class Bomb:
    name: str
    encoding: str
    layers: int
    expect: str

    def body(self) -> bytes:
        body = gzip_of_zeros(1024 * MiB)
        for _ in range(self.layers - 1):
            body = gzip.compress(body)
        return body


BOMBS = [
    Bomb("gzip-x3", "gzip, gzip, gzip", 3, "stacks 3 Content-Encodings"),
    Bomb("gzip-1GiB", "gzip", 1, "exceeds the"),
    Bomb("gzip-x2-1GiB", "gzip, gzip", 2, "exceeds the"),
]


@pytest.mark.slow
def test_decompression_bombs_are_refused_within_the_budget(tmp_path: Path) -> None:
    assert len(BOMBS[0].body()) < 1000 and len(BOMBS[2].body()) < 4000

    def run_bomb(bomb: Bomb) -> tuple[Bomb, DoctorRun, HostileServer]:
        body = bomb.body()

        def handle(request: Recorded) -> Reply:
            return Reply(
                200, (("Content-Type", "application/json"), ("Content-Encoding", bomb.encoding)), body
            )

        with HostileServer(handle) as registry:
            env = base_environment(
                tmp_path / bomb.name, {"OCI__RegistryUrl": registry.origin, "OCI__TimeoutSeconds": "3"}
            )
            run = run_doctor(list(ARGS), env, timeout=DEADLINE_S + 30)
        return bomb, run, registry

    with ThreadPoolExecutor(3) as executor:
        outcomes = list(executor.map(run_bomb, BOMBS))
    failures = []
    for bomb, run, registry in outcomes:
        try:
            assert_within_budget(run, DEADLINE_S)
            assert run.exit_code == 1, f"exit {run.exit_code}"
            assert registry.requests, "doctor asked the registry something"
            result = run.result(CREDENTIALS)
            assert result["status"] == "fail" and bomb.expect in result["message"], result
            statuses = {r["check_id"]: r["status"] for r in run.report()["results"]}
            assert "error" not in statuses.values(), statuses
        except AssertionError as exc:
            failures.append(f"[{bomb.name}] {exc}{describe(run)}")
    assert not failures, "\n\n".join(failures)
