"""A loopback TCP proxy that adds a fixed one-way delay in each direction.

Why: a registry diagnostic is judged on a real network, where every round trip costs tens of
milliseconds. On loopback a sequential implementation and a parallel one look equally fast; put this
proxy between doctor and the registry (and the token server) and the number of round trips on the
critical path becomes visible in the wall time.

Contract:

* Each chunk read from one side is written to the other side ``delay`` seconds after it was *read*
  (a per-direction queue of ``(due_time, bytes)``), not after the previous chunk was written. So a
  response that arrives in 50 chunks costs one ``delay``, not 50 -- the proxy models latency, not a
  slow link. Order within a direction is preserved.
* EOF (half-close) is forwarded with the same delay; a reset on either side closes both.
* Only loopback addresses are accepted for listening and as targets: this is a test tool and must
  never become a relay to other hosts.
* It counts connections and, by parsing request heads in the client-to-server direction
  (:class:`HttpRequestCounter`), HTTP/1.x requests: the number the server actually served.
* ``delay`` can be changed while running (new chunks use the new value), so one registry can be
  measured at 0 ms and at 50 ms RTT without restarting anything.
* Connection set-up is not delayed (the client's connect completes at the proxy at once), so a new
  TCP connection costs no extra round trip here; on a real network it costs one (plus TLS). The
  numbers are therefore a lower bound for clients that open many connections.

Use in-process (a background thread with its own event loop)::

    with LatencyProxy("127.0.0.1", 5000, delay=0.025) as proxy:
        url = f"http://{proxy.address}/v2/"

or from a shell::

    python -m bench.latency_proxy --listen 127.0.0.1:5001 --target 127.0.0.1:5000 --delay-ms 25
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

#: Default one-way delay: 25 ms each way, i.e. 50 ms round-trip time.
DEFAULT_DELAY_S = 0.025
_CHUNK = 64 * 1024
#: Chunks buffered per direction before the reader stops reading (TCP back-pressure then applies).
_QUEUE_CHUNKS = 512


class ProxyError(RuntimeError):
    """The proxy could not be configured or started (bad address, non-loopback target, bind failure)."""


def ensure_loopback(host: str) -> str:
    """Return ``host`` if it names a loopback address, else raise :class:`ProxyError`.

    ``localhost`` is accepted by name; anything else must be a literal loopback IP, so a DNS answer
    can never turn the proxy into a relay to the outside.
    """
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError as exc:
        raise ProxyError(f"{host!r} is not an IP address; only loopback targets are allowed") from exc
    if not address.is_loopback:
        raise ProxyError(f"{host!r} is not a loopback address; the latency proxy only serves loopback")
    return host.strip("[]")


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5000"`` / ``"[::1]:5000"`` -> ``(host, port)``; :class:`ProxyError` when malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ProxyError(f"{text!r} must be HOST:PORT")
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ProxyError(f"{text!r}: port {port_text!r} is not a number") from exc
    if not 0 <= port <= 65535:
        raise ProxyError(f"{text!r}: port {port} is out of range")
    return ensure_loopback(host.strip("[]")), port


def _validate_delay(delay: float) -> float:
    if not 0 <= delay <= 10:
        raise ProxyError(f"delay {delay!r} s must be between 0 and 10 seconds")
    return float(delay)


@dataclass
class ProxyStats:
    """Counters of one proxy: connections accepted, open now, and bytes forwarded per direction."""

    connections: int = 0
    active: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    #: HTTP/1.x requests seen going upstream (request heads parsed on the wire).
    http_requests: int = 0
    #: Connections whose requests could not be followed (chunked bodies, HTTP/2, garbage).
    uncounted_connections: int = 0


class HttpRequestCounter:
    """Counts HTTP/1.x requests in one client->server byte stream, chunk by chunk.

    Why on the wire: it is the number the registry actually served, independent of what the
    product reports about itself. It reads request heads up to the blank line, skips a
    ``Content-Length`` body and counts one request per head. A ``Transfer-Encoding: chunked`` body
    or anything that is not an HTTP/1 request makes it stop counting that stream (``lost``), so the
    count is never inflated by body bytes that happen to look like a request line.
    """

    _MAX_HEAD = 64 * 1024

    def __init__(self) -> None:
        self.count = 0
        self.lost = False
        self._head = bytearray()
        self._body_left = 0

    def feed(self, data: bytes) -> int:
        """Consume ``data``; return how many request heads it completed."""
        if self.lost:
            return 0
        before = self.count
        view = memoryview(data)
        while view:
            if self._body_left:
                step = min(self._body_left, len(view))
                self._body_left -= step
                view = view[step:]
                continue
            self._head += view
            view = memoryview(b"")
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > self._MAX_HEAD:
                    self.lost = True
                break
            head, rest = bytes(self._head[:end]), bytes(self._head[end + 4 :])
            self._head = bytearray()
            if not self._parse(head):
                self.lost = True
                break
            view = memoryview(rest)
        return self.count - before

    def _parse(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return False
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"transfer-encoding" and b"chunked" in value.lower():
                return False
            if key == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    return False
        self.count += 1
        self._body_left = length
        return True


@dataclass
class _Pipe:
    """One direction of one connection: reader -> timestamped queue -> writer."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    proxy: AsyncLatencyProxy
    upstream: bool
    queue: asyncio.Queue[tuple[float, bytes | None]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=_QUEUE_CHUNKS)
    )
    counter: HttpRequestCounter | None = None

    async def pump_in(self) -> None:
        """Read chunks as they come, stamp each with its due time; ``None`` marks EOF."""
        while True:
            data = await self.reader.read(_CHUNK)
            due = time.monotonic() + self.proxy.delay
            if not data:
                await self.queue.put((due, None))
                return
            if self.counter is not None and not self.counter.lost:
                self.proxy.stats.http_requests += self.counter.feed(data)
                if self.counter.lost:
                    self.proxy.stats.uncounted_connections += 1
            await self.queue.put((due, data))

    async def pump_out(self) -> None:
        """Write each chunk at its due time; forward EOF as a half-close."""
        while True:
            due, data = await self.queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if self.writer.can_write_eof() and not self.writer.is_closing():
                    with contextlib.suppress(OSError):
                        self.writer.write_eof()
                return
            if self.writer.is_closing():
                return
            self.writer.write(data)
            if self.upstream:
                self.proxy.stats.bytes_up += len(data)
            else:
                self.proxy.stats.bytes_down += len(data)
            await self.writer.drain()


class AsyncLatencyProxy:
    """The proxy on the caller's event loop: ``await start()`` ... ``await close()``.

    :param target_host: loopback host to forward to.
    :param target_port: port to forward to.
    :param delay: one-way delay in seconds, applied in each direction (RTT = 2 x delay).
    :param listen_host: loopback address to listen on.
    :param listen_port: 0 picks a free port; read :attr:`port` after :meth:`start`.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay: float = DEFAULT_DELAY_S,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target_host = ensure_loopback(target_host)
        if not 0 < target_port <= 65535:
            raise ProxyError(f"target port {target_port} is out of range")
        self.target_port = target_port
        self.listen_host = ensure_loopback(listen_host)
        self.listen_port = listen_port
        self._delay = _validate_delay(delay)
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._closing = False
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def delay(self) -> float:
        """Current one-way delay in seconds; setting it affects chunks read from then on."""
        return self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        self._delay = _validate_delay(value)

    @property
    def port(self) -> int:
        """The port actually listened on (meaningful after :meth:`start`)."""
        if self._server is None:
            raise ProxyError("the proxy is not started")
        sock: socket.socket = self._server.sockets[0]
        return int(sock.getsockname()[1])

    @property
    def address(self) -> str:
        """``host:port`` to put in URLs instead of the target's."""
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start accepting; :class:`ProxyError` if the address cannot be bound."""
        if self._server is not None:
            raise ProxyError("the proxy is already started")
        try:
            self._server = await asyncio.start_server(
                self._accept, self.listen_host, self.listen_port, reuse_address=True
            )
        except OSError as exc:
            raise ProxyError(f"cannot listen on {self.listen_host}:{self.listen_port}: {exc}") from exc

    async def close(self) -> None:
        """Stop accepting, drop every open connection and wait for their handlers to finish.

        Only the pump tasks are cancelled; each connection handler then finishes on its own, so no
        handler task ends cancelled (asyncio would log that as an error).
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        for writer in list(self._writers):
            writer.close()
        handlers = list(self._handlers)
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        self.stats.connections += 1
        self.stats.active += 1
        self._writers.add(client_writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                return
            self._writers.add(upstream_writer)
            if self._closing:
                return
            up = _Pipe(client_reader, upstream_writer, self, upstream=True, counter=HttpRequestCounter())
            down = _Pipe(upstream_reader, client_writer, self, upstream=False)
            pumps = [
                asyncio.create_task(coro)
                for coro in (up.pump_in(), up.pump_out(), down.pump_in(), down.pump_out())
            ]
            self._pumps.update(pumps)
            try:
                # Both directions finished (EOF each way), or one side failed: a reset on either
                # side tears the whole connection down, as it would on a real network path.
                await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                self._pumps.difference_update(pumps)
        finally:
            self.stats.active -= 1
            for writer in (client_writer, upstream_writer):
                if writer is None:
                    continue
                self._writers.discard(writer)
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
            if handler is not None:
                self._handlers.discard(handler)


class LatencyProxy:
    """:class:`AsyncLatencyProxy` running in a background thread: a plain context manager.

    Use this from synchronous code (the bench harness, pytest fixtures). ``with`` starts it and
    returns once it is listening; leaving the block closes every connection and joins the thread.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay: float = DEFAULT_DELAY_S,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self._proxy = AsyncLatencyProxy(
            target_host, target_port, delay=delay, listen_host=listen_host, listen_port=listen_port
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def delay(self) -> float:
        return self._proxy.delay

    @delay.setter
    def delay(self, value: float) -> None:
        # A float attribute store is atomic; the proxy thread reads it per chunk, so the new value
        # applies to every chunk read after this returns.
        self._proxy.delay = value

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def address(self) -> str:
        return self._proxy.address

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy."""
        return f"http://{self.address}"

    @property
    def stats(self) -> ProxyStats:
        return self._proxy.stats

    def start(self) -> LatencyProxy:
        """Start the thread and wait until the proxy listens (re-raising a bind failure)."""
        if self._thread is not None:
            raise ProxyError("the proxy is already started")
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            self._thread.join(timeout=5)
            raise ProxyError(str(self._error)) from self._error
        if not self._ready.is_set():
            raise ProxyError("the proxy did not start within 10 s")
        return self

    def stop(self) -> None:
        """Close all connections and join the thread; safe to call twice."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self._proxy.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._proxy.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.latency_proxy --listen HOST:PORT --target HOST:PORT --delay-ms N``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency_proxy",
        description="Loopback TCP proxy adding a one-way delay in each direction (RTT = 2 x delay).",
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (port 0: any free)")
    parser.add_argument("--target", required=True, help="loopback HOST:PORT to forward to")
    parser.add_argument(
        "--delay-ms", type=float, default=DEFAULT_DELAY_S * 1000, help="one-way delay in ms (default 25)"
    )
    args = parser.parse_args(argv)
    try:
        listen_host, listen_port = parse_host_port(args.listen)
        target_host, target_port = parse_host_port(args.target)
        proxy = AsyncLatencyProxy(
            target_host,
            target_port,
            delay=args.delay_ms / 1000,
            listen_host=listen_host,
            listen_port=listen_port,
        )
    except ProxyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve_forever(proxy))


async def _serve_forever(proxy: AsyncLatencyProxy) -> int:
    try:
        await proxy.start()
    except ProxyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"listening on {proxy.address} -> {proxy.target_host}:{proxy.target_port}, "
        f"{proxy.delay * 1000:g} ms each way",
        flush=True,
    )
    await stop.wait()
    await proxy.close()
    print(f"stopped after {proxy.stats.connections} connections", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
