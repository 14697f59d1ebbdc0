"""``make demo``: doctor against a real local registry, end to end, in under a minute.

What it does, in order, printing each command before it runs it so you can repeat it by hand:

1. starts Debian's ``docker-registry`` (CNCF distribution 2.8) on a free loopback port, with
   htpasswd authentication over TLS (a throw-away CA written to ``.demo/``);
2. pushes a small image ``demo/app:1.0`` and two referrers to it -- a signature and an SBOM --
   recorded in the OCI referrers tag schema, because this registry has no referrers API;
3. runs ``doctor --tag registry`` (text, then JSON into ``.demo/registry-health.json``);
4. runs ``doctor oci referrers`` on the image;
5. starts a registry *with* the OCI 1.1 referrers API (oras-project/distribution, built by
   ``make demo`` / ``make test`` into ``.cache/oras-registry/``; see
   :mod:`devtools.referrers_registry`), pushes the same image with a Sigstore bundle and an SBOM as
   OCI 1.1 referrers plus a cosign v2 ``.sig`` tag, and runs the checks there -- the seed's
   "Healthy Registry Output": five PASS, capabilities 6/6 -- and ``doctor oci referrers``;
6. stops the registries it started (and only them), also on Ctrl-C or an error.

Without Go or the registry's source, step 5 is skipped with the reason (the rest still runs).

The password travels to doctor through ``OCI__PasswordSecretRef=env:DEMO_REGISTRY_PASSWORD``, the
way the configuration reference recommends; it is never printed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from devtools.images import push_cosign_tags, push_image, push_referrer, push_tag_schema_index
from devtools.referrers_registry import ReferrersRegistryUnavailable, start_referrers_registry
from devtools.registry import RegistryBinaryMissing, RegistryStartError, RunningRegistry, start_registry

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".demo"
REPOSITORY = "demo/app"
TAG = "1.0"
SIGNATURE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_TYPE = "application/spdx+json"


def _doctor() -> str:
    """The ``doctor`` script installed beside the running interpreter (the demo's virtualenv)."""
    candidate = Path(sys.executable).with_name("doctor")
    return str(candidate) if candidate.exists() else "doctor"


def _banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def _run(args: list[str], env: dict[str, str]) -> int:
    shown = ["doctor", *args[1:]] if args and args[0] == _doctor() else args
    print(f"$ {shlex.join(shown)}", flush=True)
    completed = subprocess.run(args, env=env, check=False)
    print(f"(exit code {completed.returncode})", flush=True)
    return completed.returncode


def _environment(registry: RunningRegistry) -> dict[str, str]:
    """doctor's configuration for ``registry`` (the password through a SecretRef, never printed)."""
    user, password = registry.credentials("admin")
    env = dict(os.environ)
    env.update(
        {
            "OCI__RegistryUrl": registry.url,
            "OCI__Username": user,
            "OCI__PasswordSecretRef": "env:DEMO_REGISTRY_PASSWORD",
            "DEMO_REGISTRY_PASSWORD": password,
            "OCI__CaBundle": str(registry.ca_bundle),
            "OCI__TestRepository": REPOSITORY,
            "OCI__TestTag": TAG,
        }
    )
    return env


def _with_referrers_api() -> list[int]:
    """Step 5: the referrers-API registry; the exit codes of its commands ([] when skipped)."""
    _banner("Starting a registry with the OCI 1.1 referrers API (oras-project/distribution)")
    try:
        registry = start_referrers_registry("htpasswd-tls", workdir=WORKDIR)
    except (ReferrersRegistryUnavailable, RegistryStartError) as exc:
        print(f"skipped: {exc}")
        return []
    try:
        print(f"registry: {registry.url}  (CA bundle: {registry.ca_bundle})")
        _banner(f"Pushing {REPOSITORY}:{TAG} with two OCI 1.1 referrers and a cosign v2 signature tag")
        image = push_image(registry, REPOSITORY, TAG)
        push_referrer(
            registry,
            REPOSITORY,
            image,
            SIGNATURE_TYPE,
            annotations={"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"},
        )
        push_referrer(registry, REPOSITORY, image, SBOM_TYPE, artifact_type_in_config=True)
        push_cosign_tags(registry, REPOSITORY, image.digest, ["sig"])
        print(f"image     {image.digest}")
        env = _environment(registry)
        doctor = _doctor()
        _banner("Registry checks on the registry with the referrers API (the seed's healthy output)")
        codes = [_run([doctor, "--tag", "registry", "--no-color"], env)]
        _banner("Referrer discovery through the referrers API, cosign tags beside it")
        codes.append(_run([doctor, "oci", "referrers", f"{registry.host}/{REPOSITORY}:{TAG}"], env))
        return codes
    finally:
        registry.stop()


def main() -> int:
    WORKDIR.mkdir(exist_ok=True)
    _banner("Starting a local registry (docker-registry 2.8, htpasswd auth over TLS)")
    try:
        registry = start_registry("htpasswd-tls", workdir=WORKDIR)
    except RegistryBinaryMissing as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except RegistryStartError as exc:
        print(f"demo: the registry did not start: {exc}", file=sys.stderr)
        return 2

    try:
        print(f"registry: {registry.url}  (CA bundle: {registry.ca_bundle})")
        _banner(f"Pushing {REPOSITORY}:{TAG} with a signature and an SBOM referrer")
        image = push_image(registry, REPOSITORY, TAG)
        signature = push_referrer(
            registry,
            REPOSITORY,
            image,
            SIGNATURE_TYPE,
            annotations={"org.opencontainers.image.title": "signature"},
        )
        sbom = push_referrer(
            registry,
            REPOSITORY,
            image,
            SBOM_TYPE,
            annotations={"org.opencontainers.image.title": "sbom"},
        )
        push_tag_schema_index(registry, REPOSITORY, image.digest, [signature, sbom])
        print(f"image     {image.digest}")
        print(f"signature {signature.digest}")
        print(f"sbom      {sbom.digest}")

        env = _environment(registry)
        print("\nconfiguration (environment):")
        for key in (
            "OCI__RegistryUrl",
            "OCI__Username",
            "OCI__PasswordSecretRef",
            "OCI__CaBundle",
            "OCI__TestRepository",
            "OCI__TestTag",
        ):
            print(f"  {key}={env[key]}")

        doctor = _doctor()
        _banner("Registry checks")
        codes = [_run([doctor, "--tag", "registry", "--no-color"], env)]
        _banner("Registry checks, verbose (evidence and remediation)")
        codes.append(_run([doctor, "--tag", "registry", "--verbose", "--no-color"], env))
        _banner("Registry checks as JSON")
        report = WORKDIR / "registry-health.json"
        codes.append(_run([doctor, "--tag", "registry", "--format", "json", "--output", str(report)], env))
        print(f"JSON report written to {report.relative_to(ROOT)}")
        _banner("Referrer discovery")
        reference = f"{registry.host}/{REPOSITORY}:{TAG}"
        referrers_code = _run([doctor, "oci", "referrers", reference], env)
        _run([doctor, "oci", "referrers", reference, "--artifact-type", SBOM_TYPE, "--format", "json"], env)
    finally:
        _banner("Stopping the registry")
        registry.stop()
        print("stopped.")
    # distribution 2.8 has no referrers API: the referrers check WARNs there (exit 0)
    native_codes = _with_referrers_api()

    # doctor exits 1 when a check fails: the demo registries are healthy, so anything but 0 is a problem.
    if any(code != 0 for code in [*codes, *native_codes]) or referrers_code != 0:
        print("\ndemo: a command did not succeed (see its output above)", file=sys.stderr)
        return 1
    print("\ndemo finished: all commands succeeded.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
