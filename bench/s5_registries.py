"""Scenario S5: many registries in one run (``OCI.Registries``), behind the 50 ms RTT proxy.

A fleet of local distribution 2.8 processes (every ``token_every``-th one token-auth with its
token server behind its own latency proxy, the others open), each behind a
:class:`~bench.latency_proxy.LatencyProxy`, each holding the test image. ``doctor --tag registry
--format json`` runs against the first 1, 5 and N of them (1 is the seed's single-registry
configuration, no ``Registries``), rounds interleaved so machine load hits every size alike.

Targets (issue 17): the N-registry run's wall time <= 1.5x the one-registry run's (same bench
run), its peak RSS <= 120 MB, and no registry receives more HTTP requests (counted on the wire by
its proxy) than the same kind of registry (token / open) does in a one-registry run.

After each of doctor's runs the reference client (:mod:`bench.reference_client` ``--fleet``) does
the same probes on the same registries, all on one event loop with one ``httpx.AsyncClient`` per
registry: its N/1 wall ratio, in the same rounds, is what the protocol work itself costs to scale
on this machine -- whether 1.5x is reachable by any client, not only by doctor. Its requests are
counted on the wire per registry too.

Run it (prints Markdown; ``--json FILE`` also writes the numbers)::

    .venv/bin/python -m bench.s5_registries --registries 20 --rtt 0.05 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.environment import clean_env, start_bench_registry
from bench.latency_proxy import AsyncLatencyProxy, LatencyProxy
from bench.measure import BenchError, Measurement, Spread, doctor_executable, run_measured
from bench.scenarios import REFERENCE_CLIENT
from devtools.images import push_image
from devtools.ports import LOOPBACK
from devtools.registry import RunningRegistry, start_registry
from doctor_core.models import Report
from doctor_core.redaction import redact

REPOSITORY = "bench/app"
TAG = "v1"
WALL_FACTOR_TARGET = 1.5
RSS_TARGET_MB = 120.0

Progress = Callable[[str], None]


class ProxyHost:
    """Many :class:`~bench.latency_proxy.AsyncLatencyProxy` on one event loop in one thread.

    A :class:`LatencyProxy` per registry is a thread and an event loop each: 20 of them in this
    process contend for the GIL while forwarding, which is latency the bench would add to every
    registry of the fleet and not a cost of doctor. One loop serves them all.
    """

    def __init__(self) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="s5-proxies", daemon=True)
        self._thread.start()
        self._proxies: list[AsyncLatencyProxy] = []

    def add(self, target_port: int) -> AsyncLatencyProxy:
        import asyncio

        proxy = AsyncLatencyProxy(LOOPBACK, target_port, delay=0.0)
        asyncio.run_coroutine_threadsafe(proxy.start(), self._loop).result(timeout=10)
        self._proxies.append(proxy)
        return proxy

    def stop(self) -> None:
        import asyncio

        for proxy in self._proxies:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(proxy.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@dataclass
class Member:
    """One registry of the fleet and the proxies in front of it."""

    name: str
    registry: RunningRegistry
    proxy: LatencyProxy | AsyncLatencyProxy
    token_proxy: LatencyProxy | None
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        """The registry as doctor sees it: through its proxy."""
        return f"http://{self.proxy.address}"

    @property
    def kind(self) -> str:
        return "token" if self.token_proxy is not None else "open"

    @property
    def password_variable(self) -> str:
        return f"BENCH_S5_PASSWORD_{self.name.upper()}"

    def reference_entry(self) -> dict[str, Any]:
        """This registry as an entry of the reference client's ``--fleet`` file."""
        entry: dict[str, Any] = {
            "name": self.name,
            "registry": self.url,
            "repository": REPOSITORY,
            "tag": TAG,
        }
        if self.kind == "token":
            entry.update(user="admin", password_env=self.password_variable)
        return entry

    def settings(self) -> dict[str, Any]:
        """This registry's ``OCI`` keys (an entry, or the top level for the single run)."""
        keys: dict[str, Any] = {"RegistryUrl": self.url, "TestRepository": REPOSITORY, "TestTag": TAG}
        if self.kind == "token":
            keys["Username"] = "admin"
            keys["PasswordSecretRef"] = f"env:{self.password_variable}"
        return keys


@dataclass
class Fleet:
    members: list[Member]
    workdir: Path
    proxies: ProxyHost = field(default_factory=ProxyHost)

    def set_rtt(self, rtt_s: float) -> None:
        for member in self.members:
            member.proxy.delay = rtt_s / 2
            if member.token_proxy is not None:
                member.token_proxy.delay = rtt_s / 2

    def wire_requests(self) -> dict[str, int]:
        return {member.name: member.proxy.stats.http_requests for member in self.members}

    def env(self) -> dict[str, str]:
        env = clean_env(pycache=self.workdir / "pycache")
        docker_config = self.workdir / "docker-config"
        docker_config.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "DOCKER_CONFIG": str(docker_config),
                "REGISTRY_AUTH_FILE": str(docker_config / "auth.json"),
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        for member in self.members:
            if member.kind == "token":
                env[member.password_variable] = member.registry.credentials("admin")[1]
        return env

    def stop(self) -> None:
        try:
            for member in self.members:
                member.stop()
        finally:
            self.proxies.stop()


def start_fleet(workdir: Path, count: int, *, token_every: int = 4, progress: Progress = print) -> Fleet:
    """``count`` registries, every ``token_every``-th (from the first) token-auth, all seeded."""
    if count < 1:
        raise BenchError(f"the fleet needs at least one registry, not {count}")
    fleet = Fleet(members=[], workdir=workdir)
    try:
        for index in range(count):
            name = f"r{index:02d}"
            where = workdir / name
            where.mkdir(parents=True, exist_ok=True)
            if token_every and index % token_every == 0:
                bench = start_bench_registry(where, repository=REPOSITORY, tag=TAG)
                member = Member(name, bench.registry, bench.registry_proxy, bench.token_proxy, bench.stop)
            else:
                registry = start_registry("open", workdir=where)
                member = Member(name, registry, fleet.proxies.add(registry.port), None, registry.stop)
            fleet.members.append(member)
            push_image(member.registry, REPOSITORY, TAG)
        progress(f"S5: {count} registries up ({sum(m.kind == 'token' for m in fleet.members)} token-auth)")
    except BaseException:
        fleet.stop()
        raise
    return fleet


def configuration(members: Sequence[Member]) -> dict[str, Any]:
    """One member: the seed's single-registry form; more: ``OCI.Registries`` entries."""
    if len(members) == 1:
        return {"OCI": members[0].settings()}
    return {"OCI": {"Registries": [{"Name": m.name, **m.settings()} for m in members]}}


@dataclass(frozen=True)
class S5Sample:
    size: str
    measurement: Measurement
    requests: dict[str, int]  # registry name -> requests on the wire during the run
    #: The reference client's own count per registry (its token requests included; empty for doctor).
    reported: dict[str, int] = field(default_factory=dict)


@dataclass
class S5Result:
    rtt_s: float
    count: int
    samples: dict[str, list[S5Sample]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    #: The reference client's runs of the same sizes, each right after doctor's (may be empty).
    reference: dict[str, list[S5Sample]] = field(default_factory=dict)

    def _of(self, reference: bool) -> dict[str, list[S5Sample]]:
        return self.reference if reference else self.samples

    def wall(self, size: str, *, reference: bool = False) -> Spread:
        return Spread(tuple(s.measurement.wall_s for s in self._of(reference)[size]))

    def factor(self, size: str, *, reference: bool = False) -> float | None:
        """Median wall of ``size`` over the one-registry median (doctor's, or the reference's)."""
        runs = self._of(reference)
        if size not in runs or "1" not in runs:
            return None
        return self.wall(size, reference=reference).median / self.wall("1", reference=reference).median

    def rss_mb(self, size: str) -> Spread | None:
        values = [s.measurement.max_rss_mb for s in self.samples[size]]
        return (
            Spread(tuple(v for v in values if v is not None)) if all(v is not None for v in values) else None
        )

    def max_requests(self, size: str, kind: str, *, reference: bool = False) -> int:
        return max(
            (
                count
                for s in self._of(reference).get(size, [])
                for name, count in s.requests.items()
                if self.kinds[name] == kind
            ),
            default=0,
        )

    def targets(self) -> dict[str, bool | None]:
        largest = f"{self.count}"
        factor = self.factor(largest)
        rss = self.rss_mb(largest)
        return {
            "wall": None if factor is None else factor <= WALL_FACTOR_TARGET,
            "rss": None if rss is None else rss.high <= RSS_TARGET_MB,
            "requests": all(
                self.max_requests(largest, kind) <= self.max_requests(baseline, kind)
                for kind, baseline in (("token", "1"), ("open", "1-open"))
                if baseline in self.samples and any(k == kind for k in self.kinds.values())
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "rtt_s": self.rtt_s,
            "registries": self.count,
            "sizes": {
                size: {
                    "wall_s": list(self.wall(size).samples),
                    "rss_mb": list(rss.samples) if (rss := self.rss_mb(size)) is not None else None,
                    "max_requests_per_registry": {
                        kind: self.max_requests(size, kind) for kind in sorted(set(self.kinds.values()))
                    },
                    "reference": (
                        {
                            "wall_s": list(self.wall(size, reference=True).samples),
                            "max_requests_per_registry": {
                                kind: self.max_requests(size, kind, reference=True)
                                for kind in sorted(set(self.kinds.values()))
                            },
                        }
                        if size in self.reference
                        else None
                    ),
                }
                for size in self.samples
            },
            "targets_met": self.targets(),
        }


def _once(fleet: Fleet, members: Sequence[Member], size: str, rss: bool) -> S5Sample:
    path = fleet.workdir / f"doctor-{size}.yaml"
    import yaml

    path.write_text(yaml.safe_dump(configuration(members)))
    argv = [*doctor_executable(), "--config", str(path), "--tag", "registry", "--format", "json"]
    before = fleet.wire_requests()
    measurement = run_measured(argv, env=fleet.env(), rss=rss, timeout=300, cwd=fleet.workdir)
    after = fleet.wire_requests()
    try:
        report = Report.model_validate_json(measurement.stdout)
    except ValueError as exc:
        raise BenchError(
            f"S5 {size}: no JSON report (exit {measurement.returncode}): {redact(measurement.stderr[-800:])}"
        ) from exc
    expected = 5 * len(members)
    bad = [
        f"{r.target}:{r.check_id}={r.status.value}"
        for r in report.results
        if r.status.value not in ("pass", "info", "warn")
    ]
    if len(report.results) != expected or bad:
        raise BenchError(
            f"S5 {size}: expected {expected} results without fail/error, got {len(report.results)}; {bad[:5]}"
        )
    names = {m.name for m in members}
    return S5Sample(size, measurement, {n: after[n] - before[n] for n in names})


def _reference_once(fleet: Fleet, members: Sequence[Member], size: str) -> S5Sample:
    """The reference client's ``--fleet`` run over ``members``: all of them on one event loop."""
    path = fleet.workdir / f"reference-{size}.json"
    path.write_text(json.dumps([m.reference_entry() for m in members]))
    argv = [sys.executable, str(REFERENCE_CLIENT), "--fleet", str(path)]
    before = fleet.wire_requests()
    measurement = run_measured(argv, env=fleet.env(), rss=False, timeout=300, cwd=fleet.workdir)
    after = fleet.wire_requests()
    try:
        summary = json.loads(measurement.stdout)
    except ValueError:
        summary = None
    names = {m.name for m in members}
    if measurement.returncode != 0 or not isinstance(summary, dict):
        raise BenchError(
            f"S5 {size}: the reference client failed (exit {measurement.returncode}): "
            f"{redact(measurement.stderr[-800:])}"
        )
    per_registry = summary.get("per_registry") or {}
    if set(per_registry) != names:
        raise BenchError(
            f"S5 {size}: the reference client probed {sorted(per_registry)}, not {sorted(names)}"
        )
    return S5Sample(
        size,
        measurement,
        {n: after[n] - before[n] for n in names},
        reported={n: int(per_registry[n]["requests"]) for n in names},
    )


def run_s5(
    fleet: Fleet,
    *,
    sizes: Sequence[int] = (1, 5, 20),
    rtt_s: float = 0.050,
    repeat: int = 3,
    rss: bool = True,
    reference: bool = True,
    progress: Progress = print,
) -> S5Result:
    """The rounds: per round one run per size (plus a one-registry run on an open registry, the
    request baseline of the open kind), after one unmeasured warm-up; with ``reference``, each
    doctor run is followed by the reference client's run over the same registries."""
    members = fleet.members
    sizes = sorted({size for size in sizes if 1 <= size <= len(members)})
    if not sizes or sizes[0] != 1:
        raise BenchError("S5 needs the one-registry run (size 1) as its baseline")
    result = S5Result(rtt_s=rtt_s, count=sizes[-1], kinds={m.name: m.kind for m in members})
    runs: list[tuple[str, list[Member]]] = [(str(size), members[:size]) for size in sizes]
    open_members = [m for m in members if m.kind == "open"]
    if open_members and members[0].kind != "open":
        runs.insert(1, ("1-open", open_members[:1]))
    fleet.set_rtt(rtt_s)
    try:
        _once(fleet, members[:1], "warmup", rss=False)
        if reference:
            _reference_once(fleet, members[:1], "warmup")
        for round_ in range(repeat):
            for size, chosen in runs:
                sample = _once(fleet, chosen, size, rss)
                result.samples.setdefault(size, []).append(sample)
                note = ""
                if reference:
                    ref = _reference_once(fleet, chosen, size)
                    result.reference.setdefault(size, []).append(ref)
                    note = f", reference {ref.measurement.wall_s:.2f} s"
                progress(
                    f"S5 round {round_ + 1}/{repeat}: {size} registries {sample.measurement.wall_s:.2f} s"
                    + note
                )
    finally:
        fleet.set_rtt(0.0)
    return result


def render_markdown(result: S5Result) -> str:
    """The S5 section: growth 1 -> 5 -> N, doctor's and the reference client's, and the three targets."""
    lines = [
        f"## S5: {result.count} registries in one run ({result.rtt_s * 1000:.0f} ms RTT)",
        "",
        "| registries | wall | x one registry | reference wall | reference x one registry | peak RSS | "
        "max requests per registry (token / open) | reference: max requests per registry (token / open) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in result.samples:
        wall = result.wall(size)
        rss = result.rss_mb(size)
        ref = size in result.reference
        lines.append(
            f"| {size} | {wall.fmt(unit=' s', digits=2)} | {_factor(result.factor(size))} | "
            f"{result.wall(size, reference=True).fmt(unit=' s', digits=2) if ref else 'n/a'} | "
            f"{_factor(result.factor(size, reference=True))} | "
            f"{rss.fmt(unit=' MB', digits=1) if rss else 'not measured'} | "
            f"{result.max_requests(size, 'token')} / {result.max_requests(size, 'open')} | "
            + (
                f"{result.max_requests(size, 'token', reference=True)} / "
                f"{result.max_requests(size, 'open', reference=True)} |"
                if ref
                else "n/a |"
            )
        )
    met = result.targets()
    word = {True: "met", False: "NOT met", None: "not measured"}
    largest = f"{result.count}"
    ratios = f"doctor {_factor(result.factor(largest))}x"
    if largest in result.reference:
        ratios += (
            f", the reference client {_factor(result.factor(largest, reference=True))}x in the same rounds"
        )
    lines += [
        "",
        f"* wall of {result.count} registries <= {WALL_FACTOR_TARGET}x one registry: {word[met['wall']]} "
        f"({ratios})",
        f"* peak RSS <= {RSS_TARGET_MB:g} MB: {word[met['rss']]}",
        f"* requests per registry <= a one-registry run of its kind: {word[met['requests']]}",
    ]
    return "\n".join(lines) + "\n"


def _factor(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(
        prog="python -m bench.s5_registries", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--registries", type=int, default=20)
    parser.add_argument("--token-every", type=int, default=4, help="every Nth registry is token-auth")
    parser.add_argument("--rtt", type=float, default=0.050, help="round-trip time in seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-rss", action="store_true", help="do not measure peak RSS")
    parser.add_argument(
        "--no-reference", action="store_true", help="do not run the reference client after doctor's runs"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the Markdown section here too")
    args = parser.parse_args(argv)
    sizes = tuple(sorted({1, min(5, args.registries), args.registries}))
    with tempfile.TemporaryDirectory(prefix="doctor-bench-s5-") as tmp:
        fleet = start_fleet(Path(tmp), args.registries, token_every=args.token_every)
        try:
            result = run_s5(
                fleet,
                sizes=sizes,
                rtt_s=args.rtt,
                repeat=args.repeat,
                rss=not args.no_rss,
                reference=not args.no_reference,
            )
        finally:
            fleet.stop()
    text = render_markdown(result)
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0 if all(value is not False for value in result.targets().values()) else 1


if __name__ == "__main__":
    sys.exit(main())
