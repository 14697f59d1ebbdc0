"""Which checks a run executes: ``--tag`` (repeatable, any of) and ``--check`` (repeatable, exact ids).

The selection is the union of the checks carrying any given tag and the checks named by id; with
neither, every installed check runs. An unknown id or tag is a usage error listing close matches,
because silently running nothing (or something else) hides typos in scripts and CI jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from doctor_core.errors import UsageError
from doctor_core.types import Check

NO_CHECKS_HINT = (
    "no checks are installed; install a doctor plugin (for example doctor-integration-oci) "
    "and run 'doctor list' to see its checks"
)


def _close(word: str, options: Iterable[str]) -> str:
    import difflib  # only for a usage error: a run that selects what exists never imports it

    matches = difflib.get_close_matches(word, sorted(set(options)), n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""


def all_tags(checks: Mapping[str, Check]) -> set[str]:
    """Every tag carried by at least one check."""
    return {tag for check in checks.values() for tag in check.definition.tags}


def select(
    checks: Mapping[str, Check],
    *,
    tags: Iterable[str] = (),
    check_ids: Iterable[str] = (),
) -> list[Check]:
    """The selected checks, in discovery order (plugin load order, then the order each plugin
    declared its checks -- the seed's reports list the registry checks in declaration order).

    :raises UsageError: an unknown tag or id (with suggestions), or a selection when no check is
        installed at all.
    """
    wanted_tags = [tag.strip().lower() for tag in tags]
    wanted_ids = [check_id.strip() for check_id in check_ids]
    if not checks and (wanted_tags or wanted_ids):
        raise UsageError(NO_CHECKS_HINT)
    known_tags = all_tags(checks)
    problems = [f"unknown check id {cid!r}{_close(cid, checks)}" for cid in wanted_ids if cid not in checks]
    problems += [
        f"unknown tag {tag!r}{_close(tag, known_tags)}" for tag in wanted_tags if tag not in known_tags
    ]
    if problems:
        raise UsageError("; ".join(problems) + "; run 'doctor list' to see the installed checks and tags")
    if not wanted_tags and not wanted_ids:
        chosen = list(checks.values())
    else:
        chosen = [
            check
            for check in checks.values()
            if check.definition.check_id in wanted_ids or set(check.definition.tags) & set(wanted_tags)
        ]
    return chosen
