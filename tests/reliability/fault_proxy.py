"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, in front of the real local registry.

Why HTTP-aware (and not a byte pipe like ``bench/latency_proxy.py``): most faults need to know
where one request ends and what the response is -- "reset *after* the request", "truncate the JSON
body", "answer 429 only to the referrers endpoint".

Contract:

* The proxy listens on 127.0.0.1 only and forwards only to a loopback upstream (the registry). It
  keeps the client's ``Host`` header, so distribution builds absolute ``Location`` URLs that point
  back at the proxy; every connection is closed after one response (``Connection: close``).
* :meth:`FaultProxy.set_fault` switches the fault while running. A fault may target a path regex
  (matched with ``re.search`` against the request target, query included) and a set of methods;
  other requests pass through untouched. ``hits`` counts requests the fault was *applied* to
  (a body fault on a bodiless response is not a hit), so a test can tell "the check saw the fault"
  from "the fault did not concern it".
* ``refused`` closes the listening socket (the port then refuses connections) and ``tls-wrong-name``
  re-opens it with a certificate for another host name; any other fault re-opens the normal listener
  on the same port.
* ``redirect-foreign`` answers ``307`` to the same path on a :class:`ForeignHost`: another loopback
  port that plays a different host, answers ``401`` with a Basic challenge (the bait a leaking
  client bites on) and records every ``Authorization`` header it receives.
* ``huge-body`` streams 50 MiB in 64 KiB chunks: the proxy never holds it in memory.
* Everything runs on one background thread with its own asyncio loop (:class:`ProxyLoop`), shared
  by any number of proxies; every server and connection is closed by :meth:`FaultProxy.stop` /
  :meth:`ProxyLoop.stop`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import trustme

T = TypeVar("T")
Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter

LOOPBACK = "127.0.0.1"
HUGE_BODY_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_REQUEST_BODY = 16 * 1024 * 1024
#: Seconds between bytes in the ``trickle`` fault.
TRICKLE_INTERVAL = 1.0
#: ``Retry-After`` sent by ``429-retry-after``: far longer than any test timeout, so a client that
#: obeys it blindly would blow its deadline -- the fault proves the client bounds the wait.
RETRY_AFTER_SECONDS = 30
UPSTREAM_TIMEOUT = 10.0


class FaultProxyError(RuntimeError):
    """The proxy was misused (non-loopback upstream, bad pattern, not started)."""


class FaultKind(StrEnum):
    """The faults the proxy can inject (values are the ids used in test names and tables)."""

    NONE = "none"
    REFUSED = "refused"
    RESET_AFTER_REQUEST = "reset-after-request"
    RESET_MID_BODY = "reset-mid-body"
    STALL = "stall"
    TRICKLE = "trickle"
    HTTP_500 = "http-500"
    HTTP_502 = "http-502"
    HTTP_503 = "http-503"
    RATE_LIMIT_RETRY_AFTER = "429-retry-after"
    RATE_LIMIT = "429-no-retry-after"
    TRUNCATED_JSON = "truncated-json"
    HUGE_BODY = "huge-body"
    WRONG_CONTENT_TYPE = "wrong-content-type"
    REDIRECT_FOREIGN = "redirect-foreign"
    TLS_WRONG_NAME = "tls-wrong-name"
    #: Hold the request ``delay_s`` before forwarding it; dropped (never forwarded) when the client
    #: hangs up meanwhile. For interrupting a run while a request is in flight.
    DELAY = "delay"


#: Faults that live on the listener, not on a request.
LISTENER_FAULTS = frozenset({FaultKind.REFUSED, FaultKind.TLS_WRONG_NAME})


@dataclass(frozen=True)
class Fault:
    """One fault and the requests it applies to (``path``: regex on the request target)."""

    kind: FaultKind = FaultKind.NONE
    path: str | None = None
    methods: frozenset[str] | None = None
    #: Apply to at most this many requests, then pass everything through.
    limit: int | None = None
    delay_s: float = 3.0

    def __post_init__(self) -> None:
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise FaultProxyError(f"fault path {self.path!r} is not a valid regex: {exc}") from None
        if self.kind in LISTENER_FAULTS and (self.path is not None or self.methods is not None):
            raise FaultProxyError(f"fault {self.kind.value} acts on the listener and cannot target a path")

    def matches(self, method: str, target: str) -> bool:
        if self.kind is FaultKind.NONE:
            return False
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path is None or re.search(self.path, target) is not None


@dataclass(frozen=True)
class RequestRecord:
    """What the proxy saw: enough to prove where credentials went, never the credential itself."""

    method: str
    target: str
    fault: FaultKind
    applied: bool
    had_authorization: bool
    authorization_scheme: str | None
    #: Seconds from reading the request to having written the answer (pass-through requests):
    #: an answer slower than the client's own timeout was abandoned by the client.
    seconds: float = 0.0


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass
class _Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head_only: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def without(self, *names: str) -> list[tuple[str, str]]:
        dropped = {name.lower() for name in names}
        return [(k, v) for k, v in self.headers if k.lower() not in dropped]


class _BadRequest(Exception):
    """The client sent something the proxy cannot parse: answered 400 and closed."""


# --------------------------------------------------------------------------- HTTP parsing helpers
async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _BadRequest("connection closed inside the header block") from None
    except asyncio.LimitOverrunError:
        raise _BadRequest("header block too large") from None


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _BadRequest(f"malformed header line {line[:60]!r}")
        headers.append((name.strip(), value.strip()))
    return headers


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _BadRequest("malformed chunk size") from None
        if size == 0:
            # trailers until the empty line
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > limit:
            raise _BadRequest("chunked body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _read_body(
    reader: asyncio.StreamReader, headers: _Request | _Response, limit: int, *, until_eof: bool
) -> bytes:
    encoding = (headers.header("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        return await _read_chunked(reader, limit)
    length_text = headers.header("Content-Length")
    if length_text is not None:
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequest(f"malformed Content-Length {length_text!r}") from None
        if length < 0 or length > limit:
            raise _BadRequest(f"body of {length} bytes is over the proxy's limit")
        return await reader.readexactly(length)
    if until_eof:
        return await reader.read(limit)
    return b""


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    head = await _read_head(reader)
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(f"malformed request line {lines[0][:80]!r}")
    request = _Request(parts[0].upper(), parts[1], parts[2], _parse_headers(lines[1:]), b"")
    request.body = await _read_body(reader, request, MAX_REQUEST_BODY, until_eof=False)
    return request


def _serialize_head(status: int, reason: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response_bytes(response: _Response) -> bytes:
    headers = response.without("Transfer-Encoding", "Connection", "Content-Length", "Keep-Alive")
    if response.head_only:
        length = response.header("Content-Length")
        if length is not None:
            headers.append(("Content-Length", length))
    else:
        headers.append(("Content-Length", str(len(response.body))))
    headers.append(("Connection", "close"))
    return _serialize_head(response.status, response.reason, headers) + (
        b"" if response.head_only else response.body
    )


def _simple(
    status: int, reason: str, body: bytes, content_type: str, extra: Iterable[tuple[str, str]] = ()
) -> _Response:
    headers = [("Content-Type", content_type), *extra]
    return _Response(status, reason, headers, body)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), the way a crashing middlebox drops a connection."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _require_loopback(host: str) -> None:
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError):
        raise FaultProxyError(f"upstream host {host!r} does not resolve") from None
    if not address.is_loopback:
        raise FaultProxyError(f"upstream host {host!r} is not loopback: the proxy never relays elsewhere")


# --------------------------------------------------------------------------- the shared loop
class ProxyLoop:
    """A background thread running one asyncio loop for every proxy and foreign host of a test run."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ProxyLoop:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy-loop", daemon=True)
        self._thread.start()
        ready.wait(5)
        self._loop = loop
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        if self._loop is None:
            coro.close()
            raise FaultProxyError("the proxy loop is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = None

        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    def __enter__(self) -> ProxyLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(abc.ABC):
    """Connection bookkeeping shared by the proxy and the foreign host."""

    def __init__(self, loop: ProxyLoop | None) -> None:
        self._own_loop = loop is None
        self.loop = loop if loop is not None else ProxyLoop()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def _listen(self, ssl_context: ssl.SSLContext | None) -> None:
        self._server = await asyncio.start_server(
            self._track, LOOPBACK, self.port, ssl=ssl_context, limit=MAX_HEADER_BYTES, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _close_all(self) -> None:
        await self._close_listener()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            self._connections.discard(task)
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    @abc.abstractmethod
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection (subclasses: the proxy, the foreign host)."""

    def _start(self, ssl_context: ssl.SSLContext | None) -> None:
        if self._own_loop:
            self.loop.start()
        self.loop.run(self._listen(ssl_context))

    def stop(self) -> None:
        """Close the listener and every open connection (idempotent)."""
        if self.loop is not None and self.port:
            with contextlib.suppress(FaultProxyError, TimeoutError):
                self.loop.run(self._close_all())
        if self._own_loop:
            self.loop.stop()


@dataclass(frozen=True)
class ForeignRecord:
    method: str
    target: str
    authorization: str | None


class ForeignHost(_Server):
    """Another "host" on loopback: answers 401 with a Basic challenge and records Authorization headers."""

    def __init__(self, loop: ProxyLoop | None = None) -> None:
        super().__init__(loop)
        self.records: list[ForeignRecord] = []

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> ForeignHost:
        self._start(None)
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
        except _BadRequest:
            return
        if request is None:
            return
        self.records.append(ForeignRecord(request.method, request.target, request.header("Authorization")))
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"foreign host"}]}'
        response = _simple(
            401, "Unauthorized", body, "application/json", [("WWW-Authenticate", 'Basic realm="foreign"')]
        )
        writer.write(_response_bytes(response))
        await writer.drain()

    @property
    def authorizations(self) -> list[str]:
        """Every Authorization header value received (should always be empty)."""
        return [r.authorization for r in self.records if r.authorization]

    def __enter__(self) -> ForeignHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_context(ca: trustme.CA, *hostnames: str) -> ssl.SSLContext:
    """A server TLS context with a certificate from ``ca`` for ``hostnames``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hostnames).configure_cert(context)
    return context


# --------------------------------------------------------------------------- the proxy
class FaultProxy(_Server):
    """The fault-injecting proxy. Use as a context manager; switch faults with :meth:`set_fault`.

    :param upstream: the registry URL (``http://127.0.0.1:PORT`` or ``https://localhost:PORT``).
    :param upstream_ca: CA bundle to verify an https upstream.
    :param tls_ca: serve TLS with a certificate from this CA for ``localhost``/``127.0.0.1``
        (the proxy URL is then ``https://localhost:PORT``); also the CA of ``tls-wrong-name``.
    :param foreign: the :class:`ForeignHost` that ``redirect-foreign`` points to (one is created
        on the same loop when omitted).
    """

    def __init__(
        self,
        upstream: str,
        *,
        loop: ProxyLoop | None = None,
        upstream_ca: Path | None = None,
        tls_ca: trustme.CA | None = None,
        foreign: ForeignHost | None = None,
    ) -> None:
        super().__init__(loop)
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FaultProxyError(f"upstream {upstream!r} must be an http(s) URL")
        _require_loopback(parts.hostname)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._upstream_ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._upstream_ssl = ssl.create_default_context(cafile=str(upstream_ca) if upstream_ca else None)
        self._tls_ca = tls_ca
        self._tls = server_context(tls_ca, "localhost", LOOPBACK) if tls_ca is not None else None
        self._wrong_tls: ssl.SSLContext | None = None
        self._own_foreign = foreign is None
        self.foreign = foreign if foreign is not None else ForeignHost(self.loop)
        self.fault = Fault()
        self.records: list[RequestRecord] = []
        self.hits = 0
        #: Set when the current fault is applied for the first time (e.g. to send a signal then).
        self.hit_event = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    @property
    def url(self) -> str:
        if self._tls is not None or self.fault.kind is FaultKind.TLS_WRONG_NAME:
            return f"https://localhost:{self.port}"
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> FaultProxy:
        self._start(self._tls)
        if self._own_foreign:
            self.foreign.start()
        return self

    def set_fault(
        self,
        kind: FaultKind | str,
        *,
        path: str | None = None,
        methods: Iterable[str] | None = None,
        limit: int | None = None,
        delay_s: float = 3.0,
    ) -> None:
        """Inject ``kind`` from now on (into requests matching ``path``/``methods``); resets ``hits``.

        ``limit`` applies the fault to the first ``limit`` matching requests only; ``delay_s`` is
        the hold time of :attr:`FaultKind.DELAY`. :attr:`hit_event` is set at the first hit.
        """
        methods_set = frozenset(m.upper() for m in methods) if methods is not None else None
        fault = Fault(FaultKind(kind), path, methods_set, limit, delay_s)
        previous = self.fault
        with self._lock:
            self.fault = fault
            self.hits = 0
            self.hit_event.clear()
        if previous.kind is fault.kind or not self.port:
            return
        if fault.kind is FaultKind.REFUSED:
            self.loop.run(self._close_listener())
        elif fault.kind is FaultKind.TLS_WRONG_NAME:
            self.loop.run(self._relisten(self._wrong_name_context()))
        elif previous.kind in LISTENER_FAULTS:
            self.loop.run(self._relisten(self._tls))

    def clear(self) -> None:
        self.set_fault(FaultKind.NONE)

    def authorized_targets(self) -> list[RequestRecord]:
        return [r for r in self.records if r.had_authorization]

    def stop(self) -> None:
        super().stop()
        if self._own_foreign and not self._own_loop:
            self.foreign.stop()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ listener faults
    def _wrong_name_context(self) -> ssl.SSLContext:
        if self._wrong_tls is None:
            if self._tls_ca is None:
                self._tls_ca = trustme.CA()
            self._wrong_tls = server_context(self._tls_ca, "wrong-name.invalid")
        return self._wrong_tls

    @property
    def ca(self) -> trustme.CA:
        """The CA behind the proxy's TLS certificates (created on first use)."""
        if self._tls_ca is None:
            self._tls_ca = trustme.CA()
        return self._tls_ca

    async def _relisten(self, context: ssl.SSLContext | None) -> None:
        await self._close_listener()
        for _attempt in range(50):
            try:
                await self._listen(context)
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise FaultProxyError(f"cannot listen again on port {self.port}")

    # ------------------------------------------------------------------ request handling
    def _note(self, request: _Request, fault: Fault, applied: bool, seconds: float = 0.0) -> None:
        auth = request.header("Authorization")
        scheme = auth.split(" ", 1)[0] if auth else None
        with self._lock:
            if applied:
                self.hits += 1
                self.hit_event.set()
            self.records.append(
                RequestRecord(
                    request.method, request.target, fault.kind, applied, auth is not None, scheme, seconds
                )
            )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
        except _BadRequest as exc:
            writer.write(_response_bytes(_simple(400, "Bad Request", str(exc).encode(), "text/plain")))
            await writer.drain()
            return
        if request is None:
            return
        fault = self.fault
        active = fault.matches(request.method, request.target)
        if active and fault.limit is not None:
            with self._lock:
                active = self.hits < fault.limit
        kind = fault.kind if active else FaultKind.NONE
        handler = _HANDLERS.get(kind, FaultProxy._pass_through)
        started = time.monotonic()
        await handler(self, request, reader, writer)
        if kind is FaultKind.NONE:
            self._note(request, fault, False, time.monotonic() - started)

    async def _forward(self, request: _Request) -> _Response:
        """Send ``request`` upstream (one connection, ``Connection: close``) and read the whole response."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.upstream_host,
                self.upstream_port,
                ssl=self._upstream_ssl,
                server_hostname=self.upstream_host if self._upstream_ssl else None,
            ),
            UPSTREAM_TIMEOUT,
        )
        try:
            headers = [
                (k, v)
                for k, v in request.headers
                if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length")
            ]
            if request.body or request.method in ("POST", "PUT", "PATCH"):
                headers.append(("Content-Length", str(len(request.body))))
            headers.append(("Connection", "close"))
            lines = [f"{request.method} {request.target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
            await writer.drain()
            head = await asyncio.wait_for(_read_head(reader), UPSTREAM_TIMEOUT)
            if head is None:
                raise _BadRequest("upstream closed without answering")
            lines_in = head.decode("latin-1").split("\r\n")
            version_status = lines_in[0].split(" ", 2)
            status = int(version_status[1])
            reason = version_status[2] if len(version_status) > 2 else ""
            response = _Response(status, reason, _parse_headers(lines_in[1:]), b"")
            bodiless = request.method == "HEAD" or status in (204, 304) or 100 <= status < 200
            response.head_only = request.method == "HEAD"
            if not bodiless:
                response.body = await asyncio.wait_for(
                    _read_body(reader, response, MAX_REQUEST_BODY, until_eof=True), UPSTREAM_TIMEOUT
                )
            return response
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _send(self, writer: asyncio.StreamWriter, response: _Response) -> None:
        writer.write(_response_bytes(response))
        await writer.drain()

    async def _pass_through(self, request: _Request, _r: Reader, writer: Writer) -> None:
        try:
            response = await self._forward(request)
        except (OSError, TimeoutError, _BadRequest, asyncio.IncompleteReadError) as exc:
            text = f"fault proxy: upstream failed: {exc}".encode()
            response = _simple(502, "Bad Gateway", text, "text/plain")
        await self._send(writer, response)

    async def _reset_after_request(self, request: _Request, _r: Reader, writer: Writer) -> None:
        self._note(request, self.fault, True)
        _reset(writer)

    async def _reset_mid_body(self, request: _Request, _r: Reader, writer: Writer) -> None:
        response = await self._forward(request)
        data = _response_bytes(response)
        head_len = data.index(b"\r\n\r\n") + 4
        body_len = len(data) - head_len
        # Half the body; a bodiless response is cut inside its header block instead.
        cut = head_len + body_len // 2 if body_len > 1 else max(1, head_len // 2)
        self._note(request, self.fault, True)
        writer.write(data[:cut])
        await writer.drain()
        await asyncio.sleep(0.05)
        _reset(writer)

    async def _stall(self, request: _Request, reader: Reader, _w: Writer) -> None:
        self._note(request, self.fault, True)
        # No byte ever; returns when the client gives up (EOF) or the proxy stops (cancel).
        while await reader.read(CHUNK):
            pass

    async def _trickle(self, request: _Request, _r: Reader, writer: Writer) -> None:
        response = await self._forward(request)
        self._note(request, self.fault, True)
        for index in range(len(data := _response_bytes(response))):
            writer.write(data[index : index + 1])
            await writer.drain()
            if writer.is_closing():
                return
            await asyncio.sleep(TRICKLE_INTERVAL)

    async def _status(self, request: _Request, _r: Reader, writer: Writer) -> None:
        kind = self.fault.kind
        self._note(request, self.fault, True)
        if kind is FaultKind.HTTP_500:
            body = b'{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":"injected"}]}'
            response = _simple(500, "Internal Server Error", body, "application/json; charset=utf-8")
        elif kind in (FaultKind.HTTP_502, FaultKind.HTTP_503):
            status = 502 if kind is FaultKind.HTTP_502 else 503
            reason = "Bad Gateway" if status == 502 else "Service Unavailable"
            body = f"<html><body><h1>{status} {reason}</h1></body></html>".encode()
            response = _simple(status, reason, body, "text/html")
        else:
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limit exceeded"}]}'
            with_retry = kind is FaultKind.RATE_LIMIT_RETRY_AFTER
            extra = [("Retry-After", str(RETRY_AFTER_SECONDS))] if with_retry else []
            response = _simple(429, "Too Many Requests", body, "application/json", extra)
        response.head_only = request.method == "HEAD"
        if response.head_only:
            response.headers.append(("Content-Length", str(len(response.body))))
        await self._send(writer, response)

    async def _truncated(self, request: _Request, _r: Reader, writer: Writer) -> None:
        response = await self._forward(request)
        applied = len(response.body) > 1
        if applied:
            response.body = response.body[: len(response.body) // 2]
        self._note(request, self.fault, applied)
        await self._send(writer, response)

    async def _wrong_type(self, request: _Request, _r: Reader, writer: Writer) -> None:
        response = await self._forward(request)
        response.headers = [*response.without("Content-Type"), ("Content-Type", "text/html; charset=utf-8")]
        self._note(request, self.fault, True)
        await self._send(writer, response)

    async def _huge(self, request: _Request, _r: Reader, writer: Writer) -> None:
        response = await self._forward(request)
        if response.head_only or response.status in (204, 304):
            self._note(request, self.fault, False)
            await self._send(writer, response)
            return
        self._note(request, self.fault, True)
        headers = response.without("Transfer-Encoding", "Connection", "Content-Length", "Keep-Alive")
        headers += [("Content-Length", str(HUGE_BODY_BYTES)), ("Connection", "close")]
        writer.write(_serialize_head(response.status, response.reason, headers))
        prefix = b'{"schemaVersion":2,"padding":"'
        writer.write(prefix)
        sent = len(prefix)
        block = b"A" * CHUNK
        while sent < HUGE_BODY_BYTES:
            piece = block[: min(CHUNK, HUGE_BODY_BYTES - sent)]
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
            if writer.is_closing():
                return

    async def _delay(self, request: _Request, reader: Reader, writer: Writer) -> None:
        self._note(request, self.fault, True)
        try:
            gone = await asyncio.wait_for(reader.read(1), self.fault.delay_s) == b""
        except TimeoutError:
            gone = False
        if gone:
            return
        await self._pass_through(request, reader, writer)

    async def _redirect(self, request: _Request, _r: Reader, writer: Writer) -> None:
        self._note(request, self.fault, True)
        location = f"{self.foreign.url}{request.target}"
        response = _simple(307, "Temporary Redirect", b"", "text/plain", [("Location", location)])
        response.head_only = request.method == "HEAD"
        if response.head_only:
            response.headers.append(("Content-Length", "0"))
        await self._send(writer, response)


_Handler = Any
_HANDLERS: dict[FaultKind, _Handler] = {
    FaultKind.RESET_AFTER_REQUEST: FaultProxy._reset_after_request,
    FaultKind.RESET_MID_BODY: FaultProxy._reset_mid_body,
    FaultKind.STALL: FaultProxy._stall,
    FaultKind.TRICKLE: FaultProxy._trickle,
    FaultKind.HTTP_500: FaultProxy._status,
    FaultKind.HTTP_502: FaultProxy._status,
    FaultKind.HTTP_503: FaultProxy._status,
    FaultKind.RATE_LIMIT_RETRY_AFTER: FaultProxy._status,
    FaultKind.RATE_LIMIT: FaultProxy._status,
    FaultKind.TRUNCATED_JSON: FaultProxy._truncated,
    FaultKind.HUGE_BODY: FaultProxy._huge,
    FaultKind.WRONG_CONTENT_TYPE: FaultProxy._wrong_type,
    FaultKind.REDIRECT_FOREIGN: FaultProxy._redirect,
    FaultKind.DELAY: FaultProxy._delay,
}


@dataclass
class ProxyPool:
    """Proxies started on one shared loop, all stopped together (for a matrix of parallel cells)."""

    loop: ProxyLoop = field(default_factory=ProxyLoop)
    proxies: list[FaultProxy] = field(default_factory=list)
    foreign: ForeignHost | None = None

    def __enter__(self) -> ProxyPool:
        self.loop.start()
        self.foreign = ForeignHost(self.loop).start()
        return self

    def proxy(self, upstream: str, **kwargs: Any) -> FaultProxy:
        proxy = FaultProxy(upstream, loop=self.loop, foreign=self.foreign, **kwargs).start()
        self.proxies.append(proxy)
        return proxy

    def __exit__(self, *exc: object) -> None:
        for proxy in self.proxies:
            proxy.stop()
        if self.foreign is not None:
            self.foreign.stop()
        self.loop.stop()
