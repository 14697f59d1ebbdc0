"""A Docker token server for tests, whose JWTs Debian's ``docker-registry`` (distribution 2.8) accepts.

Protocol (what real token servers do, and what the product's client must handle):

* ``GET /token?service=S&scope=repository:NAME:pull,push&scope=...`` with Basic credentials or
  anonymously. Several scopes may come as repeated ``scope`` parameters or space-separated in one.
  ``offline_token=true`` with credentials adds a ``refresh_token`` (docker's identity token).
  Answer: ``{"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}``.
* ``POST /token`` (OAuth2 form): ``grant_type=password`` (``username``/``password``) or
  ``grant_type=refresh_token`` (``refresh_token``), with ``service``, ``client_id`` and a
  space-separated ``scope``. Answer: ``{"access_token", "scope", "expires_in", "issued_at"
  [, "refresh_token"]}`` -- no ``token`` key, as distribution's own token server does.
  With ``oauth_post=False`` POST answers 404, so clients must fall back to GET.
* Wrong or unknown credentials: 401 with a Basic challenge and an ``{"errors": [...]}`` body.

Grants are the intersection of the requested actions and the user's permissions: by default
``admin`` may do everything (``pull``, ``push``, ``delete``, ``*``) everywhere, every other user
only ``pull``, anonymous nothing -- yet an anonymous request still gets a token (with an empty
``access`` list), as Docker Hub and GHCR do.

The JWT is ES256 (raw r||s signature), ``aud`` a single string (distribution rejects an array),
``iss`` the configured issuer, and the header names the key by ``kid`` -- the libtrust fingerprint
of the public key -- or, with ``use_x5c=True``, carries the self-signed certificate that is also
the registry's ``rootcertbundle``.

Every request is recorded in :attr:`TokenServer.requests` so tests can assert that a client
fetches one token per scope set.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from devtools.ports import LOOPBACK

#: Every action the registry knows, plus the wildcard used by ``registry:catalog:*``.
ALL_ACTIONS: frozenset[str] = frozenset({"pull", "push", "delete", "*"})
DEFAULT_SERVICE = "doctor-test-registry"
DEFAULT_ISSUER = "doctor-test-token-issuer"
TOKEN_PATH = "/token"


class TokenServerError(Exception):
    """The token server could not be set up (bad arguments, unwritable certificate path)."""


class TokenRequest(NamedTuple):
    """One request the token server answered: ``(method, scopes, user)``; ``user`` None = anonymous."""

    method: str
    scopes: tuple[str, ...]
    user: str | None


@dataclass(frozen=True)
class Scope:
    """A parsed scope ``type:name:actions`` (``name`` may contain ``:``, e.g. a host with a port)."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse one scope; raise :class:`ValueError` for anything that is not ``type:name:actions``."""
        head, sep, actions = text.rpartition(":")
        resource_type, sep2, name = head.partition(":")
        if not sep or not sep2 or not resource_type or not name:
            raise ValueError(f"malformed scope {text!r}: expected 'type:name:actions'")
        parsed = tuple(a for a in actions.split(",") if a)
        return cls(resource_type, name, parsed)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The libtrust fingerprint distribution matches a JWT ``kid`` against.

    Base32 of the first 30 bytes of SHA-256 over the DER SubjectPublicKeyInfo, without padding,
    in 12 groups of 4 characters joined by ``:``.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass
class TokenSigner:
    """An ES256 key with a self-signed certificate: signs tokens, writes the registry's rootcertbundle."""

    issuer: str = DEFAULT_ISSUER
    use_x5c: bool = False
    _key: ec.EllipticCurvePrivateKey = field(init=False, repr=False)
    _cert: x509.Certificate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def key_id(self) -> str:
        return libtrust_key_id(self._key.public_key())

    def certificate_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def write_rootcertbundle(self, path: Path) -> Path:
        """Write the certificate the registry trusts (``auth.token.rootcertbundle``) to ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.certificate_pem())
        except OSError as exc:
            raise TokenServerError(f"cannot write the token rootcertbundle to {path}: {exc}") from exc
        return path

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS (ES256) over ``claims``."""
        header: dict[str, Any] = {"typ": "JWT", "alg": "ES256"}
        if self.use_x5c:
            der = self._cert.public_bytes(serialization.Encoding.DER)
            header["x5c"] = [base64.b64encode(der).decode("ascii")]
        else:
            header["kid"] = self.key_id
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
        )
        der_signature = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_signature)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def default_permissions(users: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """``admin`` gets every action; every other user ``pull`` only."""
    return {user: (ALL_ACTIONS if user == "admin" else frozenset({"pull"})) for user in users}


class _AuthFailed(Exception):
    """Credentials were presented and are wrong (answered with 401)."""


class _BadRequest(Exception):
    """The request is malformed (answered with 400)."""


class TokenServer:
    """A threaded token server on ``127.0.0.1:<free port>``. Use as a context manager or call :meth:`stop`.

    :param users: user -> password accepted with Basic auth and the OAuth2 password grant.
    :param permissions: user -> allowed actions (default :func:`default_permissions`).
    :param anonymous_actions: actions granted without credentials (default none).
    :param expires_in: token lifetime in seconds; ``None`` omits ``expires_in`` from the answer (as
        Quay does; clients then assume 60 s) and makes the JWT valid for 60 s.
    :param oauth_post: answer the OAuth2 POST form; ``False`` answers it with 404.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        permissions: Mapping[str, Iterable[str]] | None = None,
        anonymous_actions: Iterable[str] = (),
        expires_in: int | None = 300,
        oauth_post: bool = True,
        use_x5c: bool = False,
    ) -> None:
        if expires_in is not None and expires_in <= 0:
            raise TokenServerError(f"expires_in must be positive, got {expires_in}")
        self.service = service
        self.issuer = issuer
        self._users = dict(users)
        chosen = default_permissions(users) if permissions is None else permissions
        self._permissions = {user: frozenset(actions) for user, actions in chosen.items()}
        self._anonymous = frozenset(anonymous_actions)
        self.expires_in = expires_in
        self.oauth_post = oauth_post
        self.signer = TokenSigner(issuer=issuer, use_x5c=use_x5c)
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._refresh_tokens: dict[str, str] = {}
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"token-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    def __repr__(self) -> str:
        return f"TokenServer(realm={self.realm!r}, service={self.service!r}, users={sorted(self._users)!r})"

    @property
    def realm(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{TOKEN_PATH}"

    @property
    def requests(self) -> list[TokenRequest]:
        """A copy of every request answered so far (including refused ones), oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests (e.g. after pushing fixture content, before the code under test)."""
        with self._lock:
            self._requests.clear()

    def stop(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol -------------------------------------------------------------------------------

    def _record(self, method: str, scopes: Iterable[str], user: str | None) -> None:
        with self._lock:
            self._requests.append(TokenRequest(method, tuple(scopes), user))

    def _check_password(self, user: str, password: str) -> None:
        expected = self._users.get(user)
        if expected is None or not secrets.compare_digest(expected.encode(), password.encode()):
            raise _AuthFailed

    def _grant(self, user: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        allowed = self._anonymous if user is None else self._permissions.get(user, frozenset())
        access: list[dict[str, Any]] = []
        for text in scopes:
            try:
                scope = Scope.parse(text)
            except ValueError as exc:
                raise _BadRequest(str(exc)) from exc
            granted = [a for a in scope.actions if a in allowed]
            if granted:
                access.append({"type": scope.type, "name": scope.name, "actions": granted})
        return access

    def issue(self, user: str | None, scopes: Iterable[str], service: str | None) -> tuple[str, int]:
        """Sign a token for ``user`` (None = anonymous); return it and its lifetime in seconds."""
        lifetime = self.expires_in if self.expires_in is not None else 60
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": service or self.service,
            "exp": now + lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self._grant(user, scopes),
        }
        return self.signer.sign(claims), lifetime

    def _new_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = user
        return token

    def _answer_get(self, query: str, authorization: str | None) -> dict[str, Any]:
        params = parse_qs(query, keep_blank_values=True)
        scopes = [s for value in params.get("scope", []) for s in value.split()]
        try:
            user = _basic_user(authorization)
        except _AuthFailed:
            self._record("GET", scopes, None)
            raise
        self._record("GET", scopes, user[0] if user else None)
        if user is not None:
            self._check_password(*user)
        token, lifetime = self.issue(user[0] if user else None, scopes, _first(params, "service"))
        body = self._body(token, lifetime, access_token_only=False)
        if user is not None and _first(params, "offline_token") == "true":
            body["refresh_token"] = self._new_refresh_token(user[0])
        return body

    def _answer_post(self, form_text: str) -> dict[str, Any]:
        form = parse_qs(form_text, keep_blank_values=True)
        scopes = (_first(form, "scope") or "").split()
        grant_type = _first(form, "grant_type")
        user: str | None
        if grant_type == "password":
            user = _first(form, "username")
            self._record("POST", scopes, user)
            if not user:
                raise _BadRequest("password grant without username")
            self._check_password(user, _first(form, "password") or "")
        elif grant_type == "refresh_token":
            with self._lock:
                user = self._refresh_tokens.get(_first(form, "refresh_token") or "")
            self._record("POST", scopes, user)
            if user is None:
                raise _AuthFailed
        else:
            self._record("POST", scopes, None)
            raise _BadRequest(f"unsupported grant_type {grant_type!r}")
        if not _first(form, "client_id"):
            raise _BadRequest("missing client_id")
        token, lifetime = self.issue(user, scopes, _first(form, "service"))
        body = self._body(token, lifetime, access_token_only=True)
        body["scope"] = " ".join(scopes)
        if grant_type == "password" and _first(form, "access_type") == "offline":
            body["refresh_token"] = self._new_refresh_token(user)
        return body

    def _body(self, token: str, lifetime: int, *, access_token_only: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": token}
        if not access_token_only:
            body["token"] = token
        if self.expires_in is not None:
            body["expires_in"] = lifetime
        body["issued_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return body


def _first(params: Mapping[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def _basic_user(authorization: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from a Basic header; None when absent; ``_AuthFailed`` when garbled."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise _AuthFailed
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise _AuthFailed from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise _AuthFailed
    return user, password


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without TCP_NODELAY a keep-alive client waits
        # for the delayed ACK (~40 ms) on every request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: request lines carry scopes and tests read :attr:`TokenServer.requests` instead."""

        def _send(
            self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self, answer: Any) -> None:
            try:
                self._send(200, answer())
            except _AuthFailed:
                self._send(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                    {"WWW-Authenticate": 'Basic realm="doctor-test-token-server"'},
                )
            except _BadRequest as exc:
                self._send(400, {"errors": [{"code": "INVALID_REQUEST", "message": str(exc)}]})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != TOKEN_PATH:
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
                return
            self._dispatch(lambda: server._answer_get(url.query, self.headers.get("Authorization")))

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            if url.path != TOKEN_PATH or not server.oauth_post:
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
                return
            self._dispatch(lambda: server._answer_post(form))

    return Handler
