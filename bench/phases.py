"""Where a ``doctor`` run's time goes, by phase: ``python bench/phases.py OUT.json DOCTOR-ARGS...``.

Runs the ``doctor`` command line in this process exactly as the console script does
(``doctor_core.cli.run_cli``) and times, exclusively (a phase nested in another is subtracted
from it), the phases issue 16 names:

* ``import`` -- importing ``doctor_core.cli`` (the console script's own import);
* ``plugins`` -- ``PluginManager`` loading entry points and building checks, reporters, sections
  (``_load_entrypoints``, ``_build_*``);
* ``configuration`` -- importing the sections' models (``PluginManager._resolve_section_models``),
  reading and validating the configuration (``Doctor.config``, ``Configuration.section``);
* ``checks`` -- ``Doctor.arun`` (the engine running the checks, including what they import);
* ``rendering`` -- ``Doctor.render``;
* ``other`` -- the rest of ``run_cli`` (argument parsing, logging set-up, writing the output).

The process then exits the way the console script does (``doctor_core.cli._exit``); what the
bench reports as "exit" is the process wall time minus start-up and these phases.

Interpreter start-up is not in here (it happens before this file runs): the bench measures it as
``python -c pass``. The wrappers only add timing around methods; behaviour is unchanged. The
phases are written as JSON to ``OUT.json`` (``seconds`` per phase, ``imports``: the top-level
packages first imported in each phase); the exit status is doctor's.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

PHASES = ("import", "plugins", "configuration", "checks", "rendering", "other")


class PhaseClock:
    """Exclusive time per phase: entering a phase pauses the one it was entered from."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        #: Top-level packages first imported during each phase (exclusively, like the times).
        self.imports: dict[str, set[str]] = {name: set() for name in PHASES}
        self._stack: list[tuple[str, float]] = []
        self._known = set(sys.modules)

    def _charge_imports(self, name: str) -> None:
        current = set(sys.modules)
        self.imports[name].update(module.split(".")[0] for module in current - self._known)
        self._known = current

    def enter(self, name: str) -> None:
        now = time.perf_counter()
        if self._stack:
            outer, since = self._stack[-1]
            self.totals[outer] += now - since
            self._charge_imports(outer)
        self._stack.append((name, now))

    def leave(self) -> None:
        now = time.perf_counter()
        name, since = self._stack.pop()
        self.totals[name] += now - since
        self._charge_imports(name)
        if self._stack:
            outer, _ = self._stack[-1]
            self._stack[-1] = (outer, now)

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = owner.__dict__[attribute]
        if isinstance(original, property):
            getter = original.fget
            assert getter is not None
            setattr(owner, attribute, property(self._timed(getter, name), original.fset, original.fdel))
            return
        function = original.__func__ if isinstance(original, classmethod | staticmethod) else original
        if _is_coroutine(function):
            timed: Callable[..., Any] = self._timed_async(function, name)
        else:
            timed = self._timed(function, name)
        if isinstance(original, classmethod):
            timed = classmethod(timed)  # type: ignore[assignment]
        elif isinstance(original, staticmethod):
            timed = staticmethod(timed)
        setattr(owner, attribute, timed)

    def _timed(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(name)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return timed

    def _timed_async(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(function)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            # The run is the only coroutine on its loop here: wall time from start to end is its own.
            self.enter(name)
            try:
                return await function(*args, **kwargs)
            finally:
                self.leave()

        return timed


def _is_coroutine(function: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


def main(argv: list[str]) -> int:
    out, args = argv[0], argv[1:]
    clock = PhaseClock()
    clock.enter("other")
    clock.enter("import")
    from doctor_core import api, cli, config, plugins

    clock.leave()
    manager = plugins.PluginManager
    for attribute in (
        "_load_entrypoints",
        "_build_checks",
        "_build_reporters",
        "_build_sections",
        "_build_commands",
        "_resolve_section_models",
    ):
        if attribute in manager.__dict__:
            clock.wrap(manager, attribute, "plugins")
    clock.wrap(api.Doctor, "config", "configuration")
    if "section" in config.Configuration.__dict__:
        clock.wrap(config.Configuration, "section", "configuration")
    clock.wrap(api.Doctor, "arun", "checks")
    clock.wrap(api.Doctor, "render", "rendering")
    try:
        code = cli.run_cli(args)
    finally:
        clock.leave()
        with open(out, "w", encoding="utf-8") as handle:
            imports = {name: sorted(found) for name, found in clock.imports.items()}
            json.dump({"seconds": clock.totals, "imports": imports}, handle)
    exit_like_the_console_script = getattr(cli, "_exit", None)
    if exit_like_the_console_script is not None:
        exit_like_the_console_script(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
