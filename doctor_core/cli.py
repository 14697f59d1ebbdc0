"""The ``doctor`` and ``stella doctor`` commands: parse, build a :class:`~doctor_core.api.Doctor`, render.

Commands (the first positional word; none means "run checks")::

    doctor [--tag T]... [--check ID]... [--format F] [--output FILE] ...   run checks
    doctor list [--tag T]... [--format text|json]                           installed checks
    doctor plugins [--format text|json]                                    plugins and their problems
    doctor schema                                                          JSON schema of the report
    doctor <plugin command> ...                                            e.g. doctor oci referrers

Exit codes: 0 nothing failed; 1 a check failed or errored (or warned, with ``--fail-on warn``);
2 usage, configuration or (strict) plugin errors; 130 interrupted (Ctrl-C / SIGTERM), after
printing the checks that finished.

Import cost matters here: ``doctor --version`` imports only :mod:`doctor_core._version`, and
``doctor --help`` and ``doctor list`` neither pydantic nor structlog nor httpx nor any check module
(plugins give their checks and settings models as import strings). Everything heavy is imported
inside the functions that need it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

from doctor_core._version import __version__

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from doctor_core.api import Doctor
    from doctor_core.models import Report, Summary
    from doctor_core.types import Reporter

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

BUILTIN_COMMANDS = ("list", "plugins", "schema", "run")
#: Options that take a value: needed to find the command word without parsing.
_VALUE_OPTIONS = frozenset(
    {
        "--tag",
        "--check",
        "--format",
        "--output",
        "-o",
        "--fail-on",
        "--timeout",
        "--deadline",
        "--concurrency",
        "--config",
        "--log-format",
        "--disable-plugin",
        "--target",
    }
)

EPILOG_EXIT = (
    "exit codes: 0 nothing failed; 1 a check failed or errored (or warned with --fail-on warn); "
    "2 usage, configuration or plugin errors (--strict-plugins); 130 interrupted (Ctrl-C/SIGTERM), "
    "after printing what finished."
)


class _ParserExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse writing to the given streams and raising instead of calling ``sys.exit``."""

    stdout: IO[str] = sys.stdout
    stderr: IO[str] = sys.stderr

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            target = self.stderr if file is sys.stderr or file is self.stderr else self.stdout
            target.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.stderr.write(message)
        raise _ParserExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _wants_version(argv: Sequence[str]) -> bool:
    for token in argv:
        if token == "--version":
            return True
        if not token.startswith("-"):
            return False
    return False


def _command_word(argv: Sequence[str]) -> tuple[str | None, int]:
    """The first positional word (skipping option values) and its index."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            return None, -1
        if token.startswith("-"):
            index += 2 if token in _VALUE_OPTIONS else 1
            continue
        return token, index
    return None, -1


class _Streams:
    def __init__(self, stdout: IO[str], stderr: IO[str]) -> None:
        self.out = stdout
        self.err = stderr

    def parser(self, **kwargs: Any) -> _Parser:
        parser = _Parser(**kwargs)
        parser.stdout = self.out
        parser.stderr = self.err
        return parser


def _common_parent(streams: _Streams, flags: Iterable[tuple[str, Any]]) -> tuple[_Parser, dict[str, str]]:
    """Options shared by every command, plus the configuration flags of the plugins' sections."""
    parent = streams.parser(add_help=False)
    group = parent.add_argument_group("common options")
    group.add_argument(
        "--config", metavar="FILE", help="YAML configuration file (else $DOCTOR_CONFIG, else ./doctor.yaml)"
    )
    group.add_argument(
        "--disable-plugin",
        metavar="NAME",
        action="append",
        default=[],
        help="do not load this plugin (repeatable; also $DOCTOR_DISABLE_PLUGINS=a,b)",
    )
    group.add_argument(
        "--strict-plugins",
        action="store_true",
        help="treat any plugin problem as an error (also $DOCTOR_STRICT_PLUGINS=1)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="evidence and remediation in the text report; debug log on stderr",
    )
    group.add_argument(
        "--log-format",
        choices=("console", "json"),
        default="console",
        help="log lines on stderr as console text or JSON lines",
    )
    group.add_argument(
        "--no-color", action="store_true", help="no colours (also $NO_COLOR; $FORCE_COLOR forces them)"
    )
    destinations: dict[str, str] = {}
    if flags:
        plugin_group = parent.add_argument_group("plugin configuration flags")
        for index, (section, flag) in enumerate(flags):
            key = flag.key if flag.key.lower().startswith(section.lower() + ".") else f"{section}.{flag.key}"
            dest = f"config_flag_{index}"
            destinations[dest] = key
            try:
                plugin_group.add_argument(
                    flag.flag,
                    dest=dest,
                    action="store_const",
                    const=flag.value,
                    default=None,
                    help=f"{flag.help} (sets {key})",
                )
            except argparse.ArgumentError:
                del destinations[dest]  # clashes with a built-in option: the built-in wins
    return parent, destinations


def _run_options(parser: _Parser, reporters: Iterable[str]) -> None:
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="run the checks with this tag (repeatable: any of them)",
    )
    parser.add_argument(
        "--check", action="append", default=[], metavar="ID", help="run this check (repeatable; exact id)"
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help="only the checks run for this configured target, e.g. a registry's Name (repeatable)",
    )
    parser.add_argument(
        "--format",
        default=None,
        metavar="NAME",
        help=f"output format: {', '.join(sorted(reporters))} (default: from --output's extension, else text)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE ('-': stdout); stdout then gets only the summary line",
    )
    parser.add_argument(
        "--fail-on",
        choices=("warn", "fail"),
        default="fail",
        help="lowest status giving exit code 1 (default: fail; error always does)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="timeout of every check (default: its estimated duration x 3)",
    )
    parser.add_argument(
        "--deadline", type=_positive_float, metavar="SECONDS", help="deadline of the whole run (default: 300)"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="checks running at the same time, per target when checks run per target (default: 8)",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")


def main() -> None:
    """Console script ``doctor``."""
    _exit(run_cli(sys.argv[1:]))


def stella_main() -> None:
    """Console script ``stella``: ``stella doctor ...`` behaves exactly like ``doctor ...``."""
    _exit(run_cli(sys.argv[1:], prog="stella"))


def _exit(code: int) -> NoReturn:
    """``sys.exit(code)`` without a cyclic garbage collection on the way out; ``os._exit`` once
    plugin code was abandoned or left a thread running.

    An abandoned check or import may hold a non-daemon thread or an ``atexit`` handler, and a
    plugin may leave a non-daemon thread behind, any of which would keep the process alive after
    the report was written (Python joins non-daemon threads at exit); the report is out, so exit now.

    Otherwise, at exit the interpreter collects cyclic garbage while it tears the modules down: with a
    run's ~45,000 tracked objects (httpx, pydantic, the plugins) that took 100-350 ms of a full run on
    a busy 2-core machine -- as long as the checks themselves (bench/ANALYSIS.md). Freezing them first
    (``gc.freeze``) skips that work; objects are still released by reference counting, and what only
    the collector would have found is reclaimed with the process. Only the console scripts do this:
    :func:`run_cli` in-process (tests, embedders) leaves the collector alone.
    """
    import contextlib
    import gc
    import threading

    from doctor_core.isolation import abandoned

    main_thread = threading.main_thread()
    lingering = any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate())
    if abandoned() or lingering:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        os._exit(code)
    gc.freeze()
    sys.exit(code)


def run_cli(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    plugins: Iterable[object] = (),
    load_entrypoints: bool = True,
    prog: str = "doctor",
) -> int:
    """Run the command line in-process and return the exit code (the console scripts call this)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    env = os.environ if environ is None else environ
    argv = list(argv)
    if prog == "stella":
        if not argv or argv[0] != "doctor":
            err.write(
                "usage: stella doctor [options] [command]\n"
                "stella: error: the only command is 'doctor' (try 'stella doctor --help')\n"
            )
            return EXIT_USAGE
        argv, prog = argv[1:], "stella doctor"
    if _wants_version(argv):
        out.write(f"doctor {__version__}\n")
        return EXIT_OK
    verbose = "-v" in argv or "--verbose" in argv
    try:
        return _dispatch(argv, env, _Streams(out, err), tuple(plugins), load_entrypoints, prog)
    except _ParserExit as exc:
        return exc.code
    except KeyboardInterrupt:
        err.write("doctor: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:
        from doctor_core.errors import DoctorError
        from doctor_core.printable import neutralize
        from doctor_core.redaction import describe_exception, redact

        # An error's text may quote a plugin or a registry: one line, nothing interpreted.
        if isinstance(exc, DoctorError):
            err.write(f"doctor: error: {neutralize(redact(str(exc)))}\n")
            return exc.exit_code if exc.exit_code else EXIT_USAGE
        described = neutralize(describe_exception(exc))
        if verbose:
            import traceback

            lines = redact(traceback.format_exc()).splitlines()
            err.write("".join(neutralize(line) + "\n" for line in lines))
            err.write(f"doctor: internal error: {described}\n")
        else:
            err.write(f"doctor: internal error: {described}; run with --verbose for details\n")
        return EXIT_USAGE


def _dispatch(
    argv: list[str],
    environ: Mapping[str, str],
    streams: _Streams,
    plugins: tuple[object, ...],
    load_entrypoints: bool,
    prog: str,
) -> int:
    from doctor_core.api import Doctor
    from doctor_core.errors import UsageError

    pre_parser, _ = _common_parent(streams, ())
    pre, _rest = pre_parser.parse_known_args(argv)
    doctor = Doctor(
        config_file=pre.config,
        environ=environ,
        plugins=plugins,
        load_entrypoints=load_entrypoints,
        disable_plugins=pre.disable_plugin,
        strict_plugins=pre.strict_plugins,
    )
    commands = doctor.commands
    parent, destinations = _common_parent(streams, doctor.config_flags())
    word, index = _command_word(argv)
    if word is not None and word not in BUILTIN_COMMANDS and word not in commands:
        import difflib

        known = [*BUILTIN_COMMANDS, *commands]
        close = difflib.get_close_matches(word, known, n=3)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise UsageError(f"unknown command {word!r}{hint}; commands: {', '.join(known)}")
    rest = argv if word is None else argv[:index] + argv[index + 1 :]
    command = word or "run"
    if command in ("run",):
        parser = _run_parser(streams, parent, prog, doctor)
        return _cmd_run(doctor, parser.parse_args(rest), destinations, environ, streams)
    if command == "list":
        parser = streams.parser(
            prog=f"{prog} list", parents=[parent], description="List the installed checks."
        )
        parser.add_argument(
            "--tag", action="append", default=[], metavar="TAG", help="only checks with this tag"
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")
        return _cmd_list(doctor, parser.parse_args(rest), streams)
    if command == "plugins":
        parser = streams.parser(
            prog=f"{prog} plugins",
            parents=[parent],
            description="Show the loaded plugins and their problems.",
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")
        return _cmd_plugins(doctor, parser.parse_args(rest), streams)
    if command == "schema":
        parser = streams.parser(
            prog=f"{prog} schema",
            parents=[parent],
            description="Print the JSON schema of the report (--format json).",
        )
        parser.parse_args(rest)
        import json

        from doctor_core.models import report_json_schema

        streams.out.write(json.dumps(report_json_schema(), indent=2) + "\n")
        return EXIT_OK
    return _cmd_plugin(doctor, command, rest, parent, destinations, environ, streams, prog)


def _run_parser(streams: _Streams, parent: _Parser, prog: str, doctor: Doctor) -> _Parser:
    commands = [
        ("list", "list the installed checks"),
        ("plugins", "show the loaded plugins and their problems"),
        ("schema", "print the JSON schema of the report"),
        *((name, owned.command.help) for name, owned in sorted(doctor.commands.items())),
    ]
    listing = "\n".join(f"  {name:<10} {text}" for name, text in commands)
    parser = streams.parser(
        prog=prog,
        parents=[parent],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run diagnostic checks contributed by plugins and report the results.",
        epilog=f"commands:\n{listing}\n\n{_examples(prog, doctor)}\n\n{_environment(doctor)}\n\n"
        f"{EPILOG_EXIT}",
    )
    _run_options(parser, doctor.reporters)
    return parser


def _examples(prog: str, doctor: Doctor) -> str:
    """``examples:`` for ``--help``, naming an installed tag and check when there are some."""
    from collections import Counter

    definitions = doctor.checks()
    counts = Counter(tag for definition in definitions for tag in definition.tags)
    tag = counts.most_common(1)[0][0] if counts else "TAG"  # ties: the first seen
    check = next((d.check_id for d in definitions if tag in d.tags), "CHECK_ID")
    rows = [
        (f"{prog} list", "the installed checks, their tags and plugins"),
        (f"{prog} --tag {tag}", f"run the checks tagged {tag!r}"),
        (f"{prog} --check {check} --verbose", "one check, with evidence and remediation"),
        (f"{prog} --tag {tag} -o report.json", "JSON report (format from the extension)"),
        (f"{prog} --tag {tag} --format junit --fail-on warn -o doctor.xml", "CI: warnings fail the job"),
        (f"{prog} --format json -o - | jq .summary", "JSON on stdout"),
    ]
    return "examples:\n" + "\n".join(f"  {command}\n      {text}" for command, text in rows)


def _environment(doctor: Doctor) -> str:
    """``environment:`` for ``--help``: doctor's variables, then every installed section's keys.

    The keys come from each :class:`~doctor_core.types.ConfigSection` (``help_keys``): no
    settings model (and no pydantic) is imported to print help.
    """
    from doctor_core.config import ENV_FILE_VARIABLE
    from doctor_core.printable import neutralize
    from doctor_core.types import ConfigKey

    rows = [
        (ENV_FILE_VARIABLE, "configuration file (default: ./doctor.yaml)"),
        ("DOCTOR_DISABLE_PLUGINS", "entry point names never loaded (a,b)"),
        ("DOCTOR_STRICT_PLUGINS=1", "any plugin problem is an error (exit 2)"),
        ("NO_COLOR=1", "no colours (an empty value is ignored)"),
        ("FORCE_COLOR=1", "colours even when stdout is not a terminal"),
    ]
    for name, owned in sorted(doctor.plugin_manager.config_sections().items()):
        try:
            keys = [key for key in owned.section.help_keys() if isinstance(key, ConfigKey)]
        except Exception:  # a malformed contribution must not break --help
            keys = []
        if not keys:
            rows.append((f"{name}__<Key>", owned.section.description or f"keys of the {name} section"))
        rows += [(f"{name}__{key.name}", str(key.description)) for key in keys]
    rows = [(neutralize(variable), neutralize(text)) for variable, text in rows]  # plugin-provided
    width = max(len(variable) for variable, _ in rows)
    return "environment (a plugin key: SECTION__Key=value, case-insensitive):\n" + "\n".join(
        f"  {variable:<{width}}  {text}".rstrip() for variable, text in rows
    )


def _flag_values(ns: argparse.Namespace, destinations: Mapping[str, str]) -> dict[str, Any]:
    return {
        key: getattr(ns, dest) for dest, key in destinations.items() if getattr(ns, dest, None) is not None
    }


def _prepare(
    doctor: Doctor, ns: argparse.Namespace, destinations: Mapping[str, str], streams: _Streams
) -> None:
    """Logging, flag overrides, and the configuration warnings on stderr."""
    from doctor_core import logs

    if ns.verbose or ns.log_format == "json":
        logs.configure(verbose=ns.verbose, fmt=ns.log_format, stream=streams.err)
    else:
        logs.reset()
    doctor.apply_flags(_flag_values(ns, destinations))
    for warning in doctor.config.warnings:
        streams.err.write(f"doctor: warning: {warning}\n")


def _isatty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def exit_code_for(summary: Summary, fail_on: str) -> int:
    """1 when anything failed or errored (or warned under ``--fail-on warn``), else 0.

    The rule is :func:`doctor_core.models.run_fails`, the same one deciding ``summary.failed``
    in every report, so the output and the exit code agree.
    """
    from doctor_core.models import run_fails

    return EXIT_FAILED if run_fails(summary, fail_on) else EXIT_OK  # type: ignore[arg-type]


def wants_color(environ: Mapping[str, str], *, no_color_flag: bool, isatty: bool) -> bool:
    """Whether a human report written to the terminal gets colour.

    ``--no-color`` wins; then ``NO_COLOR`` set to a non-empty value disables colour (no-color.org:
    an empty ``NO_COLOR`` does not); then ``FORCE_COLOR`` set and not ``0``/``false`` enables it
    even when stdout is not a terminal (a CI log); else colour exactly when stdout is a terminal.
    """
    if no_color_flag or environ.get("NO_COLOR"):
        return False
    force = environ.get("FORCE_COLOR")
    if force and force.strip().lower() not in ("0", "false"):
        return True
    return isatty


#: Formats whose extension wins when several reporters claim the same one.
_BUILTIN_FORMATS = ("text", "json", "junit", "markdown")


def choose_format(requested: str | None, output: str | None, reporters: Mapping[str, Reporter]) -> str:
    """The format to render: ``--format``, or the one ``--output FILE``'s extension names.

    Writing to a file, an extension claimed by a reporter (:attr:`Reporter.file_extension`:
    ``.json`` json, ``.xml`` junit, ``.md`` markdown, ``.txt`` text, a plugin's own) decides
    the format when ``--format`` is not given, and must agree with it when it is. A file whose
    extension no reporter claims needs ``--format``. Anything else is a usage error: a report
    is never silently written in a format its name contradicts.
    """
    from doctor_core.errors import UsageError

    if output is None or output == "-":
        return requested or "text"
    suffix = os.path.splitext(output)[1].lower().lstrip(".")
    claimed = sorted(name for name, r in reporters.items() if suffix and r.file_extension.lower() == suffix)
    if len(claimed) > 1:
        builtin = [name for name in claimed if name in _BUILTIN_FORMATS]
        claimed = builtin if len(builtin) == 1 else claimed
    if requested is not None:
        if claimed and requested in reporters and requested not in claimed:
            raise UsageError(
                f"--format {requested} contradicts the output file {output!r} (.{suffix} is "
                f"{' or '.join(claimed)}); change --format or the file name"
            )
        return requested
    if len(claimed) == 1:
        return claimed[0]
    known = ", ".join(
        sorted({f".{r.file_extension} {name}" for name, r in reporters.items() if name in _BUILTIN_FORMATS})
    )
    if claimed:
        raise UsageError(
            f"the extension of {output!r} fits several formats ({', '.join(claimed)}); give --format"
        )
    raise UsageError(
        f"cannot tell the format of {output!r} from its extension; give --format (extensions: {known})"
    )


def write_report_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees a half-written report.

    The text goes to a temporary file in the same directory, is flushed to disk, and replaces
    ``path`` in one rename: an interrupted or failed write leaves the previous report intact.
    The new file keeps the old one's permissions (or gets the default ones under the umask). A
    symlink is followed; a path that is not a regular file (``/dev/stdout``, a FIFO) is written
    directly.

    :raises OSError: the directory is not writable, the disk is full, ...
    """
    import contextlib
    import stat
    import tempfile

    target = os.path.realpath(path)
    if os.path.exists(target) and not os.path.isfile(target):
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    if os.path.exists(target):
        mode = stat.S_IMODE(os.stat(target).st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    directory, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


async def _interruptible_run(doctor: Doctor, **kwargs: Any) -> Report:
    """``doctor.arun`` with SIGINT/SIGTERM cancelling it cleanly (partial report, interrupted=True)."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed = []
    if task is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, task.cancel)
            except (ValueError, NotImplementedError, RuntimeError):
                continue  # not the main thread, or no signal support: Ctrl-C raises KeyboardInterrupt
            installed.append(sig)
    try:
        return await doctor.arun(**kwargs)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _cmd_run(
    doctor: Doctor,
    ns: argparse.Namespace,
    destinations: Mapping[str, str],
    environ: Mapping[str, str],
    streams: _Streams,
) -> int:
    from doctor_core.errors import UsageError
    from doctor_core.isolation import run_bounded
    from doctor_core.progress import LiveProgress, wanted
    from doctor_core.reporters.text import overall_line, policy_line, problem_line

    _prepare(doctor, ns, destinations, streams)
    reporters = doctor.reporters
    fmt = choose_format(ns.format, ns.output, reporters)
    reporter = reporters.get(fmt)
    if reporter is None:
        raise UsageError(f"unknown output format {fmt!r}; available: {', '.join(sorted(reporters))}")
    to_file = ns.output is not None and ns.output != "-"
    doctor.checks(ns.tag, ns.check)  # usage errors before anything is shown
    if ns.target:
        doctor.plan(ns.tag, ns.check, ns.target)  # an unknown --target too
    if wanted(
        stderr=streams.err,
        stdout=streams.out,
        machine_readable=reporter.machine_readable,
        output_file=to_file,
    ):
        doctor.add_plugin(LiveProgress(streams.err), name="doctor_core.progress")
    report = run_bounded(
        _interruptible_run(
            doctor,
            tags=ns.tag,
            check_ids=ns.check,
            timeout=ns.timeout,
            concurrency=ns.concurrency,
            deadline=ns.deadline,
            targets=ns.target,
        )
    )
    color = (
        not to_file
        and not reporter.machine_readable
        and wants_color(environ, no_color_flag=ns.no_color, isatty=_isatty(streams.out))
    )
    text = doctor.render(report, fmt, verbose=ns.verbose, color=color, fail_on=ns.fail_on)
    if reporter.machine_readable:
        for problem in report.plugin_errors:
            streams.err.write(f"doctor: warning: {problem_line(problem)}\n")
    if to_file:
        try:
            write_report_file(ns.output, text)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {ns.output!r}: {exc.strerror or exc}") from None
        summary = report.under(ns.fail_on).summary
        streams.out.write(f"{overall_line(summary)} (report written to {ns.output})\n")
        policy = policy_line(summary)
        if policy is not None:
            streams.out.write(policy + "\n")
    else:
        streams.out.write(text if text.endswith("\n") else text + "\n")
    if report.interrupted:
        streams.err.write("doctor: interrupted; the report shows the checks that finished\n")
        return EXIT_INTERRUPTED
    return exit_code_for(report.summary, ns.fail_on)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _check_config_for_list(doctor: Doctor, streams: _Streams) -> None:
    """``doctor list`` needs no configuration, but a broken file must not go unnoticed.

    A file the user named (``--config``, ``$DOCTOR_CONFIG``) that is missing or malformed is an
    error (exit 2), as for a run. A malformed ``./doctor.yaml`` found by default is a warning:
    listing still works in a directory whose configuration is broken.
    """
    from doctor_core.errors import ConfigError

    try:
        doctor.check_config_file()
    except ConfigError as exc:
        if doctor.config_file_named:
            raise
        streams.err.write(
            f"doctor: warning: {exc} ('doctor list' does not need it; a run would stop here, exit 2)\n"
        )


def _cmd_list(doctor: Doctor, ns: argparse.Namespace, streams: _Streams) -> int:
    import json

    from doctor_core.reporters.text import problem_line
    from doctor_core.selection import NO_CHECKS_HINT

    _check_config_for_list(doctor, streams)
    definitions = doctor.checks(tags=ns.tag) if ns.tag else doctor.checks()
    for problem in doctor.plugin_problems:
        streams.err.write(f"doctor: warning: {problem_line(problem)}\n")
    if ns.format == "json":
        payload = [definition.to_dict() for definition in definitions]
        streams.out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    if not definitions:
        streams.out.write(NO_CHECKS_HINT[0].upper() + NO_CHECKS_HINT[1:] + ".\n")
        return EXIT_OK
    from doctor_core.printable import neutralize

    rows = [["CHECK", "SEVERITY", "DURATION", "PLUGIN", "TAGS"]]
    rows += [
        [d.check_id, d.default_severity.value, f"{d.estimated_duration_s:g}s", d.plugin, ", ".join(d.tags)]
        for d in definitions
    ]
    rows = [[neutralize(cell) for cell in row] for row in rows]
    streams.out.write("\n".join(_table(rows)) + "\n")
    return EXIT_OK


def _cmd_plugins(doctor: Doctor, ns: argparse.Namespace, streams: _Streams) -> int:
    import dataclasses
    import json

    # Collect every contribution first: registration problems and duplicate ids only surface
    # when the hooks are called, and this command exists to show all of them.
    doctor.checks()
    _ = doctor.reporters, doctor.commands
    doctor.plugin_manager.section_models()  # imports the sections' models: a broken one is a problem
    infos = doctor.plugins()
    problems = doctor.plugin_problems
    if ns.format == "json":
        payload = {
            "plugins": [dataclasses.asdict(info) for info in infos],
            "problems": [problem.model_dump(mode="json") for problem in problems],
        }
        streams.out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    from doctor_core.printable import neutralize

    rows = [["PLUGIN", "DISTRIBUTION", "VERSION", "SOURCE"]]
    rows += [[i.name, i.distribution or "-", i.version or "-", i.source] for i in infos]
    lines = _table([[neutralize(cell) for cell in row] for row in rows])
    if problems:
        lines += ["", "Problems:"]
        lines += [
            neutralize(
                f"- {p.plugin}"
                + (f" ({p.distribution})" if p.distribution else "")
                + f" at {p.stage}: {p.error}"
            )
            for p in problems
        ]
    streams.out.write("\n".join(lines) + "\n")
    return EXIT_OK


def _cmd_plugin(
    doctor: Doctor,
    name: str,
    rest: list[str],
    parent: _Parser,
    destinations: Mapping[str, str],
    environ: Mapping[str, str],
    streams: _Streams,
    prog: str,
) -> int:
    import asyncio
    import inspect

    from doctor_core.api import DoctorCommandApp
    from doctor_core.errors import PluginError
    from doctor_core.isolation import run_bounded
    from doctor_core.logs import get_logger
    from doctor_core.redaction import describe_exception

    owned = doctor.commands[name]
    parser = streams.parser(prog=f"{prog} {name}", parents=[parent], description=owned.command.help)
    try:
        owned.command.configure(parser)
    except Exception as exc:
        raise PluginError(
            f"command {name!r} of plugin {owned.plugin!r} could not set up its options: "
            f"{describe_exception(exc)}"
        ) from None
    ns = parser.parse_args(rest)
    _prepare(doctor, ns, destinations, streams)
    app = DoctorCommandApp(doctor, get_logger(command=name), stdout=streams.out, stderr=streams.err)
    value = owned.command.run(ns, app)
    if inspect.isawaitable(value):
        awaitable: Awaitable[int] = value

        async def waiter() -> Any:
            import signal

            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            installed = []
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
                except (ValueError, NotImplementedError, RuntimeError):
                    continue
                installed.append(sig)
            try:
                return await awaitable
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)

        try:
            value = run_bounded(waiter())
        except asyncio.CancelledError:
            streams.err.write("doctor: interrupted\n")
            return EXIT_INTERRUPTED
    if value is None:
        return EXIT_OK
    if isinstance(value, bool) or not isinstance(value, int):
        raise PluginError(f"command {name!r} returned {type(value).__name__}, expected an exit code")
    return value


if __name__ == "__main__":
    main()
