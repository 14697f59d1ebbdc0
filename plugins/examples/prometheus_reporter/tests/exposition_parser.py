"""A strict, independent reader of the Prometheus text format 0.0.4, for the tests.

It is written from the format's specification, not from the renderer, so that the tests catch a
renderer that produces text Prometheus would reject: unknown escapes, a TYPE after samples, a
family split in two, duplicate series, a missing final newline.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ExpositionError(AssertionError):
    """The text is not valid exposition format; the message names the line."""


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Family:
    name: str
    help: str | None = None
    type: str | None = None
    samples: list[Sample] = field(default_factory=list)


def _unescape(text: str, allowed: dict[str, str], where: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, None)
        if nxt is None or nxt not in allowed:
            raise ExpositionError(f"{where}: invalid escape \\{nxt or ''}")
        out.append(allowed[nxt])
    return "".join(out)


def _parse_labels(text: str, pos: int, where: str) -> tuple[dict[str, str], int]:
    """Labels from ``text[pos] == '{'``; returns them and the position after ``}``."""
    labels: dict[str, str] = {}
    pos += 1
    while True:
        if text.startswith("}", pos):
            return labels, pos + 1
        match = _LABEL_NAME.match(text, pos)
        if not match:
            raise ExpositionError(f"{where}: bad label name at column {pos}")
        name = match.group()
        pos = match.end()
        if not text.startswith('="', pos):
            raise ExpositionError(f'{where}: expected =" after label {name}')
        pos += 2
        raw: list[str] = []
        while True:
            if pos >= len(text):
                raise ExpositionError(f"{where}: unterminated value of label {name}")
            char = text[pos]
            if char == "\\":
                raw.append(text[pos : pos + 2])
                pos += 2
                continue
            if char == '"':
                pos += 1
                break
            raw.append(char)
            pos += 1
        if name in labels:
            raise ExpositionError(f"{where}: label {name} repeated")
        labels[name] = _unescape("".join(raw), _ESCAPES, where)
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("}", pos):
            raise ExpositionError(f"{where}: expected , or }} after label {name}")


def _parse_value(text: str, where: str) -> float:
    if text in {"NaN", "+Inf", "-Inf"}:
        return math.nan if text == "NaN" else float(text)
    try:
        return float(text)
    except ValueError:
        raise ExpositionError(f"{where}: value {text!r} is not a float") from None


def parse_exposition(text: str) -> dict[str, Family]:
    """The families in ``text``, in order; raises :class:`ExpositionError` on any violation."""
    if not text.endswith("\n"):
        raise ExpositionError("the text must end with a line feed")
    families: dict[str, Family] = {}
    finished: set[str] = set()
    current: str | None = None
    seen_series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def enter(name: str, where: str) -> Family:
        nonlocal current
        if name != current:
            if name in finished or (name in families and families[name].samples):
                raise ExpositionError(f"{where}: family {name} is not contiguous")
            if current is not None:
                finished.add(current)
            current = name
        return families.setdefault(name, Family(name))

    for number, line in enumerate(text[:-1].split("\n"), start=1):
        where = f"line {number}"
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            keyword, _, rest = line[2:].partition(" ")
            name, _, payload = rest.partition(" ")
            if not _NAME.fullmatch(name):
                raise ExpositionError(f"{where}: bad metric name {name!r}")
            fam = enter(name, where)
            if keyword == "HELP":
                if fam.help is not None:
                    raise ExpositionError(f"{where}: second HELP for {name}")
                fam.help = _unescape(payload, {"\\": "\\", "n": "\n"}, where)
            else:
                if fam.type is not None or fam.samples:
                    raise ExpositionError(f"{where}: TYPE for {name} repeated or after its samples")
                if payload not in _TYPES:
                    raise ExpositionError(f"{where}: unknown type {payload!r}")
                fam.type = payload
            continue
        if line.startswith("#") or not line.strip():
            continue
        match = _NAME.match(line)
        if not match:
            raise ExpositionError(f"{where}: bad sample {line!r}")
        name, pos = match.group(), match.end()
        labels: dict[str, str] = {}
        if line.startswith("{", pos):
            labels, pos = _parse_labels(line, pos, where)
        if not line.startswith(" ", pos):
            raise ExpositionError(f"{where}: expected a space before the value")
        fields = line[pos + 1 :].split(" ")
        if not 1 <= len(fields) <= 2:
            raise ExpositionError(f"{where}: expected 'value [timestamp]'")
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ExpositionError(f"{where}: bad timestamp {fields[1]!r}")
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ExpositionError(f"{where}: duplicate series {series}")
        seen_series.add(series)
        enter(name, where).samples.append(Sample(name, labels, _parse_value(fields[0], where)))
    return families
