"""``python -m bench.run`` (``make bench``): run S1..S4, print the table and write bench/RESULTS.md.

One registry serves every scenario: Debian's ``docker-registry`` in token-auth mode, its token
server, and a latency proxy in front of each (see :mod:`bench.environment`). Each measurement is
repeated ``--repeat`` times (default 5) after a warm-up run; medians and min-max are reported.

A scenario that cannot run (``docker-registry`` missing, a command crashing) is recorded in
RESULTS.md as "not measured" with the reason; the other scenarios still run. The exit status is 0
when every requested scenario was measured (targets missed or not), 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.environment import clean_env, start_bench_registry
from bench.measure import BenchError, Machine
from bench.results import Results, judge, render_markdown
from bench.scenarios import run_s1, run_s1_modes, run_s2, run_s3, seed_s1, seed_s3
from doctor_core.redaction import redact

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH_DIR / "RESULTS.md"
DEFAULT_WORKDIR = BENCH_DIR / ".work"
SCENARIOS = ("S1", "S2", "S3", "S4")


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _scenarios(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"choose from {', '.join(SCENARIOS)} (comma-separated), got {text!r}"
        )
    return chosen


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="doctor benchmarks: S1 full run, S2 start-up, S3 referrers at scale, S4 memory.",
    )
    add = parser.add_argument
    add("--repeat", type=_positive, default=7, help="measured runs per measurement (default 7)")
    add("--scenarios", type=_scenarios, default=SCENARIOS, help="e.g. S1,S2 (default: all)")
    add("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown file to write")
    add("--no-write", action="store_true", help="print the table only, do not write --output")
    add("--workdir", type=Path, default=DEFAULT_WORKDIR, help="registry storage (deleted afterwards)")
    add("--tags", type=_positive, default=10_000, help="S3: unrelated tags (default 10000)")
    add("--cosign-tags", type=_positive, default=300, help="S3: cosign-style tags (default 300)")
    add("--index-entries", type=_positive, default=300, help="S3: tag-schema index size (default 300)")
    add("--rtt-ms", type=float, default=50.0, help="the slow RTT in ms (default 50)")
    add("--token-only", action="store_true", help="S1: skip the htpasswd+TLS and open registries")
    return parser


def collect(args: argparse.Namespace) -> Results:
    """Run the chosen scenarios; failures become ``Results.skipped`` entries, not exceptions."""
    results = Results(machine=Machine.detect(), repeat=args.repeat)
    scenarios: tuple[str, ...] = args.scenarios
    rss = True  # peak RSS comes from os.wait4: always available
    if "S4" in scenarios and not {"S1", "S3"} & set(scenarios):
        scenarios = (*scenarios, "S1", "S3")
    if "S2" in scenarios:
        _progress("S2 start-up")
        try:
            args.workdir.mkdir(parents=True, exist_ok=True)
            results.s2 = run_s2(
                repeat=args.repeat,
                env=clean_env(pycache=args.workdir / "pycache"),
                cwd=args.workdir,
                progress=_progress,
            )
        except Exception as exc:  # recorded as "not measured"; the run goes on
            results.skipped["S2"] = _reason(exc)
    if not {"S1", "S3", "S4"} & set(scenarios):
        return results
    rtt = args.rtt_ms / 1000
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        with start_bench_registry(args.workdir) as bench:
            results.registry_version = _registry_version()
            if "S1" in scenarios or "S4" in scenarios:
                _progress(f"S1 full run at 0 and {args.rtt_ms:g} ms RTT")
                try:
                    seed_s1(bench)
                    results.s1 = run_s1(
                        bench, rtts=(0.0, rtt), repeat=args.repeat, rss=rss, progress=_progress
                    )
                    if not args.token_only:
                        modes = run_s1_modes(
                            args.workdir / "modes", rtts=(0.0, rtt), repeat=args.repeat, progress=_progress
                        )
                        results.s1 = dataclasses.replace(results.s1, runs=(*results.s1.runs, *modes))
                except Exception as exc:  # recorded as "not measured"; the run goes on
                    results.skipped["S1"] = _reason(exc)
            if "S3" in scenarios or "S4" in scenarios:
                _progress("S3 referrer discovery at scale")
                try:
                    started = time.perf_counter()
                    fixture = seed_s3(
                        bench,
                        tags=args.tags,
                        cosign_tags=args.cosign_tags,
                        index_entries=args.index_entries,
                        progress=_progress,
                    )
                    _progress(f"S3 seeded {fixture.tags} tags in {time.perf_counter() - started:.1f} s")
                    results.s3 = run_s3(
                        bench, fixture, rtt_s=rtt, repeat=args.repeat, rss=rss, progress=_progress
                    )
                except Exception as exc:  # recorded as "not measured"; the run goes on
                    results.skipped["S3"] = _reason(exc)
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return results


def _reason(exc: Exception) -> str:
    """One redacted line for RESULTS.md; the traceback goes to stderr for whoever runs the bench."""
    traceback.print_exception(exc, file=sys.stderr)
    text = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))[:600]


def _registry_version() -> str:
    binary = shutil.which("docker-registry")
    if binary is None:
        return "docker-registry"
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "docker-registry"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "docker-registry"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rtt_ms <= 0:
        print("error: --rtt-ms must be positive", file=sys.stderr)
        return 2
    results = collect(args)
    targets = judge(results)
    markdown = render_markdown(results, targets)
    print(markdown)
    if not args.no_write:
        args.output.write_text(markdown)
        _progress(f"wrote {args.output}")
    failed = [s for s in args.scenarios if s in results.skipped]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
