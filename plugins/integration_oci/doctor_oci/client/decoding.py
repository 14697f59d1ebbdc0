"""Bounded, incremental decoding of response bodies (``Content-Encoding``).

httpx decodes ``Content-Encoding`` by itself, with no limit: one ``decompress`` call per network
chunk (a 64 KiB chunk of a gzip bomb becomes 64 MiB at once), any number of stacked encodings
(``gzip, gzip, gzip`` turns a few hundred bytes into gigabytes), all on the event loop. The
transport therefore reads the *raw* body and decodes it here, under these rules:

* **Codings**: ``gzip`` / ``x-gzip`` and ``deflate`` (zlib-wrapped, or raw as some servers send
  it), ``identity``; at most :data:`MAX_STACKED_ENCODINGS` (2) non-identity codings. More, or an
  unknown coding (``br``, ``zstd``, ``compress``: doctor never asks for them), is a
  :class:`ProtocolError`. curl limits the chain after CVE-2022-32206 (to 5); Go's net/http only
  ever decodes the one gzip layer it asked for itself. Two is all a sane server sends.
* **Counting as decoding happens**: every layer decodes at most :data:`DECODE_CHUNK` bytes per
  call (zlib's ``max_length``), and the bytes each layer produced are counted against the body
  cap as they appear; past the cap decoding stops (:class:`ResponseTooLarge`). Memory is bounded
  by the cap plus one chunk per layer, whatever the compression ratio.
* **Not stalling the event loop**: :class:`DecodedBody` hands control back to the loop after
  every :data:`YIELD_EVERY` decoded bytes, so other checks' requests and timeouts keep running
  while a large body is decoded.

Like Go's transport, a decoded response no longer carries ``Content-Encoding`` or
``Content-Length`` (they describe the encoded bytes): see :func:`prepare_decoding`.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable, Iterator

import httpx

from doctor_oci.client.errors import ProtocolError, ResponseTooLarge

__all__ = [
    "ACCEPT_ENCODING",
    "DECODE_CHUNK",
    "MAX_STACKED_ENCODINGS",
    "YIELD_EVERY",
    "BodyDecoder",
    "DecodedBody",
    "content_codings",
    "prepare_decoding",
]

#: What doctor asks for: exactly the codings :class:`BodyDecoder` decodes.
ACCEPT_ENCODING = "gzip, deflate"
MAX_STACKED_ENCODINGS = 2
#: Most bytes one layer produces per decompress call.
DECODE_CHUNK = 64 * 1024
#: Decoded bytes between two returns to the event loop.
YIELD_EVERY = 512 * 1024

_GZIP = frozenset({"gzip", "x-gzip"})
_KNOWN = _GZIP | {"deflate"}


#: What an error names as its request: the text, or a function building it. Every response passes
#: here and almost none fails, so the transport hands a function and the (redacted) description
#: is built only for an error.
RequestText = str | Callable[[], str | None] | None


def _request_text(request: RequestText) -> str | None:
    return request() if callable(request) else request


def content_codings(headers: httpx.Headers, *, request: RequestText = None) -> tuple[str, ...]:
    """The non-identity codings of ``Content-Encoding``, in the order they were applied.

    Raises :class:`ProtocolError` for an unknown coding or more than :data:`MAX_STACKED_ENCODINGS`.
    """
    codings = tuple(
        value.strip().lower()
        for value in headers.get_list("content-encoding", split_commas=True)
        if value.strip() and value.strip().lower() != "identity"
    )
    unknown = sorted({coding for coding in codings if coding not in _KNOWN})
    if unknown:
        shown = ", ".join(repr(coding[:20]) for coding in unknown[:3])
        raise ProtocolError(
            f"the response uses an unsupported Content-Encoding ({shown})", request=_request_text(request)
        )
    if len(codings) > MAX_STACKED_ENCODINGS:
        raise ProtocolError(
            f"the response stacks {len(codings)} Content-Encodings; at most {MAX_STACKED_ENCODINGS} "
            "are decoded (a decompression bomb is the usual reason for more)",
            request=_request_text(request),
        )
    return codings


class _Layer:
    """One zlib-based coding, decoded in pieces of at most :data:`DECODE_CHUNK` bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._raw_deflate_tried = False
        wbits = zlib.MAX_WBITS | 16 if coding in _GZIP else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while pending and not self._obj.eof:
            try:
                out = self._obj.decompress(pending, DECODE_CHUNK)
            except zlib.error:
                if self.coding == "deflate" and not self._started and not self._raw_deflate_tried:
                    # Servers that say "deflate" but send a raw deflate stream (no zlib header).
                    self._raw_deflate_tried = True
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            self._started = True
            pending = self._obj.unconsumed_tail
            if out:
                yield out
        # Bytes after the end of the stream are ignored, as httpx does.

    def flush(self) -> Iterator[bytes]:
        out = self._obj.flush()
        if out:
            yield out


class BodyDecoder:
    """Decodes a body through its codings, counting every layer's output against ``limit``."""

    def __init__(
        self, codings: tuple[str, ...], limit: int, *, request: RequestText, status: int | None
    ) -> None:
        # Content-Encoding lists codings in the order applied: decode the last one first.
        self._layers = [_Layer(coding) for coding in reversed(codings)]
        self._produced = [0] * len(self._layers)
        self.limit = limit
        self.request = request
        self.status = status
        self.decoded = 0

    def _too_large(self, *, raw: bool = False) -> ResponseTooLarge:
        """The error for a body past the cap: the received bytes (``raw``) or a layer's output."""
        what = (
            "the response body exceeds the {limit}-byte limit; reading stopped"
            if raw or not self._layers
            else "the decoded response body exceeds the {limit}-byte limit; decoding stopped"
        )
        return ResponseTooLarge(
            what.format(limit=self.limit),
            limit=self.limit,
            status=self.status,
            request=_request_text(self.request),
        )

    def _through(self, index: int, data: bytes, *, final: bool) -> Iterator[bytes]:
        if index == len(self._layers):
            self.decoded += len(data)
            if self.decoded > self.limit:
                raise self._too_large()
            if data:
                yield data
            return
        layer = self._layers[index]
        # Lazily, piece by piece: the count must see each piece before the next is decoded.
        for piece in self._guarded(layer, layer.flush() if final else layer.feed(data)):
            self._produced[index] += len(piece)
            if self._produced[index] > self.limit:
                raise self._too_large()
            yield from self._through(index + 1, piece, final=False)
        if final:
            yield from self._through(index + 1, b"", final=True)

    def _guarded(self, layer: _Layer, pieces: Iterator[bytes]) -> Iterator[bytes]:
        """``pieces`` with a corrupt stream (``zlib.error``) turned into :class:`ProtocolError`."""
        while True:
            try:
                piece = next(pieces)
            except StopIteration:
                return
            except zlib.error:
                raise ProtocolError(
                    f"the response body's {layer.coding} encoding is corrupt",
                    status=self.status,
                    request=_request_text(self.request),
                ) from None
            yield piece

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of ``data`` (each at most :data:`DECODE_CHUNK` bytes)."""
        return self._through(0, data, final=False)

    def flush(self) -> Iterator[bytes]:
        """What the layers still hold at the end of the body."""
        return self._through(0, b"", final=True)


class DecodedBody(httpx.AsyncByteStream):
    """The decoded, capped body of a response, read from its raw stream.

    Replaces ``response.stream`` (see :func:`prepare_decoding`); ``limit`` bounds the raw bytes
    and every layer's decoded bytes. Closing it closes the raw stream (the connection).
    """

    def __init__(self, raw: httpx.AsyncByteStream, decoder: BodyDecoder) -> None:
        self._raw = raw
        self._decoder = decoder

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = self._decoder
        received = 0
        since_yield = 0
        async for chunk in self._raw:
            received += len(chunk)
            if received > decoder.limit:
                raise decoder._too_large(raw=True)
            for piece in decoder.feed(chunk):
                yield piece
                since_yield += len(piece)
                if since_yield >= YIELD_EVERY:
                    since_yield = 0
                    await asyncio.sleep(0)
        for piece in decoder.flush():
            yield piece

    async def aclose(self) -> None:
        await self._raw.aclose()


def prepare_decoding(response: httpx.Response, limit: int, *, request: RequestText) -> None:
    """Make ``response``'s body decode through :class:`DecodedBody` when it is read.

    Call before reading (``await response.aread()``). The body's codings are checked here
    (:class:`ProtocolError` for unknown or too many); a response with codings then loses its
    ``Content-Encoding`` and ``Content-Length`` headers, so httpx passes the already-decoded
    bytes through unchanged -- the public ``stream`` attribute and headers are all this touches.
    A response without a body (``HEAD``) keeps its headers: they describe the resource.
    """
    status = response.status_code
    codings = () if response.request.method == "HEAD" else content_codings(response.headers, request=request)
    if not isinstance(response.stream, httpx.AsyncByteStream):
        raise TypeError("prepare_decoding needs an async response stream")
    response.stream = DecodedBody(
        response.stream, BodyDecoder(codings, limit, request=request, status=status)
    )
    if codings:
        del response.headers["content-encoding"]
        if "content-length" in response.headers:
            del response.headers["content-length"]
