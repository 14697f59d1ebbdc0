"""The cancel of a probe upload: what counts as cancelled, and cancelling after an in-flight PATCH.

Found by the reliability suite on distribution 2.8: a check cancelled while its PATCH was in flight
sent the DELETE with the POST's ``_state``; the registry had applied the PATCH, answered 404
``BLOB_UPLOAD_INVALID`` (stale state) and kept the session live -- and a 404 was counted as
"already gone".
"""

from __future__ import annotations

import asyncio

import httpx
import respx
from doctor_oci.checks._uploads import request_in_session, upload_session
from doctor_oci.client import RegistryClient
from doctor_oci.settings import OciSettings

BASE = "https://r.example.com"
UPLOADS = f"{BASE}/v2/app/blobs/uploads/"
FIRST = f"{UPLOADS}u1?_state=first"
SECOND = f"{UPLOADS}u1?_state=second"
SCOPES = ("repository:app:pull,push,delete",)


def _client() -> RegistryClient:
    return RegistryClient(OciSettings(RegistryUrl=BASE))


def _error(code: str) -> httpx.Response:
    return httpx.Response(404, json={"errors": [{"code": code, "message": code.lower()}]})


@respx.mock
async def test_a_stale_state_404_is_not_cancelled_but_unknown_upload_is() -> None:
    respx.post(UPLOADS).mock(return_value=httpx.Response(202, headers={"Location": FIRST}))
    delete = respx.delete(FIRST)
    async with _client() as client:
        delete.mock(return_value=_error("BLOB_UPLOAD_INVALID"))
        async with upload_session(client, "app", scopes=SCOPES) as session:
            pass
        assert session.cancelled is False and session.cancel_status == 404
        delete.mock(return_value=_error("BLOB_UPLOAD_UNKNOWN"))
        async with upload_session(client, "app", scopes=SCOPES) as session:
            pass
        assert session.cancelled is True


@respx.mock
async def test_cancelled_mid_patch_the_delete_uses_the_patch_answers_location() -> None:
    respx.post(UPLOADS).mock(return_value=httpx.Response(202, headers={"Location": FIRST}))
    patch_answered = asyncio.Event()

    async def slow_patch(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)  # the check is cancelled meanwhile; the registry still applies it
        patch_answered.set()
        return httpx.Response(202, headers={"Location": SECOND, "Range": "0-3"})

    respx.patch(FIRST).mock(side_effect=slow_patch)
    stale = respx.delete(FIRST).mock(return_value=_error("BLOB_UPLOAD_INVALID"))
    fresh = respx.delete(SECOND).mock(return_value=httpx.Response(204))
    sessions = []

    async def probe(client: RegistryClient) -> None:
        async with upload_session(client, "app", scopes=SCOPES) as session:
            sessions.append(session)
            await request_in_session(client, session, "PATCH", scopes=SCOPES, content=b"data")

    async with _client() as client:
        task = asyncio.ensure_future(probe(client))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert patch_answered.is_set()
    assert fresh.called and not stale.called
    assert sessions[0].cancelled is True and sessions[0].location == SECOND
