"""The four scenarios (issues 7 and 16), each a function from a running environment to a result record.

* :func:`run_s1` -- ``doctor --tag registry --format json`` at each RTT on an unsigned and a signed
  image, each run followed by the reference client (:mod:`bench.reference_client`) and by the
  reference with the chosen dependencies preloaded (the floor they set): wall time and its ratios
  to both, the checks' own ``metrics`` (``http_requests``, ``token_fetches``),
  token requests seen at the token server, HTTP requests seen on the wire, peak RSS;
  :func:`s1_phases` where a run's time goes; :func:`run_s1_modes` the signed image on an
  htpasswd+TLS and an open registry.
* :func:`run_s2` -- start-up: ``doctor --version`` / ``--help`` / ``list`` next to ``python -c pass``
  and ``python -c "import pluggy, stevedore"`` (the floor of ``--help`` and ``list``), interleaved
  in one loop so drift in machine load hits all of them alike.
* :func:`seed_s3` + :func:`run_s3` -- referrer discovery (``doctor oci referrers``) in a repository
  with thousands of tags.
* S4 is not a run of its own: it is the peak RSS of the S1 (50 ms) and S3 runs (``os.wait4``'s ``ru_maxrss``).

Every scenario does one unmeasured warm-up run first (byte-code caches, page cache), then
``repeat`` measured runs. A run whose output cannot be parsed raises :class:`BenchError` with the
(redacted) end of its stderr: a benchmark of a crashing command is not a number.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.environment import PASSWORD_VARIABLE, BenchRegistry, start_bench_registry
from bench.measure import (
    BenchError,
    Measurement,
    Spread,
    doctor_executable,
    import_profile,
    run_measured,
)
from bench.results import (
    LISTING_DEPENDENCIES,
    RUN_DEPENDENCIES,
    CheckRow,
    Phases,
    ReferenceRun,
    RequestSpan,
    S1Result,
    S1Run,
    S2Result,
    S3Result,
    Timeline,
)
from devtools.images import (
    ATTESTATION_ARTIFACT,
    SBOM_ARTIFACT,
    SIGNATURE_ARTIFACT,
    Descriptor,
    PushedImage,
    push_cosign_tags,
    push_image,
    push_many_tags,
    push_referrer,
    push_tag_schema_index,
)
from doctor_core.models import Report
from doctor_core.redaction import redact

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


def _tail(text: str, limit: int = 1500) -> str:
    return redact(text[-limit:]) if text else "(empty)"


def _spread(values: Sequence[float]) -> Spread:
    return Spread(tuple(float(v) for v in values))


def _optional_spread(values: Sequence[float | None]) -> Spread | None:
    present = [v for v in values if v is not None]
    return _spread(present) if present and len(present) == len(values) else None


# -- S1 ------------------------------------------------------------------------------------------


#: The S1 images: (label, tag in ``bench.repository``). "signed" has what cosign and an OCI 1.1
#: client leave behind on a registry without the referrers API: ``sha256-<hex>.sig/.att/.sbom``
#: tags and a tag-schema index (``sha256-<hex>``) of two referrers; "unsigned" has none of it.
S1_IMAGES: tuple[tuple[str, str], ...] = (("unsigned", "v1"), ("signed", "signed"))
#: Referrers of the signed image: its three cosign tags and the two index entries.
S1_SIGNED_REFERRERS = 5


def seed_s1(bench: BenchRegistry) -> dict[str, PushedImage]:
    """The images the checks probe (``TestRepository:<tag>`` of :data:`S1_IMAGES`), pushed straight
    to the registry; returns label -> image."""
    registry, repository = bench.registry, bench.repository
    unsigned = push_image(registry, repository, bench.tag)
    signed = push_image(registry, repository, "signed")
    push_cosign_tags(registry, repository, signed.digest)
    referrers = [
        push_referrer(registry, repository, signed, kind, payload=f"s1-{kind}".encode())
        for kind in (SIGNATURE_ARTIFACT, SBOM_ARTIFACT)
    ]
    push_tag_schema_index(registry, repository, signed.digest, referrers)
    return {"unsigned": unsigned, "signed": signed}


REFERENCE_CLIENT = Path(__file__).resolve().parent / "reference_client.py"
PHASES_SCRIPT = Path(__file__).resolve().parent / "phases.py"


def s1_phases(bench: BenchRegistry, tag: str, *, runs: int = 3) -> Phases:
    """Where a full run's time goes (``bench/phases.py``), ``runs`` times at 0 ms RTT; medians.

    Interpreter start-up is measured beside it as ``python -c pass`` in the same loop, so the
    phases and the start-up add up to (about) the process wall time.
    """
    out = bench.workdir / "phases.json"
    env = bench.doctor_env(OCI__TestTag=tag)
    argv = [sys.executable, str(PHASES_SCRIPT), str(out), "--tag", "registry", "--format", "json"]
    seconds: dict[str, list[float]] = {}
    imports: dict[str, list[str]] = {}
    startup: list[float] = []
    walls: list[float] = []
    bench.set_rtt(0.0)
    for _ in range(runs):
        startup.append(run_measured([sys.executable, "-c", "pass"], env=env, cwd=bench.workdir).wall_s)
        measurement = run_measured(argv, env=env, timeout=120, cwd=bench.workdir)
        _parse_report(measurement)
        walls.append(measurement.wall_s)
        data = json.loads(out.read_text())
        for name, value in data["seconds"].items():
            seconds.setdefault(name, []).append(float(value))
        imports = data["imports"]
    profile = import_profile(
        [*doctor_executable(), "--tag", "registry", "--format", "json"], env=env, cwd=bench.workdir, top=12
    )
    return Phases(
        import_profile=tuple(profile),
        wall=_spread(walls),
        startup=_spread(startup),
        seconds={name: _spread(values) for name, values in seconds.items()},
        imports=imports,
    )


def reference_argv(bench: BenchRegistry, tag: str) -> list[str]:
    """The reference client (:mod:`bench.reference_client`) for ``bench.repository:tag`` via the proxy."""
    argv = [
        sys.executable,
        str(REFERENCE_CLIENT),
        "--registry",
        bench.url,
        "--repository",
        bench.repository,
        "--tag",
        tag,
    ]
    if bench.registry.users:
        argv += ["--user", bench.registry.credentials("admin")[0], "--password-env", PASSWORD_VARIABLE]
    if bench.registry.ca_bundle is not None:
        argv += ["--ca-bundle", str(bench.registry.ca_bundle)]
    return argv


def floor_argv(reference: Sequence[str]) -> list[str]:
    """The reference client's ``reference`` argv importing :data:`RUN_DEPENDENCIES` first: the
    same probes plus what the chosen dependencies cost to import, doctor's floor."""
    return [*reference, "--preload", ",".join(RUN_DEPENDENCIES)]


_ReferenceSample = tuple[Measurement, dict[str, Any]]


def _reference_once(bench: BenchRegistry, argv: Sequence[str], env: dict[str, str]) -> _ReferenceSample:
    measurement = run_measured(argv, env=env, timeout=120, cwd=bench.workdir)
    try:
        summary = json.loads(measurement.stdout)
    except ValueError:
        summary = None
    if measurement.returncode != 0 or not isinstance(summary, dict):
        raise BenchError(
            f"the reference client failed (exit {measurement.returncode}): {_tail(measurement.stderr)}"
        )
    return measurement, summary


@dataclass(frozen=True)
class _S1Sample:
    measurement: Measurement
    report: Report
    token_server_requests: int
    #: None over TLS: the proxy forwards encrypted bytes and cannot read request heads.
    wire_requests: int | None


def _parse_report(measurement: Measurement) -> Report:
    try:
        report = Report.model_validate_json(measurement.stdout)
    except ValueError as exc:
        raise BenchError(
            f"'{' '.join(measurement.argv)}' (exit {measurement.returncode}) did not print a JSON report: "
            f"{_tail(str(exc), 300)}; stderr: {_tail(measurement.stderr)}"
        ) from exc
    if not report.results:
        raise BenchError(
            f"'{' '.join(measurement.argv)}' selected no checks (is the OCI plugin installed?); "
            f"plugin errors: {[p.error for p in report.plugin_errors]}; stderr: {_tail(measurement.stderr)}"
        )
    return report


def _s1_once(bench: BenchRegistry, argv: Sequence[str], env: dict[str, str], rss: bool) -> _S1Sample:
    bench.reset_counters()
    wire_before = bench.registry_proxy.stats.http_requests
    measurement = run_measured(argv, env=env, rss=rss, timeout=120, cwd=bench.workdir)
    report = _parse_report(measurement)
    return _S1Sample(
        measurement=measurement,
        report=report,
        token_server_requests=bench.token_requests(),
        wire_requests=None
        if bench.registry.ca_bundle is not None
        else bench.registry_proxy.stats.http_requests - wire_before,
    )


def _metric(values: dict[str, int | float], key: str) -> float | None:
    value = values.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _reference_run(samples: Sequence[_ReferenceSample]) -> ReferenceRun | None:
    if not samples:
        return None

    def field(name: str) -> float:
        return _spread([float(summary.get(name, 0)) for _, summary in samples]).median

    return ReferenceRun(
        wall=_spread([m.wall_s for m, _ in samples]),
        requests=field("requests"),
        depth=field("depth"),
        token_fetches=field("token_fetches"),
        challenges=field("challenges"),
        referrers=field("referrers"),
    )


def _s1_run(
    rtt_s: float,
    samples: Sequence[_S1Sample],
    *,
    image: str = "unsigned",
    reference: Sequence[_ReferenceSample] = (),
    floor: Sequence[_ReferenceSample] = (),
) -> S1Run:
    check_ids = [result.check_id for result in samples[0].report.results]
    rows: list[CheckRow] = []
    for check_id in check_ids:
        results = [sample.report.result(check_id) for sample in samples]
        requests = [_metric(r.metrics, "http_requests") for r in results]
        tokens = [_metric(r.metrics, "token_fetches") for r in results]
        request_spread = _optional_spread(requests)
        token_spread = _optional_spread(tokens)
        statuses = sorted({r.status.value for r in results})
        rows.append(
            CheckRow(
                check_id=check_id,
                status="/".join(statuses),
                http_requests=request_spread.median if request_spread else None,
                token_fetches=token_spread.median if token_spread else None,
                duration=_spread([r.duration_ms for r in results]),
            )
        )
    reported_tokens: list[float | None] = []
    for sample in samples:
        values = [_metric(r.metrics, "token_fetches") for r in sample.report.results]
        present = [v for v in values if v is not None]
        # Each check reports the token fetches it caused (a fetch shared by several checks counts
        # once, for the check that sent it): the run's total is the sum.
        reported_tokens.append(sum(present) if present else None)
    rss = [s.measurement.max_rss_kb for s in samples]
    return S1Run(
        rtt_s=rtt_s,
        image=image,
        reference=_reference_run(reference),
        floor=_reference_run(floor),
        wall=_spread([s.measurement.wall_s for s in samples]),
        run_ms=_spread([s.report.duration_ms for s in samples]),
        rss_kb=_optional_spread([float(v) if v is not None else None for v in rss]),
        checks=tuple(rows),
        token_server_requests=_spread([s.token_server_requests for s in samples]),
        reported_token_fetches=_optional_spread(reported_tokens),
        wire_requests=_optional_spread([s.wire_requests for s in samples]),
        exit_codes=tuple(s.measurement.returncode for s in samples),
    )


def request_spans(stderr: str) -> list[RequestSpan]:
    """The ``oci.http.request`` events of a ``--log-format json --verbose`` run, as time spans.

    Times are milliseconds from the first request's start. An event is logged when its request
    ended; it carries ``duration_ms``, so the start is the event time minus the duration.
    """
    raw: list[tuple[float, float, str, str, int | None]] = []
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") != "oci.http.request":
            continue
        try:
            end = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp() * 1000
            duration = float(event["duration_ms"])
        except (KeyError, TypeError, ValueError):
            continue
        parts = urlsplit(str(event.get("url", "")))
        target = parts.path or "/"
        scope = parse_qs(parts.query).get("scope")
        if "service" in parse_qs(parts.query):
            target = f"token ({', '.join(scope) if scope else 'no scope'})"
        status = event.get("status")
        raw.append(
            (
                end - duration,
                end,
                str(event.get("method", "?")),
                target,
                status if isinstance(status, int) else None,
            )
        )
    if not raw:
        return []
    origin = min(start for start, *_ in raw)
    return [
        RequestSpan(start_ms=start - origin, end_ms=end - origin, method=method, target=target, status=status)
        for start, end, method, target, status in raw
    ]


def s1_timeline(bench: BenchRegistry, rtt_s: float, tag: str | None = None) -> Timeline:
    """One ``--verbose --log-format json`` run at ``rtt_s``: which requests ran when (not timed)."""
    argv = [*doctor_executable(), "--tag", "registry", "--format", "json"]
    argv += ["--verbose", "--log-format", "json"]
    env = bench.doctor_env(OCI__TestTag=tag) if tag else bench.doctor_env()
    bench.set_rtt(rtt_s)
    try:
        measurement = run_measured(argv, env=env, rss=False, timeout=120, cwd=bench.workdir)
    finally:
        bench.set_rtt(0.0)
    _parse_report(measurement)
    spans = request_spans(measurement.stderr)
    if not spans:
        raise BenchError(
            f"the --verbose run logged no oci.http.request events; stderr: {_tail(measurement.stderr)}"
        )
    return Timeline.of(rtt_s, spans)


def run_s1(
    bench: BenchRegistry,
    *,
    rtts: Sequence[float] = (0.0, 0.050),
    repeat: int = 5,
    rss: bool = True,
    warmup: bool = True,
    timeline: bool = True,
    images: Sequence[tuple[str, str]] = S1_IMAGES,
    reference: bool = True,
    floor: bool = True,
    progress: Progress = _quiet,
) -> S1Result:
    """``doctor --tag registry --format json`` ``repeat`` times per image and RTT (the registry must
    be seeded with :func:`seed_s1`), each run followed by the reference client doing the same probes
    and then (``floor``) by the reference importing the chosen dependencies first (:func:`floor_argv`).

    Everything is interleaved (per round: each image at each RTT, doctor, the reference, the floor), so
    a change in machine load during the scenario hits every figure alike instead of biasing the
    differences and ratios between them. With ``timeline``, one more run of the last image at the
    largest RTT logs every request (:func:`s1_timeline`); it is not part of the statistics.
    """
    if repeat < 1:
        raise BenchError(f"repeat must be >= 1, got {repeat}")
    if not rtts or not images:
        raise BenchError("no RTT or no image to measure")
    argv = [*doctor_executable(), "--tag", "registry", "--format", "json"]
    envs = {label: bench.doctor_env(OCI__TestTag=tag) for label, tag in images}
    references = {label: reference_argv(bench, tag) for label, tag in images}
    floors = {label: floor_argv(ref) for label, ref in references.items()} if floor else {}
    keys = [(label, rtt) for label, _ in images for rtt in rtts]
    samples: dict[tuple[str, float], list[_S1Sample]] = {key: [] for key in keys}
    ref_samples: dict[tuple[str, float], list[_ReferenceSample]] = {key: [] for key in keys}
    floor_samples: dict[tuple[str, float], list[_ReferenceSample]] = {key: [] for key in keys}
    try:
        if warmup:
            bench.set_rtt(0.0)
            for label, _ in images:
                _s1_once(bench, argv, envs[label], rss=False)
                if reference:
                    _reference_once(bench, references[label], envs[label])
                if reference and floor:
                    _reference_once(bench, floors[label], envs[label])
        for i in range(repeat):
            for label, _ in images:
                for rtt in rtts:
                    bench.set_rtt(rtt)
                    sample = _s1_once(bench, argv, envs[label], rss)
                    samples[(label, rtt)].append(sample)
                    note = ""
                    if reference:
                        measured = _reference_once(bench, references[label], envs[label])
                        ref_samples[(label, rtt)].append(measured)
                        note = f", reference {measured[0].wall_s * 1000:.0f} ms"
                    if reference and floor:
                        measured = _reference_once(bench, floors[label], envs[label])
                        floor_samples[(label, rtt)].append(measured)
                        note += f", reference + dependencies {measured[0].wall_s * 1000:.0f} ms"
                    progress(
                        f"S1 round {i + 1}/{repeat}, {label} image at {rtt * 1000:.0f} ms RTT: "
                        f"{sample.measurement.wall_s * 1000:.0f} ms wall, {sample.report.duration_ms} ms run"
                        + note
                    )
    finally:
        bench.set_rtt(0.0)
    runs = tuple(
        _s1_run(
            rtt,
            samples[(label, rtt)],
            image=label,
            reference=ref_samples[(label, rtt)],
            floor=floor_samples[(label, rtt)],
        )
        for label, _ in images
        for rtt in rtts
    )
    phases = None
    if timeline:
        label, tag = images[-1]
        progress(f"S1 phases, {label} image at 0 ms RTT")
        phases = replace(s1_phases(bench, tag, runs=min(repeat, 3)), image=label)
    spans = None
    if timeline and max(rtts) > 0:
        label, tag = images[-1]
        progress(f"S1 request timeline, {label} image at {max(rtts) * 1000:.0f} ms RTT (one --verbose run)")
        spans = replace(s1_timeline(bench, max(rtts), tag), image=label)
    return S1Result(runs=runs, timeline=spans, phases=phases)


#: The other auth modes of the depth target: (devtools registry mode, the runs' image label).
S1_AUTH_MODES: tuple[tuple[str, str], ...] = (
    ("htpasswd-tls", "signed, htpasswd+TLS"),
    ("open", "signed, open"),
)


def run_s1_modes(
    workdir: Path,
    *,
    rtts: Sequence[float] = (0.0, 0.050),
    repeat: int = 3,
    modes: Sequence[tuple[str, str]] = S1_AUTH_MODES,
    progress: Progress = _quiet,
) -> tuple[S1Run, ...]:
    """S1 for the signed image on an htpasswd+TLS and an open registry (each behind its proxy).

    Same measurement as :func:`run_s1` (doctor, then the reference client, interleaved per RTT);
    the runs are labelled ``"signed, <mode>"`` so they sit next to the token registry's.
    """
    runs: list[S1Run] = []
    for mode, label in modes:
        with start_bench_registry(workdir / mode, mode=mode) as bench:
            seed_s1(bench)
            progress(f"S1 on the {mode} registry")
            result = run_s1(
                bench,
                rtts=rtts,
                repeat=repeat,
                images=(("signed", "signed"),),
                timeline=False,
                progress=progress,
            )
        runs += [replace(run, image=label) for run in result.runs]
    return tuple(runs)


# -- S2 ------------------------------------------------------------------------------------------

S2_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("doctor --version", ("--version",)),
    ("doctor --help", ("--help",)),
    ("doctor list", ("list",)),
)


def run_s2(
    *,
    repeat: int = 5,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    progress: Progress = _quiet,
) -> S2Result:
    """Start-up times, every command, the ``python -c pass`` baseline and the floor of ``--help``
    and ``list`` (``python -c "import pluggy, stevedore"``, :data:`LISTING_DEPENDENCIES`) measured
    in the same loop.

    ``cwd`` should be a directory without a ``doctor.yaml`` (doctor reads one from the working
    directory), so the machine's own configuration does not change what is measured.
    """
    if repeat < 1:
        raise BenchError(f"repeat must be >= 1, got {repeat}")
    doctor = doctor_executable()
    floor_code = f"import {', '.join(LISTING_DEPENDENCIES)}"
    commands: list[tuple[str, list[str]]] = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("floor", [sys.executable, "-c", floor_code]),
    ]
    commands += [(label, [*doctor, *args]) for label, args in S2_COMMANDS]
    samples: dict[str, list[float]] = {label: [] for label, _ in commands}
    for round_number in range(repeat + 1):  # round 0 is the warm-up
        for label, argv in commands:
            measurement = run_measured(argv, env=env, timeout=60, cwd=cwd)
            if measurement.returncode != 0:
                raise BenchError(
                    f"'{label}' exited with {measurement.returncode}: {_tail(measurement.stderr)}"
                )
            if round_number:
                samples[label].append(measurement.wall_s)
        if round_number:
            progress(f"S2 round {round_number}/{repeat}")
    baseline = _spread(samples.pop("python -c pass"))
    floor = _spread(samples.pop("floor"))
    profiles: dict[str, list[tuple[str, float]]] = {}
    for label, args in S2_COMMANDS:
        if args == ("--version",):
            continue
        try:
            profiles[label] = import_profile([*doctor, *args], env=env, cwd=cwd)
        except BenchError as exc:
            progress(f"S2 import profile of '{label}' failed: {exc}")
    return S2Result(
        baseline=baseline,
        commands={label: _spread(values) for label, values in samples.items()},
        import_profiles=profiles,
        floor=floor,
    )


# -- S3 ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Fixture:
    """What :func:`seed_s3` pushed: the subject to discover and how many referrers it has."""

    repository: str
    subject: PushedImage
    tags: int
    cosign_tags: int
    index_entries: int

    @property
    def expected_referrers(self) -> int:
        """Index entries plus the subject's own cosign-style tags (``.sig``, ``.att``, ``.sbom``)."""
        return self.index_entries + 3


def _fake_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def seed_s3(
    bench: BenchRegistry,
    *,
    repository: str = "bench/referrers",
    tags: int = 10_000,
    cosign_tags: int = 300,
    index_entries: int = 300,
    workers: int = 16,
    progress: Progress = _quiet,
) -> S3Fixture:
    """Fill ``repository`` for S3 (straight to the registry, no delay).

    * the subject image, tagged ``subject``;
    * ``tags`` unrelated tags (``unrelated-00000`` ...);
    * ``cosign_tags`` cosign-style tags ``sha256-<hex>.sig/.att/.sbom``: the subject's three plus
      those of other (made-up) subjects, so discovery has to pick the subject's out of the listing;
    * a tag-schema index (tag ``sha256-<subject hex>``) of ``index_entries`` referrer artifacts,
      each a real manifest with ``subject`` pushed by digest.
    """
    if cosign_tags < 3 or cosign_tags % 3:
        raise BenchError(f"cosign_tags must be a positive multiple of 3 (sig/att/sbom), got {cosign_tags}")
    registry = bench.registry
    subject = push_image(registry, repository, "subject")
    progress(f"S3 seeding: {tags} unrelated tags")
    push_many_tags(registry, repository, tags, subject, workers=workers)
    others = [_fake_digest(f"bench-cosign-subject-{i}") for i in range(cosign_tags // 3 - 1)]
    progress(f"S3 seeding: {cosign_tags} cosign-style tags, a tag-schema index of {index_entries} referrers")
    kinds = (SIGNATURE_ARTIFACT, SBOM_ARTIFACT, ATTESTATION_ARTIFACT)

    def referrer(i: int) -> Descriptor:
        # A payload of its own per referrer: identical blobs uploaded concurrently race in distribution.
        return push_referrer(
            registry,
            repository,
            subject,
            kinds[i % len(kinds)],
            annotations={"bench.index": str(i)},
            payload=f'{{"bench.referrer": {i}}}'.encode(),
        )

    # The first referrer goes alone: it uploads the shared empty config blob, which concurrent
    # uploads of the same digest would race on (distribution then rejects the manifest).
    descriptors = [referrer(0)] if index_entries else []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        subjects = [subject.digest, *others]
        list(pool.map(lambda digest: push_cosign_tags(registry, repository, digest), subjects))
        descriptors += pool.map(referrer, range(1, index_entries))
    push_tag_schema_index(registry, repository, subject.digest, descriptors)
    total = len(registry.http().tags(repository))
    return S3Fixture(
        repository=repository,
        subject=subject,
        tags=total,
        cosign_tags=cosign_tags,
        index_entries=index_entries,
    )


def _parse_referrers(measurement: Measurement) -> dict[str, Any]:
    try:
        data = json.loads(measurement.stdout)
    except ValueError as exc:
        raise BenchError(
            f"'{' '.join(measurement.argv)}' (exit {measurement.returncode}) did not print JSON; "
            f"stderr: {_tail(measurement.stderr)}"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("referrers"), list):
        raise BenchError(f"referrers output has no 'referrers' list: {_tail(measurement.stdout, 300)}")
    return data


def run_s3(
    bench: BenchRegistry,
    fixture: S3Fixture,
    *,
    rtt_s: float = 0.050,
    repeat: int = 5,
    rss: bool = True,
    warmup: bool = True,
    progress: Progress = _quiet,
) -> S3Result:
    """``doctor oci referrers <proxy>/<repository>:subject --format json`` at ``rtt_s``."""
    if repeat < 1:
        raise BenchError(f"repeat must be >= 1, got {repeat}")
    image = f"{bench.host}/{fixture.repository}:subject"
    argv = [*doctor_executable(), "oci", "referrers", image, "--format", "json"]
    env = bench.doctor_env()
    walls: list[float] = []
    base_walls: list[float] = []
    rss_values: list[float | None] = []
    requests: list[float] = []
    tokens: list[float] = []
    found: list[int] = []
    methods: set[str] = set()
    codes: list[int] = []
    reference_walls: dict[float, list[_ReferenceSample]] = {}
    try:
        if warmup:
            bench.set_rtt(0.0)
            _parse_referrers(run_measured(argv, env=env, timeout=300, cwd=bench.workdir))
        for i in range(repeat):
            # A 0 ms run in every round: the difference to it is the network part of the wall time.
            bench.set_rtt(0.0)
            base = run_measured(argv, env=env, timeout=300, cwd=bench.workdir)
            _parse_referrers(base)
            base_walls.append(base.wall_s)
            bench.set_rtt(rtt_s)
            bench.reset_counters()
            before = bench.registry_proxy.stats.http_requests
            measurement = run_measured(argv, env=env, rss=rss, timeout=300, cwd=bench.workdir)
            data = _parse_referrers(measurement)
            requests.append(bench.registry_proxy.stats.http_requests - before)
            tokens.append(bench.token_requests())
            walls.append(measurement.wall_s)
            rss_values.append(float(measurement.max_rss_kb) if measurement.max_rss_kb is not None else None)
            found.append(len(data["referrers"]))
            methods.add(str(data.get("method")))
            codes.append(measurement.returncode)
            _s3_reference(bench, fixture, rtt_s, reference_walls)
            progress(
                f"S3 round {i + 1}/{repeat}: {measurement.wall_s * 1000:.0f} ms at "
                f"{rtt_s * 1000:.0f} ms RTT, "
                f"{base.wall_s * 1000:.0f} ms at 0 ms, {len(data['referrers'])} referrers"
            )
    finally:
        bench.set_rtt(0.0)
    return S3Result(
        rtt_s=rtt_s,
        tags=fixture.tags,
        expected_referrers=fixture.expected_referrers,
        wall=_spread(walls),
        base_wall=_spread(base_walls),
        rss_kb=_optional_spread(rss_values),
        referrers_found=min(found) if len(set(found)) == 1 else None,
        requests=_spread(requests).median,
        token_requests=_spread(tokens).median,
        method="/".join(sorted(methods)),
        exit_codes=tuple(codes),
        reference={
            rtt: run
            for rtt, samples in reference_walls.items()
            if (run := _reference_run(samples)) is not None
        },
    )


def _s3_reference(
    bench: BenchRegistry, fixture: S3Fixture, rtt_s: float, into: dict[float, list[_ReferenceSample]]
) -> None:
    """The reference client's ``--referrers`` run at 0 ms and at ``rtt_s``, right after doctor's."""
    argv = [*reference_argv(bench, "subject"), "--referrers"]
    argv[argv.index("--repository") + 1] = fixture.repository
    for rtt in (0.0, rtt_s):
        bench.set_rtt(rtt)
        into.setdefault(rtt, []).append(_reference_once(bench, argv, bench.doctor_env()))
    bench.set_rtt(0.0)
