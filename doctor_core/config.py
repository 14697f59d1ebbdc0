"""Configuration: a YAML file, a mapping, the environment and command-line flags, validated per section.

Sources, later ones win key by key:

1. a YAML file: ``--config FILE``, else ``$DOCTOR_CONFIG``, else ``./doctor.yaml`` when it exists
   (no file is looked for when an embedder passes a mapping and no file);
2. a mapping given by an embedder (``Doctor({"OCI": {...}})``);
3. environment variables ``SECTION__Key`` (``OCI__RegistryUrl``); deeper ``__`` nest dicts;
4. command-line flags declared by a section (``--insecure`` -> ``OCI.Insecure``).

Sections and keys match the declared :class:`~doctor_core.types.ConfigSection` names and the model's
field names or aliases case-insensitively. Unknown sections and keys are *warnings* (with
close-match suggestions), collected in :attr:`Configuration.warnings`; they are dropped before
validation. Each section is validated lazily by its plugin's pydantic model (imported on first use
when the section names it as a ``"module:ClassName"`` string); a validation error
becomes a :class:`~doctor_core.errors.ConfigError` naming the dotted key, the reason and the source
of the value -- never the value itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doctor_core.errors import ConfigError, PluginError
from doctor_core.redaction import MASK, describe_exception, redact, register_secret
from doctor_core.types import ConfigSection

if TYPE_CHECKING:
    from pydantic import BaseModel

DEFAULT_FILE = "doctor.yaml"
ENV_FILE_VARIABLE = "DOCTOR_CONFIG"

Path_ = tuple[str, ...]


def _suggest(word: str, options: list[str]) -> str:
    import difflib  # only for a warning or an error: a clean configuration never imports it

    lowered = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(lowered[c]) for c in close)}?)" if close else ""


def _model_keys(model: type[BaseModel]) -> dict[str, str]:
    """lower-case user key (field name or alias) -> the name validation expects."""
    keys: dict[str, str] = {}
    by_alias = bool(model.model_config.get("validate_by_alias", True))
    by_name = bool(
        model.model_config.get("validate_by_name", False) or model.model_config.get("populate_by_name", False)
    )
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        if alias and by_alias:
            keys[alias.lower()] = alias
            if by_name:
                keys[name.lower()] = name
        else:
            keys[name.lower()] = name
    return keys


def _nested_model(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    from pydantic import BaseModel as Base

    for name, info in model.model_fields.items():
        if field in (name, info.alias):
            annotation = info.annotation
            candidates = [annotation, *getattr(annotation, "__args__", ())]
            for candidate in candidates:
                if isinstance(candidate, type) and issubclass(candidate, Base):
                    return candidate
    return None


def _list_item_model(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    """The item model of a ``list[Model]`` (or ``tuple[Model, ...]``) field, else ``None``."""
    import typing

    from pydantic import BaseModel as Base

    for name, info in model.model_fields.items():
        if field in (name, info.alias):
            annotation = info.annotation
            # Optional[list[Model]] too: look through a union for the list type.
            candidates = [annotation, *typing.get_args(annotation)]
            for candidate in candidates:
                if typing.get_origin(candidate) in (list, tuple):
                    args = [arg for arg in typing.get_args(candidate) if arg is not Ellipsis]
                    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], Base):
                        return args[0]
    return None


def _is_index(key: object) -> bool:
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return key >= 0
    return isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 4


def _is_secret_field(model: type[BaseModel], field: str) -> bool:
    for name, info in model.model_fields.items():
        if field in (name, info.alias):
            return "SecretStr" in repr(info.annotation)
    return False


#: Key names whose value is (or points at) a secret, whatever their type.
_SECRET_KEY_WORDS = ("password", "passwd", "token", "secret", "apikey", "api_key")


def _is_secret_bearing(model: type[BaseModel] | None, key: str) -> bool:
    """A ``SecretStr`` / ``SecretRef`` field, or a key whose name says it holds a secret."""
    if any(word in key.lower() for word in _SECRET_KEY_WORDS):
        return True
    if model is None:
        return False
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            text = repr(info.annotation)
            return "SecretStr" in text or "ResolvedSecret" in text
    return False


def _without_value(message: str, value: Any) -> str:
    """``message`` with ``value`` (and its repr form) replaced by the mask: a config error never quotes it."""
    if not isinstance(value, str) or not value:
        return message
    for form in sorted({value, repr(value)[1:-1], value.strip()} - {""}, key=len, reverse=True):
        message = message.replace(form, MASK)
    return message


class Configuration:
    """The merged configuration of one doctor run.

    :param sections: the declared sections by name (from the plugins). A model given as an import
        string is imported when the section is first needed; one that cannot be used raises
        :class:`~doctor_core.errors.PluginError` (:class:`~doctor_core.api.Doctor` resolves the
        models beforehand and reports such a section as a plugin problem instead).
    :param data: a mapping from an embedder (layer 2).
    :param config_file: explicit file (``--config``); otherwise ``$DOCTOR_CONFIG`` / ``./doctor.yaml``.
    :param environ: environment variables (layer 3 and ``DOCTOR_CONFIG``).
    :param flags: dotted key -> value from command-line flags (layer 4).
    :param cwd: directory searched for ``doctor.yaml``.
    """

    def __init__(
        self,
        sections: Mapping[str, ConfigSection],
        *,
        data: Mapping[str, Any] | None = None,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self._sections = dict(sections)
        self._environ = dict(os.environ if environ is None else environ)
        self.warnings: list[str] = []
        self._values: dict[str, dict[str, Any]] = {name: {} for name in self._sections}
        self._sources: dict[str, dict[Path_, str]] = {name: {} for name in self._sections}
        self._validated: dict[str, Any] = {}
        self._models: dict[str, type[BaseModel]] = {}
        self._lists: set[tuple[str, Path_]] = set()  # (section, path) of list-of-model values

        self.file = locate_file(config_file, self._environ, have_mapping=data is not None, cwd=cwd)
        if self.file is not None:
            self._merge_layer(read_file(self.file), f"file {self.file}")
        if data is not None:
            if not isinstance(data, Mapping):
                raise ConfigError(
                    f"the configuration must be a mapping of sections, not {type(data).__name__}"
                )
            self._merge_layer(data, "the configuration mapping")
        self._merge_environment()
        for dotted, value in (flags or {}).items():
            self._merge_flag(dotted, value)

    def _model(self, name: str) -> type[BaseModel]:
        """The model of section ``name``, imported on first use when it was given as a string."""
        model = self._models.get(name)
        if model is None:
            try:
                model = self._models[name] = self._sections[name].resolve_model()
            except (ImportError, TypeError, ValueError) as exc:
                raise PluginError(describe_exception(exc)) from None
        return model

    # ------------------------------------------------------------------ sources
    def _section_name(self, key: str, source: str, *, warn: bool = True) -> str | None:
        for name in self._sections:
            if name.lower() == str(key).lower():
                return name
        if warn:
            self.warnings.append(
                f"unknown configuration section {key!r} in {source}"
                f"{_suggest(str(key), list(self._sections))}; it is ignored"
            )
        return None

    def _merge_layer(self, layer: Mapping[str, Any], source: str) -> None:
        for key, value in layer.items():
            name = self._section_name(str(key), source)
            if name is None:
                continue
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"must be a mapping of keys, not a {type(value).__name__}", key=name, source=source
                )
            self._merge_into(name, self._model(name), (), value, source)

    def _merge_into(
        self,
        section: str,
        model: type[BaseModel] | None,
        prefix: Path_,
        values: Mapping[str, Any],
        source: str,
    ) -> None:
        target = self._values[section]
        for part in prefix:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = target[part] = {}
            target = existing
        keys = _model_keys(model) if model is not None else None
        for raw_key, value in values.items():
            key = str(raw_key)
            if keys is not None:
                canonical = keys.get(key.lower())
                if canonical is None:
                    if model is not None and model.model_config.get("extra") == "allow":
                        canonical = key
                    else:
                        dotted = ".".join((section, *prefix, key))
                        self.warnings.append(
                            f"unknown configuration key {dotted!r} in {source}"
                            f"{_suggest(key, sorted(set(keys.values())))}; it is ignored"
                        )
                        continue
                key = canonical
            item_model = _list_item_model(model, key) if model is not None else None
            if item_model is not None and isinstance(value, Mapping | list | tuple):
                self._merge_list(section, item_model, (*prefix, key), value, source)
                continue
            nested = _nested_model(model, key) if model is not None else None
            if isinstance(value, Mapping) and (nested is not None or model is None):
                self._merge_into(section, nested, (*prefix, key), value, source)
                continue
            if model is not None and isinstance(value, str) and _is_secret_field(model, key):
                register_secret(value)
            target[key] = value
            self._sources[section][(*prefix, key)] = source

    def _merge_list(
        self,
        section: str,
        item_model: type[BaseModel],
        path: Path_,
        value: Mapping[Any, Any] | list[Any] | tuple[Any, ...],
        source: str,
    ) -> None:
        """A list of models, merged entry by entry: YAML gives a list, the environment indices
        (``OCI__Registries__0__RegistryUrl``); a later layer's entry ``i`` updates entry ``i``.

        Entries are kept as a mapping of index strings until validation (:func:`_listify`), so
        each entry's keys get the same case-insensitive matching and warnings as a section's.
        """
        dotted = ".".join((section, *path))
        if isinstance(value, Mapping):
            bad = [str(key) for key in value if not _is_index(key)]
            if bad:
                raise ConfigError(
                    f"is a list: give its entries as indices 0, 1, ... (e.g. "
                    f"{section}__{'__'.join(path)}__0__KEY), not {bad[0]!r}",
                    key=dotted,
                    source=source,
                )
            items = [(str(int(key)), item) for key, item in value.items()]
        else:
            items = [(str(index), item) for index, item in enumerate(value)]
        self._lists.add((section, path))
        for index, item in items:
            if not isinstance(item, Mapping):
                raise ConfigError(
                    f"must be a mapping of keys, not a {type(item).__name__}",
                    key=f"{dotted}.{index}",
                    source=source,
                )
            self._merge_into(section, item_model, (*path, index), item, source)

    def _merge_environment(self) -> None:
        for variable in sorted(self._environ):
            if "__" not in variable:
                continue
            head, *rest = variable.split("__")
            name = self._section_name(head, f"environment variable {variable}", warn=False)
            if name is None or not rest or not all(rest):
                continue
            value: Any = self._environ[variable]
            stripped = value.strip()
            if stripped[:1] in ("[", "{"):
                try:
                    value = json.loads(stripped)
                except ValueError:
                    value = self._environ[variable]
            nested: Any = value
            for part in reversed(rest):
                nested = {part: nested}
            self._merge_into(name, self._model(name), (), nested, f"environment variable {variable}")

    def _merge_flag(self, dotted: str, value: Any) -> None:
        head, _, rest = dotted.partition(".")
        name = self._section_name(head, "the command line", warn=False) if rest else None
        if name is None:
            raise ConfigError(f"flag key {dotted!r} does not name a declared section ('SECTION.Key')")
        nested: Any = value
        for part in reversed(rest.split(".")):
            nested = {part: nested}
        self._merge_into(name, self._model(name), (), nested, f"the command line ({dotted})")

    # --------------------------------------------------------------- validation
    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(self._sections)

    def raw(self, name: str) -> dict[str, Any]:
        """The merged, unvalidated values of section ``name`` (secrets included: do not print)."""
        return dict(self._values[self._require(name)])

    def _require(self, name: str) -> str:
        found = self._section_name(name, "", warn=False)
        if found is None:
            raise ConfigError(
                f"no plugin declares the configuration section {name!r}{_suggest(name, list(self._sections))}"
            )
        return found

    def section(self, name: str) -> Any:
        """The validated model of section ``name`` (cached); :class:`ConfigError` when invalid."""
        from pydantic import SecretStr, ValidationError

        name = self._require(name)
        if name in self._validated:
            return self._validated[name]
        model = self._model(name)
        values = self._listify(name, (), self._values[name])
        try:
            validated = model.model_validate(values)
        except ValidationError as exc:
            raise self._config_error(name, exc) from None
        for value in _walk(validated):
            if isinstance(value, SecretStr):
                register_secret(value.get_secret_value())
        self._validated[name] = validated
        return validated

    def _listify(self, name: str, path: Path_, values: dict[str, Any]) -> dict[str, Any]:
        """The merged values with every list-of-model mapping ``{"0": ..., "1": ...}`` as a list.

        :raises ConfigError: indices with a gap (``...__0__`` and ``...__2__`` but no ``1``).
        """
        result: dict[str, Any] = {}
        for key, value in values.items():
            here = (*path, key)
            if isinstance(value, dict) and (name, here) in self._lists:
                indices = sorted(int(index) for index in value)
                missing = [i for i in range(len(indices)) if i not in indices]
                if missing:
                    raise ConfigError(
                        f"entry {missing[0]} is missing (entries count from 0 without gaps; "
                        f"given: {', '.join(map(str, indices))})",
                        key=".".join((name, *here)),
                        source=self._source_of(name, (*here, str(indices[-1]))),
                    )
                result[key] = [self._listify(name, (*here, str(i)), value[str(i)]) for i in indices]
            elif isinstance(value, dict):
                result[key] = self._listify(name, here, value)
            else:
                result[key] = value
        return result

    def _config_error(self, name: str, exc: Any) -> ConfigError:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        described = []
        model = self._model(name)
        for error in errors:
            loc = tuple(str(part) for part in error["loc"])
            source = self._source_of(name, loc)
            text = str(error["msg"])
            if loc and any(_is_secret_bearing(model if i == 0 else None, part) for i, part in enumerate(loc)):
                text = _without_value(text, _lookup(self._values[name], loc))
            described.append((".".join((name, *loc)), redact(text), source))
        key, message, source = described[0]
        if len(described) > 1:
            more = "; ".join(f"{k}: {m}" + (f" (from {s})" if s else "") for k, m, s in described[1:])
            message = f"{message} (from {source or 'defaults'}); also {more}"
            source = None
        return ConfigError(message, key=key, source=source)

    def _source_of(self, name: str, loc: Path_) -> str | None:
        sources = self._sources[name]
        for length in range(len(loc), 0, -1):
            if loc[:length] in sources:
                return sources[loc[:length]]
        return None


def _lookup(values: Mapping[str, Any], loc: tuple[str, ...]) -> Any:
    """The raw (unvalidated) value at ``loc``, matching keys case-insensitively; ``None`` if absent."""
    current: Any = values
    for part in loc:
        if not isinstance(current, Mapping):
            return None
        match = next((key for key in current if str(key).lower() == part.lower()), None)
        if match is None:
            return None
        current = current[match]
    return current


def _walk(value: Any) -> list[Any]:
    """Every leaf value of a validated model (nested models, mappings and sequences included)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return [leaf for name in type(value).model_fields for leaf in _walk(getattr(value, name))]
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in _walk(item)]
    if isinstance(value, list | tuple | set):
        return [leaf for item in value for leaf in _walk(item)]
    return [value]


def locate_file(
    explicit: str | Path | None,
    environ: Mapping[str, str],
    *,
    have_mapping: bool = False,
    cwd: str | Path | None = None,
) -> Path | None:
    """The configuration file to read: ``explicit`` (``--config``), else ``$DOCTOR_CONFIG``, else
    ``./doctor.yaml`` when it exists; none when an embedder passed a mapping and no file.

    :raises ConfigError: an explicitly named file (flag or variable) does not exist.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"configuration file {str(path)!r} does not exist or is not a file")
        return path
    if have_mapping:
        return None
    from_env = environ.get(ENV_FILE_VARIABLE)
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"configuration file {str(path)!r} named by {ENV_FILE_VARIABLE} does not exist "
                "or is not a file"
            )
        return path
    default = (Path(cwd) if cwd else Path.cwd()) / DEFAULT_FILE
    return default if default.is_file() else None


def read_file(path: Path) -> Mapping[str, Any]:
    """The top-level mapping of a YAML configuration file (no section is validated here).

    :raises ConfigError: unreadable, not YAML (with line and column), or not a mapping.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {str(path)!r}: {type(exc).__name__}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(
            redact(f"configuration file {str(path)!r} is not valid YAML{where}: {problem}")
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ConfigError(
            f"configuration file {str(path)!r} must contain a mapping of sections at the top level, "
            f"not a {type(loaded).__name__}"
        )
    return loaded
