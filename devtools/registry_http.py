"""A small synchronous registry client for the test helpers, written apart from the product's client.

It does exactly what the helpers need to put content into a registry and look at it: Basic auth,
the Docker token dance (GET realm with ``service``/``scope``, Basic credentials or anonymous),
monolithic blob uploads, manifests by tag or digest, upload sessions, tag lists. Tokens are cached
per scope; the scope of a request is derived from its method and path, so a warmed-up client sends
the right token without a 401 round trip (which keeps ``push_many_tags`` fast).

Errors are :class:`RegistryHttpError` with the method, the URL without query, the status and the
registry's error body -- never a header, so credentials cannot leak through them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
#: Distribution 2.8 hides OCI manifests from clients that do not list the OCI types: list them all.
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))

_REPO_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags)/")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class RegistryHttpError(Exception):
    """A registry answered something other than what the helper needed."""

    def __init__(self, message: str, *, method: str, url: str, status: int | None, body: str = "") -> None:
        where = urlsplit(url)._replace(query="", fragment="").geturl()
        detail = f"{method} {where}: {message}" + (f" (HTTP {status})" if status is not None else "")
        if body:
            detail += f": {body[:300]}"
        super().__init__(detail)
        self.method = method
        self.url = where
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge (only what the helpers need)."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        """Parse ``Bearer realm="...",service="...",scope="..."`` or ``Basic realm="..."``."""
        scheme, _, rest = header.strip().partition(" ")
        params = {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "").replace(
                '\\"', '"'
            )
            for m in _CHALLENGE_PARAM.finditer(rest)
        }
        return cls(scheme.lower(), params)


@dataclass(frozen=True)
class Manifest:
    """A manifest as fetched: raw bytes, the media type the registry sent, and the content digest."""

    body: bytes
    media_type: str
    digest: str

    def json(self) -> Any:
        return json.loads(self.body)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tls_verify(verify: bool | str | Path | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx's ``verify`` argument: a CA bundle path becomes an SSL context trusting only that bundle."""
    if isinstance(verify, str | Path):
        path = Path(verify)
        if not path.is_file():
            raise FileNotFoundError(f"CA bundle {path} does not exist")
        return ssl.create_default_context(cafile=str(path))
    return verify


def _basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _scope_for(method: str, path: str) -> str | None:
    """The token scope distribution asks for on this request (``None`` for ``/v2/`` itself)."""
    match = _REPO_PATH.match(path)
    if match is None:
        return None
    if method == "DELETE":
        actions = "delete"
    elif method in ("GET", "HEAD"):
        actions = "pull"
    else:
        actions = "pull,push"
    return f"repository:{match.group('name')}:{actions}"


class RegistryHttp:
    """Synchronous, thread-safe registry client for test fixtures.

    :param base_url: ``http://127.0.0.1:PORT`` or ``https://localhost:PORT``.
    :param username/password: credentials for Basic auth or the token exchange; None = anonymous.
    :param verify: ``True``, ``False``, a CA bundle path or an SSL context.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        verify: bool | str | Path | ssl.SSLContext = True,
        timeout: float = 10.0,
        max_connections: int = 32,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        verify_arg = tls_verify(verify)
        self._client = httpx.Client(
            timeout=timeout,
            verify=verify_arg,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            trust_env=False,
        )
        self._lock = threading.Lock()
        self._tokens: dict[str | None, str] = {}
        self._basic = False

    def __repr__(self) -> str:
        return f"RegistryHttp({self.base_url!r}, username={self.username!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RegistryHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport with auth --------------------------------------------------------------------

    def _credentials(self) -> tuple[str, str] | None:
        if self.username is None or self._password is None:
            return None
        return self.username, self._password

    def _auth_headers(self, scope: str | None) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(scope)
            basic = self._basic
        creds = self._credentials()
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if basic and creds is not None:
            return {"Authorization": _basic_header(*creds)}
        return {}

    def _fetch_token(self, challenge: Challenge, method: str, url: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryHttpError("Bearer challenge without realm", method=method, url=url, status=401)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        if challenge.params.get("scope"):
            params.extend(("scope", s) for s in challenge.params["scope"].split())
        creds = self._credentials()
        response = self._client.get(realm, params=params, auth=httpx.BasicAuth(*creds) if creds else None)
        if response.status_code != 200:
            raise RegistryHttpError(
                "token request refused",
                method="GET",
                url=realm,
                status=response.status_code,
                body=response.text,
            )
        payload = response.json()
        token = payload.get("token") or payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryHttpError("token response without a token", method="GET", url=realm, status=200)
        return token

    def request(
        self,
        method: str,
        url_or_path: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request, authenticating on a 401 challenge once; return the final response as is."""
        url = urljoin(self.base_url + "/", url_or_path)
        scope = _scope_for(method, urlsplit(url).path)
        base_headers = dict(headers or {})

        def send() -> httpx.Response:
            return self._client.request(
                method,
                url,
                headers={**base_headers, **self._auth_headers(scope)},
                content=content,
                params=params,
            )

        response = send()
        if response.status_code != 401:
            return response
        header = response.headers.get("www-authenticate", "")
        challenge = Challenge.parse(header) if header else None
        if challenge is None:
            return response
        if challenge.scheme == "basic":
            if self._credentials() is None:
                return response
            with self._lock:
                if self._basic:
                    return response
                self._basic = True
        elif challenge.scheme == "bearer":
            token = self._fetch_token(challenge, method, url)
            with self._lock:
                if self._tokens.get(scope) == token:
                    return response
                self._tokens[scope] = token
        else:
            return response
        return send()

    def _expect(self, response: httpx.Response, *statuses: int, what: str) -> httpx.Response:
        if response.status_code not in statuses:
            raise RegistryHttpError(
                f"{what} failed",
                method=response.request.method,
                url=str(response.request.url),
                status=response.status_code,
                body=response.text,
            )
        return response

    # -- registry operations ----------------------------------------------------------------------

    def ping(self) -> httpx.Response:
        """``GET /v2/`` with whatever credentials this client has."""
        return self.request("GET", "/v2/")

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return response.status_code == 200

    def start_upload(self, repository: str) -> str:
        """Open an upload session; return its absolute ``Location`` (keep the ``_state`` query)."""
        response = self._expect(
            self.request("POST", f"/v2/{repository}/blobs/uploads/"), 202, what="starting a blob upload"
        )
        return urljoin(self.base_url + "/", response.headers["location"])

    def cancel_upload(self, location: str) -> int:
        """``DELETE`` an upload session; return the status (204 when it was live)."""
        return self.request("DELETE", location).status_code

    def upload_status(self, location: str) -> int:
        """``GET`` an upload session: 204 while live, 404 ``BLOB_UPLOAD_UNKNOWN`` once gone."""
        return self.request("GET", location).status_code

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` monolithically unless the repository already has it; return its digest."""
        digest = sha256_digest(data)
        if self.blob_exists(repository, digest):
            return digest
        location = self.start_upload(repository)
        separator = "&" if "?" in location else "?"
        response = self.request(
            "PUT",
            f"{location}{separator}digest={digest}",
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )
        self._expect(response, 201, what=f"uploading blob {digest}")
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT a manifest by tag or digest; return its digest (checked against the registry's header)."""
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Content-Type": media_type},
            content=body,
        )
        self._expect(response, 201, what=f"pushing manifest {repository}:{reference}")
        digest = sha256_digest(body)
        sent = response.headers.get("docker-content-digest")
        if sent is not None and sent != digest:
            raise RegistryHttpError(
                f"registry computed digest {sent}, expected {digest}",
                method="PUT",
                url=str(response.request.url),
                status=201,
            )
        return digest

    def get_manifest(self, repository: str, reference: str, *, accept: str = MANIFEST_ACCEPT) -> Manifest:
        response = self.request("GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept})
        self._expect(response, 200, what=f"fetching manifest {repository}:{reference}")
        return Manifest(
            body=response.content,
            media_type=response.headers.get("content-type", ""),
            digest=response.headers.get("docker-content-digest") or sha256_digest(response.content),
        )

    def get_blob(self, repository: str, digest: str) -> bytes:
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}")
        self._expect(response, 200, what=f"fetching blob {digest}")
        return response.content

    def delete_manifest(self, repository: str, digest: str) -> int:
        """DELETE a manifest by digest; return the status (202 deleted, 404 unknown, 405 disabled)."""
        return self.request("DELETE", f"/v2/{repository}/manifests/{digest}").status_code

    def tags(self, repository: str) -> list[str]:
        response = self._expect(self.request("GET", f"/v2/{repository}/tags/list"), 200, what="listing tags")
        tags = response.json().get("tags") or []
        return [str(t) for t in tags]
