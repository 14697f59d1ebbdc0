"""Upload sessions that are always cancelled: the guarantee behind "non-destructive".

:func:`upload_session` opens a blob upload (``POST /v2/<repo>/blobs/uploads/``, optionally a
mount or a chunked start) and, whatever happens next -- success, an error, a timeout, Ctrl-C --
sends ``DELETE <Location>`` for the newest Location before the context exits.

Two windows are closed with :func:`asyncio.shield`:

* The POST itself is shielded: if the check is cancelled while the POST is in flight, we still
  wait (bounded) for its answer, learn the session's Location and cancel it. Without this, a
  cancellation that lands between "the registry opened a session" and "we read the Location"
  would leak a live session.
* The DELETE is shielded and bounded (:data:`CANCEL_TIMEOUT_S`): a second cancellation while
  cleaning up does not abort the cleanup; it is re-raised once the DELETE finished or timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urljoin

import httpx

from doctor_oci.client import RegistryClient, RegistryError

#: Upper bound on the cleanup DELETE (and on waiting for an in-flight POST after cancellation).
CANCEL_TIMEOUT_S = 5.0

T = TypeVar("T")


@dataclass(eq=False, repr=False)  # internal: never compared or printed
class UploadSession:
    """One probe upload. ``location`` is the newest Location (absolute, query kept exactly).

    After the context exits: ``cancelled`` is None when no session was opened, True when the
    DELETE was accepted (2xx) or the session was already gone (404 ``BLOB_UPLOAD_UNKNOWN``), False
    otherwise;
    ``cancel_status`` is the DELETE's HTTP status and ``cancel_error`` a (redacted) reason.
    """

    response: httpx.Response
    location: str | None
    cancelled: bool | None = None
    cancel_status: int | None = None
    cancel_error: str | None = None
    locations: list[str] = field(default_factory=list)

    def move_to(self, location: str | None, base: str) -> None:
        """Record the Location a PATCH answered with (the registry may change it each time)."""
        if location:
            self.location = urljoin(base, location)
            self.locations.append(self.location)


async def _finish_despite_cancellation(task: asyncio.Future[T], limit_s: float) -> tuple[T | None, bool]:
    """Wait (at most ``limit_s`` seconds) for ``task`` even if we are cancelled meanwhile.

    Returns ``(result or None, cancelled_meanwhile)``. The task's own exceptions are swallowed
    (they become ``None``): this is cleanup, the caller reports what it can.
    """
    cancelled = False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            task.cancel()
            break
        try:
            await asyncio.wait_for(asyncio.shield(task), remaining)
        except asyncio.CancelledError:
            cancelled = True
        except TimeoutError:
            task.cancel()
            break
        except (RegistryError, httpx.HTTPError):
            break
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None, cancelled
    return task.result(), cancelled


async def cancel_upload(client: RegistryClient, session: UploadSession, scopes: Sequence[str]) -> bool:
    """DELETE the session's Location (shielded, bounded). Re-raises a cancellation afterwards."""
    location = session.location
    if location is None:
        return True
    delete: asyncio.Future[httpx.Response | None] = asyncio.ensure_future(
        client.request("DELETE", location, scopes=scopes)
    )
    response, cancelled = await _finish_despite_cancellation(delete, CANCEL_TIMEOUT_S)
    if response is None:
        session.cancelled = False
        exc = None if not delete.done() or delete.cancelled() else delete.exception()
        session.cancel_error = str(exc) if exc is not None else f"no answer within {CANCEL_TIMEOUT_S:g}s"
    else:
        session.cancel_status = response.status_code
        # 404 means "already gone" only with BLOB_UPLOAD_UNKNOWN: distribution answers 404
        # BLOB_UPLOAD_INVALID to a DELETE whose _state is stale, and the session then stays live.
        gone = response.status_code == 404 and client.error_for(response).code in (
            None,
            "BLOB_UPLOAD_UNKNOWN",
        )
        session.cancelled = response.is_success or gone
        if not session.cancelled:
            session.cancel_error = str(client.error_for(response))
    if cancelled:
        raise asyncio.CancelledError
    return bool(session.cancelled)


@contextlib.asynccontextmanager
async def upload_session(
    client: RegistryClient,
    repository: str,
    *,
    scopes: Sequence[str],
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> AsyncIterator[UploadSession]:
    """Open an upload (POST) and guarantee its cancellation on exit.

    Yields an :class:`UploadSession` whatever the POST answered (the caller reads
    ``session.response``); only a 202 with a Location opens something to cancel. Transport errors
    of the POST propagate (no session can have been opened that we could know about).
    """
    base = f"{client.base_url}/v2/{repository}/blobs/uploads/"
    post: asyncio.Future[httpx.Response] = asyncio.ensure_future(
        client.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scopes=scopes,
            params=params,
            headers=headers,
            content=content,
            idempotent=False,
        )
    )
    try:
        response = await asyncio.shield(post)
    except asyncio.CancelledError:
        late = (await _finish_despite_cancellation(post, CANCEL_TIMEOUT_S))[0]
        if late is not None and late.status_code == 202 and late.headers.get("location"):
            orphan = UploadSession(late, urljoin(base, late.headers["location"]))
            await _cancel_quietly(client, orphan, scopes)
        raise
    location = response.headers.get("location") if response.status_code == 202 else None
    session = UploadSession(response, urljoin(base, location) if location else None)
    if session.location:
        session.locations.append(session.location)
    try:
        yield session
    finally:
        if session.location is not None:
            await cancel_upload(client, session, scopes)


async def mount_probe(
    client: RegistryClient, repository: str, blob: str, *, scopes: Sequence[str]
) -> UploadSession:
    """Mount ``blob`` from ``repository`` onto itself: once per run, shared by the checks that ask.

    201 proves push rights and cross-repository mount support without opening an upload
    session or writing anything (the blob is already linked in the repository). Any other answer
    that opened a session (202) has been cancelled when this returns. The push check and the
    capabilities check both read this one answer (see :meth:`RegistryClient.memo`).
    """

    async def probe() -> UploadSession:
        params = {"mount": blob, "from": repository}
        async with upload_session(client, repository, scopes=scopes, params=params) as session:
            pass
        return session

    return await client.memo(("mount-probe", repository, blob, tuple(scopes)), probe)


async def request_in_session(
    client: RegistryClient,
    session: UploadSession,
    method: str,
    *,
    scopes: Sequence[str],
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """Send a request that advances the session (a PATCH) so that the cancel stays possible.

    The registry may apply the request and answer with a new Location carrying new state
    (distribution's ``_state`` holds the offset). If the check is cancelled while it is in
    flight, we still wait (bounded) for the answer and move to its Location before the context's
    DELETE runs: a DELETE with the previous state is refused (404 BLOB_UPLOAD_INVALID) and would
    leave the session live.
    """
    if session.location is None:
        raise RuntimeError("request_in_session needs an open upload session")
    base = session.location
    sent: asyncio.Future[httpx.Response] = asyncio.ensure_future(
        client.request(
            method, session.location, scopes=scopes, headers=headers, content=content, idempotent=False
        )
    )
    try:
        response = await asyncio.shield(sent)
    except asyncio.CancelledError:
        late = (await _finish_despite_cancellation(sent, CANCEL_TIMEOUT_S))[0]
        if late is not None and late.status_code == 202:
            session.move_to(late.headers.get("location"), base)
        raise
    if response.status_code == 202:
        session.move_to(response.headers.get("location"), base)
    return response


async def _cancel_quietly(client: RegistryClient, session: UploadSession, scopes: Sequence[str]) -> None:
    """Cancel an orphaned session while already handling a cancellation (never raises)."""
    with contextlib.suppress(asyncio.CancelledError):
        await cancel_upload(client, session, scopes)
