"""Keeps the benchmark harness working: the latency proxy's timing, its request counter, and one S1 run.

The S1 test goes through bench's own code path (``start_bench_registry`` -> ``seed_s1`` ->
``run_s1`` -> ``render_markdown``) against a real token-auth registry at 0 ms, so a change in the
CLI, the report model or devtools that breaks ``make bench`` fails the normal suite.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench import reference_client
from bench.environment import clean_env, start_bench_registry
from bench.latency_proxy import AsyncLatencyProxy, HttpRequestCounter, LatencyProxy, ProxyError
from bench.measure import BenchError, Machine, Spread, doctor_executable, imported_modules, run_measured
from bench.results import (
    LISTING_DEPENDENCIES,
    RUN_DEPENDENCIES,
    RequestSpan,
    Results,
    S2Result,
    Timeline,
    judge,
    render_markdown,
)
from bench.scenarios import (
    S1_SIGNED_REFERRERS,
    floor_argv,
    reference_argv,
    request_spans,
    run_s1,
    run_s2,
    s1_timeline,
    seed_s1,
)

OCI_CHECKS = {
    "check.integration.oci.credentials",
    "check.integration.oci.pull",
    "check.integration.oci.push",
    "check.integration.oci.referrers",
    "check.integration.oci.capabilities",
}


async def _echo_server() -> tuple[asyncio.Server, int]:
    """A TCP server answering each chunk at once with a 5-chunk reply."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            for _ in range(5):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _round_trip(port: int, payload: bytes, expected: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    received = b""
    while len(received) < expected:
        chunk = await reader.read(65536)
        assert chunk, "connection closed early"
        received += chunk
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    assert received == payload * 5
    return elapsed


async def test_proxy_adds_one_rtt_per_exchange_not_per_chunk() -> None:
    server, port = await _echo_server()
    proxy = AsyncLatencyProxy("127.0.0.1", port, delay=0.040)
    await proxy.start()
    try:
        elapsed = await _round_trip(proxy.port, b"ping", expected=20)
        # 40 ms each way: one exchange is >= 80 ms; five reply chunks must not cost 5 x 40 ms more.
        assert 0.080 <= elapsed < 0.200
        proxy.delay = 0.0
        assert await _round_trip(proxy.port, b"pong", expected=20) < 0.060
        assert proxy.stats.connections == 2
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


def test_threaded_proxy_closes_connections_and_frees_its_port() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    target_port = listener.getsockname()[1]
    with LatencyProxy("127.0.0.1", target_port, delay=0.0) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        upstream, _ = listener.accept()
        client.sendall(b"x")
        assert upstream.recv(1) == b"x"
        port = proxy.port
    # Leaving the block closed the proxied connection and the listening socket.
    upstream.settimeout(5)
    assert upstream.recv(1) == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    for sock in (client, upstream, listener):
        sock.close()


@pytest.mark.parametrize("target", ["10.0.0.1", "example.com", "8.8.8.8"])
def test_proxy_refuses_non_loopback_targets(target: str) -> None:
    with pytest.raises(ProxyError, match="loopback"):
        LatencyProxy(target, 5000)


def test_request_counter_skips_bodies_split_across_chunks() -> None:
    counter = HttpRequestCounter()
    body = b"GET / HTTP/1.1\r\n\r\n"  # a body that looks like a request must not be counted
    first = b"PUT /v2/a/manifests/t HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert counter.feed(first + body[:5]) == 1
    assert counter.feed(body[5:] + b"HEAD /v2/ HTTP/1.1\r\nHost: x\r\n") == 0
    assert counter.feed(b"\r\n") == 1
    assert counter.count == 2 and not counter.lost
    chunked = HttpRequestCounter()
    chunked.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert chunked.lost


def test_s1_once_at_0ms_produces_a_row(registry_binary: Path, tmp_path: Path) -> None:
    with start_bench_registry(tmp_path / "bench") as bench:
        seed_s1(bench)
        result = run_s1(bench, rtts=(0.0,), repeat=1, rss=True, warmup=False)
        timeline = s1_timeline(bench, 0.0)
        # The floor is one of doctor's run only while the run imports the chosen dependencies, and
        # it measures only them: the preloading reference imports them and nothing of doctor's.
        env = bench.doctor_env()
        run_modules = imported_modules([*doctor_executable(), "--tag", "registry"], env=env, cwd=tmp_path)
        floor_modules = imported_modules(floor_argv(reference_argv(bench, "v1"))[1:], env=env, cwd=tmp_path)
    assert set(RUN_DEPENDENCIES) <= run_modules, set(RUN_DEPENDENCIES) - run_modules
    assert set(RUN_DEPENDENCIES) <= floor_modules
    assert not {m for m in floor_modules if m.split(".")[0] in ("doctor_core", "doctor_oci")}
    run = result.at(0.0)
    assert run is not None
    assert 0 < run.wall.median < 30
    assert {row.check_id for row in run.checks} >= OCI_CHECKS
    for row in run.checks:
        if row.check_id in OCI_CHECKS:
            assert row.http_requests is not None and row.http_requests >= 1, row
    # The token exchange is paid and seen at the token server; the registry saw real requests.
    assert run.token_server_requests.median >= 1
    assert run.wire_requests is not None and run.wire_requests.median >= 5
    assert run.rss_kb is not None and run.rss_kb.median > 1024
    # The reference client ran beside doctor on both images, did the same work the cheapest way
    # (one challenge, one token) and found the signed image's referrers.
    assert result.images == ["unsigned", "signed"]
    for image in result.images:
        measured = result.at(0.0, image)
        assert measured is not None and measured.reference is not None, image
        assert measured.reference_ratio is not None and measured.reference_ratio > 0
        assert (measured.reference.challenges, measured.reference.token_fetches) == (1, 1)
        assert measured.reference.depth == 5  # challenge -> token -> POST -> PATCH -> DELETE
        # doctor itself: one challenge and one token fetch per run too.
        assert measured.token_server_requests.median == 1, measured
        # The floor (reference + the chosen dependencies) did the same work as the reference.
        floor = measured.floor
        assert floor is not None, image
        assert (floor.requests, floor.depth, floor.referrers) == (
            measured.reference.requests,
            measured.reference.depth,
            measured.reference.referrers,
        )
        assert measured.floor_ratio is not None and measured.over_floor is not None
        assert measured.over_floor == pytest.approx(measured.wall.median / floor.wall.median)
    signed = result.at(0.0, "signed")
    assert signed is not None and signed.reference is not None
    assert signed.reference.referrers == S1_SIGNED_REFERRERS
    assert result.phases is not None
    assert set(result.phases.seconds) >= {"import", "plugins", "configuration", "checks", "rendering"}
    assert result.phases.seconds["checks"].median > 0
    assert "doctor_oci" in {p for names in result.phases.imports.values() for p in names}
    # The chain starts with the one challenge and goes through the token server before the probes.
    assert timeline.challenges == 1
    assert len(timeline.chain) >= 3
    assert timeline.chain[0].status == 401
    assert any(span.target.startswith("token") for span in timeline.chain)
    markdown = render_markdown(
        Results(machine=Machine.detect(), repeat=1, s1=replace(result, timeline=timeline))
    )
    assert "| 0 ms |" in markdown and "x reference" in markdown
    assert "reference + dependencies wall" in markdown and "doctor x that floor" in markdown
    ratio_rows = [
        t
        for t in judge(Results(machine=Machine.detect(), repeat=1, s1=result))
        if t.target.startswith("full run at 0 ms")
    ]
    assert len(ratio_rows) == 2
    assert all("the chosen dependencies (reference + `import stevedore" in t.note for t in ratio_rows)
    assert "Where a full run's time goes" in markdown
    assert f"Longest chain of requests sent one after another: **{len(timeline.chain)}**" in markdown
    assert "check.integration.oci.pull" in markdown


def test_s2_measures_the_floor_of_help_and_list(tmp_path: Path) -> None:
    """S2 runs ``python -c "import pluggy, stevedore"`` in its loop; ``--help`` and ``list`` import
    both (so it is their floor), and the table and the targets show it."""
    env = clean_env(pycache=tmp_path / "pycache")
    s2 = run_s2(repeat=1, env=env, cwd=tmp_path)
    assert s2.floor is not None and s2.floor.median > 0
    assert s2.floor_ratio() == pytest.approx(s2.floor.median / s2.baseline.median)
    assert s2.over_floor("doctor --help") is not None and s2.over_floor("doctor list") is not None
    assert s2.over_floor("doctor --version") is None  # --version imports neither
    for args in (["--help"], ["list"]):
        modules = imported_modules([*doctor_executable(), *args], env=env, cwd=tmp_path)
        assert set(LISTING_DEPENDENCIES) <= modules, args
    markdown = render_markdown(Results(machine=Machine.detect(), repeat=1, s2=s2))
    assert (
        '| `python -c "import pluggy, stevedore"` (the floor of `doctor --help` and `doctor list`) |'
        in markdown
    )


def test_s2_targets_name_the_floor_and_when_it_is_over_the_target() -> None:
    s2 = S2Result(
        baseline=Spread((0.010,)),
        commands={
            "doctor --version": Spread((0.012,)),
            "doctor --help": Spread((0.040,)),
            "doctor list": Spread((0.025,)),
        },
        floor=Spread((0.020,)),
    )
    notes = {
        t.target: t for t in judge(Results(machine=Machine.detect(), repeat=1, s2=s2)) if t.scenario == "S2"
    }
    help_row = notes["`doctor --help` <= 3x `python -c pass`"]
    assert help_row.verdict == "missed"
    assert help_row.note.startswith(
        'the chosen dependencies (`python -c "import pluggy, stevedore"`) alone: 2.00x; '
        "`doctor --help` is 2.00x that floor."
    )
    assert notes["`doctor list` <= 3x `python -c pass`"].note.endswith("`doctor list` is 1.25x that floor.")
    assert notes["`doctor --version` <= 1.5x `python -c pass`"].note == ""
    over = S2Result(baseline=s2.baseline, commands=s2.commands, floor=Spread((0.032,)))
    row = next(t for t in judge(Results(machine=Machine.detect(), repeat=1, s2=over)) if "--help" in t.target)
    assert "alone: 3.20x, over the 3x target by themselves" in row.note


def test_reference_client_refuses_an_empty_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text("[]")
    assert reference_client.main(["--fleet", str(fleet)]) == 1
    assert "non-empty JSON list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reference_client.main(["--tag", "v1"])  # neither --fleet nor a whole registry


def _span(start: float, end: float, target: str) -> RequestSpan:
    return RequestSpan(start_ms=start, end_ms=end, method="GET", target=target, status=200)


def test_timeline_chain_is_the_longest_run_of_requests_one_after_another() -> None:
    spans = [
        _span(0, 50, "/v2/"),
        _span(1, 52, "/v2/a/manifests/t"),
        _span(55, 100, "token (repository:a:pull)"),
        _span(101, 150, "/v2/a/manifests/t"),
        _span(102, 149, "/v2/a/tags/list"),
        _span(151, 200, "/v2/a/blobs/x"),
        _span(60, 70, "/v2/b"),  # overlaps the token fetch: on no longer chain
    ]
    timeline = Timeline.of(0.05, spans)
    assert [span.target for span in timeline.chain] == [
        "/v2/",
        "token (repository:a:pull)",
        "/v2/a/manifests/t",
        "/v2/a/blobs/x",
    ]
    assert len(timeline.spans) == len(spans)
    assert Timeline.of(0.05, []).chain == ()


def test_request_spans_reads_the_products_debug_events() -> None:
    stderr = "\n".join(
        [
            "not json",
            '{"event": "other", "timestamp": "2026-01-01T00:00:00.100000Z"}',
            '{"event": "oci.http.request", "method": "GET", "status": 401, "duration_ms": 50.0, '
            '"url": "http://127.0.0.1:1/v2/", "timestamp": "2026-01-01T00:00:00.050000Z"}',
            '{"event": "oci.http.request", "method": "GET", "status": 200, "duration_ms": 40.0, '
            '"url": "http://127.0.0.1:2/token?service=s&scope=repository:a:pull", '
            '"timestamp": "2026-01-01T00:00:00.100000Z"}',
            '{"event": "oci.http.request", "method": "POST", "status": null, "duration_ms": "x", '
            '"url": "http://127.0.0.1:1/v2/a/blobs/uploads/", "timestamp": "2026-01-01T00:00:00.2Z"}',
        ]
    )
    spans = request_spans(stderr)
    assert [(round(s.start_ms), round(s.end_ms), s.target, s.status) for s in spans] == [
        (0, 50, "/v2/", 401),
        (60, 100, "token (repository:a:pull)", 200),
    ]


def test_run_measured_reports_the_childs_own_peak_rss_and_output() -> None:
    """Peak RSS is the child's ``ru_maxrss`` (os.wait4): a child holding 64 MB reports more than that,
    and a tiny child is not charged this (much bigger) test process's memory."""
    small = run_measured([sys.executable, "-c", "print('x')"])
    big = run_measured([sys.executable, "-c", "b = bytearray(64 * 1024 * 1024); print(len(b))"])
    assert small.returncode == 0 and small.stdout.strip() == "x"
    assert small.max_rss_kb is not None and big.max_rss_kb is not None
    assert big.max_rss_kb - small.max_rss_kb > 60 * 1024
    assert small.max_rss_kb < 30 * 1024
    failing = run_measured([sys.executable, "-c", "import sys; sys.stderr.write('e'); sys.exit(3)"])
    assert failing.returncode == 3 and failing.stderr == "e"


def test_run_measured_kills_a_child_past_its_timeout() -> None:
    started = time.perf_counter()
    with pytest.raises(BenchError, match="did not finish"):
        run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert time.perf_counter() - started < 10
