"""Plugin discovery and the typed facade over pluggy: entry points in, validated contributions out.

Loading policy (stevedore) and call contract (pluggy) are kept apart:

* Entry points of the group ``doctor.plugins`` are *listed* once through stevedore (which caches
  the scan), blocked names removed, and only the allowed ones imported -- each by its own guarded
  ``load()``, so one broken plugin (even one raising ``AssertionError`` or ``SystemExit`` at
  import, which stevedore's own guard lets through) cannot stop the others. Each import runs in a
  daemon thread bounded by ``import_timeout_s`` (:func:`~doctor_core.isolation.call_with_timeout`):
  an import that hangs is that plugin's ``load`` problem, and everything else goes on.
* While plugin code runs (imports, hook calls) ``sys.stdout`` goes to stderr
  (:func:`~doctor_core.isolation.plugin_stdout_to_stderr`): a ``print()`` cannot corrupt a report.
* Every loaded object is registered with pluggy under its entry point name. A failed registration
  or a hook implementation without a matching specification is a problem for that plugin only.
* Contribution hooks are called *per implementation* (``get_hookimpls()``), so an exception or a
  malformed contribution is attributed to the plugin that produced it. pluggy's ordering markers are
  honoured (``tryfirst`` implementations first, ``trylast`` last, registration order otherwise);
  wrappers (``wrapper=True`` / ``hookwrapper=True``) are refused with a plugin problem, because a
  wrapper sees and may rewrite every other plugin's contribution, which would defeat attribution.

Nothing here raises on a plugin's behalf except in strict mode, where any recorded
:class:`~doctor_core.models.PluginProblem` becomes a :class:`~doctor_core.errors.PluginError`.

Import cost: ``doctor list`` and ``doctor --help`` go through this module, so it does not import
pydantic. :class:`~doctor_core.models.PluginProblem` (a pydantic model) is imported only when a
problem is recorded, and configuration models given as import strings are imported only by
:meth:`PluginManager.section_models`, when the configuration is actually read.

Caching note: stevedore keeps an in-process cache of entry points per group
(``ExtensionManager.ENTRY_POINT_CACHE``) and a disk cache under ``$XDG_CACHE_HOME/python-entrypoints``
keyed by ``sys.path`` and the mtimes of ``entry_points.txt`` files. Entry points it returns from
that cache carry no distribution, so the distribution of a plugin is looked up through
``importlib.metadata`` only when it is needed (a problem to report, ``doctor plugins``).
"""

from __future__ import annotations

import dataclasses
import importlib
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from doctor_core import hookspecs
from doctor_core.definitions import CheckDefinition
from doctor_core.errors import PluginError
from doctor_core.isolation import PluginTimeout, call_with_timeout, is_plugin_fault, plugin_stdout_to_stderr
from doctor_core.redaction import describe_exception, redact
from doctor_core.types import Check, Command, ConfigSection, Reporter, is_import_string, is_model_class

if TYPE_CHECKING:
    from importlib.metadata import Distribution, EntryPoint

    from pluggy import HookImpl
    from pydantic import BaseModel

    from doctor_core.models import PluginProblem

#: The entry point group installed plugins register under.
ENTRYPOINT_GROUP = "doctor.plugins"
#: Modules of doctor itself registered as internal plugins, through the same hooks.
BUILTIN_PLUGINS: tuple[str, ...] = ("doctor_core.reporters",)
#: Command names a plugin cannot take.
RESERVED_COMMANDS = frozenset({"list", "plugins", "schema", "run", "help"})
#: Lifecycle hooks: notifications, called through :meth:`PluginManager.notify`.
LIFECYCLE_HOOKS = frozenset(
    {"doctor_run_started", "doctor_check_started", "doctor_check_finished", "doctor_run_finished"}
)

#: Seconds one plugin's import may take before it is reported and left behind.
DEFAULT_IMPORT_TIMEOUT_S = 10.0

_TRUE = {"1", "true", "yes", "on"}


def env_flag(value: str | None) -> bool:
    """Whether an environment value such as ``DOCTOR_STRICT_PLUGINS`` means "on"."""
    return (value or "").strip().lower() in _TRUE


def split_names(value: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: the format of ``DOCTOR_DISABLE_PLUGINS``."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin, as ``doctor plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    source: str  # "entry point" | "built-in" | "in-process"
    module: str


@dataclass(frozen=True)
class OwnedSection:
    """A configuration section together with the plugin that declared it."""

    plugin: str
    section: ConfigSection


@dataclass(frozen=True)
class OwnedCommand:
    """A CLI command together with the plugin that contributed it."""

    plugin: str
    command: Command


@dataclass(eq=False, repr=False)  # internal: never compared or printed
class _Registered:
    name: str
    obj: object
    source: str
    entry_point: EntryPoint | None = None


def _object_name(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    name = getattr(obj, "__name__", None)
    if isinstance(name, str):
        return name
    return type(obj).__name__


class PluginManager:
    """Typed facade over a pluggy manager holding doctor's plugins.

    :param plugins: extra plugin objects registered in-process (embedders, tests), after the
        built-in and the entry point plugins.
    :param load_entrypoints: ``False`` loads no installed plugin at all (only built-ins and
        ``plugins``).
    :param disable: entry point names not to import.
    :param strict: raise :class:`PluginError` as soon as any problem is recorded during loading
        or collection.
    :param group: the entry point group (tests and embedders with their own group change it).
    :param import_timeout_s: how long one plugin's import may take (``$DOCTOR_PLUGIN_IMPORT_TIMEOUT``
        through :class:`~doctor_core.api.Doctor`).
    """

    def __init__(
        self,
        *,
        plugins: Iterable[object] = (),
        load_entrypoints: bool = True,
        disable: Iterable[str] = (),
        strict: bool = False,
        group: str = ENTRYPOINT_GROUP,
        builtins: Iterable[str] = BUILTIN_PLUGINS,
        import_timeout_s: float = DEFAULT_IMPORT_TIMEOUT_S,
    ) -> None:
        self.group = group
        self.import_timeout_s = import_timeout_s
        self.strict = strict
        self.disabled = frozenset(disable)
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs.DoctorSpecs)
        self._registered: dict[str, _Registered] = {}
        self._problems: list[PluginProblem] = []
        self._dist_cache: dict[tuple[str, str], Distribution] | None = None
        self._refused_wrappers: set[tuple[str, str]] = set()
        self._collected: dict[str, Any] = {}
        for module_name in builtins:
            self._register_builtin(module_name)
        if load_entrypoints:
            with plugin_stdout_to_stderr():
                self._load_entrypoints()
        for obj in plugins:
            self.register(obj)
        self._raise_if_strict()

    # ------------------------------------------------------------------ loading
    def _register_builtin(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            self._problem(module_name, "load", exc)
            return
        self._register(_Registered(module_name, module, "built-in"))

    def _load_entrypoints(self) -> None:
        from stevedore import NamedExtensionManager

        lister: NamedExtensionManager[Any] = NamedExtensionManager(
            self.group, names=(), on_missing_entrypoints_callback=None
        )
        seen: set[str] = set()
        for ep in lister.list_entry_points():
            if ep.name in seen or ep.name in self.disabled:
                continue
            seen.add(ep.name)
            self._load_one(ep)

    def _load_one(self, ep: EntryPoint) -> None:
        try:
            plugin = call_with_timeout(ep.load, self.import_timeout_s, f"import-{ep.name}")
        except PluginTimeout as exc:
            self._problem(ep.name, "load", f"importing {ep.value!r} {exc}", entry_point=ep)
            return
        except Exception as exc:
            self._problem(ep.name, "load", exc, entry_point=ep)
            return
        self._register(_Registered(ep.name, plugin, "entry point", ep))

    def register(self, obj: object, name: str | None = None) -> str | None:
        """Register an in-process plugin object; returns its name, or ``None`` when it was refused."""
        base = name or _object_name(obj)
        unique = base
        counter = 2
        while unique in self._registered:
            unique = f"{base}-{counter}"
            counter += 1
        ok = self._register(_Registered(unique, obj, "in-process"))
        self._collected.clear()
        return unique if ok else None

    def _register(self, entry: _Registered) -> bool:
        try:
            self._pm.register(entry.obj, name=entry.name)
        except Exception as exc:
            self._problem(entry.name, "register", exc, entry_point=entry.entry_point)
            return False
        unknown = sorted(
            caller.name for caller in self._pm.get_hookcallers(entry.obj) or () if caller.spec is None
        )
        if unknown:
            self._pm.unregister(entry.obj)
            self._problem(
                entry.name,
                "register",
                f"unknown hook(s) {', '.join(unknown)}; known hooks: "
                f"{', '.join(sorted(n for n in dir(hookspecs.DoctorSpecs) if n.startswith('doctor_')))}",
                entry_point=entry.entry_point,
            )
            return False
        self._registered[entry.name] = entry
        return True

    # ----------------------------------------------------------------- problems
    @property
    def problems(self) -> tuple[PluginProblem, ...]:
        """Every problem recorded so far (loading, registering, hook calls)."""
        return tuple(self._problems)

    def _problem(
        self,
        plugin: str,
        stage: str,
        error: BaseException | str,
        *,
        entry_point: EntryPoint | None = None,
    ) -> PluginProblem:
        from doctor_core.models import PluginProblem

        text = describe_exception(error) if isinstance(error, BaseException) else redact(error)
        if entry_point is None and plugin in self._registered:
            entry_point = self._registered[plugin].entry_point
        problem = PluginProblem(
            plugin=plugin,
            distribution=self._distribution_name(plugin, entry_point),
            stage=stage,
            error=text,
        )
        self._problems.append(problem)
        return problem

    def record_problem(self, plugin: str, stage: str, error: BaseException | str) -> PluginProblem:
        """Record a problem found outside the manager (the engine closing a plugin's resource)."""
        return self._problem(plugin, stage, error)

    def _raise_if_strict(self) -> None:
        if self.strict and self._problems:
            lines = "; ".join(problem.describe() for problem in self._problems)
            raise PluginError(f"plugin problems with --strict-plugins: {lines}")

    # ------------------------------------------------------------- distributions
    def _distribution(self, name: str, entry_point: EntryPoint | None) -> Distribution | None:
        if entry_point is None:
            return None
        dist = getattr(entry_point, "dist", None)
        if dist is not None:
            return dist  # type: ignore[no-any-return]
        if self._dist_cache is None:
            from importlib.metadata import entry_points

            self._dist_cache = {
                (ep.name, ep.value): ep.dist for ep in entry_points(group=self.group) if ep.dist is not None
            }
        return self._dist_cache.get((name, entry_point.value))

    def _distribution_name(self, name: str, entry_point: EntryPoint | None) -> str | None:
        dist = self._distribution(name, entry_point)
        if dist is None:
            return None
        value = dist.metadata["Name"] if dist.metadata else None
        return str(value) if value else None

    def plugins(self) -> list[PluginInfo]:
        """The registered plugins with their distribution and version (``doctor plugins``)."""
        infos = []
        for entry in self._registered.values():
            dist = self._distribution(entry.name, entry.entry_point)
            module = entry.entry_point.value if entry.entry_point is not None else _object_name(entry.obj)
            if entry.source == "built-in":
                from doctor_core._version import __version__

                infos.append(PluginInfo(entry.name, "doctor-core", __version__, entry.source, module))
                continue
            infos.append(
                PluginInfo(
                    name=entry.name,
                    distribution=self._distribution_name(entry.name, entry.entry_point),
                    version=dist.version if dist is not None else None,
                    source=entry.source,
                    module=module,
                )
            )
        return infos

    # -------------------------------------------------------------- hook calls
    def _call_each(self, hook_name: str, kwargs: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """Call every implementation of ``hook_name`` on its own; failures become problems."""
        caller = getattr(self._pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        with plugin_stdout_to_stderr():
            for impl in _call_order(caller.get_hookimpls()):
                if impl.hookwrapper or impl.wrapper:
                    if (impl.plugin_name, hook_name) not in self._refused_wrappers:
                        self._refused_wrappers.add((impl.plugin_name, hook_name))
                        self._problem(impl.plugin_name, f"hook:{hook_name}", _WRAPPERS_REFUSED)
                    continue
                args = [kwargs[arg] for arg in impl.argnames]
                try:
                    value = impl.function(*args)
                    if hook_name not in LIFECYCLE_HOOKS:
                        value = _materialize(value)
                except BaseException as exc:
                    if not is_plugin_fault(exc):
                        raise
                    self._problem(impl.plugin_name, f"hook:{hook_name}", exc)
                    continue
                results.append((impl.plugin_name, value))
        return results

    def _contributions(self, hook_name: str, kind: type, what: str) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = []
        for plugin, value in self._call_each(hook_name, {}):
            if isinstance(value, _Invalid):
                self._problem(
                    plugin,
                    "invalid-contribution",
                    f"{hook_name} returned {value.type_name}, expected an iterable of {what}",
                )
                continue
            for item in value:
                if not isinstance(item, kind):
                    self._problem(
                        plugin,
                        "invalid-contribution",
                        f"{hook_name} gave a {type(item).__name__}, expected {what}",
                    )
                    continue
                items.append((plugin, item))
        return items

    def _cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._collected:
            self._collected[key] = build()
            self._raise_if_strict()
        return self._collected[key]

    def checks(self) -> dict[str, Check]:
        """All contributed checks by id, ``definition.plugin`` set to the contributing plugin."""
        return dict(self._cached("checks", self._build_checks))

    def _build_checks(self) -> dict[str, Check]:
        found: dict[str, Check] = {}
        for plugin, check in self._contributions("doctor_add_checks", Check, "doctor_core.Check"):
            if not isinstance(check.definition, CheckDefinition):
                self._problem(
                    plugin,
                    "invalid-contribution",
                    f"a check's definition is a {type(check.definition).__name__}, "
                    "expected doctor_core.CheckDefinition",
                )
                continue
            check_id = check.definition.check_id
            if not isinstance(check.run, str) and not callable(check.run):
                self._problem(
                    plugin,
                    "invalid-contribution",
                    f"check {check_id}: run is neither callable nor a 'module:function' string",
                )
                continue
            if check_id in found:
                first = found[check_id].definition.plugin
                self._problem(
                    plugin,
                    "duplicate-check",
                    f"check id {check_id!r} is already provided by plugin {first!r} "
                    f"({self._dist_label(first)}); the one from {plugin!r} ({self._dist_label(plugin)}) "
                    "is ignored",
                )
                continue
            definition = dataclasses.replace(check.definition, plugin=plugin)
            found[check_id] = dataclasses.replace(check, definition=definition)
        return found

    def _dist_label(self, plugin: str) -> str:
        entry = self._registered.get(plugin)
        if entry is None:
            return "unknown distribution"
        if entry.source == "built-in":
            return "doctor-core"
        name = self._distribution_name(plugin, entry.entry_point)
        return f"distribution {name}" if name else f"{entry.source} plugin"

    def reporters(self) -> dict[str, Reporter]:
        """Output formats by name (built-ins first; a later duplicate is dropped and reported)."""
        return dict(self._cached("reporters", self._build_reporters))

    def _build_reporters(self) -> dict[str, Reporter]:
        found: dict[str, Reporter] = {}
        owner: dict[str, str] = {}
        for plugin, reporter in self._contributions("doctor_add_reporters", Reporter, "doctor_core.Reporter"):
            if not reporter.name or not callable(reporter.render):
                self._problem(plugin, "invalid-contribution", "a reporter needs a name and a render callable")
                continue
            if reporter.name in found:
                self._problem(
                    plugin,
                    "duplicate-reporter",
                    f"format {reporter.name!r} is already provided by plugin {owner[reporter.name]!r}",
                )
                continue
            found[reporter.name] = reporter
            owner[reporter.name] = plugin
        return found

    def config_sections(self) -> dict[str, OwnedSection]:
        """Declared configuration sections by name, with their owning plugin."""
        return dict(self._cached("sections", self._build_sections))

    def _build_sections(self) -> dict[str, OwnedSection]:
        found: dict[str, OwnedSection] = {}
        for plugin, section in self._contributions(
            "doctor_add_config_sections", ConfigSection, "doctor_core.ConfigSection"
        ):
            # Only the shape is checked here: an import string is imported by section_models(),
            # when the configuration is read, never by ``doctor list`` or ``doctor --help``.
            if not (is_import_string(section.model) or is_model_class(section.model)):
                self._problem(
                    plugin,
                    "invalid-contribution",
                    f"config section {section.name!r}: model must be a pydantic BaseModel subclass "
                    "or a 'module:ClassName' import string",
                )
                continue
            clash = next((n for n in found if n.lower() == section.name.lower()), None)
            if not section.name or clash is not None:
                self._problem(
                    plugin,
                    "invalid-contribution",
                    f"config section {section.name!r} is empty or already declared by plugin "
                    f"{found[clash].plugin if clash else '?'!r}",
                )
                continue
            found[section.name] = OwnedSection(plugin, section)
        return found

    def section_models(self) -> dict[str, type[BaseModel]]:
        """The model class of every declared section, by section name, imported on first call.

        A model that cannot be imported, or is not a pydantic model, is recorded as an
        ``invalid-contribution`` problem of the plugin that declared the section (raised as a
        :class:`PluginError` in strict mode) and its section is left out.
        """
        return dict(self._cached("section_models", self._resolve_section_models))

    def _resolve_section_models(self) -> dict[str, type[BaseModel]]:
        models: dict[str, type[BaseModel]] = {}
        for name, owned in self.config_sections().items():
            try:
                models[name] = owned.section.resolve_model()
            except (Exception, SystemExit) as exc:
                self._problem(owned.plugin, "invalid-contribution", exc)
        return models

    def commands(self) -> dict[str, OwnedCommand]:
        """CLI command groups by name, with their owning plugin."""
        return dict(self._cached("commands", self._build_commands))

    def _build_commands(self) -> dict[str, OwnedCommand]:
        found: dict[str, OwnedCommand] = {}
        for plugin, command in self._contributions("doctor_add_commands", Command, "doctor_core.Command"):
            if command.name in RESERVED_COMMANDS or command.name in found:
                other = "doctor itself" if command.name in RESERVED_COMMANDS else found[command.name].plugin
                self._problem(
                    plugin, "duplicate-command", f"command {command.name!r} is already provided by {other}"
                )
                continue
            if not command.name or command.name.startswith("-") or " " in command.name:
                self._problem(plugin, "invalid-contribution", f"command name {command.name!r} is not a word")
                continue
            found[command.name] = OwnedCommand(plugin, command)
        return found

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook; a raising implementation is recorded, never propagated."""
        if hook_name not in LIFECYCLE_HOOKS:
            raise ValueError(f"{hook_name} is not a lifecycle hook")
        self._call_each(hook_name, kwargs)


_WRAPPERS_REFUSED = (
    "wrapper implementations (wrapper=True, hookwrapper=True) are not supported by doctor's hooks: "
    "each implementation is called on its own so that its failures are attributed to its plugin; "
    "use tryfirst=True / trylast=True to order an implementation"
)


def _call_order(impls: list[HookImpl]) -> list[HookImpl]:
    """Implementations in doctor's calling order: ``tryfirst`` ones, the others, then ``trylast``.

    Within each group the order is registration order (plugins in the order they were loaded), which
    is what keeps results in the plugins' declaration order. pluggy's own order within a group is the
    reverse (last registered first); doctor documents registration order instead.
    """
    return sorted(impls, key=lambda impl: 0 if impl.tryfirst else 2 if impl.trylast else 1)


@dataclass(frozen=True, eq=False, repr=False)  # internal: never compared or printed
class _Invalid:
    type_name: str


def _materialize(value: Any) -> Any:
    """Turn a contribution hook's return value into a list (generators run here, inside the guard)."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return _Invalid(type(value).__name__)
    return list(value)
