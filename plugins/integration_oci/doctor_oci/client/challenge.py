"""``WWW-Authenticate`` parsing (RFC 7235 / RFC 6750), tolerant of what registries really send.

Handles: Basic and Bearer (any scheme, really); quoted values containing commas and escaped
quotes; several challenges in one header value and across several header lines; several
space-separated scopes in one ``scope``; case-insensitive scheme and parameter names; token68
credentials. It never raises: garbage gives whatever challenges could be recognised (maybe none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Challenge", "parse_www_authenticate"]

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68_CHARS = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: Headers longer than this are cut: a hostile registry cannot make the parser work forever.
MAX_HEADER_CHARS = 16384


@dataclass(frozen=True)
class Challenge:
    """One challenge: ``scheme`` lower-cased, ``params`` with lower-cased names.

    A repeated parameter keeps its values joined by a space (so repeated ``scope`` parameters
    add up, like space-separated scopes in one value).
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` parameter split on whitespace (order kept, duplicates dropped)."""
        return tuple(dict.fromkeys(self.params.get("scope", "").split()))

    @property
    def error(self) -> str | None:
        """RFC 6750 ``error`` (``invalid_token``, ``insufficient_scope``), if the registry sent one."""
        value = self.params.get("error")
        return value.lower() if value else None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def skip_separators(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t,":
            self.pos += 1

    def token(self, chars: frozenset[str] = _TOKEN_CHARS) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        """A quoted-string starting at the opening quote; an unterminated one runs to the end."""
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                break
            out.append(char)
        return "".join(out)

    def param_ahead(self) -> bool:
        """Whether ``name = value`` (an auth-param) starts here, as opposed to a new challenge."""
        save = self.pos
        name = self.token()
        self.skip_spaces()
        is_param = bool(name) and self.peek() == "="
        if is_param:
            # "abc==" is token68 padding, not a parameter named "abc"
            self.pos += 1
            is_param = self.peek() != "="
        self.pos = save
        return is_param


def _parse_params(scanner: _Scanner, params: dict[str, str]) -> None:
    while True:
        scanner.skip_separators()
        if scanner.at_end() or not scanner.param_ahead():
            return
        name = scanner.token().lower()
        scanner.skip_spaces()
        scanner.pos += 1  # '='
        scanner.skip_spaces()
        if scanner.peek() == '"':
            value = scanner.quoted()
        else:
            start = scanner.pos
            while not scanner.at_end() and scanner.peek() not in " \t,":
                scanner.pos += 1
            value = scanner.text[start : scanner.pos]
        params[name] = (
            f"{params[name]} {value}" if name in params and value else (value or params.get(name, ""))
        )


def _parse_one(text: str) -> list[Challenge]:
    scanner = _Scanner(text[:MAX_HEADER_CHARS])
    challenges: list[Challenge] = []
    while True:
        scanner.skip_separators()
        if scanner.at_end():
            return challenges
        if scanner.param_ahead():
            # a parameter with no scheme before it: garbage, or a lone parameter; skip it
            _parse_params(scanner, {})
            continue
        scheme = scanner.token()
        if not scheme:
            scanner.pos += 1  # an unexpected character: skip it
            continue
        scanner.skip_spaces()
        token68: str | None = None
        if not scanner.at_end() and scanner.peek() != "," and not scanner.param_ahead():
            start = scanner.pos
            value = scanner.token(_TOKEN68_CHARS)
            while scanner.peek() == "=":
                scanner.pos += 1
            token68 = scanner.text[start : scanner.pos] if value else None
        params: dict[str, str] = {}
        if token68 is None:
            _parse_params(scanner, params)
        challenges.append(Challenge(scheme=scheme.lower(), params=params, token68=token68))


def parse_www_authenticate(values: Iterable[str] | str | None) -> list[Challenge]:
    """All challenges in ``values`` (the header's lines, e.g. ``response.headers.get_list(...)``).

    A single string is accepted as one header line. Never raises.
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    challenges: list[Challenge] = []
    for value in values:
        if isinstance(value, str) and value.strip():
            challenges.extend(_parse_one(value))
    return challenges
