"""The one redaction mechanism: every string leaving doctor passes through :func:`redact`.

Two layers:

* **Known secrets.** Values registered with :func:`register_secret` (configured passwords and
  tokens, secrets resolved from ``SecretRef``, tokens a plugin obtains at run time) are replaced
  wherever they appear -- also in their base64 forms, as in ``Authorization: Basic`` headers
  and docker ``auth`` fields.
* **Shapes of secrets.** Authorization header values, ``password=``/``token=`` style pairs,
  credentials in URLs and JWTs are masked even when their value was never registered.

The shapes mask *values*, never words of ordinary text: a pair is ``key=value`` (an assignment:
query strings, ``key=value`` log fields) or a quoted key with a quoted value (``"password": "x"``
in JSON, ``'token': 'x'`` in a Python repr); ``password: set OCI__Password`` or
``username 'passwd': invalid`` are prose and stay intact. A bare ``Basic`` credential must decode
to ``user:password``, a bare ``Bearer`` token must have 8 or more token characters with a digit or
``=``: "Bearer authentication" and "Basic demo/app:v1" are phrases. After an
``Authorization:`` header name, any value is masked. Redacting text that holds no secret returns
it unchanged (tests/reliability/test_redaction_properties.py holds that as a property).

Reporters, log processors, exception messages turned into results, and evidence all call this.
The registry is process-wide on purpose: a secret learned anywhere is masked everywhere.
"""

from __future__ import annotations

import base64
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any

MASK = "***"
#: Values shorter than this are not registered: masking "a" everywhere would destroy output.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
#: ``_secrets`` longest first, with their lengths negated (ascending, for
#: :func:`bisect.bisect_left`: a secret longer than the text cannot be in it, and tokens are
#: longer than most text that is redacted). Rebuilt on registration and swapped in whole, so
#: :func:`redact` reads a consistent snapshot without taking the lock. Plain substring
#: replacement, not one compiled alternation: tokens are registered in the middle of a run (on the
#: event loop), and compiling a regular expression of a few JWT-sized literals costs tens of
#: milliseconds each time.
_ordered: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())


def _basic_credential(match: re.Match[str]) -> str:
    """Mask ``Basic <b64>`` only when ``<b64>`` decodes to ``user:password`` (RFC 7617), not a word."""
    value = match.group(2)
    if len(value) % 4 == 0:
        try:
            decoded = base64.b64decode(value, validate=True)
        except ValueError:
            decoded = b""
        if b":" in decoded:
            return f"{match.group(1)} {MASK}"
    return match.group(0)


#: Keys whose value is a secret, in ``key=value`` and ``"key": "value"`` shapes.
_SECRET_KEYS = (
    r"password|passwd|secret|token|access_token|refresh_token|identitytoken|identity_token|auth|"
    r"api[_-]?key"
)

#: Each shape: the pattern, its replacement, and the literals (lower case) every match of it
#: contains. :func:`redact` runs a pattern only when ASCII text holds all of its literals -- most
#: text that passes through (URLs, messages) holds none, and a substring test costs a fraction of a
#: regular-expression scan. Exact, not a heuristic: a replacement only inserts ``MASK`` (``*``
#: characters, in no literal), so masking can neither create a literal nor join one across its
#: boundary, and a literal absent from the text before the first shape runs is absent for all.
_SHAPES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str], tuple[str, ...]], ...] = (
    # Authorization: Basic xxx / Bearer xxx (header lines, reprs, log fields)
    (
        re.compile(r"(?i)\b(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer)\s+[^\s'\",}]+"),
        rf"\1\2 {MASK}",
        ("authorization",),
    ),
    # a bare Basic credential: base64 of "user:password" (see _basic_credential)
    (
        re.compile(r"\b([Bb]asic|BASIC)\s+([A-Za-z0-9+/]{4,}={0,2})(?![\w.~+/=-])"),
        _basic_credential,
        ("basic",),
    ),
    # a bare Bearer token: 8+ token characters with a digit or "=" (a word is not a token)
    (
        re.compile(r"\b([Bb]earer|BEARER)\s+(?=[A-Za-z0-9._~+/-]*[0-9=])[A-Za-z0-9._~+/-]{8,}={0,2}"),
        rf"\1 {MASK}",
        ("bearer",),
    ),
    # key=value for secret-looking keys (an assignment, not prose)
    (re.compile(rf"(?i)(\b(?:{_SECRET_KEYS})\s*=\s*)([^\s'\",&}}]+)"), rf"\1{MASK}", ("=",)),
    # "key": "value" / 'key': 'value' (JSON, Python reprs): quoted key and quoted value
    (
        re.compile(rf"""(?i)((["'])(?:{_SECRET_KEYS})\2\s*:\s*(["']))((?:(?!\3).)+)\3"""),
        rf"\1{MASK}\3",
        (":",),
    ),
    # userinfo in URLs: https://user:pass@host
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), rf"\1{MASK}@", ("://", "@")),
    # JWTs
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK, ("eyj",)),
)


def _variants(value: str) -> set[str]:
    forms = {value}
    raw = value.encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode()
        forms.add(text)
        forms.add(text.rstrip("="))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _set_ordered(ordered: tuple[str, ...]) -> None:
    """Swap in a new snapshot (under ``_lock``), secrets and lengths in one assignment."""
    global _ordered
    _ordered = (ordered, tuple(-len(secret) for secret in ordered))


def register_secret(value: str | None, *, username: str | None = None) -> None:
    """Mask ``value`` (and its base64 forms) in all output from now on.

    With ``username``, also mask the base64 of ``username:value`` (the docker ``auth`` form,
    which does not contain the base64 of the password alone).
    """
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = _variants(value)
    if username is not None:
        forms |= _variants(f"{username}:{value}")
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        _set_ordered(tuple(sorted(_secrets, key=len, reverse=True)))


def forget_secrets() -> None:
    """Clear the registry (for tests and for embedders that run unrelated jobs in one process)."""
    with _lock:
        _secrets.clear()
        _set_ordered(())


def redact(text: str) -> str:
    """``text`` with every known secret and every secret-shaped value masked."""
    if not text:
        return text
    ordered, lengths = _ordered
    for secret in ordered[bisect_left(lengths, -len(text)) :]:
        if secret in text:
            text = text.replace(secret, MASK)
    # Outside ASCII, case-insensitive matching knows more equivalents than str.lower() (the
    # pattern's "i" matches U+0131 and U+0130, dotless and dotted I): such text runs every shape.
    lowered = text.lower() if text.isascii() else None
    for shape, replacement, literals in _SHAPES:
        if lowered is None or all(literal in lowered for literal in literals):
            text = shape.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings inside a JSON-like value (dicts, lists, tuples), keeping its structure and types."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


def describe_exception(exc: BaseException) -> str:
    """``"TypeName: message"`` with secrets masked: how errors appear in results and logs."""
    message = str(exc).strip()
    name = type(exc).__name__
    return redact(f"{name}: {message}" if message else name)
