"""The diagnosis table: root cause x the five checks -> status, the message's first words, the advice.

These rows are the contract. ``test_diagnosis.py`` drives every row against real registries (or
respx where no local registry can show the answer) and asserts it; the table in
``docs/checks.md`` between ``<!-- diagnosis:begin -->`` and ``<!-- diagnosis:end -->`` is exactly
:func:`render` of :data:`ROWS` (asserted too). After changing a row regenerate the page with::

    .venv/bin/python plugins/integration_oci/tests/checks/diagnosis_rows.py
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- diagnosis:begin -->"
END = "<!-- diagnosis:end -->"
PAGE = Path(__file__).resolve().parents[4] / "docs" / "checks.md"
CHECKS = ("credentials", "pull", "push", "referrers", "capabilities")


@dataclass(frozen=True)
class Cell:
    """One check's expected verdict: status and the first words of its message (``{host}`` filled in)."""

    status: str
    message: str


@dataclass(frozen=True)
class Row:
    """One root cause.

    ``setup`` names the scenario ``test_diagnosis.py`` builds; ``where`` says it for the docs;
    ``cause`` is the shared :class:`~doctor_core.models.Cause` kind (``oci.<kind>:<host>``) every
    failing check of the row carries, or ``None``; ``advice`` the first words of each report-level
    recommendation of the five checks run together, in order (deduplicated).
    """

    name: str
    setup: str
    where: str
    cells: tuple[Cell, Cell, Cell, Cell, Cell]
    cause: str | None = None
    advice: tuple[str, ...] = ()

    def cell(self, check: str) -> Cell:
        return self.cells[CHECKS.index(check)]


def _c(status: str, message: str) -> Cell:
    return Cell(status, message)


_FALLBACK = (
    "Referrers API: referrer discovery uses tag-based fallback automatically",
    "Consider upgrading to a registry with OCI 1.1 support",
)
_ANON = "Anonymous access accepted by {host}"
_PULL_OK = "Pull authorized (sha256:"
_PUSH_OK = "Push authorization verified"
_NO_API = "Referrers API not supported (using fallback)"
_CREDS_NEEDED = "Configure credentials for {host}"
_TLS = "TLS: check the certificate's validity; for a private CA configure trust with OCI__CaBundle"


def _unreachable(what: str) -> tuple[Cell, Cell, Cell, Cell, Cell]:
    return (
        _c("fail", f"Cannot verify credentials: registry unreachable ({what}"),
        _c("fail", f"Cannot verify pull: registry unreachable ({what}"),
        _c("fail", f"Cannot verify push: registry unreachable ({what}"),
        _c("fail", f"Cannot probe the referrers API: registry unreachable ({what}"),
        _c("fail", f"Cannot probe capabilities: registry unreachable ({what}"),
    )


def _all(credentials: str, rest: str) -> tuple[Cell, Cell, Cell, Cell, Cell]:
    return (
        _c("fail", credentials),
        _c("fail", f"Cannot verify pull: {rest}"),
        _c("fail", f"Cannot verify push: {rest}"),
        _c("fail", f"Cannot probe the referrers API: {rest}"),
        _c("fail", f"Cannot probe capabilities: {rest}"),
    )


ROWS: tuple[Row, ...] = (
    Row(
        "registry not configured",
        "not-configured",
        "no `OCI.RegistryUrl`",
        (
            _c("fail", "OCI.RegistryUrl is not configured"),
            _c("skip", "not run: OCI.RegistryUrl is not configured"),
            _c("skip", "not run: OCI.RegistryUrl is not configured"),
            _c("skip", "not run: OCI.RegistryUrl is not configured"),
            _c("skip", "not run: OCI.RegistryUrl is not configured"),
        ),
        advice=("Set OCI__RegistryUrl to the registry to check",),
    ),
    Row(
        "healthy, anonymous, no referrers API",
        "open",
        "open registry (distribution 2.8)",
        (
            _c("pass", _ANON),
            _c("pass", _PULL_OK),
            _c("pass", _PUSH_OK),
            _c("warn", _NO_API),
            _c("warn", "Partial capability support (5/6)"),
        ),
        advice=_FALLBACK,
    ),
    Row(
        "healthy, valid password",
        "basic",
        "htpasswd+TLS registry, right password",
        (
            _c("pass", "Credentials valid for {host}"),
            _c("pass", _PULL_OK),
            _c("pass", _PUSH_OK),
            _c("warn", _NO_API),
            _c("warn", "Partial capability support (5/6)"),
        ),
        advice=_FALLBACK,
    ),
    Row(
        "referrers API present",
        "referrers-api",
        "devtools/oci_server.py (OCI 1.1 test server)",
        (
            _c("pass", _ANON),
            _c("pass", _PULL_OK),
            _c("pass", _PUSH_OK),
            _c("pass", "Referrers API supported (OCI 1.1)"),
            _c("info", "Partial capability support"),
        ),
        advice=("Deletes are disabled on this registry",),
    ),
    Row(
        "delete disabled",
        "no-delete",
        "open registry, `storage.delete.enabled: false`",
        (
            _c("pass", _ANON),
            _c("pass", _PULL_OK),
            _c("pass", _PUSH_OK),
            _c("warn", _NO_API),
            _c("warn", "Partial capability support (3/6)"),
        ),
        advice=(*_FALLBACK, "Deletes are disabled on this registry"),
    ),
    Row(
        "missing test image (tag)",
        "missing-image",
        "open registry, `TestTag` that does not exist",
        (
            _c("pass", _ANON),
            _c("info", "Test image not found (can't verify)"),
            _c("pass", _PUSH_OK),
            _c("warn", f"{_NO_API} (test image"),
            _c("warn", "Partial capability support (4/6)"),
        ),
        advice=("Test image missing: point OCI__TestRepository/OCI__TestTag", *_FALLBACK),
    ),
    Row(
        "missing repository",
        "missing-repository",
        "open registry, `TestRepository` that does not exist",
        (
            _c("pass", _ANON),
            _c("info", "Test image not found (can't verify)"),
            _c("pass", _PUSH_OK),
            _c("warn", f"{_NO_API} (test image"),
            _c("warn", "Partial capability support (4/6)"),
        ),
        advice=("Test image missing: point OCI__TestRepository/OCI__TestTag", *_FALLBACK),
    ),
    Row(
        "no credentials",
        "no-credentials",
        "htpasswd+TLS registry, nothing configured",
        (
            _c("fail", "{host} requires authentication (401) and no credentials are configured"),
            _c("fail", "Pull not authorized: no credentials configured (401)"),
            _c("fail", "Push not authorized: no credentials configured (401)"),
            _c("fail", "Cannot probe the referrers API: no credentials configured (401)"),
            _c("fail", "Cannot probe capabilities: no credentials configured (401)"),
        ),
        cause="no-credentials",
        advice=(_CREDS_NEEDED,),
    ),
    Row(
        "username without password",
        "username-only",
        "htpasswd+TLS registry, `Username` only",
        (
            _c("fail", "Missing required credentials: OCI.Username 'admin' is set without a password"),
            _c("fail", "Pull not authorized: credentials incomplete (401)"),
            _c("fail", "Push not authorized: credentials incomplete (401)"),
            _c("fail", "Cannot probe the referrers API: credentials incomplete (401)"),
            _c("fail", "Cannot probe capabilities: credentials incomplete (401)"),
        ),
        cause="credentials-incomplete",
        advice=("Complete the credentials: a password for OCI__Username",),
    ),
    Row(
        "docker config entry unusable",
        "docker-config-broken",
        "htpasswd+TLS registry, no `OCI` credentials, a docker config whose `auth` is not base64",
        (
            _c("fail", "Credential configuration problem: docker config unusable"),
            _c("fail", "Pull not authorized: docker credentials unusable (401)"),
            _c("fail", "Push not authorized: docker credentials unusable (401)"),
            _c("fail", "Cannot probe the referrers API: docker credentials unusable (401)"),
            _c("fail", "Cannot probe capabilities: docker credentials unusable (401)"),
        ),
        cause="credentials-unusable",
        # The fix is in the docker config, not "a password for OCI__Username".
        advice=("Docker config: fix the entry or helper doctor read",),
    ),
    Row(
        "wrong password",
        "wrong-password",
        "htpasswd+TLS registry",
        (
            _c("fail", "Invalid credentials (401 UNAUTHORIZED) for {host}"),
            _c("fail", "Pull not authorized: invalid credentials (401"),
            _c("fail", "Push not authorized: invalid credentials (401"),
            _c("fail", "Cannot probe the referrers API: invalid credentials (401"),
            _c("fail", "Cannot probe capabilities: invalid credentials (401"),
        ),
        cause="credentials-rejected",
        advice=("Invalid credentials (401) for {host}: verify username and password",),
    ),
    Row(
        "token service rejects the password",
        "token-wrong-password",
        "token registry, wrong password",
        (
            _c("fail", "Invalid credentials (401"),
            _c("fail", "Pull not authorized: invalid credentials (401"),
            _c("fail", "Push not authorized: invalid credentials (401"),
            _c("fail", "Cannot probe the referrers API: invalid credentials (401"),
            _c("fail", "Cannot probe capabilities: invalid credentials (401"),
        ),
        cause="credentials-rejected",
        advice=("Invalid credentials (401) for {host}: verify username and password",),
    ),
    Row(
        "token service broken",
        "token-broken",
        "token registry whose token service answers a non-string token",
        _all(
            "Cannot verify credentials: token service broken (invalid answer)",
            "token service broken (invalid answer)",
        ),
        cause="token-service-broken",
        advice=("The token service of {host} is broken",),
    ),
    Row(
        "reader-only user",
        "reader",
        "token registry, user with pull only",
        (
            _c("pass", "Credentials valid for {host}"),
            _c("pass", _PULL_OK),
            _c("fail", "No push permission for diagnosis/app on {host} (401 UNAUTHORIZED)"),
            _c("warn", _NO_API),
            # Why four capabilities are unknown is said, not left to guess.
            _c(
                "warn",
                "Partial capability support (1/6): unsupported: referrers_api; not confirmed: "
                "chunked_upload, cross_repo_mount, manifest_delete, blob_delete; {host} refused the "
                "write probes (401 UNAUTHORIZED): the credentials are valid but not allowed to push or "
                "delete in diagnosis/app",
            ),
        ),
        advice=("No permission (403): verify the service account has required permissions", *_FALLBACK),
    ),
    Row(
        "anonymous accepted at /v2/, repository refused",
        "anonymous-token",
        "token registry, nothing configured",
        (
            _c("pass", _ANON),
            _c("fail", "Pull not authorized: anonymous access refused (401)"),
            _c("fail", "Push not authorized: anonymous access refused (401)"),
            _c("fail", "Cannot probe the referrers API: anonymous access refused (401)"),
            _c("fail", "Cannot probe capabilities: anonymous access refused (401)"),
        ),
        cause="anonymous-refused",
        advice=(_CREDS_NEEDED,),
    ),
    Row(
        "token and username/password both set",
        "token-and-password",
        "token registry, a valid `Token` plus `Username`/`Password`",
        (
            _c("warn", "Token valid for {host}; OCI.Username/Password are ignored"),
            _c("pass", _PULL_OK),
            _c("pass", _PUSH_OK),
            _c("warn", _NO_API),
            _c("warn", "Partial capability support (5/6)"),
        ),
        advice=("Configure either OCI__Token or OCI__Username/OCI__Password, not both", *_FALLBACK),
    ),
    Row(
        "TLS untrusted",
        "tls-untrusted",
        "htpasswd+TLS registry without `CaBundle`",
        _unreachable("TLS certificate not verified"),
        cause="tls",
        advice=(_TLS,),
    ),
    Row(
        "TLS wrong name",
        "tls-wrong-name",
        "a TLS server whose certificate (from the configured CA) names another host",
        _unreachable("TLS certificate not verified"),
        cause="tls",
        advice=(_TLS,),
    ),
    Row(
        "not a registry",
        "not-a-registry",
        "a web server answering 404 to `GET /v2/`",
        _all(
            "Cannot verify credentials: not an OCI registry (GET /v2/ answered 404)",
            "not an OCI registry (GET /v2/ answered 404)",
        ),
        cause="not-a-registry",
        advice=("OCI__RegistryUrl does not point at a registry",),
    ),
    Row(
        "plain http to a TLS port",
        "plain-http",
        "`http://` URL of the htpasswd+TLS registry (answers 400)",
        _all(
            "Cannot verify credentials: plain http sent to a TLS port (400)",
            "plain http sent to a TLS port (400)",
        ),
        cause="plain-http-to-tls",
        advice=("Use https:// for {host}",),
    ),
    Row(
        "DNS",
        "dns",
        "a host name that does not resolve",
        _unreachable("host name does not resolve"),
        cause="dns",
        advice=("Network: verify network connectivity to {host}",),
    ),
    Row(
        "connection refused",
        "refused",
        "a loopback port nothing listens on",
        _unreachable("connection refused"),
        cause="refused",
        advice=("Network: verify network connectivity to {host}",),
    ),
    Row(
        "timeout",
        "timeout",
        "a loopback server that never answers, `TimeoutSeconds: 0.3`",
        _unreachable("timed out"),
        cause="timeout",
        advice=("Network: verify network connectivity to {host}",),
    ),
    Row(
        "5xx",
        "server-error",
        "a loopback server answering 503 to everything",
        _all("Cannot verify credentials: registry error (503)", "registry error (503)"),
        cause="server-error",
        advice=("{host} answers 503: check the registry's logs",),
    ),
    Row(
        "429 (Docker Hub)",
        "dockerhub-429",
        "respx: Docker Hub answering 429 after `/v2/`",
        (
            _c("pass", _ANON),
            _c("fail", "Cannot verify pull: rate limited (429"),
            _c("fail", "Cannot verify push: rate limited (429"),
            _c("fail", "Cannot probe the referrers API: rate limited (429"),
            _c("fail", "Cannot probe capabilities: rate limited (429"),
        ),
        cause="rate-limited",
        advice=("Rate limited: authenticate, reduce concurrency or use a pull-through cache",),
    ),
    Row(
        "no permission (403)",
        "forbidden-403",
        "respx: ACR answering 403 DENIED to valid credentials",
        (
            _c("pass", "Credentials valid for {host}"),
            _c("fail", "No pull permission for acme/app:v1 on {host} (403 DENIED)"),
            _c("fail", "No push permission for acme/app on {host} (403 DENIED)"),
            _c("fail", "Cannot probe the referrers API: no pull permission for acme/app:v1 (403"),
            _c("fail", "Cannot probe capabilities: no probe was answered"),
        ),
        advice=("No permission (403): verify the service account has required permissions",),
    ),
    Row(
        "no referrers API (GHCR's 404)",
        "ghcr-404",
        "respx: GHCR answering 404 MANIFEST_UNKNOWN on the referrers endpoint",
        (
            _c("pass", _ANON),
            _c("pass", _PULL_OK),
            _c("pass", _PUSH_OK),
            _c("warn", _NO_API),
            _c("warn", "Partial capability support (4/6)"),
        ),
        advice=(
            "Referrers API: referrer discovery uses tag-based fallback automatically",
            "GHCR: no action required; push referrers with the tag-schema pattern",
        ),
    ),
)


def _cell(text: str, *, code: bool = False) -> str:
    """A table cell's text; ``{host}`` reads ``<host>`` (escaped outside code spans)."""
    return text.replace("|", "\\|").replace("{host}", "<host>" if code else "&lt;host&gt;")


def render(rows: tuple[Row, ...] = ROWS) -> str:
    """The Markdown table: one row per cause; each check's status and message's first words."""
    header = ("Root cause", "Set-up (test)", *CHECKS, "Shared cause", "Recommendations (run together)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            f"**{row.cell(check).status.upper()}** `{_cell(row.cell(check).message, code=True)}…`"
            for check in CHECKS
        ]
        cause = f"`oci.{row.cause}`" if row.cause else "-"
        advice = "<br>".join(f"{_cell(line)}…" for line in row.advice) or "-"
        lines.append("| " + " | ".join((row.name, _cell(row.where), *cells, cause, advice)) + " |")
    return "\n".join(lines)


def page_with_table(page: str) -> str:
    """``docs/checks.md`` with the generated table between the markers."""
    start = page.index(BEGIN) + len(BEGIN)
    end = page.index(END)
    return page[:start] + "\n" + render() + "\n" + page[end:]


if __name__ == "__main__":
    text = PAGE.read_text(encoding="utf-8")
    PAGE.write_text(page_with_table(text), encoding="utf-8")
    sys.stdout.write(f"wrote the diagnosis table into {PAGE}\n")
