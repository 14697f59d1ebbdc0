"""Bounded decoding and bounded JSON (issue #12 items 2 and 4), through a real client and socket.

A loopback :class:`~devtools.hostile_http.HostileServer` sends the hostile bodies; the client,
transport and decoder are the real ones. Memory is bounded by the cap plus a chunk per layer,
which :func:`tracemalloc` measures in-process (the CLI-level RSS is in tests/reliability).
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import time
import tracemalloc
import zlib

import pytest
from doctor_oci.checks._common import error_code
from doctor_oci.client import ProtocolError, RegistryClient, ResponseTooLarge, parse_error_body
from doctor_oci.client.credentials import Credentials
from doctor_oci.client.decoding import MAX_STACKED_ENCODINGS, BodyDecoder, content_codings
from doctor_oci.client.jsonbody import MAX_JSON_DEPTH, json_depth_exceeds, parse_json
from doctor_oci.referrers import descriptors
from doctor_oci.settings import OciSettings

from devtools.hostile_http import HostileServer, Recorded, Reply

MiB = 1024 * 1024
CAP = 4 * MiB


@functools.cache
def gzip_bomb(decoded_bytes: int) -> bytes:
    """gzip of ``decoded_bytes`` zero bytes, compressed in pieces (never holding them all)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    piece = bytes(MiB)
    parts = [compressor.compress(piece) for _ in range(decoded_bytes // MiB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def serve(body: bytes, encoding: str | None, content_type: str = "application/json") -> HostileServer:
    extra = (("Content-Encoding", encoding),) if encoding else ()

    def handle(request: Recorded) -> Reply:
        return Reply(200, (("Content-Type", content_type), *extra), body)

    return HostileServer(handle)


def client_for(server: HostileServer) -> RegistryClient:
    return RegistryClient(
        OciSettings(RegistryUrl=server.origin, TimeoutSeconds=10), credentials=Credentials(source="none")
    )


# -- Content-Encoding --------------------------------------------------------------------------
async def test_gzip_body_is_decoded_and_the_headers_describe_the_decoded_bytes() -> None:
    payload = json.dumps({"tags": [f"t{i}" for i in range(1000)]}).encode()
    with serve(gzip.compress(payload), "gzip") as server:
        async with client_for(server) as client:
            response = await client.request("GET", "/v2/app/tags/list")
    assert response.content == payload and response.json()["tags"][999] == "t999"
    assert "content-encoding" not in response.headers and "content-length" not in response.headers
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("raw_deflate", [False, True])
async def test_deflate_zlib_wrapped_and_raw_are_decoded(raw_deflate: bool) -> None:
    payload = b'{"ok": true}' * 50
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)
    body = compressor.compress(payload) + compressor.flush()
    with serve(body, "deflate") as server:
        async with client_for(server) as client:
            assert (await client.request("GET", "/v2/")).content == payload


async def test_two_stacked_gzip_layers_are_decoded() -> None:
    payload = b'{"layers": 2}'
    with serve(gzip.compress(gzip.compress(payload)), "gzip, gzip") as server:
        async with client_for(server) as client:
            assert (await client.request("GET", "/v2/")).content == payload


async def test_three_stacked_encodings_are_a_protocol_error_before_any_decoding() -> None:
    body = gzip.compress(gzip.compress(gzip.compress(bytes(10 * MiB))))
    assert len(body) < 2000  # a few hundred bytes that used to become gigabytes
    with serve(body, "gzip, gzip, gzip") as server:
        async with client_for(server) as client:
            with pytest.raises(ProtocolError, match="stacks 3 Content-Encodings"):
                await client.request("GET", "/v2/")


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, x-unknown"])
async def test_unknown_encoding_is_a_protocol_error(encoding: str) -> None:
    with serve(b"\x00garbage", encoding) as server:
        async with client_for(server) as client:
            with pytest.raises(ProtocolError, match="unsupported Content-Encoding"):
                await client.request("GET", "/v2/")


async def test_corrupt_gzip_is_a_protocol_error() -> None:
    with serve(b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip") as server:
        async with client_for(server) as client:
            with pytest.raises(ProtocolError, match="gzip encoding is corrupt"):
                await client.request("GET", "/v2/")


@pytest.mark.parametrize("layers", [1, 2])
async def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(layers: int) -> None:
    body = gzip_bomb(1024 * MiB)  # ~1 MiB of gzip, 1 GiB decoded
    encoding = "gzip"
    if layers == 2:
        body, encoding = gzip.compress(body), "gzip, gzip"
    with serve(body, encoding) as server:
        async with client_for(server) as client:
            tracemalloc.start()
            try:
                started = time.monotonic()
                with pytest.raises(ResponseTooLarge, match="decoded response body exceeds") as info:
                    await client.request("GET", "/v2/")
                elapsed = time.monotonic() - started
                _current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert info.value.limit == CAP
    assert peak < CAP * 3 + 8 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert elapsed < 5, elapsed


async def test_decoding_a_bomb_does_not_stall_the_event_loop() -> None:
    """Two gzip layers, 1 GiB decoded: httpx decoded a whole network chunk per call (seconds)."""
    body = gzip.compress(gzip_bomb(1024 * MiB))
    with serve(body, "gzip, gzip") as server:
        async with client_for(server) as client:
            gaps: list[float] = []
            done = asyncio.Event()

            async def ticker() -> None:
                last = time.monotonic()
                while not done.is_set():
                    await asyncio.sleep(0.005)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            tick = asyncio.create_task(ticker())
            try:
                with pytest.raises(ResponseTooLarge):
                    await client.request("GET", "/v2/", max_body_bytes=40 * MiB)
            finally:
                done.set()
                await tick
    assert gaps and max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.3f} s"


def test_decoder_counts_every_layer_and_never_yields_more_than_a_chunk() -> None:
    decoder = BodyDecoder(("gzip",), 2 * MiB, request=None, status=200)
    pieces = []
    with pytest.raises(ResponseTooLarge):
        for piece in decoder.feed(gzip_bomb(64 * MiB)):
            pieces.append(len(piece))
    assert max(pieces) <= 64 * 1024 and sum(pieces) <= 2 * MiB


def test_content_codings_allows_at_most_two() -> None:
    import httpx

    assert MAX_STACKED_ENCODINGS == 2
    assert content_codings(httpx.Headers({"content-encoding": "identity, gzip"})) == ("gzip",)
    assert content_codings(
        httpx.Headers([("content-encoding", "gzip"), ("content-encoding", "deflate")])
    ) == (
        "gzip",
        "deflate",
    )
    with pytest.raises(ProtocolError):
        content_codings(httpx.Headers({"content-encoding": "gzip, deflate, gzip"}))


# -- JSON nesting ------------------------------------------------------------------------------
DEEP = b"[" * 200_000
DEEP_OBJECT = b'{"a":' * 100_000


@pytest.mark.parametrize(
    "body", [DEEP, DEEP_OBJECT, b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)]
)
def test_parse_json_refuses_deep_nesting_as_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="deeper than"):
        parse_json(body, what="the thing")


def test_parse_json_accepts_the_limit_and_reports_other_garbage() -> None:
    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, what="x") is not None
    with pytest.raises(ProtocolError, match="not UTF-8"):
        parse_json(b"\xff\xfe", what="x")
    with pytest.raises(ProtocolError, match="not valid JSON"):
        parse_json(b"{", what="x")
    assert not json_depth_exceeds({"a": [{"b": [1, 2]}]}, limit=4)
    assert json_depth_exceeds({"a": [{"b": [1, 2]}]}, limit=3)


def test_every_registry_json_reader_survives_deep_nesting() -> None:
    import httpx

    deep_error = b'{"errors":' + b"[" * 5000
    assert parse_error_body(deep_error)[0] == ()
    assert descriptors.parse_index(DEEP, "application/vnd.oci.image.index.v1+json") is None
    assert descriptors.error_code(DEEP) is None
    response = httpx.Response(404, content=b'{"errors":' + DEEP, request=httpx.Request("GET", "http://x/"))
    assert error_code(response) is None


async def test_deep_json_token_answer_is_a_protocol_error() -> None:
    def handle(request: Recorded) -> Reply:
        if request.path.startswith("/token"):
            return Reply(200, (("Content-Type", "application/json"),), DEEP)
        return Reply(401, (("WWW-Authenticate", f'Bearer realm="{server.origin}/token"'),))

    server = HostileServer(handle)
    with server:
        async with client_for(server) as client:
            with pytest.raises(ProtocolError, match="token service's answer nests JSON deeper"):
                await client.get_manifest("app", "latest")


@pytest.mark.parametrize("what", ["tag list", "manifest"])
async def test_deep_json_tag_list_and_manifest_are_protocol_errors(what: str) -> None:
    content_type = "application/json" if what == "tag list" else "application/vnd.oci.image.manifest.v1+json"
    with serve(DEEP, None, content_type) as server:
        async with client_for(server) as client:
            with pytest.raises(ProtocolError, match=f"the {what} nests JSON deeper"):
                if what == "tag list":
                    await client.list_tags("app")
                else:
                    await client.get_manifest("app", "latest")
