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

The package: :mod:`.parser` (one argparse parser, a sub-parser per command), :mod:`.commands`
(one module per command), :mod:`.output` (format, colour, the atomic report file),
:mod:`.cancel` (signals cancel async work), :mod:`.exitcodes`.

Import cost matters here: ``doctor --version`` imports only :mod:`doctor_core._version`, and
``doctor --help`` and ``doctor list`` neither pydantic nor structlog nor httpx nor any check module
(plugins give their checks and settings models as import strings). Everything heavy is imported
inside the functions that need it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, NoReturn

from doctor_core._version import __version__
from doctor_core.cli.exitcodes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, exit_code_for
from doctor_core.cli.output import choose_format, wants_color, write_report_file

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "choose_format",
    "exit_code_for",
    "main",
    "run_cli",
    "stella_main",
    "wants_color",
    "write_report_file",
]


def main() -> None:
    """Console script ``doctor``."""
    _pause_collector()
    _exit(run_cli(sys.argv[1:]))


def stella_main() -> None:
    """Console script ``stella``: ``stella doctor ...`` behaves exactly like ``doctor ...``."""
    _pause_collector()
    _exit(run_cli(sys.argv[1:], prog="stella"))


_collector_paused = False


def _pause_collector() -> None:
    """No cyclic garbage collection while the console script starts up (issue 16).

    Start-up (imports, plugins, the parser, the configuration) leaves ~33,000 tracked objects
    and almost no garbage (under 600 unreachable objects when the checks start): the collector's
    ~70 passes over them were 12-19 ms of a cold ``doctor --tag registry`` run (``gc.callbacks``).
    :func:`startup_done` freezes what start-up allocated and turns the collector back on before
    checks or a plugin command run; a command that never gets there (``list``, ``--help``, a
    usage error) is short and exits through :func:`_exit`. Only the console scripts do this:
    :func:`run_cli` in-process (tests, embedders) leaves the collector alone.
    """
    import gc

    global _collector_paused
    if gc.isenabled():
        gc.disable()
        _collector_paused = True


def startup_done() -> None:
    """Checks or a plugin command are about to run: resume collecting, start-up objects frozen.

    A no-op unless a console script paused the collector (:func:`_pause_collector`).
    """
    import gc

    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


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
    from doctor_core.cli.parser import ParserExit

    try:
        return _dispatch(argv, env, out, err, tuple(plugins), load_entrypoints, prog)
    except ParserExit as exc:
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


def _wants_version(argv: Sequence[str]) -> bool:
    """``--version`` before any command word: answered before anything else is imported."""
    for token in argv:
        if token == "--version":
            return True
        if not token.startswith("-"):
            return False
    return False


def _dispatch(
    argv: list[str],
    environ: Mapping[str, str],
    out: IO[str],
    err: IO[str],
    plugins: tuple[object, ...],
    load_entrypoints: bool,
    prog: str,
) -> int:
    from doctor_core.api import Doctor
    from doctor_core.cli import commands
    from doctor_core.cli.parser import Context, Parser, add_common_options, build_parser

    # The options deciding which plugins load come first: the plugins then give the commands,
    # the configuration flags and the formats the full parser knows.
    pre_parser = Parser(prog=prog, add_help=False, context=Context(out, err))
    add_common_options(pre_parser, top=True)
    pre, _rest = pre_parser.parse_known_args(argv)
    doctor = Doctor(
        config_file=pre.config,
        environ=environ,
        plugins=plugins,
        load_entrypoints=load_entrypoints,
        disable_plugins=pre.disable_plugin,
        strict_plugins=pre.strict_plugins,
    )
    context = Context(out, err, doctor.config_flags())
    context.environ = environ
    context.argv = argv
    parser, _ = build_parser(doctor, context, prog)
    ns = parser.parse_args(argv)
    return commands.dispatch(doctor, ns, context)
