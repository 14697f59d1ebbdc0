"""The TLS contexts the registry clients verify with, built once per process and shared.

Building an ``ssl.SSLContext`` loads a CA bundle: about 20 ms of CPU each time (certifi's bundle),
and httpx builds one per ``AsyncClient`` when given ``verify=True``. A run over 20 registries opens
20 clients (one per registry: credentials are never shared), so building a context per client
was 0.4 s of CPU spent parsing the same certificates. A context holds no credentials -- only the
trust anchors and the verification mode -- so clients with the same trust share one.

The contexts are exactly what httpx would build (:func:`httpx.create_ssl_context` with
``trust_env=True``: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi), or
``ssl.create_default_context(cafile=CaBundle)``. The cache key includes the environment variables
and the CA file's identity (path, size, modification time), so a changed bundle or environment
gets a fresh context.
"""

from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path

_lock = threading.Lock()
_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}


def _file_identity(path: Path) -> tuple[object, ...]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None, None)  # let ssl raise its own error on building
    return (str(path), stat.st_size, stat.st_mtime_ns)


def verifying_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The shared context verifying against ``ca_bundle`` (only it), else the default trust."""
    if ca_bundle is not None:
        key: tuple[object, ...] = ("cafile", *_file_identity(ca_bundle))
    else:
        key = ("default", os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _lock:
        context = _contexts.get(key)
        if context is None:
            if ca_bundle is not None:
                context = ssl.create_default_context(cafile=str(ca_bundle))
            else:
                import httpx

                context = httpx.create_ssl_context(verify=True, trust_env=True)
            _contexts[key] = context
        return context
