"""Start Debian's ``docker-registry`` (CNCF distribution 2.8) on a free loopback port, in three set-ups.

* ``open`` -- plain http on ``127.0.0.1``, no auth: ``http://127.0.0.1:PORT``.
* ``htpasswd-tls`` -- htpasswd Basic auth (bcrypt entries) over TLS with a ``trustme`` CA; the
  certificate names ``localhost`` and ``127.0.0.1``; ``https://localhost:PORT``; the CA is written
  to ``ca_bundle``. Distribution has no per-user ACLs here: every valid user may push and delete.
* ``token`` -- Docker token auth against a :class:`~devtools.token_server.TokenServer` started
  alongside (``admin`` may do everything, other users pull only); plain http on ``127.0.0.1``.

The registry's own logs go to ``registry.log`` in its work directory (quoted in start errors).
``REGISTRY_*`` environment variables are removed from its environment because distribution lets
them override the configuration file. Storage upload purging and the storage health check are off,
so nothing but the tests' requests changes the storage tree.

Every registry this module starts is stopped by :meth:`RunningRegistry.stop`, the context manager,
or -- as a last resort -- at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import bcrypt
import httpx
import trustme
import yaml

from devtools.ports import LOOPBACK, free_port
from devtools.registry_http import RegistryHttp, tls_verify
from devtools.token_server import TokenServer

Mode = Literal["open", "htpasswd-tls", "token"]
MODES: tuple[Mode, ...] = get_args(Mode)
BINARY_NAME = "docker-registry"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 5
#: Keys of the product's ``OCI`` section (plugins/integration_oci/doctor_oci/settings.py), checked
#: here without importing the product: the helpers stay independent of the code under test.
OCI_KEYS = frozenset(
    {
        "RegistryUrl",
        "Username",
        "Password",
        "PasswordSecretRef",
        "Token",
        "TestRepository",
        "TestTag",
        "TimeoutSeconds",
        "CaBundle",
        "Insecure",
        "DockerConfig",
        "CosignRepository",
    }
)


class RegistryBinaryMissing(RuntimeError):
    """``docker-registry`` is not installed."""

    def __init__(self) -> None:
        super().__init__(
            f"the '{BINARY_NAME}' program (Debian's CNCF distribution 2.8) is not on PATH; "
            f"install it with: apt-get install {BINARY_NAME}"
        )


class RegistryStartError(RuntimeError):
    """The registry process did not come up (it died, or /v2/ never answered)."""


def find_registry_binary() -> Path:
    """Path of ``docker-registry`` on PATH, else :class:`RegistryBinaryMissing`."""
    found = shutil.which(BINARY_NAME)
    if found is None:
        raise RegistryBinaryMissing
    return Path(found)


def random_password() -> str:
    return secrets.token_urlsafe(18)


_live: weakref.WeakSet[RunningRegistry] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for registry in list(_live):
        registry.stop()


@dataclass(eq=False)
class RunningRegistry:
    """A started registry. Stop it with :meth:`stop` or by leaving the ``with`` block."""

    mode: Mode
    url: str
    host: str
    port: int
    workdir: Path
    storage: Path
    config_path: Path
    log_path: Path
    delete_enabled: bool
    ca_bundle: Path | None = None
    users: dict[str, str] = field(default_factory=dict, repr=False)
    token_server: TokenServer | None = None
    #: The trustme CA behind ``ca_bundle`` (htpasswd-tls), e.g. to issue a certificate for a wrong name.
    tls_ca: trustme.CA | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _clients: dict[str | None, RegistryHttp] = field(default_factory=dict, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def auth_enabled(self) -> bool:
        return self.mode != "open"

    @property
    def admin_user(self) -> str | None:
        """The user with every right (``admin``), or None on an open registry."""
        return "admin" if "admin" in self.users else None

    def credentials(self, user: str) -> tuple[str, str]:
        """``(user, password)`` for one of :attr:`users`; :class:`KeyError` naming the known users."""
        if user not in self.users:
            raise KeyError(f"no user {user!r} on this registry (users: {sorted(self.users)})")
        return user, self.users[user]

    def oci_config(self, **overrides: Any) -> dict[str, Any]:
        """An ``OCI`` configuration section for this registry, as the product reads it.

        ``RegistryUrl``; the admin's ``Username``/``Password`` when auth is on; ``CaBundle`` (a
        string path) with TLS. ``overrides`` win; an override of ``None`` removes the key. Unknown
        keys raise :class:`ValueError` (they would be a typo, the product forbids extra keys).
        """
        unknown = set(overrides) - OCI_KEYS
        if unknown:
            raise ValueError(f"unknown OCI keys {sorted(unknown)}; known: {sorted(OCI_KEYS)}")
        config: dict[str, Any] = {"RegistryUrl": self.url}
        if self.admin_user is not None:
            config["Username"], config["Password"] = self.credentials(self.admin_user)
        if self.ca_bundle is not None:
            config["CaBundle"] = str(self.ca_bundle)
        for key, value in overrides.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        return config

    def http(self, user: str | None = "admin") -> RegistryHttp:
        """A cached helper client acting as ``user`` (None = anonymous; always anonymous when auth is off)."""
        key = user if self.auth_enabled else None
        client = self._clients.get(key)
        if client is None:
            creds = self.credentials(key) if key is not None else (None, None)
            client = RegistryHttp(
                self.url, username=creds[0], password=creds[1], verify=self.ca_bundle or True
            )
            self._clients[key] = client
        return client

    def client_verify(self) -> bool | ssl.SSLContext:
        """The ``verify`` argument an httpx client needs to talk to this registry (trusts ``ca_bundle``)."""
        return tls_verify(self.ca_bundle) if self.ca_bundle is not None else True

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Terminate the registry (kill it if it does not exit in time) and its token server. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.process is not None:
            _terminate(self.process)
        if self.token_server is not None:
            self.token_server.stop()
        _live.discard(self)

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _htpasswd(users: Mapping[str, str], path: Path) -> Path:
    # Cost 4 (the minimum): the registry verifies bcrypt on every request, a higher cost makes
    # thousands of authenticated requests slow without making a test any safer.
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _base_config(port: int, storage: Path, delete_enabled: bool, log_level: str) -> dict[str, Any]:
    return {
        "version": 0.1,
        "log": {"level": log_level, "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": delete_enabled},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"{LOOPBACK}:{port}",
            "secret": secrets.token_hex(16),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "health": {"storagedriver": {"enabled": False}},
    }


def _validate_users(mode: Mode, users: Mapping[str, str] | None) -> dict[str, str]:
    if mode == "open":
        if users:
            raise ValueError("an open registry has no users; pass users only with 'htpasswd-tls' or 'token'")
        return {}
    chosen = dict(users) if users is not None else {"admin": random_password(), "reader": random_password()}
    for user, password in chosen.items():
        if not user or ":" in user or not password:
            raise ValueError(
                f"invalid user entry {user!r}: a non-empty name without ':' and a password are needed"
            )
    return chosen


def start_registry(
    mode: Mode,
    *,
    workdir: Path,
    delete_enabled: bool = True,
    users: Mapping[str, str] | None = None,
    token_options: Mapping[str, Any] | None = None,
    token_server_factory: Callable[..., TokenServer] | None = None,
    log_level: str = "warn",
    start_timeout: float = START_TIMEOUT,
    binary: Path | None = None,
) -> RunningRegistry:
    """Start a registry in ``mode`` under a fresh directory inside ``workdir``; return once /v2/ answers.

    :param users: user -> password for the auth modes (default ``admin`` and ``reader`` with random
        passwords); must be empty for ``open``.
    :param token_options: extra keyword arguments for :class:`TokenServer` (``anonymous_actions``,
        ``permissions``, ``expires_in``, ``oauth_post``, ``use_x5c``) in ``token`` mode.
    :param token_server_factory: builds the token server instead of :class:`TokenServer` (same
        arguments); its ``realm`` is what the registry advertises -- the bench puts a latency proxy
        in front of the token service this way.
    :param binary: the registry program to run instead of ``docker-registry`` (same configuration
        format), e.g. the referrers-API build of :mod:`devtools.referrers_registry`.
    :raises RegistryBinaryMissing: ``docker-registry`` is not installed (and no ``binary`` given).
    :raises RegistryStartError: the process died or did not answer within ``start_timeout``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown registry mode {mode!r}; choose one of {MODES}")
    if token_options and mode != "token":
        raise ValueError("token_options only apply to mode 'token'")
    binary = binary if binary is not None else find_registry_binary()
    chosen_users = _validate_users(mode, users)
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir))
    storage = root / "storage"
    storage.mkdir()

    ca_bundle: Path | None = None
    tls_ca: trustme.CA | None = None
    tls_files: tuple[Path, Path] | None = None
    htpasswd_path: Path | None = None
    token_server: TokenServer | None = None
    if mode == "htpasswd-tls":
        tls_ca = trustme.CA()
        ca_bundle = root / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(ca_bundle))
        server_cert = tls_ca.issue_cert("localhost", LOOPBACK)
        tls_files = (root / "server.pem", root / "server-key.pem")
        server_cert.private_key_and_cert_chain_pem.write_to_path(str(tls_files[0]))
        server_cert.private_key_pem.write_to_path(str(tls_files[1]))
        htpasswd_path = _htpasswd(chosen_users, root / "htpasswd")
    elif mode == "token":
        token_server = (token_server_factory or TokenServer)(chosen_users, **dict(token_options or {}))

    try:
        for _attempt in range(_PORT_ATTEMPTS):
            port = free_port()
            config = _base_config(port, storage, delete_enabled, log_level)
            if tls_files is not None:
                config["http"]["tls"] = {"certificate": str(tls_files[0]), "key": str(tls_files[1])}
            if htpasswd_path is not None:
                config["auth"] = {"htpasswd": {"realm": "doctor-test-registry", "path": str(htpasswd_path)}}
            if token_server is not None:
                bundle = token_server.signer.write_rootcertbundle(root / "token-root.pem")
                config["auth"] = {
                    "token": {
                        "realm": token_server.realm,
                        "service": token_server.service,
                        "issuer": token_server.issuer,
                        "rootcertbundle": str(bundle),
                    }
                }
            config_path = root / "config.yml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            host = f"localhost:{port}" if tls_files is not None else f"{LOOPBACK}:{port}"
            registry = RunningRegistry(
                mode=mode,
                url=("https://" if tls_files is not None else "http://") + host,
                host=host,
                port=port,
                workdir=root,
                storage=storage,
                config_path=config_path,
                log_path=root / "registry.log",
                delete_enabled=delete_enabled,
                ca_bundle=ca_bundle,
                users=chosen_users,
                token_server=token_server,
                tls_ca=tls_ca,
            )
            if _launch(binary, registry, start_timeout):
                return registry
        raise RegistryStartError(f"no free port found for the registry after {_PORT_ATTEMPTS} attempts")
    except BaseException:
        if token_server is not None:
            token_server.stop()
        raise


def _launch(binary: Path, registry: RunningRegistry, timeout: float) -> bool:
    """Start the process and wait for /v2/. False when the port was taken meanwhile (caller retries)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with registry.log_path.open("wb") as log:
        registry.process = subprocess.Popen(
            [str(binary), "serve", str(registry.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _live.add(registry)
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=registry.client_verify(), timeout=1.0, trust_env=False) as probe:
        while time.monotonic() < deadline:
            if registry.process.poll() is not None:
                registry._stopped = True
                _live.discard(registry)
                text = registry.log_text()
                if "address already in use" in text:
                    return False
                raise RegistryStartError(
                    f"{binary.name} exited with status {registry.process.returncode} "
                    f"(config {registry.config_path}):\n{text[-2000:]}"
                )
            try:
                status = probe.get(f"{registry.url}/v2/").status_code
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            expected = 401 if registry.auth_enabled else 200
            if status == expected:
                return True
            registry.stop()
            raise RegistryStartError(f"{registry.url}/v2/ answered {status}, expected {expected}")
    registry.stop()
    raise RegistryStartError(
        f"{binary.name} did not answer {registry.url}/v2/ within {timeout:.0f} s:\n"
        f"{registry.log_text()[-2000:]}"
    )
