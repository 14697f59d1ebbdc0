"""The parts of ``doctor --help`` that come from the installed plugins: the commands, examples
naming an installed tag and check, and every section's environment variables.

Built only when help is shown; no settings model (and no pydantic) is imported for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from doctor_core.cli.exitcodes import EPILOG_EXIT

if TYPE_CHECKING:
    from doctor_core.api import Doctor


def help_epilog(doctor: Doctor, prog: str) -> str:
    """Everything after the options in ``doctor --help``."""
    return f"{_commands(doctor)}\n\n{_examples(prog, doctor)}\n\n{_environment(doctor)}\n\n{EPILOG_EXIT}"


def _commands(doctor: Doctor) -> str:
    """``commands:`` for ``--help``: the built-in ones, then the plugins'."""
    from doctor_core.printable import neutralize

    rows = [
        ("list", "list the installed checks"),
        ("plugins", "show the loaded plugins and their problems"),
        ("schema", "print the JSON schema of the report"),
        *((name, owned.command.help) for name, owned in sorted(doctor.commands.items())),
    ]
    return "commands (none: run the checks, like 'run'):\n" + "\n".join(
        f"  {neutralize(name):<10} {neutralize(text)}" for name, text in rows
    )


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
