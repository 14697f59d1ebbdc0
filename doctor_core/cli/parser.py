"""The argument parser: one ``argparse`` parser with a sub-parser per command.

``doctor [options] [COMMAND]``: the first positional word names a command (``run``, ``list``,
``plugins``, ``schema`` or a plugin's command group); none means ``run``. argparse finds that word
itself, so no list of the options taking a value is kept beside the options.

Global options go where users put them. The common options (``--config``, ``--verbose``,
``--no-color``, the plugins' configuration flags, ...) are on the top-level parser and again on
every sub-parser, a plugin's nested ones included (``doctor oci referrers IMAGE --no-color``). On
the sub-parsers they default to :data:`argparse.SUPPRESS`, so a sub-parser never overwrites what
the top level parsed, and repeatable options given at both levels add up. The run options live on
the top level (``doctor --tag registry``) and on ``run``.

A plugin's command group is configured (its ``configure`` called) only when it is the command
given: a broken plugin command never breaks another command, ``--help`` included.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

from doctor_core._version import __version__
from doctor_core.cli.exitcodes import EXIT_USAGE
from doctor_core.defaults import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_S, DEFAULT_TIMEOUT_FACTOR

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from doctor_core.api import Doctor
    from doctor_core.plugins import OwnedCommand
    from doctor_core.types import ConfigFlag

#: Where the command word goes in the namespace: a name no plugin command would use for its own.
COMMAND_DEST = "doctor_command"


class ParserExit(Exception):
    """argparse finished (``--help``, a usage error): the exit code to return."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Context:
    """What every parser of one invocation shares: the streams, the argv, the plugins' flags."""

    def __init__(self, out: IO[str], err: IO[str], flags: Iterable[tuple[str, ConfigFlag]] = ()) -> None:
        self.out = out
        self.err = err
        self.environ: Mapping[str, str] = {}
        self.argv: list[str] = []
        self.flags = list(flags)
        #: ``dest -> configuration key`` of the plugins' flags that are on the parsers.
        self.destinations: dict[str, str] = {}


class Parser(argparse.ArgumentParser):
    """argparse writing to the invocation's streams and raising instead of calling ``sys.exit``;
    its sub-parsers (a plugin's too) get the common options."""

    def __init__(self, *args: Any, context: Context, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context
        #: Called once before help is formatted: help text that costs plugin calls is made here.
        self.before_help: Callable[[Parser], None] | None = None
        self.register("action", "parsers", SubCommands)

    def format_help(self) -> str:
        hook, self.before_help = self.before_help, None
        if hook is not None:
            hook(self)
        return super().format_help()

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            target = self.context.err if file is sys.stderr or file is self.context.err else self.context.out
            target.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.context.err.write(message)
        raise ParserExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.context.err)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def add_subparsers(self, **kwargs: Any) -> Any:
        action = super().add_subparsers(**kwargs)
        if isinstance(action, SubCommands):
            action.context = self.context
        return action

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if isinstance(action, SubCommands) and action.top_level and value not in action.choices:
            self._unknown_command(action, value)
        super()._check_value(action, value)

    def _unknown_command(self, action: SubCommands, word: str) -> NoReturn:
        """``doctor --newopt X`` is an unknown option (X may be its value); ``doctor lsit`` a
        mistyped command, with suggestions."""
        import difflib

        from doctor_core.errors import UsageError

        argv = self.context.argv
        before = argv[: argv.index(word)] if word in argv else []
        unknown = []
        for token in before:
            parsed = self._parse_optional(token) if token.startswith("-") else None
            if parsed is not None and parsed[0] is None:
                unknown.append(token)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join([*unknown, word])}")
        known = list(action.choices)
        close = difflib.get_close_matches(word, known, n=3)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise UsageError(f"unknown command {word!r}{hint}; commands: {', '.join(known)}")


if TYPE_CHECKING:
    _SubParsersBase = argparse._SubParsersAction[Parser]
else:
    _SubParsersBase = argparse._SubParsersAction


class SubCommands(_SubParsersBase):
    """Sub-parsers that get the common options, are configured when chosen, and merge into the
    parent's namespace without overwriting it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context: Context | None = None
        #: The top level's commands: an unknown word is doctor's unknown command, and a command's
        #: options (the common ones too) are added only when it is the one given (start-up cost).
        self.top_level = False
        self.on_select: dict[str, Callable[[Parser], None]] = {}
        #: Options of the parser holding these sub-commands that only some commands take.
        self.only_for: dict[argparse.Action, tuple[str, ...]] = {}

    def add_parser(self, name: str, **kwargs: Any) -> Parser:
        assert self.context is not None
        kwargs.setdefault("conflict_handler", "resolve")  # a plugin's own option wins over a common one
        parser = super().add_parser(name, context=self.context, **kwargs)
        if not self.top_level:
            add_common_options(parser, top=False)
        return parser

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, list)
        name, rest = values[0], values[1:]
        if self.dest is not argparse.SUPPRESS:
            setattr(namespace, self.dest, name)
        for action, commands in self.only_for.items():
            if name not in commands and getattr(namespace, action.dest, None) != action.default:
                parser.error(f"argument {'/'.join(action.option_strings)}: not an option of {name!r}")
        subparser = self._name_parser_map[name]
        if self.top_level and name in self.on_select:
            add_common_options(subparser, top=False)  # first: a plugin's own options win
        configure = self.on_select.pop(name, None)
        if configure is not None:
            configure(subparser)
        subnamespace, extras = subparser.parse_known_args(rest, None)
        for key, value in vars(subnamespace).items():
            current = getattr(namespace, key, None)
            if isinstance(value, list) and isinstance(current, list):
                value = [*current, *value]  # --tag a list --tag b: both
            setattr(namespace, key, value)
        if extras:
            unrecognized: list[str] = vars(namespace).setdefault(argparse._UNRECOGNIZED_ARGS_ATTR, [])
            unrecognized.extend(extras)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _default(value: Any, top: bool) -> Any:
    return value if top else argparse.SUPPRESS


def add_common_options(parser: Parser, *, top: bool) -> None:
    """Options of every command, plus the configuration flags of the plugins' sections."""
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--config",
        metavar="FILE",
        default=_default(None, top),
        help="YAML configuration file (else $DOCTOR_CONFIG, else ./doctor.yaml)",
    )
    group.add_argument(
        "--disable-plugin",
        metavar="NAME",
        action="append",
        default=_default([], top),
        help="do not load this plugin (repeatable; also $DOCTOR_DISABLE_PLUGINS=a,b)",
    )
    group.add_argument(
        "--strict-plugins",
        action="store_true",
        default=_default(False, top),
        help="treat any plugin problem as an error (also $DOCTOR_STRICT_PLUGINS=1)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=_default(False, top),
        help="evidence and remediation in the text report; debug log on stderr",
    )
    group.add_argument(
        "--log-format",
        choices=("console", "json"),
        default=_default("console", top),
        help="log lines on stderr as console text or JSON lines",
    )
    group.add_argument(
        "--no-color",
        action="store_true",
        default=_default(False, top),
        help="no colours (also $NO_COLOR; $FORCE_COLOR forces them)",
    )
    flags = parser.context.flags
    if not flags:
        return
    plugin_group = parser.add_argument_group("plugin configuration flags")
    for index, (section, flag) in enumerate(flags):
        key = flag.key if flag.key.lower().startswith(section.lower() + ".") else f"{section}.{flag.key}"
        dest = f"config_flag_{index}"
        if flag.flag in parser._option_string_actions:
            continue  # clashes with a built-in option (or a plugin's own): that one wins
        plugin_group.add_argument(
            flag.flag,
            dest=dest,
            action="store_const",
            const=flag.value,
            default=_default(None, top),
            help=f"{escape(flag.help)} (sets {key})",
        )
        parser.context.destinations[dest] = key


def add_run_options(parser: Parser, *, top: bool) -> list[argparse.Action]:
    """The options of a run (``doctor [run] --tag ...``); ``--format``'s help names the reporters
    only when help is shown (:func:`name_reporters`)."""
    group = parser.add_argument_group("run options")
    group.add_argument(
        "--tag",
        action="append",
        default=_default([], top),
        metavar="TAG",
        help="run the checks with this tag (repeatable: any of them)",
    )
    group.add_argument(
        "--check",
        action="append",
        default=_default([], top),
        metavar="ID",
        help="run this check (repeatable; exact id)",
    )
    group.add_argument(
        "--target",
        action="append",
        default=_default([], top),
        metavar="NAME",
        help="only the checks run for this configured target, e.g. a registry's Name (repeatable)",
    )
    group.add_argument(
        "--format",
        default=_default(None, top),
        metavar="NAME",
        help=_FORMAT_HELP,
    )
    group.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=_default(None, top),
        help="write the report to FILE ('-': stdout); stdout then gets only the summary line",
    )
    group.add_argument(
        "--fail-on",
        choices=("warn", "fail"),
        default=_default("fail", top),
        help="lowest status giving exit code 1 (default: fail; error always does)",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        default=_default(None, top),
        help=f"timeout of every check (default: its estimated duration x {DEFAULT_TIMEOUT_FACTOR:g})",
    )
    group.add_argument(
        "--deadline",
        type=positive_float,
        metavar="SECONDS",
        default=_default(None, top),
        help=f"deadline of the whole run (default: {DEFAULT_DEADLINE_S:g})",
    )
    group.add_argument(
        "--concurrency",
        type=positive_int,
        default=_default(DEFAULT_CONCURRENCY, top),
        metavar="N",
        help=f"checks running at the same time, per target when checks run per target "
        f"(default: {DEFAULT_CONCURRENCY})",
    )
    group.add_argument(
        "--version", action="version", version=f"doctor {__version__}", help="print the version and exit"
    )
    return [action for action in group._group_actions if action.dest != "version"]


_FORMAT_HELP = "output format: {} (default: from --output's extension, else text)"


def name_reporters(parser: Parser, reporters: Iterable[str]) -> None:
    """Fill the reporters' names into ``--format``'s help."""
    action = parser._option_string_actions.get("--format")
    if action is not None and action.help == _FORMAT_HELP:
        action.help = _FORMAT_HELP.format(escape(", ".join(sorted(reporters))))


def escape(text: str) -> str:
    """Text from a plugin, safe in an argparse help string (which expands ``%(...)s``)."""
    from doctor_core.printable import neutralize

    return neutralize(text).replace("%", "%%")


def build_parser(doctor: Doctor, context: Context, prog: str) -> tuple[Parser, SubCommands]:
    """The whole command line of this installation: built-in commands and the plugins' ones."""
    top = Parser(
        prog=prog,
        context=context,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run diagnostic checks contributed by plugins and report the results.",
    )
    add_common_options(top, top=True)
    run_only = add_run_options(top, top=True)

    def top_help(parser: Parser) -> None:
        from doctor_core.cli.helptext import help_epilog

        name_reporters(parser, doctor.reporters)
        parser.epilog = help_epilog(doctor, prog)

    top.before_help = top_help
    # The commands are listed in the epilog ("commands:"), the way the options are.
    commands = top.add_subparsers(dest=COMMAND_DEST, metavar="COMMAND", help=argparse.SUPPRESS, prog=prog)
    assert isinstance(commands, SubCommands)
    commands.top_level = True
    # A run option before another command is refused, except those that command also takes.
    takes = {"tag": ("run", "list"), "format": ("run", "list", "plugins")}
    for action in run_only:
        commands.only_for[action] = takes.get(action.dest, ("run",))

    def list_options(parser: Parser) -> None:
        parser.add_argument(
            "--tag",
            action="append",
            default=argparse.SUPPRESS,
            metavar="TAG",
            help="only checks with this tag",
        )
        parser.add_argument("--format", choices=("text", "json"), default=argparse.SUPPRESS)

    def plugins_options(parser: Parser) -> None:
        parser.add_argument("--format", choices=("text", "json"), default=argparse.SUPPRESS)

    def run_options(parser: Parser) -> None:
        add_run_options(parser, top=False)
        parser.before_help = lambda parser: name_reporters(parser, doctor.reporters)

    builtins: dict[str, tuple[str, Callable[[Parser], None]]] = {
        "list": ("List the installed checks.", list_options),
        "plugins": ("Show the loaded plugins and their problems.", plugins_options),
        "schema": ("Print the JSON schema of the report (--format json).", lambda parser: None),
        "run": ("Run diagnostic checks contributed by plugins and report the results.", run_options),
    }
    for name, (description, configure) in builtins.items():
        commands.add_parser(name, description=description)
        commands.on_select[name] = configure
    for name, owned in sorted(doctor.commands.items()):
        commands.add_parser(name, description=owned.command.help)
        commands.on_select[name] = _plugin_configure(name, owned)
    return top, commands


def _plugin_configure(name: str, owned: OwnedCommand) -> Callable[[Parser], None]:
    def configure(parser: Parser) -> None:
        from doctor_core.errors import PluginError
        from doctor_core.redaction import describe_exception

        try:
            owned.command.configure(parser)
        except Exception as exc:
            raise PluginError(
                f"command {name!r} of plugin {owned.plugin!r} could not set up its options: "
                f"{describe_exception(exc)}"
            ) from None

    return configure
