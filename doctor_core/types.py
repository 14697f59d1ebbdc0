"""The objects a plugin hands to the core through the hooks in :mod:`doctor_core.hookspecs`.

They are plain dataclasses: the core validates them when it collects them and reports a plugin
whose contribution is malformed, so a plugin author gets a clear message naming the problem.

Keeping these small and import-cheap matters: every plugin module imports this file at start-up,
including for ``doctor list``. Nothing here imports pydantic: the report models are only named in
annotations, and a plugin's settings model can be given as an import string
(:attr:`ConfigSection.model`) that the core resolves only when the configuration is validated.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from doctor_core.definitions import CheckDefinition

if TYPE_CHECKING:
    from pydantic import BaseModel

    from doctor_core.models import CheckOutcome, Report

T = TypeVar("T")

#: A check's body: ``async def run(ctx) -> CheckOutcome`` (preferred) or a plain function, which
#: the engine runs in a worker thread (and therefore cannot interrupt on timeout).
CheckFunction = Callable[["CheckContext"], "Awaitable[CheckOutcome] | CheckOutcome"]


@dataclass(frozen=True)
class Check:
    """A check a plugin contributes: its definition plus how to run it.

    ``run`` may be the function itself or an import string ``"package.module:function"``. Use the
    string form so that ``doctor list`` and ``doctor --help`` never import the check's module and
    its heavy dependencies: the engine imports it only when the check is selected to run.
    """

    definition: CheckDefinition
    run: CheckFunction | str
    #: Optional: the targets to run this check for, found in the plugin's configuration (a
    #: function of ``ctx.config`` returning ``doctor_core.targets.Target`` objects, or its
    #: ``"module:function"`` import string). See :mod:`doctor_core.targets`.
    targets: Callable[[Any], Any] | str | None = None

    def resolve(self) -> CheckFunction:
        """The callable behind :attr:`run`, importing it if it was given as a string."""
        if not isinstance(self.run, str):
            return self.run
        if not is_import_string(self.run):
            raise ValueError(f"check {self.definition.check_id}: run={self.run!r} is not 'module:function'")
        target = import_object(self.run)
        if not callable(target):
            raise TypeError(f"check {self.definition.check_id}: {self.run!r} is not callable")
        return target  # type: ignore[no-any-return]


class SharedResources(Protocol):
    """Per-run objects shared by all checks (for example one HTTP client per registry)."""

    async def get(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """The object stored under ``key``, created once per run by awaiting ``factory()``.

        Concurrent callers with the same key wait for the same creation. If the object has an
        ``aclose()`` or ``close()`` method, the engine calls it when the run ends, after every
        check has finished; in reverse order of creation.
        """
        ...


@dataclass
class CheckContext:
    """What the engine gives a running check.

    ``config`` is the validated model of the plugin's configuration section, for a check run per
    target that target's configuration; ``None`` when the plugin declared no section, or several
    (then each is in ``sections``, by name). ``sections`` holds every validated section of the
    plugin by name. ``log`` is a structlog logger bound to the check id; it is silent
    unless the user asked for ``--verbose``. ``secrets`` lets a check register values it learned
    at run time (a token, a password read from a helper) so that every output redacts them.
    """

    definition: CheckDefinition
    config: Any
    shared: SharedResources
    log: Any
    secrets: Callable[[str], None]
    timeout_s: float
    #: The target this run of the check is for (see :mod:`doctor_core.targets`), else ``None``.
    target: str | None = None
    #: Every validated configuration section of the check's plugin, by section name.
    sections: Mapping[str, Any] = field(default_factory=dict)

    #: When the engine stops waiting for this check (``time.monotonic()``): its start plus
    #: ``timeout_s``, or the run's deadline if that is earlier. ``None`` outside the engine.
    deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds until :attr:`deadline` (``<= 0`` once passed; ``None`` when there is none).

        Bound waits, retries and per-request timeouts by it: at the deadline the engine cancels
        the check, gives its cleanup a short grace and then abandons it (see docs/writing-plugins.md).
        Library code without the context calls :func:`doctor_core.deadlines.time_left`.
        """
        if self.deadline is None:
            return None
        import time

        return self.deadline - time.monotonic()

    def outcome(self, status: Any, message: str, **kwargs: Any) -> CheckOutcome:
        """Shorthand for building this check's :class:`CheckOutcome`."""
        from doctor_core.models import CheckOutcome

        return CheckOutcome(status=status, message=message, **kwargs)


@dataclass(frozen=True)
class Reporter:
    """An output format (``--format NAME``).

    ``render`` turns a finished report into the exact text to write (to stdout, or to the file
    given with ``--output``). ``machine_readable`` formats are never mixed with progress output,
    colour or banners. ``verbose`` asks for evidence and remediation where the format has a
    human layout; ``color`` is True only when writing to a terminal that wants colour.

    ``file_extension`` (without the dot) is how ``--output FILE`` infers the format when
    ``--format`` is not given, and what an explicit ``--format`` is checked against.

    Output hygiene: unless ``exact_text`` is True, ``render`` receives the report with every text
    that came from a check or a plugin neutralised (:func:`doctor_core.neutralize`: control and
    bidi characters shown escaped), so a hostile registry message cannot drive the terminal or
    forge a line. Set ``exact_text`` only for a format that escapes every string itself (JSON).
    """

    name: str
    description: str
    render: Callable[[Report, RenderOptions], str]
    machine_readable: bool = False
    file_extension: str = "txt"
    exact_text: bool = False


@dataclass(frozen=True)
class RenderOptions:
    """How the user asked for a report to be rendered.

    ``fail_on`` is the ``--fail-on`` policy (``"fail"`` or ``"warn"``): a format with a notion of
    failure must count as failures exactly the results that make the run fail, so that it agrees
    with the exit code. The report handed to ``render`` already has ``summary.fail_on`` and
    ``summary.failed`` decided under this policy (``summary.fails_result(status)`` tells whether a
    result is one of them).
    """

    verbose: bool = False
    color: bool = False
    title: str = "Doctor Checks Summary"
    fail_on: str = "fail"


@dataclass(frozen=True)
class ConfigFlag:
    """A command-line flag that sets one key of a plugin's section (``--insecure`` -> ``OCI.Insecure``).

    The flag is added to ``doctor`` and to every plugin command. A flag given on the command line
    overrides the environment and the file.
    """

    flag: str
    key: str
    help: str
    value: Any = True


@dataclass(frozen=True)
class ConfigKey:
    """One key of a configuration section, described without importing the section's model.

    ``doctor --help`` lists every installed section's keys as environment variables
    (``OCI__RegistryUrl``) from these, so help stays free of pydantic and of the plugin's
    settings module. ``name`` is the key as users write it (the model's field name or alias).
    """

    name: str
    description: str = ""


@dataclass(frozen=True)
class ConfigSection:
    """A plugin's top-level configuration section.

    ``name`` is the YAML key and the environment prefix (``OCI`` -> ``OCI__RegistryUrl``).
    ``model`` is the pydantic model validating the section; its field names (or aliases) are the
    keys users write, matched case-insensitively. Unknown keys produce a warning, not an error.

    ``model`` may be the class itself or an import string ``"package.module:ClassName"``. Prefer
    the string: the plugin module then does not import its settings module (and pydantic) when it
    is loaded, so ``doctor list`` and ``doctor --help`` stay fast. The core imports the model only
    when the configuration is read (a run, a plugin command, an embedder asking for a section); a
    string that cannot be imported or does not name a pydantic model is reported as a problem of
    the plugin that declared the section.

    ``keys`` is the cheap description of the model's keys for ``doctor --help`` (see
    :class:`ConfigKey`). Give it when ``model`` is an import string; it must name exactly the
    model's keys (:meth:`model_keys` gives them, for a test that keeps the two equal). When it is
    empty and ``model`` is a class, help describes the model's fields directly.
    """

    name: str
    model: type[BaseModel] | str
    description: str = ""
    flags: tuple[ConfigFlag, ...] = ()
    keys: tuple[ConfigKey, ...] = ()

    def help_keys(self) -> tuple[ConfigKey, ...]:
        """The keys ``doctor --help`` lists: :attr:`keys`, else those of a model class already
        given (never imports anything; empty for an import string without :attr:`keys`)."""
        if self.keys or isinstance(self.model, str):
            return self.keys
        return model_keys(self.model) if is_model_class(self.model) else ()

    def model_keys(self) -> tuple[ConfigKey, ...]:
        """The keys of the model (imported if given as a string), with their descriptions."""
        return model_keys(self.resolve_model())

    def resolve_model(self) -> type[BaseModel]:
        """The model class behind :attr:`model`, importing it if it was given as a string.

        :raises ValueError: the string is not ``"module:ClassName"``.
        :raises ImportError: the module cannot be imported or has no such attribute (the cause
            is chained and named in the message).
        :raises TypeError: the object is not a pydantic ``BaseModel`` subclass.
        """
        target: Any = self.model
        if isinstance(target, str):
            if not is_import_string(target):
                raise ValueError(f"config section {self.name!r}: model={target!r} is not 'module:ClassName'")
            try:
                target = import_object(target)
            except Exception as exc:
                raise ImportError(
                    f"config section {self.name!r}: cannot import model {self.model!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        if not is_model_class(target):
            raise TypeError(
                f"config section {self.name!r}: model {self.model!r} is not a pydantic BaseModel subclass"
            )
        return target  # type: ignore[no-any-return]


def model_keys(model: type[BaseModel]) -> tuple[ConfigKey, ...]:
    """A pydantic model's keys as users write them (alias, else field name), in field order."""
    return tuple(
        ConfigKey(info.alias or name, info.description or "") for name, info in model.model_fields.items()
    )


def is_import_string(value: object) -> bool:
    """Whether ``value`` has the shape ``"package.module:attribute"`` (nothing is imported)."""
    if not isinstance(value, str):
        return False
    module, _, attr = value.partition(":")
    return bool(module.strip() and attr.strip())


def import_object(spec: str) -> Any:
    """The object an import string ``"package.module:attr.sub"`` names: the one way plugins defer
    imports (check functions, settings models). Raises what importing or the lookup raises."""
    module_name, _, attr = spec.partition(":")
    target: Any = importlib.import_module(module_name.strip())
    for part in attr.strip().split("."):
        target = getattr(target, part)
    return target


def is_model_class(obj: object) -> bool:
    """Whether ``obj`` is a pydantic ``BaseModel`` subclass, without importing pydantic.

    A class can only derive from ``BaseModel`` once pydantic has been imported, so when pydantic
    is not in ``sys.modules`` the answer is no, and finding that out costs nothing.
    """
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(obj, type) and issubclass(obj, pydantic.BaseModel)


class CommandApp(Protocol):
    """What a plugin command gets to reach the engine: configuration, logging, secrets."""

    def section(self, name: str) -> Any:
        """The validated configuration section ``name`` (raises ``ConfigError`` when invalid)."""
        ...

    @property
    def log(self) -> Any: ...

    @property
    def stdout(self) -> IO[str]:
        """Where the command writes its output (the CLI's stdout; captured by the test kit)."""
        ...

    @property
    def stderr(self) -> IO[str]:
        """Where the command writes errors and warnings."""
        ...

    def register_secret(self, value: str) -> None: ...

    def redact(self, text: str) -> str: ...


@dataclass(frozen=True)
class Command:
    """A command group a plugin adds to the CLI (``doctor oci referrers IMAGE``).

    ``configure`` receives the group's own ``argparse`` parser and adds arguments or
    sub-parsers. ``run`` receives the parsed arguments and a :class:`CommandApp`, writes its
    output, and returns the exit code (0 ok, 1 the operation failed, 2 usage or configuration).
    It may be a coroutine function. A :class:`doctor_core.errors.UsageError` or
    :class:`doctor_core.errors.ConfigError` raised from it becomes a message and exit 2.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, CommandApp], int | Awaitable[int]]
