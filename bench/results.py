"""What the scenarios measured, the targets (issues 16 and 7) judged against it, and RESULTS.md's Markdown.

The scenarios (:mod:`bench.scenarios`) fill the dataclasses below; nothing here runs anything. The
rendering is deterministic so that two runs on the same machine differ only in their numbers.
A target is ``met``, ``missed`` (with how far off and an explanation built from the measured
requests per check) or ``not measured`` (with the reason) -- never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.measure import Machine, Spread

#: The targets of issue 16 (S1, S2, S4) and issue 7 (S3).
#: Full run at 0 ms RTT: doctor's wall over the reference client's (medians of the same run).
S1_MAX_REFERENCE_RATIO = 1.3
#: Network depth at 50 ms RTT for the signed image with token auth: challenge -> token -> POST ->
#: PATCH -> DELETE.
S1_MAX_ROUND_TRIPS = 5.0
#: The same for the other auth modes (S1 image label -> round trips): htpasswd+TLS challenge ->
#: POST -> PATCH -> DELETE; open POST -> PATCH -> DELETE.
S1_MODE_MAX_ROUND_TRIPS = {"signed, htpasswd+TLS": 4.0, "signed, open": 3.0}
#: Token fetches per run: the checks need one scope set (pull,push,delete on the test repository).
S1_MAX_TOKEN_FETCHES = 1
#: 401 challenges per run: one per origin (the registry's; the token server does not challenge).
S1_MAX_CHALLENGES = 1
S2_MAX_LIST_RATIO = 3.0
S2_MAX_HELP_RATIO = 3.0
S2_MAX_VERSION_RATIO = 1.5
S3_MAX_WALL_S = 3.0
S3_MAX_RSS_MB = 100.0
S4_MAX_RSS_MB = 50.0

#: The floors the project's chosen dependencies set under those ratios, measured beside them.
#: A full run must import stevedore (plugin discovery), pluggy (hooks) and pydantic's models
#: (configuration and the report; ``import pydantic`` alone is lazy and loads no model code,
#: ``pydantic.main`` is what defining a model imports): S1 measures the reference client with
#: these preloaded (``--preload``).
RUN_DEPENDENCIES: tuple[str, ...] = ("stevedore", "pluggy", "pydantic.main")
#: ``--help`` and ``list`` discover plugins through stevedore and call their hooks through pluggy
#: (and import neither pydantic nor httpx, tests/core asserts): S2 measures importing these two.
LISTING_DEPENDENCIES: tuple[str, ...] = ("pluggy", "stevedore")
#: The S2 commands whose floor is :data:`LISTING_DEPENDENCIES` (``--version`` imports neither).
S2_FLOOR_COMMANDS: tuple[str, ...] = ("doctor --help", "doctor list")


def listing_floor_label() -> str:
    """The S2 floor as the command it is: ``python -c "import pluggy, stevedore"``."""
    return 'python -c "import ' + ", ".join(LISTING_DEPENDENCIES) + '"'


@dataclass(frozen=True)
class CheckRow:
    """One check of one S1 configuration: requests it made (median over repeats) and its status."""

    check_id: str
    status: str
    http_requests: float | None
    token_fetches: float | None
    duration: Spread


@dataclass(frozen=True)
class ReferenceRun:
    """The reference client (``bench/reference_client.py``) repeated next to one :class:`S1Run`.

    ``wall`` is its process wall time; the rest are medians of what it reported: requests sent,
    its longest chain of dependent requests, token fetches, 401 challenges, referrers found.
    """

    wall: Spread
    requests: float
    depth: float
    token_fetches: float
    challenges: float
    referrers: float


def _ratio(wall: Spread, yardstick: ReferenceRun | None) -> float | None:
    if yardstick is None or yardstick.wall.median <= 0:
        return None
    return wall.median / yardstick.wall.median


@dataclass(frozen=True)
class S1Run:
    """``doctor --tag registry --format json`` repeated at one RTT for one image."""

    rtt_s: float
    wall: Spread
    #: The report's own ``duration_ms``: the checks' run without interpreter start-up and imports.
    run_ms: Spread
    rss_kb: Spread | None
    checks: tuple[CheckRow, ...]
    #: Token requests the token server answered per run (observed at the server, not reported by doctor).
    token_server_requests: Spread
    #: Token fetches of the whole run as doctor reports them (the sum of the checks' ``token_fetches``).
    reported_token_fetches: Spread | None
    #: HTTP requests the registry proxy saw per run (all checks together, counted on the wire; token
    #: requests go to the token server and are in ``token_server_requests``). ``None`` over TLS,
    #: where the proxy sees only encrypted bytes.
    wire_requests: Spread | None
    exit_codes: tuple[int, ...]
    #: Which S1 image (``bench.scenarios.S1_IMAGES``): "unsigned" or "signed".
    image: str = "unsigned"
    #: The reference client measured interleaved with these runs (``None``: not run).
    reference: ReferenceRun | None = None
    #: The reference client with :data:`RUN_DEPENDENCIES` preloaded, interleaved too: the floor
    #: the chosen dependencies set (``None``: not run).
    floor: ReferenceRun | None = None

    @property
    def reference_ratio(self) -> float | None:
        """doctor's median wall over the reference client's median wall."""
        return _ratio(self.wall, self.reference)

    @property
    def floor_ratio(self) -> float | None:
        """The floor's median wall over the reference client's: what the dependencies alone cost."""
        return _ratio(self.floor.wall, self.reference) if self.floor is not None else None

    @property
    def over_floor(self) -> float | None:
        """doctor's median wall over the floor's: what is doctor's own."""
        return _ratio(self.wall, self.floor)

    @property
    def total_requests(self) -> float | None:
        counts = [row.http_requests for row in self.checks]
        if not counts or any(count is None for count in counts):
            return None
        return float(sum(count for count in counts if count is not None))


@dataclass(frozen=True)
class RequestSpan:
    """One HTTP request of a run, from doctor's own ``oci.http.request`` debug event."""

    start_ms: float
    end_ms: float
    method: str
    #: Path of the redacted URL, with the token server's path marked as such (no query string).
    target: str
    status: int | None


@dataclass(frozen=True)
class Timeline:
    """The requests of one ``--verbose`` run, and the longest chain of them sent one after another.

    The chain is the longest sequence of requests in which each starts only after the previous
    one ended: an upper bound on the run's dependency depth in round trips (two requests that do
    not overlap in time need not depend on each other), and the floor the network time cannot go
    under while the run is shaped this way.
    """

    rtt_s: float
    spans: tuple[RequestSpan, ...]
    chain: tuple[RequestSpan, ...]
    #: The S1 image the run probed.
    image: str = ""

    @property
    def challenges(self) -> int:
        """Responses 401 in the run: each is a challenge the client met."""
        return sum(1 for span in self.spans if span.status == 401)

    @classmethod
    def of(cls, rtt_s: float, spans: Sequence[RequestSpan]) -> Timeline:
        ordered = sorted(spans, key=lambda span: (span.start_ms, span.end_ms))
        best: list[int] = []
        previous: list[int | None] = []
        for i, span in enumerate(ordered):
            length, before = 1, None
            for j in range(i):
                if ordered[j].end_ms <= span.start_ms and best[j] + 1 > length:
                    length, before = best[j] + 1, j
            best.append(length)
            previous.append(before)
        chain: list[RequestSpan] = []
        at = max(range(len(ordered)), key=lambda k: (best[k], -ordered[k].end_ms), default=None)
        while at is not None:
            chain.append(ordered[at])
            at = previous[at]
        return cls(rtt_s=rtt_s, spans=tuple(ordered), chain=tuple(reversed(chain)))


@dataclass(frozen=True)
class Phases:
    """Where a full run's time goes (``bench/phases.py``): seconds per phase, medians of a few runs."""

    wall: Spread
    #: ``python -c pass`` measured in the same loop: the interpreter's own start-up.
    startup: Spread
    seconds: dict[str, Spread]
    #: phase -> top-level packages first imported in it (from the last run).
    imports: dict[str, list[str]] = field(default_factory=dict)
    image: str = ""
    #: ``python -X importtime`` of one full run: (top-level package, seconds of self time), largest first.
    import_profile: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class S1Result:
    runs: tuple[S1Run, ...]
    #: One extra ``--verbose`` run at the slow RTT (not part of the statistics), when it was taken.
    timeline: Timeline | None = None
    #: Phases of a few extra 0 ms runs (not part of the statistics), when they were taken.
    phases: Phases | None = None

    def at(self, rtt_s: float, image: str | None = None) -> S1Run | None:
        """The run at ``rtt_s`` for ``image`` (default: the first image measured)."""
        for run in self.runs:
            if abs(run.rtt_s - rtt_s) < 1e-9 and (image is None or run.image == image):
                return run
        return None

    @property
    def images(self) -> list[str]:
        return list(dict.fromkeys(run.image for run in self.runs))

    def slowest(self, image: str | None = None) -> S1Run | None:
        """The run at the largest RTT above 0 (50 ms by default) for ``image``."""
        delayed = [run for run in self.runs if run.rtt_s > 0 and (image is None or run.image == image)]
        return max(delayed, key=lambda run: run.rtt_s) if delayed else None

    @property
    def slow(self) -> S1Run | None:
        """The run at the largest RTT above 0 of the first image."""
        images = self.images
        return self.slowest(images[0] if images else None)

    def slow_network(self, *, wall: bool = False, image: str | None = None) -> tuple[float, float] | None:
        """:meth:`network` of the slow run of ``image``."""
        slow = self.slowest(image or (self.images[0] if self.images else None))
        return self.network(slow.rtt_s, wall=wall, image=slow.image) if slow is not None else None

    def network(
        self, rtt_s: float, *, wall: bool = False, image: str | None = None, reference: bool = False
    ) -> tuple[float, float] | None:
        """``(seconds, round trips)`` a run at ``rtt_s`` spent on the network beyond the 0 ms run.

        By default from the report's ``duration_ms`` (the run without process start-up, which is
        the same at every RTT but adds most of the noise on a busy machine); ``wall=True`` from the
        process wall times; ``reference=True`` of the reference client (its wall times).
        """
        base, slow = self.at(0.0, image), self.at(rtt_s, image)
        if base is None or slow is None or rtt_s <= 0:
            return None
        if reference:
            if base.reference is None or slow.reference is None:
                return None
            seconds = slow.reference.wall.median - base.reference.wall.median
        elif wall:
            seconds = slow.wall.median - base.wall.median
        else:
            seconds = (slow.run_ms.median - base.run_ms.median) / 1000
        return seconds, seconds / rtt_s


@dataclass(frozen=True)
class S2Result:
    """Start-up: each command's wall time next to ``python -c pass`` measured in the same run."""

    baseline: Spread
    commands: dict[str, Spread]
    #: command -> (top-level package, seconds of import self time), largest first (``-X importtime``)
    import_profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    #: ``python -c "import pluggy, stevedore"`` in the same loop: the floor of ``--help`` and
    #: ``list`` (:data:`LISTING_DEPENDENCIES`); ``None``: not measured.
    floor: Spread | None = None

    def floor_ratio(self) -> float | None:
        """The floor over ``python -c pass``: what importing the dependencies alone costs."""
        return None if self.floor is None else self.floor.median / self.baseline.median

    def over_floor(self, label: str) -> float | None:
        """``label``'s median over the floor's (only for :data:`S2_FLOOR_COMMANDS`)."""
        if self.floor is None or label not in S2_FLOOR_COMMANDS or label not in self.commands:
            return None
        return self.commands[label].median / self.floor.median

    def heaviest_imports(self, label: str, count: int = 3) -> str:
        profile = self.import_profiles.get(label)
        if not profile:
            return ""
        return ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in profile[:count])

    def ratio(self, label: str) -> float:
        return self.commands[label].median / self.baseline.median


@dataclass(frozen=True)
class S3Result:
    """``doctor oci referrers`` against the large repository, at one RTT."""

    rtt_s: float
    tags: int
    expected_referrers: int
    wall: Spread
    #: The same command at 0 ms RTT, interleaved: wall - base_wall is the network part.
    base_wall: Spread
    rss_kb: Spread | None
    referrers_found: int | None
    #: Registry requests on the wire and token requests at the token server, per run (median).
    requests: float | None
    token_requests: float | None
    method: str | None
    exit_codes: tuple[int, ...]
    #: The reference client's ``--referrers`` runs, interleaved: RTT (s) -> its figures.
    reference: dict[float, ReferenceRun] = field(default_factory=dict)

    def reference_ratio(self, rtt_s: float) -> float | None:
        """doctor's median wall over the reference client's at ``rtt_s`` (0 or :attr:`rtt_s`)."""
        ref = self.reference.get(rtt_s)
        wall = self.base_wall if rtt_s == 0 else self.wall
        if ref is None or ref.wall.median <= 0:
            return None
        return wall.median / ref.wall.median


@dataclass(frozen=True)
class Target:
    scenario: str
    target: str
    measured: str
    verdict: str  # "met" | "missed" | "not measured"
    note: str = ""


@dataclass
class Results:
    machine: Machine
    repeat: int
    s1: S1Result | None = None
    s2: S2Result | None = None
    s3: S3Result | None = None
    #: scenario -> why it could not be measured
    skipped: dict[str, str] = field(default_factory=dict)
    registry_version: str = ""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


def _mb(spread: Spread | None) -> str:
    return "n/a" if spread is None else spread.fmt(scale=1 / 1024, unit=" MB", digits=1)


def judge(results: Results) -> list[Target]:
    """Every target (issue 16: S1, S2, S4; issue 7: S3) with its verdict."""
    targets: list[Target] = []
    targets.extend(_judge_s1(results))
    targets.extend(_judge_s2(results))
    targets.extend(_judge_s3(results))
    targets.extend(_judge_s4(results))
    return targets


def _not_measured(results: Results, scenario: str, target: str) -> Target:
    reason = results.skipped.get(scenario, "the scenario did not run")
    return Target(scenario, target, "n/a", "not measured", reason)


def _depth_image(s1: S1Result) -> str | None:
    """The image the depth targets are judged on: the signed one when it was measured."""
    images = s1.images
    return "signed" if "signed" in images else (images[0] if images else None)


def _judge_s1(results: Results) -> list[Target]:
    s1 = results.s1
    ratio_target = f"full run at 0 ms RTT <= {S1_MAX_REFERENCE_RATIO:g}x the reference client's wall"
    depth_target = f"network depth at 50 ms RTT, signed image, token auth <= {S1_MAX_ROUND_TRIPS:g} RTT"
    token_target = f"token fetches per run <= {S1_MAX_TOKEN_FETCHES} (the scope sets the checks need)"
    challenge_target = f"401 challenges per run <= {S1_MAX_CHALLENGES} (one per origin)"
    if s1 is None:
        targets = (ratio_target, depth_target, token_target, challenge_target)
        return [_not_measured(results, "S1", target) for target in targets]
    out: list[Target] = []
    for image in s1.images:
        base = s1.at(0.0, image)
        label = f"{ratio_target} ({image} image)"
        if base is None or base.reference_ratio is None or base.reference is None:
            out.append(Target("S1", label, "n/a", "not measured", "no 0 ms run with the reference client"))
            continue
        ratio = base.reference_ratio
        measured = f"{_ms(base.wall.median)} vs {_ms(base.reference.wall.median)} = {ratio:.2f}x"
        floor = _s1_floor_note(base)
        if ratio <= S1_MAX_REFERENCE_RATIO:
            out.append(Target("S1", label, measured, "met", floor))
        else:
            out.append(
                Target(
                    "S1",
                    label,
                    measured,
                    "missed",
                    (
                        f"{floor}{' ' if floor else ''}"
                        f"{_ms(base.wall.median - base.reference.wall.median * S1_MAX_REFERENCE_RATIO)} "
                        "over; of "
                        f"doctor's {_ms(base.wall.median)}, the checks' run (report duration) is "
                        f"{base.run_ms.median:.0f} ms and the rest is start-up, configuration and rendering "
                        "(see the phases below)."
                    ),
                )
            )
    depth_image = _depth_image(s1)
    network = s1.slow_network(image=depth_image) if depth_image else None
    if network is None:
        out.append(_not_measured(results, "S1", depth_target))
    else:
        seconds, trips = network
        measured = f"{_ms(seconds)} = {trips:.1f} round trips (report duration, {depth_image} image)"
        by_wall = s1.slow_network(wall=True, image=depth_image)
        slow = s1.slowest(depth_image)
        if by_wall is not None:
            measured += f"; by process wall time {by_wall[1]:.1f}"
        if slow is not None:
            ref = s1.network(slow.rtt_s, image=depth_image, reference=True)
            if ref is not None:
                measured += f"; reference client {ref[1]:.1f}"
        if s1.timeline is not None:
            measured += f"; longest request chain {len(s1.timeline.chain)}"
        if trips <= S1_MAX_ROUND_TRIPS + 0.5:
            out.append(
                Target(
                    "S1",
                    depth_target,
                    measured,
                    "met",
                    "within half a round trip of the floor" if trips > S1_MAX_ROUND_TRIPS else "",
                )
            )
        else:
            out.append(Target("S1", depth_target, measured, "missed", _explain_s1(s1, trips)))
    for label, limit in S1_MODE_MAX_ROUND_TRIPS.items():
        mode_target = f"network depth at 50 ms RTT, {label} <= {limit:g} RTT"
        mode_network = s1.slow_network(image=label) if label in s1.images else None
        if mode_network is None:
            out.append(_not_measured(results, "S1", mode_target))
            continue
        seconds, trips = mode_network
        measured = f"{_ms(seconds)} = {trips:.1f} round trips (report duration)"
        mode_slow = s1.slowest(label)
        ref_trips: float | None = None
        if mode_slow is not None:
            ref = s1.network(mode_slow.rtt_s, image=label, reference=True)
            if ref is not None and mode_slow.reference is not None:
                ref_trips = ref[1]
                measured += f"; reference client {ref[1]:.1f} (depth {mode_slow.reference.depth:.0f})"
        if trips <= limit + 0.5:
            note = "within half a round trip of the floor" if trips > limit else ""
            out.append(Target("S1", mode_target, measured, "met", note))
        elif ref_trips is not None and trips <= ref_trips + 0.5:
            # TLS: every new connection's handshake crosses the delayed link (TCP set-up does not),
            # so the measured floor here is the minimal client's, not the request depth.
            out.append(
                Target(
                    "S1",
                    mode_target,
                    measured,
                    "met",
                    (
                        f"at the reference client's {ref_trips:.1f} in the same run: the requests are at "
                        "depth "
                        f"{limit:g}, the rest is TLS handshakes over the delayed link, which any client pays"
                    ),
                )
            )
        else:
            out.append(
                Target(
                    "S1", mode_target, measured, "missed", f"{trips - limit:.1f} round trips over the floor"
                )
            )
    slow = s1.slowest(depth_image) if depth_image else None
    if slow is None:
        out.append(_not_measured(results, "S1", token_target))
    else:
        tokens = slow.token_server_requests.median
        measured = f"{tokens:.0f} at the token server ({depth_image} image)"
        if slow.reference is not None:
            measured += f"; reference client {slow.reference.token_fetches:.0f}"
        verdict = "met" if tokens <= S1_MAX_TOKEN_FETCHES else "missed"
        note = "" if verdict == "met" else "the checks' token requests did not share one fetch"
        out.append(Target("S1", token_target, measured, verdict, note))
    if s1.timeline is None:
        out.append(_not_measured(results, "S1", challenge_target))
    else:
        count = s1.timeline.challenges
        measured = f"{count} in the --verbose run ({s1.timeline.image or depth_image} image)"
        verdict = "met" if count <= S1_MAX_CHALLENGES else "missed"
        note = "" if verdict == "met" else "requests met their own 401 instead of waiting for the /v2/ one"
        out.append(Target("S1", challenge_target, measured, verdict, note))
    return out


def _floor_note(what: str, floor: float, target: float, own: float, whose: str) -> str:
    """The "why" of a ratio target: the floor the chosen dependencies set, and doctor's own part."""
    over = f", over the {target:g}x target by themselves" if floor > target else ""
    return f"{what} alone: {floor:.2f}x{over}; {whose} is {own:.2f}x that floor."


def _s1_floor_note(run: S1Run) -> str:
    floor, own = run.floor_ratio, run.over_floor
    if floor is None or own is None:
        return ""
    what = f"the chosen dependencies (reference + `import {', '.join(RUN_DEPENDENCIES)}`)"
    return _floor_note(what, floor, S1_MAX_REFERENCE_RATIO, own, "doctor")


def _explain_s1(s1: S1Result, trips: float) -> str:
    slow = s1.slowest(_depth_image(s1))
    over = trips - S1_MAX_ROUND_TRIPS
    parts = [f"{over:.1f} round trips over the budget ({trips / S1_MAX_ROUND_TRIPS:.1f}x)."]
    if slow is None:
        return " ".join(parts)
    if s1.timeline is not None and s1.timeline.chain:
        parts.append(
            f"The longest chain of requests sent one after another was {len(s1.timeline.chain)} long "
            f"({_chain_text(s1.timeline)}); the rest is time between and inside those steps."
        )
    longest = max(slow.checks, key=lambda row: row.duration.median, default=None)
    if longest is not None:
        parts.append(
            f"The slowest check, {longest.check_id}, took {longest.duration.median:.0f} ms "
            f"(~{longest.duration.median / (slow.rtt_s * 1000):.1f} RTT) for "
            f"{_num(longest.http_requests)} requests of its own: they are on one chain, one after another, "
            "and it also waits for the run's shared ping/token."
        )
    total = slow.total_requests
    if total is None:
        wire = slow.wire_requests.median if slow.wire_requests is not None else 0.0
        total = wire + slow.token_server_requests.median
    if total:
        parts.append(
            f"All checks together made {total:.0f} requests (registry and token server); one after another "
            f"they would cost ~{total:.0f} RTT, fully parallel only /v2/ -> token -> the longest probe chain."
        )
    tokens = slow.token_server_requests.median
    if tokens > 1:
        parts.append(
            f"The token server answered {tokens:.0f} token requests per run; each one on the critical "
            f"path costs a round trip (target: one per scope set, fetched once for the whole run)."
        )
    return " ".join(parts)


def _judge_s2(results: Results) -> list[Target]:
    s2 = results.s2
    out: list[Target] = []
    for label, limit in (
        ("doctor --version", S2_MAX_VERSION_RATIO),
        ("doctor --help", S2_MAX_HELP_RATIO),
        ("doctor list", S2_MAX_LIST_RATIO),
    ):
        target = f"`{label}` <= {limit:g}x `python -c pass`"
        if s2 is None or label not in s2.commands:
            out.append(_not_measured(results, "S2", target))
            continue
        ratio = s2.ratio(label)
        measured = f"{_ms(s2.commands[label].median)} vs {_ms(s2.baseline.median)} = {ratio:.2f}x"
        floor, own = s2.floor_ratio(), s2.over_floor(label)
        note = ""
        if floor is not None and own is not None:
            what = f"the chosen dependencies (`{listing_floor_label()}`)"
            note = _floor_note(what, floor, limit, own, f"`{label}`")
        if ratio <= limit:
            out.append(Target("S2", target, measured, "met", note))
        else:
            out.append(
                Target(
                    "S2",
                    target,
                    measured,
                    "missed",
                    (
                        f"{note}{' ' if note else ''}"
                        f"{ratio - limit:.2f}x over: whatever the command imports before it answers is paid "
                        "here. "
                        f"Heaviest imports (self time): {s2.heaviest_imports(label) or 'not profiled'}."
                    ),
                )
            )
    return out


def _judge_s3(results: Results) -> list[Target]:
    s3 = results.s3
    wall_target = f"referrer discovery at 50 ms RTT <= {S3_MAX_WALL_S:g} s wall"
    rss_target = f"referrer discovery peak RSS <= {S3_MAX_RSS_MB:g} MB"
    if s3 is None:
        return [_not_measured(results, "S3", wall_target), _not_measured(results, "S3", rss_target)]
    out: list[Target] = []
    median = s3.wall.median
    network = median - s3.base_wall.median
    trips = network / s3.rtt_s if s3.rtt_s > 0 else 0.0
    measured = (
        f"{median:.2f} s; network part {_ms(network)} = {trips:.1f} RTT; "
        f"{_num(s3.requests)} registry + {_num(s3.token_requests)} token requests"
    )
    ratio = s3.reference_ratio(s3.rtt_s)
    if ratio is not None:
        measured += f"; {ratio:.2f}x the reference client"
    if median <= S3_MAX_WALL_S:
        out.append(Target("S3", wall_target, measured, "met"))
    else:
        note = f"{median - S3_MAX_WALL_S:.2f} s over ({median / S3_MAX_WALL_S:.1f}x)."
        if s3.requests is not None and s3.rtt_s > 0:
            note += (
                f" {s3.requests:.0f} requests in ~{trips:.0f} round trips: "
                f"{s3.requests / max(trips, 1):.1f} requests per round trip on average, so the referrer "
                "manifests are fetched with too little concurrency (or one after another)."
            )
        out.append(Target("S3", wall_target, measured, "missed", note))
    if s3.rss_kb is None:
        out.append(_not_measured(results, "S3", rss_target))
    else:
        rss = s3.rss_kb.median / 1024
        verdict = "met" if rss <= S3_MAX_RSS_MB else "missed"
        note = (
            ""
            if verdict == "met"
            else (
                f"{rss - S3_MAX_RSS_MB:.1f} MB over: the tag list and manifests are held in memory at once."
            )
        )
        out.append(Target("S3", rss_target, f"{rss:.1f} MB", verdict, note))
    return out


def _judge_s4(results: Results) -> list[Target]:
    target = f"full run (S1) peak RSS <= {S4_MAX_RSS_MB:g} MB"
    s1 = results.s1
    image = _depth_image(s1) if s1 is not None else None
    slow = s1.slowest(image) if s1 is not None else None
    if slow is None or slow.rss_kb is None:
        reason = results.skipped.get("S4") or results.skipped.get("S1") or "the scenario did not run"
        return [Target("S4", target, "n/a", "not measured", reason)]
    rss = slow.rss_kb.median / 1024
    if rss <= S4_MAX_RSS_MB:
        return [Target("S4", target, f"{rss:.1f} MB", "met")]
    return [
        Target(
            "S4",
            target,
            f"{rss:.1f} MB",
            "missed",
            f"{rss - S4_MAX_RSS_MB:.1f} MB over: everything imported at start-up (plugins, httpx, "
            "pydantic) stays resident; see `python -X importtime` for the biggest imports.",
        )
    ]


def render_markdown(results: Results, targets: Sequence[Target] | None = None) -> str:
    """The whole RESULTS.md."""
    targets = list(targets) if targets is not None else judge(results)
    m = results.machine
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench.run` (`make bench`); see `bench/README.md` for what each scenario",
        'measures. Times are medians of the repeats with (min-max) in brackets. The "why" column is',
        "derived automatically from the numbers; the reasoned analysis of each miss, and what was",
        "changed for it, is in `bench/ANALYSIS.md` (kept by hand).",
        "",
        f"- Machine: {m.cpu}, {m.cores} cores, {m.system}",
        f"- Python: {m.python}",
        f"- Date: {m.date}",
        f"- Load average (1 min) at the start: {_num(m.load, 2)}"
        + (" -- other work was running; expect noisy numbers" if m.load is not None and m.load > 1 else ""),
        f"- Repeats per measurement: {results.repeat}",
    ]
    if results.registry_version:
        lines.append(
            f"- Registry: {results.registry_version} (token auth; registry and token server behind "
            "the latency proxy)"
        )
    lines += ["", "## Targets", "", "| scenario | target | measured | verdict | why |"]
    lines.append("|---|---|---|---|---|")
    for t in targets:
        lines.append(f"| {t.scenario} | {t.target} | {t.measured} | {t.verdict} | {t.note} |")
    lines += _render_s1(results)
    lines += _render_s2(results)
    lines += _render_s3(results)
    lines += _render_s4(results)
    return "\n".join(lines) + "\n"


def _skipped_line(results: Results, scenario: str) -> list[str]:
    return ["", f"Not measured: {results.skipped.get(scenario, 'the scenario did not run')}."]


def _render_s1(results: Results) -> list[str]:
    lines = ["", "## S1 full run: `doctor --tag registry --format json`"]
    s1 = results.s1
    if s1 is None:
        return lines + _skipped_line(results, "S1")
    lines += [
        "",
        "Each doctor run is followed by the reference client (`bench/reference_client.py`: the same "
        "probes by a minimal httpx client, one pool, one token, everything concurrent) in the same "
        "round, so the ratio compares numbers taken under the same load. Then the reference again "
        f"with `--preload {','.join(RUN_DEPENDENCIES)}` (reference + dependencies): the floor "
        "the project's chosen dependencies set, which no client built on them goes under; doctor's "
        "wall over it is doctor's own part.",
        "",
        "| image | RTT | wall | reference wall | x reference | reference + dependencies wall | "
        "its x reference | doctor x that floor | run (report `duration_ms`) | "
        "requests (sum of check metrics) | registry requests on the wire | "
        "token requests at the token server | token fetches reported | reference requests / depth | "
        "peak RSS | exit codes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in s1.runs:
        ref = run.reference
        lines.append(
            f"| {run.image} | {run.rtt_s * 1000:.0f} ms | {run.wall.fmt(1000, ' ms')} | "
            f"{ref.wall.fmt(1000, ' ms') if ref else 'n/a'} | "
            f"{_num(run.reference_ratio, 2)} | "
            f"{run.floor.wall.fmt(1000, ' ms') if run.floor else 'n/a'} | "
            f"{_num(run.floor_ratio, 2)} | {_num(run.over_floor, 2)} | {run.run_ms.fmt(unit=' ms')} | "
            f"{_num(run.total_requests)} | "
            f"{run.wire_requests.fmt() if run.wire_requests else 'n/a (TLS)'} | "
            f"{run.token_server_requests.fmt()} | "
            f"{run.reported_token_fetches.fmt() if run.reported_token_fetches else 'n/a'} | "
            f"{f'{ref.requests:.0f} / {ref.depth:.0f}' if ref else 'n/a'} | "
            f"{_mb(run.rss_kb)} | {', '.join(str(c) for c in sorted(set(run.exit_codes)))} |"
        )
    for image in s1.images:
        network = s1.slow_network(image=image)
        by_wall = s1.slow_network(wall=True, image=image)
        slow = s1.slowest(image)
        if network is None or by_wall is None or slow is None:
            continue
        slow_ms = slow.rtt_s * 1000
        seconds, trips = network
        ref_network = s1.network(slow.rtt_s, image=image, reference=True)
        ref_text = (
            f" Reference client: {_ms(ref_network[0])} = {ref_network[1]:.1f} round trips."
            if ref_network
            else ""
        )
        lines += [
            "",
            f"Network time, {image} image, at {slow_ms:.0f} ms RTT ({slow_ms:.0f} ms median - 0 ms "
            f"median of the report's `duration_ms`): {_ms(seconds)} = **{trips:.1f} round trips** "
            f"(/{slow_ms / 1000:.3f} s). From the process wall times: {_ms(by_wall[0])} = "
            f"{by_wall[1]:.1f} round trips (includes start-up noise).{ref_text}",
        ]
    for run in s1.runs:
        reported = run.reported_token_fetches
        if reported is not None and reported.median != run.token_server_requests.median:
            where = f"{run.image}, {run.rtt_s * 1000:.0f} ms"
            lines += [
                "",
                f"Note ({where}): doctor reports {reported.median:.0f} "
                f"token fetches but the token server answered {run.token_server_requests.median:.0f} "
                "token requests per run: the product's `token_fetches` metric does not count every "
                "token request.",
            ]
            break
    for image in s1.images:
        base, slow = s1.at(0.0, image), s1.slowest(image)
        reference = slow or base
        if reference is None:
            continue
        slow_ms = slow.rtt_s * 1000 if slow is not None else 0.0
        lines += [
            "",
            f"Per check, {image} image (from the report: `metrics.http_requests` made under the "
            "check's label, token and registry requests alike; `metrics.token_fetches` the token "
            "fetches the check caused (summing to the run's total); `duration_ms`):",
            "",
            "| check | status | requests | token fetches | "
            f"duration 0 ms | duration {slow_ms:.0f} ms | ~RTT at {slow_ms:.0f} ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in reference.checks:
            base_row = _row(base, row.check_id)
            slow_row = _row(slow, row.check_id)
            lines.append(
                f"| {row.check_id} | {row.status} | {_num(row.http_requests)} | {_num(row.token_fetches)} | "
                f"{base_row.duration.fmt(unit=' ms') if base_row else 'n/a'} | "
                f"{slow_row.duration.fmt(unit=' ms') if slow_row else 'n/a'} | "
                f"{_num(slow_row.duration.median / slow_ms, 1) if slow_row and slow_ms else 'n/a'} |"
            )
    if s1.phases is not None:
        lines += _render_phases(s1.phases)
    if s1.timeline is not None:
        lines += _render_timeline(s1.timeline)
    return lines


def _render_phases(phases: Phases) -> list[str]:
    lines = [
        "",
        f"### Where a full run's time goes ({phases.image + ' image, ' if phases.image else ''}0 ms RTT, "
        f"`bench/phases.py`, {len(phases.wall.samples)} runs)",
        "",
        "Exclusive time per phase inside the process (a phase nested in another is not counted twice); "
        "interpreter start-up is `python -c pass` measured in the same loop. Imports are the "
        "top-level packages first imported in the phase.",
        "",
        "| phase | time | first imported there |",
        "|---|---|---|",
        f"| interpreter start-up (`python -c pass`) | {phases.startup.fmt(1000, ' ms')} | |",
    ]
    for name, spread in phases.seconds.items():
        imported = [p for p in phases.imports.get(name, []) if not p.startswith("_")]
        lines.append(f"| {name} | {spread.fmt(1000, ' ms')} | {', '.join(imported)} |")
    total = sum(spread.median for spread in phases.seconds.values()) + phases.startup.median
    lines.append(
        f"| exit (process wall - the rows above: interpreter teardown) | "
        f"{_ms(max(0.0, phases.wall.median - total))} | |"
    )
    lines.append(f"| **process wall** | {phases.wall.fmt(1000, ' ms')} | |")
    if phases.import_profile:
        parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in phases.import_profile)
        lines += [
            "",
            f"Imports of one full run (`python -X importtime`, self time per top-level package, "
            f"largest first; importtime itself inflates them): {parts}.",
        ]
    return lines


def _chain_text(timeline: Timeline) -> str:
    return " -> ".join(
        f"{span.method} {span.target} {span.status if span.status is not None else 'error'}"
        for span in timeline.chain
    )


def _render_timeline(timeline: Timeline) -> list[str]:
    rtt_ms = timeline.rtt_s * 1000
    on_chain = {id(span) for span in timeline.chain}
    lines = [
        "",
        f"### Request timeline ({timeline.image + ' image, ' if timeline.image else ''}one extra "
        f"`--verbose --log-format json` run at {rtt_ms:.0f} ms RTT)",
        "",
        "From doctor's own `oci.http.request` debug events (start = event time - `duration_ms`). "
        f"Longest chain of requests sent one after another: **{len(timeline.chain)}** "
        "(marked *), an upper bound on the run's depth in round trips. With token auth and a chunked "
        "upload probe it cannot be under 5: challenge -> token -> POST -> PATCH -> DELETE.",
        "",
        "| start | end | request | status | chain |",
        "|---|---|---|---|---|",
    ]
    for span in timeline.spans:
        lines.append(
            f"| {span.start_ms:.0f} ms | {span.end_ms:.0f} ms | {span.method} {span.target} | "
            f"{span.status if span.status is not None else 'error'} | {'*' if id(span) in on_chain else ''} |"
        )
    return lines


def _row(run: S1Run | None, check_id: str) -> CheckRow | None:
    if run is None:
        return None
    for row in run.checks:
        if row.check_id == check_id:
            return row
    return None


def _render_s2(results: Results) -> list[str]:
    lines = ["", "## S2 start-up"]
    s2 = results.s2
    if s2 is None:
        return lines + _skipped_line(results, "S2")
    lines += [
        "",
        "| command | wall | x `python -c pass` | x floor |",
        "|---|---|---|---|",
        f"| `python -c pass` | {s2.baseline.fmt(1000, ' ms')} | 1.00 | |",
    ]
    if s2.floor is not None:
        floor_of = " and ".join(f"`{command}`" for command in S2_FLOOR_COMMANDS)
        lines.append(
            f"| `{listing_floor_label()}` (the floor of {floor_of}) | "
            f"{s2.floor.fmt(1000, ' ms')} | {_num(s2.floor_ratio(), 2)} | 1.00 |"
        )
    for label, spread in s2.commands.items():
        own = s2.over_floor(label)
        lines.append(
            f"| `{label}` | {spread.fmt(1000, ' ms')} | {s2.ratio(label):.2f} | "
            f"{_num(own, 2) if own is not None else ''} |"
        )
    if s2.import_profiles:
        lines += [
            "",
            "Where start-up goes (`python -X importtime`, one run, self time summed per top-level "
            "package, largest first):",
            "",
        ]
        for label, profile in s2.import_profiles.items():
            parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in profile)
            lines.append(f"- `{label}`: {parts}")
    return lines


def _render_s3(results: Results) -> list[str]:
    lines = ["", "## S3 referrer discovery at scale: `doctor oci referrers IMAGE --format json`"]
    s3 = results.s3
    if s3 is None:
        return lines + _skipped_line(results, "S3")
    codes = ", ".join(str(c) for c in sorted(set(s3.exit_codes)))
    lines += [
        "",
        f"Repository with {s3.tags} tags; the subject has {s3.expected_referrers} referrers to find "
        f"(cosign-style tags and tag-schema index entries). RTT {s3.rtt_s * 1000:.0f} ms.",
        "",
        "| wall | wall at 0 ms | registry requests | token requests | referrers found | method | "
        "peak RSS | exit codes |",
        "|---|---|---|---|---|---|---|---|",
        f"| {s3.wall.fmt(1000, ' ms')} | {s3.base_wall.fmt(1000, ' ms')} | {_num(s3.requests)} | "
        f"{_num(s3.token_requests)} | {_num(s3.referrers_found)} | "
        f"{s3.method or 'n/a'} | {_mb(s3.rss_kb)} | {codes} |",
    ]
    if s3.reference:
        lines += [
            "",
            "The reference client (`bench/reference_client.py --referrers`: the subject, then the "
            "referrers API, the tag-schema index and the tag list at once, then the cosign tags) "
            "after each doctor run, same round:",
            "",
            "| RTT | doctor wall | reference wall | x reference | reference requests / depth | "
            "reference referrers found |",
            "|---|---|---|---|---|---|",
        ]
        for rtt, ref in sorted(s3.reference.items()):
            wall = s3.base_wall if rtt == 0 else s3.wall
            lines.append(
                f"| {rtt * 1000:.0f} ms | {wall.fmt(1000, ' ms')} | {ref.wall.fmt(1000, ' ms')} | "
                f"{_num(s3.reference_ratio(rtt), 2)} | {ref.requests:.0f} / {ref.depth:.0f} | "
                f"{ref.referrers:.0f} |"
            )
    return lines


def _render_s4(results: Results) -> list[str]:
    lines = ["", "## S4 memory (peak RSS: `ru_maxrss` of the child from `os.wait4`)", ""]
    if "S4" in results.skipped:
        return [*lines, f"Not measured: {results.skipped['S4']}."]
    s1 = results.s1
    slow = s1.slowest(_depth_image(s1)) if s1 is not None else None
    lines += ["| run | peak RSS |", "|---|---|"]
    label = f"{slow.rtt_s * 1000:.0f} ms RTT" if slow else "delayed"
    image = f"{slow.image} image, " if slow else ""
    lines.append(f"| S1 full run, {image}{label} | {_mb(slow.rss_kb) if slow else 'n/a'} |")
    lines.append(f"| S3 referrer discovery | {_mb(results.s3.rss_kb) if results.s3 else 'n/a'} |")
    return lines
