"""Logging with structlog: silent unless asked, secrets never reach a log line.

doctor does not touch structlog's *global* configuration (an embedding application may have its
own): every logger comes from :func:`get_logger`, which wraps a logger with doctor's own pipeline.
That pipeline is chosen with :func:`configure` (the CLI calls it for ``--verbose`` and
``--log-format``); until then it drops every event -- with a null logger that does not import
structlog at all, so a run that logs nothing does not pay for it (~10 ms of start-up with the
modules it imports: uuid, platform, pickle).

The last processor before rendering passes every event value through
:func:`doctor_core.redaction.redact`, so a check logging a header or a URL cannot leak a credential.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any, TextIO, cast

from doctor_core.redaction import redact, redact_value

_state: dict[str, Any] = {}


class _SilentLogger:
    """What :func:`get_logger` returns before :func:`configure`: every method accepts and drops.

    It stands for a structlog bound logger: ``bind``/``new``/``unbind``/``try_unbind`` return it,
    every other attribute (``debug``, ``info``, ``warning``, ``exception`` ...) is a no-op.
    """

    def _ignore(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def _same(self, *_args: Any, **_kwargs: Any) -> _SilentLogger:
        return self

    bind = new = unbind = try_unbind = _same

    def __getattr__(self, _name: str) -> Any:
        return self._ignore


_SILENT = _SilentLogger()


def _redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, str | list | tuple | dict):
            cleaned[key] = redact_value(value)
        elif value is None or isinstance(value, bool | int | float):
            cleaned[key] = value
        elif isinstance(value, BaseException):
            cleaned[key] = redact(f"{type(value).__name__}: {value}")
        else:
            cleaned[key] = redact(str(value))
    return cleaned


def configure(*, verbose: bool = False, fmt: str = "console", stream: IO[str] | None = None) -> None:
    """Choose the pipeline: silent (default), console debug lines, or JSON lines, on ``stream``.

    ``fmt="json"`` enables output even without ``verbose`` (at info level); ``verbose`` lowers
    the level to debug.
    """
    if fmt not in ("console", "json"):
        raise ValueError(f"log format must be 'console' or 'json', not {fmt!r}")
    import structlog

    target = stream if stream is not None else sys.stderr
    enabled = verbose or fmt == "json"
    level = logging.DEBUG if verbose else logging.INFO
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        isatty = getattr(target, "isatty", None)
        renderer = structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty()))
    if not enabled:
        reset()
        return
    _state.update(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger=structlog.PrintLogger(file=cast("TextIO", target)),
    )


def reset() -> None:
    """Back to silent (tests, embedders running several jobs)."""
    _state.clear()


def get_logger(**bind: Any) -> Any:
    """A structlog logger with doctor's pipeline, bound to ``bind`` (for example ``check_id``)."""
    if not _state:
        return _SILENT
    import structlog

    return structlog.wrap_logger(
        _state["logger"], processors=list(_state["processors"]), wrapper_class=_state["wrapper_class"]
    ).bind(**bind)
