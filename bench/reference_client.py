"""The bench's yardstick: the five checks' probes by a minimal hand-written client, at protocol speed.

``python bench/reference_client.py --registry URL --repository REPO --tag TAG`` does what
``doctor --tag registry`` asks the registry, with nothing else: no framework, no plugin loading, no
configuration model, no report. One ``httpx.AsyncClient`` (one connection pool), every independent
request at once, one token for the run's one scope set (``pull,push,delete`` on the repository)
after the one ``/v2/`` challenge, Basic sent from the first request once Basic was asked for.

The probes (the union of the five checks'):

* ``GET /v2/`` authenticated (credentials; the API version header);
* ``HEAD manifests/<tag>`` -> ``GET manifests/<digest>`` (pull; the blob to mount);
* ``GET referrers/<digest>`` and, without the API, ``GET manifests/sha256-<hex>`` (tag schema) and
  the subject's cosign tags (``sha256-<hex>.sig/.att/.sbom``) from ``GET tags/list`` (referrers);
* ``POST blobs/uploads/`` -> ``PATCH`` -> ``DELETE`` (chunked upload, cancelled), the cross-repo
  mount ``POST blobs/uploads/?mount=<blob>&from=<repo>`` (push), ``DELETE`` of a made-up manifest
  and blob (delete support) (capabilities).

``--referrers`` does what ``doctor oci referrers REPO:TAG`` asks instead (the subject, then the
referrers API, the tag-schema index and the tag list at once, then the subject's cosign tags).

Credentials: ``--user`` and the environment variable named by ``--password-env`` (the same
secret doctor reads in the bench). It prints one JSON line: the requests it
sent, its longest chain of dependent requests (``depth``), the token fetches and challenges, and
the referrers it found -- so the bench can check that it did the same work. Exit status 0 when
every probe got an answer, 1 otherwise. Deliberately not importing doctor: it is what a user would
write instead.

``--preload MOD[,MOD...]`` imports those modules first and changes nothing else: the run with
``--preload stevedore,pluggy,pydantic.main`` costs the reference plus importing the project's
chosen dependencies, the floor any client built on them pays (bench S1).

``--fleet FILE.json`` probes several registries at once instead (bench S5): ``FILE.json`` is a
list of ``{"registry", "repository", "tag", "user", "password_env"}`` (``name`` and
``ca_bundle`` optional), every registry probed concurrently on one event loop with one
``httpx.AsyncClient`` each (as doctor has one client per registry; they share one SSL context
per trust setting, as doctor's do); one JSON line with the
totals and each registry's figures under ``per_registry`` (keyed by ``name``, else the URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import re
import ssl
import sys
from typing import Any

import httpx

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
FAKE_DIGEST = "sha256:" + "0" * 64
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class Reference:
    """One run of the probes against one registry (see the module docstring)."""

    def __init__(
        self, http: httpx.AsyncClient, base: str, repository: str, user: str | None, password: str | None
    ) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.repository = repository
        self.basic = httpx.BasicAuth(user, password) if user and password is not None else None
        self.authorization: httpx.Auth | None = None
        self.header: dict[str, str] = {}
        self.requests = 0
        self.tokens = 0
        self.challenges = 0
        self.depth = 0

    async def send(self, level: int, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request at chain position ``level`` (1 = needs nothing before it)."""
        self.requests += 1
        self.depth = max(self.depth, level)
        url = path if "://" in path else f"{self.base}{path}"
        headers = {**self.header, **kwargs.pop("headers", {})}
        response = await self.http.request(method, url, headers=headers, auth=self.authorization, **kwargs)
        if response.status_code == 401:
            self.challenges += 1
        return response

    async def authenticate(self, actions: str = "pull,push,delete") -> int:
        """The one challenge and, for Bearer, the one token; the chain level the probes start at."""
        challenge = await self.send(1, "GET", "/v2/")
        if challenge.status_code != 401:
            return 1
        value = challenge.headers.get("www-authenticate", "")
        scheme = value.split(" ", 1)[0].lower()
        if scheme == "basic":
            self.authorization = self.basic
            return 2
        params = dict(_PARAM.findall(value))
        query = {"scope": f"repository:{self.repository}:{actions}"}
        if "service" in params:
            query["service"] = params["service"]
        self.requests += 1
        self.tokens += 1
        self.depth = max(self.depth, 2)
        token = await self.http.get(params["realm"], params=query, auth=self.basic)
        token.raise_for_status()
        body = token.json()
        self.header = {"Authorization": f"Bearer {body.get('token') or body['access_token']}"}
        return 3

    async def image_probes(self, level: int, tag: str, tags: asyncio.Task[list[str]]) -> int:
        """Pull, referrers and mount; returns the referrers found."""
        repo = self.repository
        head = await self.send(
            level, "HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
        )
        digest = head.headers["docker-content-digest"]
        hex_part = digest.split(":", 1)[1]
        manifest, api, index = await asyncio.gather(
            self.send(
                level + 1, "GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT}
            ),
            self.send(level + 1, "GET", f"/v2/{repo}/referrers/{digest}"),
            self.send(
                level + 1,
                "GET",
                f"/v2/{repo}/manifests/sha256-{hex_part}",
                headers={"Accept": MANIFEST_ACCEPT},
            ),
        )
        blob = manifest.json()["config"]["digest"]
        cosign = sorted(
            {f"sha256-{hex_part}.{suffix}" for suffix in ("sig", "att", "sbom")} & set(await tags)
        )
        mount, *signed = await asyncio.gather(
            self.send(level + 2, "POST", f"/v2/{repo}/blobs/uploads/", params={"mount": blob, "from": repo}),
            *(
                self.send(level + 2, "GET", f"/v2/{repo}/manifests/{t}", headers={"Accept": MANIFEST_ACCEPT})
                for t in cosign
            ),
        )
        if mount.status_code == 202:
            await self.send(level + 3, "DELETE", mount.headers["location"])
        found = sum(1 for response in signed if response.status_code == 200)
        if api.status_code == 200:
            return found + len(api.json().get("manifests", []))
        if index.status_code == 200:
            found += len(index.json().get("manifests", []))
        return found

    async def chunked_upload(self, level: int) -> None:
        repo = self.repository
        started = await self.send(level, "POST", f"/v2/{repo}/blobs/uploads/")
        patched = await self.send(
            level + 1,
            "PATCH",
            started.headers["location"],
            content=b"doctor",
            headers={"Content-Type": "application/octet-stream"},
        )
        await self.send(level + 2, "DELETE", patched.headers.get("location") or started.headers["location"])

    async def list_tags(self, level: int) -> list[str]:
        response = await self.send(level, "GET", f"/v2/{self.repository}/tags/list")
        return list(response.json().get("tags") or [])

    async def referrers(self, tag: str) -> dict[str, Any]:
        """What ``doctor oci referrers REPO:TAG`` asks: the subject, then the API, the tag-schema
        index and the tag list at once, then the subject's cosign tags."""
        repo = self.repository
        level = await self.authenticate("pull")
        tags = asyncio.ensure_future(self.list_tags(level))
        head = await self.send(
            level, "HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
        )
        digest = head.headers["docker-content-digest"]
        hex_part = digest.split(":", 1)[1]
        api, index = await asyncio.gather(
            self.send(level + 1, "GET", f"/v2/{repo}/referrers/{digest}"),
            self.send(
                level + 1,
                "GET",
                f"/v2/{repo}/manifests/sha256-{hex_part}",
                headers={"Accept": MANIFEST_ACCEPT},
            ),
        )
        found = len(api.json().get("manifests", [])) if api.status_code == 200 else 0
        if api.status_code != 200:
            if index.status_code == 200:
                found += len(index.json().get("manifests", []))
            cosign = sorted(
                {f"sha256-{hex_part}.{suffix}" for suffix in ("sig", "att", "sbom")} & set(await tags)
            )
            signed = await asyncio.gather(
                *(
                    self.send(
                        level + 2, "GET", f"/v2/{repo}/manifests/{t}", headers={"Accept": MANIFEST_ACCEPT}
                    )
                    for t in cosign
                )
            )
            found += sum(1 for response in signed if response.status_code == 200)
        else:
            await tags
        return {
            "referrers": found,
            "requests": self.requests,
            "token_fetches": self.tokens,
            "challenges": self.challenges,
            "depth": self.depth,
        }

    async def run(self, tag: str) -> dict[str, Any]:
        level = await self.authenticate()
        tags = asyncio.ensure_future(self.list_tags(level))
        results = await asyncio.gather(
            self.send(level, "GET", "/v2/"),
            self.image_probes(level, tag, tags),
            self.chunked_upload(level),
            self.send(level, "DELETE", f"/v2/{self.repository}/manifests/{FAKE_DIGEST}"),
            self.send(level, "DELETE", f"/v2/{self.repository}/blobs/{FAKE_DIGEST}"),
            tags,
        )
        return {
            "ping_status": results[0].status_code,
            "referrers": results[1],
            "requests": self.requests,
            "token_fetches": self.tokens,
            "challenges": self.challenges,
            "depth": self.depth,
        }


def _verify(ca_bundle: str | None) -> Any:
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(verify=_verify(args.ca_bundle), timeout=30, trust_env=False) as http:
        password = os.environ.get(args.password_env) if args.password_env else None
        reference = Reference(http, args.registry, args.repository, args.user, password)
        return await (reference.referrers(args.tag) if args.referrers else reference.run(args.tag))


def read_fleet(path: str) -> list[dict[str, Any]]:
    """The ``--fleet`` file: a non-empty list of registry entries (see the module docstring)."""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty JSON list of registries")
    for entry in entries:
        if not isinstance(entry, dict) or not {"registry", "repository", "tag"} <= set(entry):
            raise ValueError(f"{path}: an entry needs registry, repository and tag: {entry!r}")
    return entries


async def _fleet(entries: list[dict[str, Any]], referrers: bool) -> dict[str, Any]:
    """Every registry's probes at once on this one event loop, one client (pool) per registry.

    The clients share one SSL context per trust setting, as doctor's do: httpx builds one per
    client otherwise (loading the CA bundle, 20-35 ms of CPU each here), which for 20 registries
    would be most of the difference to one registry and not the protocol's cost.
    """
    contexts: dict[str | None, ssl.SSLContext] = {}
    async with contextlib.AsyncExitStack() as stack:
        references: dict[str, Reference] = {}
        for entry in entries:
            ca_bundle = entry.get("ca_bundle")
            if ca_bundle not in contexts:
                contexts[ca_bundle] = (
                    ssl.create_default_context(cafile=ca_bundle)
                    if ca_bundle
                    else httpx.create_ssl_context(trust_env=False)
                )
            http = await stack.enter_async_context(
                httpx.AsyncClient(verify=contexts[ca_bundle], timeout=30, trust_env=False)
            )
            variable = entry.get("password_env")
            password = os.environ.get(variable) if variable else None
            key = str(entry.get("name") or entry["registry"])
            references[key] = Reference(
                http, entry["registry"], entry["repository"], entry.get("user"), password
            )
        summaries = await asyncio.gather(
            *(
                ref.referrers(str(entry["tag"])) if referrers else ref.run(str(entry["tag"]))
                for ref, entry in zip(references.values(), entries, strict=True)
            )
        )
    return {
        "registries": len(summaries),
        "requests": sum(s["requests"] for s in summaries),
        "token_fetches": sum(s["token_fetches"] for s in summaries),
        "challenges": sum(s["challenges"] for s in summaries),
        "depth": max(s["depth"] for s in summaries),
        "referrers": sum(s["referrers"] for s in summaries),
        "per_registry": dict(zip(references, summaries, strict=True)),
    }


def preload(modules: str | None) -> None:
    """Import ``modules`` (comma-separated) and nothing else: their import cost is the point."""
    for name in (modules or "").split(","):
        if name.strip():
            importlib.import_module(name.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reference_client", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--registry", help="base URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--repository")
    parser.add_argument("--tag")
    parser.add_argument("--fleet", help="JSON list of registries to probe at once (instead of --registry)")
    parser.add_argument("--preload", help="MOD[,MOD...] to import before the run (their cost only)")
    parser.add_argument("--ca-bundle", default=None)
    parser.add_argument("--user", default=None)
    parser.add_argument("--referrers", action="store_true", help="only what 'doctor oci referrers' asks")
    parser.add_argument("--password-env", default=None, help="name of the variable holding the password")
    args = parser.parse_args(argv)
    if not args.fleet and not (args.registry and args.repository and args.tag):
        parser.error("either --fleet or all of --registry, --repository and --tag")
    try:
        preload(args.preload)
    except ImportError as exc:
        parser.error(f"--preload: {exc}")
    try:
        run = _fleet(read_fleet(args.fleet), args.referrers) if args.fleet else _main(args)
        summary = asyncio.run(run)
    except (httpx.HTTPError, KeyError, ValueError, OSError) as exc:
        print(f"reference client failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
