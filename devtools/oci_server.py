"""A small in-memory registry that follows the OCI distribution-spec v1.1, for tests and demos.

Debian's ``docker-registry`` (distribution 2.8) has no referrers API, so the native discovery path
needs a server that has one. This one implements just enough of the spec, on 127.0.0.1 in a
background thread, to push artifacts and list their referrers:

* ``GET /v2/`` -> 200
* manifests: ``PUT``/``GET``/``HEAD``/``DELETE`` by tag or digest, with ``Docker-Content-Digest``
  and ``Content-Type``; a manifest with a ``subject`` gets ``OCI-Subject`` in the PUT response
* blobs: ``POST`` uploads (monolithic ``?digest=`` or a session), ``PATCH``, ``PUT ?digest=``,
  ``GET``/``HEAD``
* ``GET /v2/<name>/tags/list`` with ``n``/``last`` and ``Link`` pagination
* ``GET /v2/<name>/referrers/<digest>``: an OCI index of the descriptors of the manifests whose
  ``subject`` is that digest (``artifactType`` = the manifest's ``artifactType``, else its config
  ``mediaType``; annotations copied), paged with a relative ``Link rel="next"`` when
  ``page_size`` is set, and filtered by ``?artifactType=`` (with ``OCI-Filters-Applied:
  artifactType``) when ``apply_filter`` is on
* ``404 NAME_UNKNOWN`` for a repository nothing was pushed to

Use it as a context manager::

    with OciTestServer(page_size=2) as server:
        client = RegistryClient(OciSettings(RegistryUrl=server.url))

Not a registry for anything but tests: no auth, no persistence, no garbage collection.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

_NAME = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*"
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("base", re.compile(r"^/v2/?$")),
    ("tags", re.compile(rf"^/v2/(?P<name>{_NAME})/tags/list$")),
    ("manifest", re.compile(rf"^/v2/(?P<name>{_NAME})/manifests/(?P<ref>[^/]+)$")),
    ("upload", re.compile(rf"^/v2/(?P<name>{_NAME})/blobs/uploads/(?P<session>[^/]*)$")),
    ("blob", re.compile(rf"^/v2/(?P<name>{_NAME})/blobs/(?P<digest>[^/]+)$")),
    ("referrers", re.compile(rf"^/v2/(?P<name>{_NAME})/referrers/(?P<digest>[^/]+)$")),
)
_MAX_BODY = 64 * 1024 * 1024


def is_valid_digest(value: str) -> bool:
    """Whether ``value`` is a digest this server accepts (sha256/sha512 checked for length and hex)."""
    if not _DIGEST_RE.match(value):
        return False
    algorithm, _, encoded = value.partition(":")
    lengths = {"sha256": 64, "sha512": 128}
    if algorithm in lengths:
        return len(encoded) == lengths[algorithm] and all(c in "0123456789abcdef" for c in encoded)
    return True


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class StoredManifest:
    """A manifest as pushed: its bytes, media type and the parsed JSON."""

    digest: str
    media_type: str
    raw: bytes
    data: dict[str, Any]

    @property
    def subject(self) -> str | None:
        """The digest this manifest's ``subject`` points to, if any."""
        subject = self.data.get("subject")
        digest = subject.get("digest") if isinstance(subject, dict) else None
        return digest if isinstance(digest, str) else None

    def descriptor(self) -> dict[str, Any]:
        """The referrers-API descriptor of this manifest (distribution-spec §Listing Referrers)."""
        entry: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.raw)}
        artifact_type = self.data.get("artifactType")
        config = self.data.get("config")
        if not isinstance(artifact_type, str) and isinstance(config, dict):
            artifact_type = config.get("mediaType")
        if isinstance(artifact_type, str):
            entry["artifactType"] = artifact_type
        annotations = self.data.get("annotations")
        if isinstance(annotations, dict) and annotations:
            entry["annotations"] = dict(annotations)
        return entry


@dataclass
class Repository:
    """One repository's content."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, StoredManifest] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)


def _blob_headers(name: str, digest: str) -> dict[str, str]:
    return {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}


class _Store:
    """All repositories, guarded by one lock (the server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.repositories: dict[str, Repository] = {}

    def get(self, name: str) -> Repository | None:
        return self.repositories.get(name)

    def create(self, name: str) -> Repository:
        return self.repositories.setdefault(name, Repository())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; requests are recorded in ``server.requests``."""

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        self.server.owner.record(method, self.path)
        self._head = method == "HEAD"
        body = self._read_body()
        if body is None:
            return
        for route, pattern in _ROUTES:
            match = pattern.match(split.path)
            if match is None:
                continue
            handler = getattr(self, f"_{route}_{method.lower()}", None)
            if handler is None:
                self._error(405, "UNSUPPORTED", f"{method} not supported on this endpoint")
                return
            handler(match.groupdict(), query, body)
            return
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _read_body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(length_text)
        except ValueError:
            self._error(400, "SIZE_INVALID", "Content-Length is not a number")
            return None
        if length < 0 or length > _MAX_BODY:
            self._error(400, "SIZE_INVALID", "Content-Length out of range")
            return None
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body and not self._head:
            self.wfile.write(body)

    def _json(self, status: int, value: Any, content_type: str = "application/json", **kwargs: Any) -> None:
        self._send(status, json.dumps(value).encode(), content_type, **kwargs)

    def _error(self, status: int, code: str, message: str) -> None:
        body = {"errors": [{"code": code, "message": message, "detail": None}]}
        self._json(status, body)

    def _repository(self, name: str) -> Repository | None:
        with self.server.owner.store.lock:
            repository = self.server.owner.store.get(name)
        if repository is None:
            self._error(404, "NAME_UNKNOWN", f"repository name not known to registry: {name}")
        return repository

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ /v2/
    def _base_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        self._json(200, {})

    # ------------------------------------------------------------------ manifests
    def _find_manifest(self, repository: Repository, ref: str) -> StoredManifest | None:
        with self.server.owner.store.lock:
            digest = ref if ":" in ref else repository.tags.get(ref)
            return repository.manifests.get(digest) if digest else None

    def _manifest_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        repository = self._repository(params["name"])
        if repository is None:
            return
        manifest = self._find_manifest(repository, params["ref"])
        if manifest is None:
            self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        headers = {"Docker-Content-Digest": manifest.digest}
        self._send(200, manifest.raw, manifest.media_type, headers)

    def _manifest_head(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        self._manifest_get(params, query, body)

    def _manifest_put(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        name, ref = params["name"], params["ref"]
        try:
            data = json.loads(body)
        except ValueError:
            self._error(400, "MANIFEST_INVALID", "manifest is not JSON")
            return
        if not isinstance(data, dict):
            self._error(400, "MANIFEST_INVALID", "manifest is not a JSON object")
            return
        media_type = (self.headers.get("Content-Type") or data.get("mediaType") or "").split(";")[0].strip()
        if not media_type:
            self._error(400, "MANIFEST_INVALID", "manifest media type unknown (no Content-Type or mediaType)")
            return
        digest = sha256_digest(body)
        if ":" in ref and ref != digest:
            self._error(400, "DIGEST_INVALID", f"manifest digest {digest} does not match {ref}")
            return
        if ":" not in ref and not _TAG_RE.match(ref):
            self._error(400, "TAG_INVALID", f"invalid tag {ref!r}")
            return
        with self.server.owner.store.lock:
            repository = self.server.owner.store.create(name)
            repository.manifests[digest] = StoredManifest(digest, media_type, body, data)
            if ":" not in ref:
                repository.tags[ref] = digest
        headers = {"Docker-Content-Digest": digest, "Location": f"/v2/{name}/manifests/{digest}"}
        subject = data.get("subject")
        if isinstance(subject, dict) and isinstance(subject.get("digest"), str):
            headers["OCI-Subject"] = subject["digest"]
        self._send(201, headers=headers)

    def _manifest_delete(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        repository = self._repository(params["name"])
        if repository is None:
            return
        ref = params["ref"]
        with self.server.owner.store.lock:
            if ":" not in ref:
                removed = repository.tags.pop(ref, None) is not None
            else:
                removed = repository.manifests.pop(ref, None) is not None
                for tag in [tag for tag, digest in repository.tags.items() if digest == ref]:
                    del repository.tags[tag]
        if not removed:
            self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        self._send(202)

    # ------------------------------------------------------------------ blobs
    def _store_blob(self, name: str, digest: str, data: bytes) -> bool:
        if not is_valid_digest(digest) or (digest.startswith("sha256:") and sha256_digest(data) != digest):
            self._error(400, "DIGEST_INVALID", f"blob does not match digest {digest}")
            return False
        with self.server.owner.store.lock:
            self.server.owner.store.create(name).blobs[digest] = data
        return True

    def _upload_post(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        name = params["name"]
        if params["session"]:
            self._error(405, "UNSUPPORTED", "POST to an upload session")
            return
        mount, source = query.get("mount"), query.get("from")
        if mount and source:
            with self.server.owner.store.lock:
                origin = self.server.owner.store.get(source)
                blob = origin.blobs.get(mount) if origin else None
                if blob is not None:
                    self.server.owner.store.create(name).blobs[mount] = blob
            if blob is not None:
                self._send(201, headers=_blob_headers(name, mount))
                return
        digest = query.get("digest")
        if digest:
            if self._store_blob(name, digest, body):
                self._send(201, headers=_blob_headers(name, digest))
            return
        session = uuid.uuid4().hex
        with self.server.owner.store.lock:
            self.server.owner.store.create(name).uploads[session] = bytearray()
        self._send(202, headers={"Location": f"/v2/{name}/blobs/uploads/{session}", "Range": "0-0"})

    def _session(self, name: str, session: str) -> bytearray | None:
        with self.server.owner.store.lock:
            repository = self.server.owner.store.get(name)
            buffer = repository.uploads.get(session) if repository else None
        if buffer is None:
            self._error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
        return buffer

    def _upload_patch(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        buffer = self._session(params["name"], params["session"])
        if buffer is None:
            return
        with self.server.owner.store.lock:
            buffer.extend(body)
            end = len(buffer) - 1
        location = f"/v2/{params['name']}/blobs/uploads/{params['session']}"
        self._send(202, headers={"Location": location, "Range": f"0-{max(end, 0)}"})

    def _upload_put(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        name, session = params["name"], params["session"]
        buffer = self._session(name, session)
        if buffer is None:
            return
        digest = query.get("digest", "")
        data = bytes(buffer) + body
        if self._store_blob(name, digest, data):
            with self.server.owner.store.lock:
                self.server.owner.store.create(name).uploads.pop(session, None)
            self._send(201, headers=_blob_headers(name, digest))

    def _upload_delete(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        if self._session(params["name"], params["session"]) is None:
            return
        with self.server.owner.store.lock:
            self.server.owner.store.create(params["name"]).uploads.pop(params["session"], None)
        self._send(204)

    def _blob_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        repository = self._repository(params["name"])
        if repository is None:
            return
        with self.server.owner.store.lock:
            blob = repository.blobs.get(params["digest"])
        if blob is None:
            self._error(404, "BLOB_UNKNOWN", "blob unknown")
            return
        headers = {"Docker-Content-Digest": params["digest"]}
        self._send(200, blob, "application/octet-stream", headers)

    def _blob_head(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        self._blob_get(params, query, body)

    # ------------------------------------------------------------------ tags
    def _tags_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        name = params["name"]
        repository = self._repository(name)
        if repository is None:
            return
        with self.server.owner.store.lock:
            tags = sorted(repository.tags)
        last = query.get("last")
        if last:
            tags = [tag for tag in tags if tag > last]
        headers: dict[str, str] = {}
        if "n" in query:
            try:
                limit = int(query["n"])
            except ValueError:
                self._error(400, "PAGINATION_NUMBER_INVALID", "n is not a number")
                return
            if 0 < limit < len(tags):
                tags = tags[:limit]
                next_query = urlencode({"n": limit, "last": tags[-1]})
                headers["Link"] = f'</v2/{name}/tags/list?{next_query}>; rel="next"'
            elif limit <= 0:
                tags = []
        self._json(200, {"name": name, "tags": tags}, headers=headers)

    # ------------------------------------------------------------------ referrers
    def _referrers_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        name, subject = params["name"], params["digest"]
        repository = self._repository(name)
        if repository is None:
            return
        if not is_valid_digest(subject):
            self._error(400, "DIGEST_INVALID", f"invalid digest {subject!r}")
            return
        with self.server.owner.store.lock:
            found = [manifest for manifest in repository.manifests.values() if manifest.subject == subject]
        entries = [manifest.descriptor() for manifest in found]
        owner = self.server.owner
        headers: dict[str, str] = {}
        wanted = query.get("artifactType")
        if wanted and owner.apply_filter:
            entries = [entry for entry in entries if entry.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        try:
            page = int(query.get("page", "0"))
        except ValueError:
            self._error(400, "PAGINATION_NUMBER_INVALID", "page is not a number")
            return
        if owner.page_size is not None:
            start = page * owner.page_size
            if start + owner.page_size < len(entries):
                next_query = {"page": str(page + 1)}
                if wanted:
                    next_query["artifactType"] = wanted
                headers["Link"] = f'</v2/{name}/referrers/{subject}?{urlencode(next_query)}>; rel="next"'
            entries = entries[start : start + owner.page_size]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        self._json(200, index, OCI_INDEX, headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: OciTestServer


class OciTestServer:
    """The server, its options and its content; a context manager running it in a thread.

    ``page_size``: referrers per page (``None``: one page). ``apply_filter``: honour
    ``?artifactType=`` and say so with ``OCI-Filters-Applied``; off, the filter is ignored, as
    the spec allows, and clients must filter themselves.
    """

    def __init__(self, *, page_size: int | None = None, apply_filter: bool = True) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.page_size = page_size
        self.apply_filter = apply_filter
        self.store = _Store()
        self.requests: list[tuple[str, str]] = []
        self._requests_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def record(self, method: str, path: str) -> None:
        """Remember a request (tests assert how many pages a client fetched)."""
        with self._requests_lock:
            self.requests.append((method, path))

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("OciTestServer is not running (use it as a context manager or call start())")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as written in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    def start(self) -> OciTestServer:
        """Listen on a free loopback port and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="oci-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> OciTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ direct content helpers
    def put_blob(self, repository: str, data: bytes) -> str:
        """Store a blob without HTTP (test set-up); returns its digest."""
        digest = sha256_digest(data)
        with self.store.lock:
            self.store.create(repository).blobs[digest] = data
        return digest

    def put_manifest(
        self, repository: str, manifest: dict[str, Any], *, tag: str | None = None
    ) -> dict[str, Any]:
        """Store a manifest without HTTP (test set-up); returns its descriptor (mediaType, digest, size)."""
        raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        media_type = manifest.get("mediaType") or OCI_MANIFEST
        digest = sha256_digest(raw)
        with self.store.lock:
            repo = self.store.create(repository)
            repo.manifests[digest] = StoredManifest(digest, media_type, raw, manifest)
            if tag is not None:
                repo.tags[tag] = digest
        return {"mediaType": media_type, "digest": digest, "size": len(raw)}
