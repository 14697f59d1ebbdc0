"""What a check *is*, without running it: :class:`CheckDefinition`, :class:`Severity`, :class:`Status`.

These live apart from :mod:`doctor_core.models` (the pydantic JSON contract) on purpose. Every
plugin builds its definitions when it registers, so this module is imported by every ``doctor``
invocation, ``doctor list`` and ``doctor --help`` included. It imports only the standard library:
listing the installed checks must not pay the ~100 ms it takes to import pydantic.

:class:`CheckDefinition` is a frozen dataclass with the same keyword constructor, defaults and
validation rules as the pydantic model it replaced; :mod:`doctor_core.models` re-exports all three
names, so ``from doctor_core.models import CheckDefinition`` keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

_CHECK_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Severity(StrEnum):
    """How bad it is when a check does not pass: the seed's "Default Severity"."""

    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


class Status(StrEnum):
    """The outcome of one check, serialized lower-case.

    ``pass`` / ``info`` / ``warn`` / ``fail`` are verdicts about the system under test.
    ``error`` means the check itself could not run to a verdict (it raised, timed out or returned
    garbage). ``skip`` means it was not run (deselected by a precondition, cancelled before start).
    """

    PASS = "pass"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        """Order used for the overall status: higher is worse."""
        return _RANK[self]


_RANK = {
    Status.SKIP: 0,
    Status.PASS: 1,
    Status.INFO: 2,
    Status.WARN: 3,
    Status.FAIL: 4,
    Status.ERROR: 5,
}


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"CheckDefinition.{field} must be a string, not {type(value).__name__}")
    return value


@dataclass(frozen=True, kw_only=True)
class CheckDefinition:
    """What a check is, known without running it (``doctor list`` shows these).

    Contract (checked when the object is built; a violation raises ``ValueError`` or ``TypeError``
    naming the field, which the core reports as a problem of the plugin that built it):

    * ``check_id``: globally unique, dotted, lower-case words, e.g. ``check.integration.oci.pull``;
    * ``name``: a non-empty human-readable title;
    * ``default_severity``: a :class:`Severity`, or its value (``"warn"``);
    * ``tags``: lower-case words (letters, digits, ``.``, ``_``, ``-``); any iterable of strings
      is accepted and stored as a tuple;
    * ``estimated_duration_s``: typical duration in seconds, a number > 0; it scales the timeout.

    ``plugin`` is filled in by the core with the name of the plugin that contributed the check;
    plugin authors leave it empty. The object is immutable and hashable.
    """

    check_id: str
    name: str
    description: str = ""
    default_severity: Severity = Severity.FAIL
    tags: tuple[str, ...] = ()
    estimated_duration_s: float = 5.0
    plugin: str = ""

    def __post_init__(self) -> None:
        check_id = _string("check_id", self.check_id)
        if not _CHECK_ID.match(check_id):
            raise ValueError(
                f"CheckDefinition.check_id: check id {check_id!r} must be dotted lower-case words "
                "(e.g. 'check.example.dns')"
            )
        if not _string("name", self.name).strip():
            raise ValueError(f"CheckDefinition.name of {check_id}: must not be empty")
        _string("description", self.description)
        _string("plugin", self.plugin)
        severity = self.default_severity
        if not isinstance(severity, Severity):
            try:
                severity = Severity(severity)
            except ValueError:
                allowed = ", ".join(repr(s.value) for s in Severity)
                raise ValueError(
                    f"CheckDefinition.default_severity of {check_id}: {severity!r} is not one of {allowed}"
                ) from None
            object.__setattr__(self, "default_severity", severity)
        tags = self.tags
        if isinstance(tags, str | bytes | Mapping) or not isinstance(tags, Iterable):
            raise TypeError(
                f"CheckDefinition.tags of {check_id}: must be a tuple or list of strings, "
                f"not {type(tags).__name__}"
            )
        tags = tuple(tags)
        for tag in tags:
            if not isinstance(tag, str) or not _TAG.match(tag):
                raise ValueError(
                    f"CheckDefinition.tags of {check_id}: tag {tag!r} must be lower-case letters, "
                    "digits, '.', '_' or '-'"
                )
        object.__setattr__(self, "tags", tags)
        duration = self.estimated_duration_s
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise TypeError(
                f"CheckDefinition.estimated_duration_s of {check_id}: must be a number of seconds, "
                f"not {type(duration).__name__}"
            )
        if not duration > 0:
            raise ValueError(
                f"CheckDefinition.estimated_duration_s of {check_id}: must be greater than 0, "
                f"not {duration!r}"
            )
        object.__setattr__(self, "estimated_duration_s", float(duration))

    def to_dict(self) -> dict[str, Any]:
        """The definition as JSON-ready data (``doctor list --format json``): enums as their values,
        tags as a list; the keys are the field names."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["default_severity"] = self.default_severity.value
        data["tags"] = list(self.tags)
        return data
