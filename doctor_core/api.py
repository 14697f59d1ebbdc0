"""The embedding API: :class:`Doctor`, the same engine the ``doctor`` command uses.

::

    from doctor_core import Doctor

    doctor = Doctor({"OCI": {"RegistryUrl": "localhost:5000"}})
    report = doctor.run(tags=["registry"])          # or: await doctor.arun(tags=["registry"])
    print(doctor.render(report, "text"))

Plugins are loaded when the object is built; the configuration is read on first use (so that the
CLI can add its flags first) and each plugin section is validated before any of that plugin's
checks starts: an invalid section raises :class:`~doctor_core.errors.ConfigError` and nothing runs.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from doctor_core.config import ENV_FILE_VARIABLE, Configuration, locate_file, read_file
from doctor_core.defaults import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_S
from doctor_core.definitions import CheckDefinition
from doctor_core.errors import UsageError
from doctor_core.plugins import OwnedCommand, PluginInfo, PluginManager, env_flag, split_names
from doctor_core.redaction import redact, register_secret
from doctor_core.selection import select
from doctor_core.types import Check, ConfigFlag, RenderOptions, Reporter

if TYPE_CHECKING:
    from doctor_core.models import PluginProblem, Report
    from doctor_core.targets import PlannedCheck

DISABLE_ENV = "DOCTOR_DISABLE_PLUGINS"
STRICT_ENV = "DOCTOR_STRICT_PLUGINS"
IMPORT_TIMEOUT_ENV = "DOCTOR_PLUGIN_IMPORT_TIMEOUT"
DEFAULT_TITLE = "Doctor Checks Summary"


def title_for(tags: Iterable[str]) -> str:
    """``Registry Checks Summary`` for exactly one selected tag, else ``Doctor Checks Summary``."""
    distinct = sorted({tag.strip().lower() for tag in tags if tag.strip()})
    if len(distinct) == 1:
        words = distinct[0].replace("-", " ").replace("_", " ").replace(".", " ").split()
        return " ".join(word.capitalize() for word in words) + " Checks Summary"
    return DEFAULT_TITLE


def title_of(report: Report) -> str:
    """The title of a report: :func:`title_for` its ``--tag`` selection, unless checks were picked
    by id (``--check``), which gives ``Doctor Checks Summary``. The CLI and :meth:`Doctor.render`
    both use this, so a library render of a ``tags=["registry"]`` run reads like the CLI's."""
    if report.selection.check_ids:
        return DEFAULT_TITLE
    return title_for(report.selection.tags)


def _import_timeout(value: str | None) -> float:
    """``$DOCTOR_PLUGIN_IMPORT_TIMEOUT`` in seconds; unset, empty or not a positive number: the default."""
    from doctor_core.plugins import DEFAULT_IMPORT_TIMEOUT_S

    try:
        seconds = float(value) if value else DEFAULT_IMPORT_TIMEOUT_S
    except ValueError:
        return DEFAULT_IMPORT_TIMEOUT_S
    return seconds if seconds > 0 else DEFAULT_IMPORT_TIMEOUT_S


def _section_of(dotted_key: str) -> str:
    return dotted_key.partition(".")[0].lower()


class Doctor:
    """Plugins, configuration and the runner, for one application or one CLI invocation.

    :param config: a mapping of sections (``{"OCI": {...}}``); when given, no file is searched for
        unless ``config_file`` names one.
    :param config_file: a YAML file (else ``$DOCTOR_CONFIG``, else ``./doctor.yaml``).
    :param environ: environment for ``SECTION__Key`` values, ``DOCTOR_*`` switches and secret
        references (default ``os.environ``).
    :param plugins: extra in-process plugin objects (modules, instances with ``@hookimpl`` methods).
    :param load_entrypoints: load installed plugins (entry point group ``doctor.plugins``).
    :param disable_plugins: entry point names never imported (also ``$DOCTOR_DISABLE_PLUGINS``).
    :param strict_plugins: any plugin problem raises :class:`~doctor_core.errors.PluginError`
        (also ``$DOCTOR_STRICT_PLUGINS=1``).
    :param flags: dotted key -> value overrides (``{"OCI.Insecure": True}``), the highest layer.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        plugins: Iterable[object] = (),
        load_entrypoints: bool = True,
        disable_plugins: Iterable[str] = (),
        strict_plugins: bool = False,
        flags: Mapping[str, Any] | None = None,
    ) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._config_data = config
        self._config_file = config_file
        self._flags: dict[str, Any] = dict(flags or {})
        self._configuration: Configuration | None = None
        self._plugins = PluginManager(
            plugins=plugins,
            load_entrypoints=load_entrypoints,
            disable=(*disable_plugins, *split_names(self._environ.get(DISABLE_ENV))),
            strict=strict_plugins or env_flag(self._environ.get(STRICT_ENV)),
            import_timeout_s=_import_timeout(self._environ.get(IMPORT_TIMEOUT_ENV)),
        )

    # ------------------------------------------------------------ configuration
    def apply_flags(self, flags: Mapping[str, Any]) -> None:
        """Add dotted-key overrides; only before the configuration is first read."""
        if self._configuration is not None:
            raise RuntimeError("apply_flags() must be called before the configuration is read")
        self._flags.update(flags)

    @property
    def config_file_named(self) -> bool:
        """Whether the user named a configuration file (``config_file`` or ``$DOCTOR_CONFIG``),
        rather than relying on ``./doctor.yaml`` being found."""
        return self._config_file is not None or bool(self._environ.get(ENV_FILE_VARIABLE))

    def check_config_file(self) -> Path | None:
        """Find and parse the configuration file without validating any section.

        For commands that do not need the configuration (``doctor list``) but should still tell
        the user their file is broken. No plugin model is imported. Returns the file, if any.

        :raises ConfigError: the file named by ``config_file`` / ``$DOCTOR_CONFIG`` is missing, or
            the file found is unreadable, not YAML, or not a mapping.
        """
        path = locate_file(self._config_file, self._environ, have_mapping=self._config_data is not None)
        if path is not None:
            read_file(path)
        return path

    @property
    def config(self) -> Configuration:
        """The merged configuration (read on first access; may raise ``ConfigError``).

        This is where the sections' models are imported (a model may be given as an import
        string). A section whose model cannot be used is a plugin problem (``PluginError`` under
        strict plugins); the configuration then goes on without that section.
        """
        if self._configuration is None:
            declared = self._plugins.config_sections()
            models = self._plugins.section_models()
            sections = {
                name: dataclasses.replace(owned.section, model=models[name])
                for name, owned in declared.items()
                if name in models
            }
            # Flags of a section left out (its problem is recorded) are dropped with it.
            broken = {name.lower() for name in declared if name not in models}
            flags = {key: value for key, value in self._flags.items() if _section_of(key) not in broken}
            self._configuration = Configuration(
                sections,
                data=self._config_data,
                config_file=self._config_file,
                environ=self._environ,
                flags=flags,
            )
        return self._configuration

    def section(self, name: str) -> Any:
        """The validated configuration section ``name``."""
        return self.config.section(name)

    def config_flags(self) -> list[tuple[str, ConfigFlag]]:
        """``(section name, flag)`` for every flag declared by a configuration section."""
        return [
            (name, flag)
            for name, owned in self._plugins.config_sections().items()
            for flag in owned.section.flags
        ]

    # ------------------------------------------------------------------ plugins
    @property
    def plugin_manager(self) -> PluginManager:
        return self._plugins

    @property
    def reporters(self) -> dict[str, Reporter]:
        return self._plugins.reporters()

    @property
    def commands(self) -> dict[str, OwnedCommand]:
        return self._plugins.commands()

    @property
    def plugin_problems(self) -> tuple[PluginProblem, ...]:
        return self._plugins.problems

    def plugins(self) -> list[PluginInfo]:
        return self._plugins.plugins()

    def add_plugin(self, plugin: object, name: str | None = None) -> str | None:
        """Register one more in-process plugin (for example a lifecycle listener)."""
        return self._plugins.register(plugin, name)

    # ---------------------------------------------------------------- selection
    def select(self, tags: Iterable[str] = (), check_ids: Iterable[str] = ()) -> list[Check]:
        return select(self._plugins.checks(), tags=tags, check_ids=check_ids)

    def checks(self, tags: Iterable[str] = (), check_ids: Iterable[str] = ()) -> list[CheckDefinition]:
        """Definitions of the selected checks (all when nothing is given), in discovery order."""
        return [check.definition for check in self.select(tags, check_ids)]

    # ---------------------------------------------------------------------- run
    def _sections_for(self, checks: Iterable[Check]) -> dict[str, dict[str, Any]]:
        """The validated sections of the plugins owning ``checks``, by plugin and section name
        (raises before anything runs)."""
        by_plugin: dict[str, dict[str, Any]] = {}
        wanted = {check.definition.plugin for check in checks}
        for name, owned in self._plugins.config_sections().items():
            # A section whose model could not be imported is a recorded plugin problem, not in
            # the configuration: its plugin's checks get no configuration.
            if owned.plugin in wanted and name in self.config.section_names:
                by_plugin.setdefault(owned.plugin, {})[name] = self.config.section(name)
        return by_plugin

    def plan(
        self, tags: Iterable[str] = (), check_ids: Iterable[str] = (), targets: Iterable[str] = ()
    ) -> list[PlannedCheck]:
        """The runs the selection makes: each selected check once per target its plugin declares
        (:mod:`doctor_core.targets`), only the named ``targets`` when given. Validates the
        configuration of the selected checks' plugins.

        :raises UsageError: an unknown tag, check id or target (with close matches).
        :raises ConfigError: an invalid configuration section.
        """
        from doctor_core.engine import plugin_configs
        from doctor_core.targets import plan, select_targets

        checks = self.select(tags, check_ids)
        return select_targets(plan(checks, plugin_configs(self._sections_for(checks))), targets)

    async def arun(
        self,
        tags: Iterable[str] = (),
        check_ids: Iterable[str] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - per-check timeout, not this call's
        concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float | None = None,
        targets: Iterable[str] = (),
    ) -> Report:
        """Run the selected checks and return the report; cancellation returns a partial report."""
        from doctor_core.engine import Engine, RunOptions, plugin_configs

        try:
            options = RunOptions(
                timeout=timeout,
                concurrency=concurrency,
                deadline=DEFAULT_DEADLINE_S if deadline is None else deadline,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        checks = self.select(tags, check_ids)
        sections = self._sections_for(checks)
        from doctor_core.logs import get_logger
        from doctor_core.models import Selection
        from doctor_core.targets import plan, select_targets

        planned = select_targets(plan(checks, plugin_configs(sections)), targets)
        engine = Engine(self._plugins, sections, get_logger)
        report = await engine.run(planned, options)
        selection = Selection(tags=tuple(tags), check_ids=tuple(check_ids))
        return report.model_copy(update={"selection": selection})

    def run(
        self,
        tags: Iterable[str] = (),
        check_ids: Iterable[str] = (),
        timeout: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float | None = None,
        targets: Iterable[str] = (),
    ) -> Report:
        """Synchronous :meth:`arun`; not callable from inside a running event loop.

        Like ``asyncio.run``, except that a check that ignores cancellation cannot hold it at the
        end (:func:`doctor_core.isolation.run_bounded`).
        """
        import asyncio

        from doctor_core.isolation import run_bounded

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return run_bounded(self.arun(tags, check_ids, timeout, concurrency, deadline, targets))
        raise RuntimeError(
            "Doctor.run() cannot be called from a running event loop; use 'await doctor.arun(...)'"
        )

    # ------------------------------------------------------------------- output
    def render(
        self,
        report: Report,
        format: str = "text",
        verbose: bool = False,
        color: bool = False,
        title: str | None = None,
        fail_on: str = "fail",
    ) -> str:
        """The report in output format ``format`` (any registered reporter).

        ``title`` defaults to :func:`title_of` the report. ``fail_on`` is the ``--fail-on``
        policy (``"fail"`` or ``"warn"``): the reporter gets the report with ``summary.failed``
        decided under it, and :class:`RenderOptions` naming it. Unless the reporter declares
        ``exact_text``, it gets :meth:`Report.printable` (outside text neutralised).
        """
        if fail_on not in ("fail", "warn"):
            raise UsageError(f"fail_on must be 'fail' or 'warn', not {fail_on!r}")
        reporters = self.reporters
        reporter = reporters.get(format)
        if reporter is None:
            raise UsageError(
                f"unknown output format {format!r}; available: {', '.join(sorted(reporters)) or 'none'}"
            )
        options = RenderOptions(
            verbose=verbose,
            color=color,
            title=title_of(report) if title is None else title,
            fail_on=fail_on,
        )
        shown = report.under(fail_on)  # type: ignore[arg-type]
        if not reporter.exact_text:
            shown = shown.printable()
        return reporter.render(shown, options)


class DoctorCommandApp:
    """What a plugin command receives (:class:`~doctor_core.types.CommandApp`).

    Beyond the protocol it carries ``stdout`` and ``stderr``: the streams the CLI writes to (the
    process's own, or the in-process test kit's), so a command's output is captured with the rest.
    """

    def __init__(
        self, doctor: Doctor, log: Any, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None
    ) -> None:
        self._doctor = doctor
        self._log = log
        self.stdout: IO[str] = stdout if stdout is not None else sys.stdout
        self.stderr: IO[str] = stderr if stderr is not None else sys.stderr

    def section(self, name: str) -> Any:
        return self._doctor.section(name)

    @property
    def log(self) -> Any:
        return self._log

    def register_secret(self, value: str) -> None:
        register_secret(value)

    def redact(self, text: str) -> str:
        return redact(text)
