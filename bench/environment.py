"""The system under measurement: a token-auth registry and its token server, both behind latency proxies.

Layout (every hop on 127.0.0.1)::

    doctor --> registry proxy --> docker-registry (token auth)
       \\----> token proxy ----> devtools TokenServer   (the registry's realm names the token proxy)

Both proxies share one RTT setting (:meth:`BenchRegistry.set_rtt`), so the token exchange is paid
like every other round trip. Content is pushed straight to the registry (not through the proxy)
with devtools' own client, independent of the product.

``doctor`` runs as a subprocess configured only through the environment (:meth:`doctor_env`): the
``OCI__*`` keys of the product's settings, the password through ``PasswordSecretRef=env:...``, and
a private, empty docker config so nothing from the machine's own credentials leaks in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.latency_proxy import LatencyProxy
from devtools.ports import LOOPBACK
from devtools.registry import RunningRegistry, start_registry
from devtools.token_server import TOKEN_PATH, TokenServer

#: Environment variables the bench takes away from doctor: proxies would route loopback traffic
#: elsewhere, and the caller's own doctor/OCI settings would change what is measured.
_SCRUBBED_PREFIXES = ("OCI__", "DOCTOR_", "REGISTRY_AUTH_FILE")
_SCRUBBED = {
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "DOCKER_CONFIG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
}
PASSWORD_VARIABLE = "BENCH_REGISTRY_PASSWORD"


def clean_env(base: Mapping[str, str] | None = None, *, pycache: Path | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without proxies and doctor/OCI settings.

    Byte-code caching is switched back on (``PYTHONDONTWRITEBYTECODE`` removed) because users run
    doctor with cached byte code; with ``pycache`` the cache goes to that directory
    (``PYTHONPYCACHEPREFIX``), so the bench writes nothing into the source tree.
    """
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if key not in _SCRUBBED and not key.startswith(_SCRUBBED_PREFIXES)
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache is not None:
        pycache.mkdir(parents=True, exist_ok=True)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


class _ProxiedTokenServer(TokenServer):
    """A :class:`TokenServer` whose advertised realm is a latency proxy in front of it.

    ``start_registry`` writes ``token_server.realm`` into the registry's ``auth.token.realm``; this
    subclass starts the proxy right after the server and answers the proxy's URL there, so the
    challenge the registry sends leads clients through the delay too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.latency_proxy = LatencyProxy(LOOPBACK, self.port, delay=0.0).start()
        except BaseException:
            super().stop()
            raise

    @property
    def realm(self) -> str:
        return f"{self.latency_proxy.url}{TOKEN_PATH}"

    def stop(self) -> None:
        super().stop()
        self.latency_proxy.stop()


@dataclass
class BenchRegistry:
    """A running token-auth registry with both hops behind latency proxies. Stop with :meth:`stop`."""

    registry: RunningRegistry
    registry_proxy: LatencyProxy
    workdir: Path
    repository: str = "bench/app"
    tag: str = "v1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def token_server(self) -> TokenServer:
        server = self.registry.token_server
        if server is None:
            raise RuntimeError("the bench registry has no token server")
        return server

    @property
    def token_proxy(self) -> LatencyProxy:
        server = self.token_server
        if not isinstance(server, _ProxiedTokenServer):
            raise RuntimeError("the token server is not behind a latency proxy")
        return server.latency_proxy

    @property
    def mode(self) -> str:
        """``token``, ``htpasswd-tls`` or ``open`` (devtools' registry modes)."""
        if self.registry.token_server is not None:
            return "token"
        return "htpasswd-tls" if self.registry.ca_bundle is not None else "open"

    @property
    def url(self) -> str:
        """The registry as doctor sees it: through the proxy (https for the TLS registry)."""
        scheme = "https" if self.registry.ca_bundle is not None else "http"
        return f"{scheme}://{self.registry_proxy.address}"

    @property
    def host(self) -> str:
        """``host:port`` of the proxy, for image references."""
        return self.registry_proxy.address

    def set_rtt(self, rtt_s: float) -> None:
        """Round-trip time added on both hops (half of it each way)."""
        self.registry_proxy.delay = rtt_s / 2
        if self.registry.token_server is not None:
            self.token_proxy.delay = rtt_s / 2

    def doctor_env(self, base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
        """Environment for a ``doctor`` subprocess aimed at this registry through the proxy."""
        env = clean_env(base, pycache=self.workdir / "pycache")
        docker_config = self.workdir / "docker-config"
        docker_config.mkdir(parents=True, exist_ok=True)
        if self.registry.users:
            user, password = self.registry.credentials("admin")
            env.update(
                {
                    "OCI__Username": user,
                    "OCI__PasswordSecretRef": f"env:{PASSWORD_VARIABLE}",
                    PASSWORD_VARIABLE: password,
                }
            )
        if self.registry.ca_bundle is not None:
            env["OCI__CaBundle"] = str(self.registry.ca_bundle)
        env.update(
            {
                "OCI__RegistryUrl": self.url,
                "OCI__TestRepository": self.repository,
                "OCI__TestTag": self.tag,
                "DOCKER_CONFIG": str(docker_config),
                "REGISTRY_AUTH_FILE": str(docker_config / "auth.json"),
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        env.update(overrides)
        return env

    def token_requests(self) -> int:
        """Token requests the token server answered since the last :meth:`reset_counters` (0 without one)."""
        if self.registry.token_server is None:
            return 0
        return len(self.token_server.requests)

    def reset_counters(self) -> None:
        if self.registry.token_server is not None:
            self.token_server.clear_requests()

    def stop(self) -> None:
        """Stop the registry proxy, the registry, its token server and the token proxy. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.registry_proxy.stop()
        finally:
            self.registry.stop()

    def __enter__(self) -> BenchRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_bench_registry(
    workdir: Path, *, repository: str = "bench/app", tag: str = "v1", mode: str = "token"
) -> BenchRegistry:
    """Start the registry (token auth by default; ``htpasswd-tls`` or ``open``) with every hop
    behind a 0 ms proxy (raise the RTT with ``set_rtt``).

    :raises devtools.registry.RegistryBinaryMissing: ``docker-registry`` is not installed.
    :raises devtools.registry.RegistryStartError: it did not come up.
    :raises bench.latency_proxy.ProxyError: a proxy could not listen.
    """
    if mode == "token":
        registry = start_registry(
            "token", workdir=workdir, delete_enabled=True, token_server_factory=_ProxiedTokenServer
        )
    elif mode in ("htpasswd-tls", "open"):
        registry = start_registry(mode, workdir=workdir, delete_enabled=True)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unknown bench registry mode {mode!r}: token, htpasswd-tls or open")
    try:
        proxy = LatencyProxy(LOOPBACK, registry.port, delay=0.0).start()
    except BaseException:
        registry.stop()
        raise
    return BenchRegistry(
        registry=registry, registry_proxy=proxy, workdir=workdir, repository=repository, tag=tag
    )
