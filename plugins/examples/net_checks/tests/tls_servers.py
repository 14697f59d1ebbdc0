"""Real TCP/TLS servers on 127.0.0.1 for the expiry check.

Each server runs an asyncio loop in its own thread, so it answers whether the code under test
runs in the test's event loop or in one of its own (``run_check`` starts its own).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable


class ThreadedServer:
    """A TCP server on an ephemeral 127.0.0.1 port; TLS when given a context."""

    def __init__(self, context: ssl.SSLContext | None, *, handshake: bool = True) -> None:
        self._context = context
        self._handshake = handshake
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-tls-server", daemon=True)
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            await reader.read()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _start(self) -> None:
        # Without ``handshake`` the server accepts TCP and never speaks: a handshake that hangs.
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self._context if self._handshake else None
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._clients):
            writer.close()
        await self._server.wait_closed()

    def start(self) -> ThreadedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


#: ``tls_server(valid_for=timedelta(days=90), *, handshake=True) -> ThreadedServer``
ServerFactory = Callable[..., ThreadedServer]
