"""Every hook a doctor plugin can implement, documented where it is declared.

A plugin is any importable object (usually a module) registered through the entry point group
``doctor.plugins``::

    [project.entry-points."doctor.plugins"]
    my-plugin = "my_package.plugin"

and implements some of the hooks below, marked with :data:`doctor_core.hookimpl`. An
implementation may accept a subset of a hook's arguments, so arguments added to a hook later do
not break existing plugins.

Hooks that *contribute* things (checks, reporters, config sections, commands) return an iterable;
the core collects the contributions of all plugins and validates them. A hook that raises is
reported as a plugin problem (with the plugin's distribution) and the run goes on without that
contribution, unless ``--strict-plugins`` is set.

Implementations are called in plugin load order; ``tryfirst=True`` / ``trylast=True`` move one to the
front / back. Wrappers (``wrapper=True``, ``hookwrapper=True``) are refused with a plugin problem:
each implementation is called on its own so that its failures are attributed to its plugin.

Lifecycle hooks (``doctor_run_started`` ... ``doctor_run_finished``) are notifications for progress
displays and embedders. They are called in the engine's event loop and must not block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from doctor_core.definitions import CheckDefinition
    from doctor_core.models import CheckResult, Report
    from doctor_core.types import Check, Command, ConfigSection, Reporter

#: The project name used by pluggy markers. Part of the plugin contract.
PROJECT = "doctor"

_hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorator marking a hook implementation in a plugin.
hookimpl = pluggy.HookimplMarker(PROJECT)


class DoctorSpecs:
    """The hook specifications (a class, so that they read as one documented interface)."""

    # ---------------------------------------------------------------- discovery
    @_hookspec
    def doctor_add_checks(self) -> Iterable[Check]:
        """Contribute checks.

        Called once when plugins are loaded, also for ``doctor list``, so keep it cheap: build the
        definitions here and give :attr:`Check.run` as an import string so the check's module (and
        what it imports) is loaded only when the check runs.

        Check ids must be unique across all plugins; a duplicate is reported as a plugin problem
        naming both distributions and the later one is dropped.

        **Example**::

            @hookimpl
            def doctor_add_checks():
                yield Check(
                    CheckDefinition(check_id="check.example.dns", name="DNS resolution",
                                    default_severity=Severity.FAIL, tags=("network",),
                                    estimated_duration_s=2),
                    run="example_plugin.checks:check_dns",
                )

        :returns: an iterable of :class:`doctor_core.Check`.
        """
        return ()

    # ---------------------------------------------------------------- reporting
    @_hookspec
    def doctor_add_reporters(self) -> Iterable[Reporter]:
        """Contribute output formats, selectable with ``--format NAME``.

        The built-in ``text``, ``json``, ``junit`` and ``markdown`` formats are registered through
        this same hook. Names must be unique; a duplicate is reported and the later one dropped.

        **Example**::

            @hookimpl
            def doctor_add_reporters():
                yield Reporter(name="csv", description="One line per check",
                               render=lambda report, options: ...)

        :returns: an iterable of :class:`doctor_core.Reporter`.
        """
        return ()

    # ------------------------------------------------------------ configuration
    @_hookspec
    def doctor_add_config_sections(self) -> Iterable[ConfigSection]:
        """Declare the configuration section(s) this plugin owns.

        The core reads the YAML file and the environment (``SECTION__Key``), and validates the
        section with the plugin's pydantic model when a check or command first needs it. Errors
        name the key and the reason and end the run with exit code 2.

        Called when plugins are loaded, also for ``doctor list``: give the model as an import
        string so that its module (and pydantic) is imported only when the configuration is read.
        A string that cannot be imported or does not name a pydantic model is a plugin problem.

        **Example**::

            @hookimpl
            def doctor_add_config_sections():
                yield ConfigSection(name="NET", model="example_plugin.settings:NetSettings")

        :returns: an iterable of :class:`doctor_core.ConfigSection`.
        """
        return ()

    # ---------------------------------------------------------------------- CLI
    @_hookspec
    def doctor_add_commands(self) -> Iterable[Command]:
        """Contribute command groups to the CLI, e.g. ``doctor oci ...``.

        The name must not clash with a built-in command (``list``, ``plugins``, ``schema``,
        ``run``) or another plugin's command; a clash is reported and the command dropped.

        :returns: an iterable of :class:`doctor_core.Command`.
        """
        return ()

    # ---------------------------------------------------------------- lifecycle
    @_hookspec
    def doctor_run_started(self, checks: tuple[CheckDefinition, ...]) -> None:
        """Called once, before any check starts, with the checks selected for the run."""

    @_hookspec
    def doctor_check_started(self, definition: CheckDefinition) -> None:
        """Called when a check begins to run (after waiting for a concurrency slot)."""

    @_hookspec
    def doctor_check_finished(self, result: CheckResult) -> None:
        """Called as each check finishes, with its final (redacted) result."""

    @_hookspec
    def doctor_run_finished(self, report: Report) -> None:
        """Called once with the finished report, before it is rendered."""
