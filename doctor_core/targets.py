"""Checks per target: one declared check, run once per thing a plugin's configuration names.

A plugin that checks several things of the same kind (registries, hosts, databases) declares the
check once and tells the core how to find the targets in its configuration::

    def registry_targets(config: MySettings) -> list[Target]:
        return [Target(entry.Name, entry) for entry in config.Registries]

    Check(definition, run="my_plugin.checks:run", targets="my_plugin.targets:registry_targets")

Contract:

* ``Check.targets`` is a function (or a ``"module:function"`` import string, imported only when a
  run is planned) receiving what the plugin's checks get as ``ctx.config`` and returning the
  targets, in the order the report shows them. An empty sequence (or ``None``) means "no targets":
  the check runs once, exactly as a check without ``targets`` (its result has ``target`` null).
* Each :class:`Target` gives a ``name`` (:data:`TARGET_NAME`, unique within the check) and the
  ``config`` the check gets as ``ctx.config`` for that target. ``ctx.target`` is the name.
* ``ctx.shared`` is scoped by target: the same key under two targets is two objects, so a client
  holding one target's credentials can never serve another target.
* A ``targets`` function that raises, or returns something that is not a sequence of
  :class:`Target` with unique simple names, gives the check one ``error`` result naming the
  problem (the rest of the run goes on).
* ``doctor --target NAME`` (``Doctor.arun(targets=...)``) keeps only the runs of the named
  targets; checks without targets are then not run. A name no check declares is a usage error
  listing close matches.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from doctor_core.errors import UsageError
from doctor_core.redaction import describe_exception
from doctor_core.types import Check, SharedResources, import_object, is_import_string

T = TypeVar("T")

__all__ = ["TARGET_NAME", "PlannedCheck", "ScopedResources", "Target", "plan", "select_targets"]

#: What a target name looks like: letters, digits, ``.``, ``_``, ``-`` (a host name fits; no
#: spaces, no ``:`` or ``/``), starting with a letter or digit. A plugin may ask for less (the OCI
#: plugin's registry ``Name`` is a simple word without dots).
TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class Target:
    """One thing a check runs against: its ``name`` and the ``config`` the check gets for it."""

    name: str
    config: Any = None


@dataclass(frozen=True)
class PlannedCheck(Check):
    """A check bound to one target: the engine runs it with ``config`` and ``ctx.target = target``.

    ``target`` is ``None`` for a check that runs once (no targets declared, or none configured);
    ``config`` is then unused (the engine gives the plugin's configuration, as always).
    """

    target: str | None = None
    config: Any = None


def _resolve(check: Check) -> Callable[[Any], Any] | None:
    declared = check.targets
    if declared is None:
        return None
    if isinstance(declared, str):
        if not is_import_string(declared):
            raise ValueError(f"targets={declared!r} is not 'module:function'")
        declared = import_object(declared)
    if not callable(declared):
        raise TypeError(f"targets {check.targets!r} is not callable")
    return declared


def _failing(check: Check, problem: str) -> PlannedCheck:
    message = f"cannot list the targets of this check: {problem}"

    async def fail(_ctx: Any) -> Any:
        raise RuntimeError(message)

    return PlannedCheck(check.definition, run=fail)


def _targets_of(check: Check, config: Any) -> list[Target]:
    function = _resolve(check)
    if function is None:
        return []
    found = function(config)
    if found is None:
        return []
    if isinstance(found, str | bytes) or not isinstance(found, Iterable):
        raise TypeError(f"the targets function returned {type(found).__name__}, expected a list of Target")
    targets = list(found)
    seen: set[str] = set()
    for target in targets:
        if not isinstance(target, Target):
            raise TypeError(f"the targets function returned a {type(target).__name__}, expected Target")
        if not isinstance(target.name, str) or not TARGET_NAME.match(target.name):
            raise ValueError(
                f"target name {target.name!r} is not letters, digits, '.', '_' or '-' (as a host name)"
            )
        if target.name in seen:
            raise ValueError(f"target name {target.name!r} is given twice")
        seen.add(target.name)
    return targets


def plan(checks: Sequence[Check], configs: Mapping[str, Any]) -> list[PlannedCheck]:
    """Each check once per target its plugin's configuration declares (once when none), in order:
    the checks in their given order, each check's targets in the order the plugin listed them."""
    planned: list[PlannedCheck] = []
    for check in checks:
        try:
            targets = _targets_of(check, configs.get(check.definition.plugin))
        except Exception as exc:
            planned.append(_failing(check, describe_exception(exc)))
            continue
        if not targets:
            planned.append(PlannedCheck(check.definition, run=check.run))
            continue
        planned.extend(
            PlannedCheck(check.definition, run=check.run, target=target.name, config=target.config)
            for target in targets
        )
    return planned


def select_targets(planned: Sequence[PlannedCheck], names: Iterable[str]) -> list[PlannedCheck]:
    """Only the runs of the named targets (all runs when ``names`` is empty).

    :raises UsageError: a name no planned check has, with close matches.
    """
    wanted = [name.strip() for name in names if name.strip()]
    if not wanted:
        return list(planned)
    known = list(dict.fromkeys(check.target for check in planned if check.target is not None))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        import difflib  # only for a usage error: a run without a mistyped --target never imports it

        problems = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            problems.append(f"unknown target {name!r}{hint}")
        listing = f"; targets: {', '.join(known)}" if known else "; no selected check has targets"
        raise UsageError("; ".join(problems) + listing)
    return [check for check in planned if check.target in wanted]


class ScopedResources:
    """``ctx.shared`` of a check running for one target: the run's resources, keys prefixed by it."""

    def __init__(self, resources: SharedResources, target: str) -> None:
        self._resources = resources
        self._prefix = f"target[{target}]:"

    async def get(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        return await self._resources.get(self._prefix + key, factory)
