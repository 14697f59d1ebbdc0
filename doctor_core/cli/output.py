"""What a report looks like and where it goes: colour, the format to render, the atomic file write.

Nothing here imports the engine: ``--help`` and ``doctor list`` stay cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doctor_core.types import Reporter


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
