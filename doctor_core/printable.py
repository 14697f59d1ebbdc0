"""Output hygiene: text that came from outside, made safe to show on a terminal or in a document.

A check's message, its evidence, a registry's ``errors[].message``, a plugin's problem: none of
it is trusted. Written verbatim to a terminal, an ESC starts a control sequence (colours, cursor
moves, an OSC 52 clipboard write), a CR returns to the start of the line and overwrites what was
printed, and an LF starts a new line that can pretend to be another check's result. Bidi
overrides (U+202A-U+202E, U+2066-U+2069) reorder what the reader sees.

:func:`neutralize` is the one function doing this. Every human and document format goes through
it (:meth:`doctor_core.models.Report.printable` applies it to every outside text of a report, and
:meth:`doctor_core.api.Doctor.render` hands every reporter -- built-in or a plugin's -- that copy,
unless the reporter writes an exact, self-escaping format such as JSON). Plugin commands writing
to a terminal call it themselves.

The contract: the result contains no C0 control character (U+0000-U+001F, including TAB, CR and
LF), no DEL, no C1 control (U+0080-U+009F), no bidi embedding/override/isolate, no line or
paragraph separator (U+2028/U+2029), no lone surrogate and no XML non-character (U+FFFE/U+FFFF).
Each is shown visibly escaped (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u202e``), never
interpreted; everything else is unchanged, so ordinary text (including non-ASCII letters) reads
as it did. The function is idempotent: neutralising twice gives the same text. It does not escape
backslashes, so ``\\x1b`` in the output is either an escaped ESC or the four characters the
source sent -- both harmless.
"""

from __future__ import annotations

import re
from typing import IO

__all__ = ["isatty", "neutralize"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralize(text: str) -> str:
    """``text`` with every control, bidi and otherwise unsafe character shown escaped.

    For one-line fields (a message, an evidence value, a recommendation): a newline becomes the
    two characters ``\\n``, so one result is always one line. See the module docstring for the
    full list. Not for JSON, which escapes these itself and must keep the exact string.
    """
    if not isinstance(text, str):
        text = str(text)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def isatty(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal; a stream without ``isatty``, or a closed one, is not."""
    probe = getattr(stream, "isatty", None)
    try:
        return bool(probe and probe())
    except (OSError, ValueError):
        return False
