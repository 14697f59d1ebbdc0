"""Where the registry credentials come from: the configuration, else what the user already has.

Resolution order (first match wins):

1. ``OCI`` configuration: ``Token`` (static bearer); ``Username`` + ``Password`` /
   ``PasswordSecretRef``. A username without a password is reported in ``problem`` (the
   credentials check shows it), not raised.
2. The docker config (``DockerConfig``, else ``$DOCKER_CONFIG/config.json``, else
   ``~/.docker/config.json``): ``credHelpers[host]``, else ``credsStore`` (running
   ``docker-credential-<name> get`` with a timeout), else ``auths`` (base64 ``auth`` with NUL
   bytes stripped, ``identitytoken``, legacy ``username``/``password``, ``registrytoken``). Keys
   are matched by host, so legacy keys with scheme and path (``https://host/v1/``) match; Docker
   Hub's key is ``https://index.docker.io/v1/``.
3. containers ``auth.json`` (``REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``,
   ``$XDG_CONFIG_HOME/containers/auth.json``): namespace keys, longest match first.
4. Anonymous.

``Credentials.source`` says where they came from, never the secret. Every secret found is
registered (:func:`doctor_oci.client.hooks.register_secret`: doctor's secret registry when doctor
hosts the client) before anything else happens, and held as a :class:`~doctor_oci.client.options.Secret`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from doctor_oci.client.errors import ProtocolError
from doctor_oci.client.hooks import redact, register_secret
from doctor_oci.client.jsonbody import parse_json
from doctor_oci.client.options import ClientSettings, Secret, SecretValue

__all__ = [
    "DOCKER_HUB_CONFIG_KEY",
    "HELPER_TIMEOUT_S",
    "Credentials",
    "default_docker_config_path",
    "resolve_credentials",
]

DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
HELPER_TIMEOUT_S = 5.0
#: Larger config files are not read (a misconfigured path must not load a huge file).
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: Helper output beyond this is ignored as garbage.
MAX_HELPER_OUTPUT = 64 * 1024
_NOT_FOUND = "credentials not found in native keychain"
_TOKEN_USERNAME = "<token>"

Method = Literal["basic", "bearer", "anonymous"]


@dataclass(frozen=True, repr=False)
class Credentials:
    """Resolved credentials. ``repr``/``str`` show where they came from, never the secrets.

    ``method``: ``"basic"`` (username + password, also sent to token services), ``"bearer"``
    (static ``token`` sent as is, or an ``identity_token`` exchanged for access tokens),
    ``"anonymous"``. ``source``: ``"config"``, ``"config:PasswordSecretRef"``, ``"config:Token"``,
    ``"docker-config"``, ``"credential-helper:<name>"``, ``"containers-auth"``, ``"none"``.
    ``problem``: why configured credentials cannot be used (username without password, a
    broken docker config, a failing helper). ``note``: harmless context (a helper had nothing).
    ``location``: the file the credentials came from, when any.
    """

    method: Method = "anonymous"
    username: str | None = None
    source: str = "none"
    problem: str | None = None
    note: str | None = None
    location: str | None = None
    password: Secret | None = field(default=None, compare=False)
    token: Secret | None = field(default=None, compare=False)
    identity_token: Secret | None = field(default=None, compare=False)

    @property
    def has_secret(self) -> bool:
        return any(value is not None for value in (self.password, self.token, self.identity_token))

    @property
    def usable_basic(self) -> tuple[str, str] | None:
        """``(username, password)`` when both are present."""
        if self.username is not None and self.password is not None:
            return self.username, self.password.get_secret_value()
        return None

    def __repr__(self) -> str:
        fields = [f"method={self.method!r}", f"source={self.source!r}", f"username={self.username!r}"]
        kinds = [name for name in ("password", "token", "identity_token") if getattr(self, name) is not None]
        fields.append(f"secrets={kinds!r}")
        if self.problem:
            fields.append(f"problem={self.problem!r}")
        if self.note:
            fields.append(f"note={self.note!r}")
        return redact(f"Credentials({', '.join(fields)})")

    __str__ = __repr__


def default_docker_config_path(settings: ClientSettings | None = None) -> Path:
    """``DockerConfig``, else ``$DOCKER_CONFIG/config.json`` (a directory), else ``~/.docker/config.json``."""
    if settings is not None and settings.DockerConfig is not None:
        return settings.DockerConfig.expanduser()
    directory = os.environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory).expanduser() / "config.json"
    return Path.home() / ".docker" / "config.json"


def _containers_auth_paths() -> list[Path]:
    explicit = os.environ.get("REGISTRY_AUTH_FILE")
    if explicit:
        return [Path(explicit).expanduser()]
    paths: list[Path] = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        paths.append(Path(runtime) / "containers" / "auth.json")
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    paths.append(Path(config_home) / "containers" / "auth.json")
    return paths


class _FileProblem(Exception):
    """A credentials file exists but cannot be used; the message names the file."""


def _load_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` if the file does not exist; :class:`_FileProblem` if unusable."""
    try:
        if not path.exists():
            return None
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise _FileProblem(f"{path} is larger than {MAX_CONFIG_BYTES} bytes; not read")
        text = path.read_text(encoding="utf-8")
    except _FileProblem:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise _FileProblem(f"{path} cannot be read ({type(exc).__name__})") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _FileProblem(f"{path} is not valid JSON (line {getattr(exc, 'lineno', '?')})") from None
    except RecursionError:
        raise _FileProblem(f"{path} nests JSON too deeply to be a credentials file") from None
    if not isinstance(data, dict):
        raise _FileProblem(f"{path} does not hold a JSON object")
    return data


def _key_host(key: str) -> str:
    """Host of a key: ``https://host:5000/v1/`` -> ``host:5000``, ``quay.io/org`` -> ``quay.io``."""
    text = key.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    return text.split("/", 1)[0]


def _host_candidates(host: str) -> list[str]:
    host = host.lower()
    if host in _HUB_HOSTS:
        return [DOCKER_HUB_CONFIG_KEY, "docker.io", "index.docker.io", "registry-1.docker.io"]
    return [host]


def _find_key(mapping: Mapping[str, Any], host: str) -> str | None:
    """The key of ``mapping`` for ``host``: exact candidates first, then keys matching by host."""
    candidates = _host_candidates(host)
    for candidate in candidates:
        if candidate in mapping:
            return candidate
    hosts = {_key_host(candidate) for candidate in candidates}
    for key in mapping:
        if isinstance(key, str) and _key_host(key) in hosts and "/" not in key.split("://", 1)[-1].strip("/"):
            return key
    for key in mapping:
        if (
            isinstance(key, str)
            and _key_host(key) in hosts
            and key.startswith(("http://", "https://"))
            and not key.rstrip("/").endswith(("/access-token", "/refresh-token"))
        ):
            return key
    return None


def _server_url(host: str) -> str:
    return DOCKER_HUB_CONFIG_KEY if host.lower() in _HUB_HOSTS else host


def _decode_auth(value: str, where: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _FileProblem(f"the 'auth' value for {where} is not valid base64 of 'user:password'") from None
    username, sep, password = text.partition(":")
    if not sep:
        raise _FileProblem(f"the 'auth' value for {where} does not decode to 'user:password'")
    return username, password.strip("\x00")


def _from_entry(entry: Any, key: str, path: Path, source: str) -> Credentials | None:
    """Credentials from one ``auths`` entry, or ``None`` if it holds none (``{}``)."""
    if not isinstance(entry, dict):
        raise _FileProblem(f"the entry {key!r} in {path} is not a JSON object")
    where = f"{key!r} in {path}"
    username: str | None = None
    password: str | None = None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth.strip():
        register_secret(auth.strip())
        username, password = _decode_auth(auth, where)
    elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        username, password = entry["username"], entry["password"].strip("\x00")
    identity = entry.get("identitytoken")
    registry_token = entry.get("registrytoken")
    if isinstance(identity, str) and identity:
        register_secret(identity)
        if password:
            register_secret(password, username=username)
        return Credentials(
            method="bearer",
            username=username if username != _TOKEN_USERNAME else None,
            source=source,
            location=str(path),
            identity_token=SecretValue(identity),
        )
    if isinstance(registry_token, str) and registry_token:
        register_secret(registry_token)
        return Credentials(
            method="bearer", source=source, location=str(path), token=SecretValue(registry_token)
        )
    if username is not None and password:
        register_secret(password, username=username)
        return Credentials(
            method="basic",
            username=username,
            source=source,
            location=str(path),
            password=SecretValue(password),
        )
    if username:
        return Credentials(
            method="basic",
            username=username,
            source=source,
            location=str(path),
            problem=f"the entry {where} has a username but no password",
        )
    return None


def _run_helper(name: str, host: str, timeout_s: float) -> Credentials:
    """Ask ``docker-credential-<name> get`` for ``host``; failures become ``problem``, not exceptions."""
    source = f"credential-helper:{name}"
    program = f"docker-credential-{name}"
    if not name or "/" in name or name.startswith("."):
        return Credentials(source=source, problem=f"invalid credential helper name {name!r}")
    executable = shutil.which(program)
    if executable is None:
        return Credentials(
            source=source, problem=f"credential helper {program} is configured but not on PATH"
        )
    try:
        process = subprocess.Popen(
            [executable, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return Credentials(
            source=source, problem=f"credential helper {program} could not be started ({type(exc).__name__})"
        )
    try:
        stdout, stderr = process.communicate(input=_server_url(host).encode() + b"\n", timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return Credentials(
            source=source, problem=f"credential helper {program} did not answer within {timeout_s:g} s"
        )
    out = stdout[:MAX_HELPER_OUTPUT].decode("utf-8", errors="replace").strip()
    err = stderr[:MAX_HELPER_OUTPUT].decode("utf-8", errors="replace").strip()
    if process.returncode != 0:
        if _NOT_FOUND in out.lower() or _NOT_FOUND in err.lower():
            return Credentials(source="none", note=f"{program} has no credentials for {host}")
        first_line = (err or out).splitlines()[0][:200] if (err or out) else "no output"
        return Credentials(
            source=source,
            problem=redact(f"credential helper {program} failed (exit {process.returncode}): {first_line}"),
        )
    try:
        data = parse_json(out, what=f"credential helper {program}'s answer")
    except ProtocolError:
        return Credentials(
            source=source, problem=f"credential helper {program} printed something that is not JSON"
        )
    if not isinstance(data, dict) or not isinstance(data.get("Secret"), str) or not data.get("Secret"):
        return Credentials(source=source, problem=f"credential helper {program} answered without a 'Secret'")
    secret: str = data["Secret"]
    username = data.get("Username") if isinstance(data.get("Username"), str) else None
    if username == _TOKEN_USERNAME:
        register_secret(secret)
        return Credentials(method="bearer", source=source, identity_token=SecretValue(secret))
    register_secret(secret, username=username)
    if not username:
        return Credentials(method="bearer", source=source, identity_token=SecretValue(secret))
    return Credentials(method="basic", username=username, source=source, password=SecretValue(secret))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the helper and anything it started (a hung helper's children keep the pipes open)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    try:
        process.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=2)


def _from_helpers(data: Mapping[str, Any], host: str, path: Path, timeout_s: float) -> Credentials | None:
    helpers = data.get("credHelpers")
    if helpers is not None and not isinstance(helpers, dict):
        raise _FileProblem(f"'credHelpers' in {path} is not a JSON object")
    if helpers:
        key = _find_key(helpers, host)
        if key is not None:
            name = helpers[key]
            if not isinstance(name, str):
                raise _FileProblem(f"credHelpers[{key!r}] in {path} is not a string")
            return _with_location(_run_helper(name, host, timeout_s), path)
    store = data.get("credsStore")
    if isinstance(store, str) and store.strip():
        return _with_location(_run_helper(store.strip(), host, timeout_s), path)
    return None


def _with_location(credentials: Credentials, path: Path) -> Credentials:
    return Credentials(
        method=credentials.method,
        username=credentials.username,
        source=credentials.source,
        problem=credentials.problem,
        note=credentials.note,
        location=str(path),
        password=credentials.password,
        token=credentials.token,
        identity_token=credentials.identity_token,
    )


def _from_docker_config(path: Path, host: str, timeout_s: float) -> Credentials | None:
    data = _load_json(path)
    if data is None:
        return None
    found = _from_helpers(data, host, path, timeout_s)
    if found is not None:
        return found
    auths = data.get("auths")
    if auths is None:
        return None
    if not isinstance(auths, dict):
        raise _FileProblem(f"'auths' in {path} is not a JSON object")
    key = _find_key(auths, host)
    if key is None:
        return None
    return _from_entry(auths[key], key, path, "docker-config")


def _from_containers_auth(
    path: Path, host: str, repository: str | None, timeout_s: float
) -> Credentials | None:
    data = _load_json(path)
    if data is None:
        return None
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict) and _find_key(helpers, host) is not None:
        return _from_helpers({"credHelpers": helpers}, host, path, timeout_s)
    auths = data.get("auths")
    if auths is None:
        return None
    if not isinstance(auths, dict):
        raise _FileProblem(f"'auths' in {path} is not a JSON object")
    bare = host.lower()
    if bare in _HUB_HOSTS:
        bare = "docker.io"
    candidates: list[str] = []
    if repository:
        parts = repository.split("/")
        candidates = [f"{bare}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    candidates.append(bare)
    for candidate in candidates:
        if candidate in auths:
            return _from_entry(auths[candidate], candidate, path, "containers-auth")
    key = _find_key(auths, host)
    return _from_entry(auths[key], key, path, "containers-auth") if key is not None else None


def _from_settings(settings: ClientSettings) -> Credentials | None:
    if settings.Token is not None:
        token = settings.Token.get_secret_value()
        register_secret(token)
        problem = None
        if settings.Username or settings.Password is not None or settings.PasswordSecretRef is not None:
            problem = "both Token and Username/Password are configured; the Token is used"
        return Credentials(
            method="bearer", username=None, source="config:Token", token=SecretValue(token), problem=problem
        )
    password = settings.password()
    source = (
        "config:PasswordSecretRef" if settings.Password is None and settings.PasswordSecretRef else "config"
    )
    if settings.Username:
        if password is None:
            return Credentials(
                method="basic",
                username=settings.Username,
                source="config",
                problem=f"username {settings.Username!r} has no password: set OCI__Password or "
                "OCI__PasswordSecretRef (or remove Username for anonymous access)",
            )
        register_secret(password, username=settings.Username)
        return Credentials(
            method="basic", username=settings.Username, source=source, password=SecretValue(password)
        )
    if password is not None:
        register_secret(password)
        return Credentials(
            method="anonymous",
            source=source,
            problem="a password is configured but no Username: set OCI__Username",
        )
    return None


def _is_configured_registry(settings: ClientSettings, registry_host: str) -> bool:
    from doctor_oci.client.reference import RegistryEndpoint

    try:
        return RegistryEndpoint.from_settings(settings).host == RegistryEndpoint.parse(registry_host).host
    except ValueError:
        return False


def resolve_credentials(
    settings: ClientSettings,
    registry_host: str,
    *,
    repository: str | None = None,
    helper_timeout_s: float = HELPER_TIMEOUT_S,
) -> Credentials:
    """Credentials for ``registry_host`` (``host[:port]`` as in image references), in the order above.

    The ``OCI`` section's own credentials (``Username``/``Password``/``PasswordSecretRef``/
    ``Token``) belong to the registry it configures (``RegistryUrl``'s host; Docker Hub when it is
    unset) and are never returned for another host: a client for another registry (an image or a
    cosign repository elsewhere) gets that host's docker config, helper or auth.json entry, or
    nothing. This is the one place that rule lives; every client resolves credentials here.

    ``repository`` lets namespace keys of containers ``auth.json`` (``quay.io/org``) match.
    Never raises for bad files or helpers: the result's ``problem`` says what is wrong.
    """
    configured = _from_settings(settings) if _is_configured_registry(settings, registry_host) else None
    if configured is not None:
        return configured
    docker_path = default_docker_config_path(settings)
    try:
        if settings.DockerConfig is not None and not docker_path.exists():
            return Credentials(
                source="none", problem=f"the configured DockerConfig {docker_path} does not exist"
            )
        found = _from_docker_config(docker_path, registry_host, helper_timeout_s)
        if found is not None:
            return found
    except _FileProblem as exc:
        return Credentials(
            source="none", location=str(docker_path), problem=redact(f"docker config unusable: {exc}")
        )
    for path in _containers_auth_paths():
        try:
            found = _from_containers_auth(path, registry_host, repository, helper_timeout_s)
        except _FileProblem as exc:
            return Credentials(
                source="none", location=str(path), problem=redact(f"containers auth file unusable: {exc}")
            )
        if found is not None:
            return found
    return Credentials()
