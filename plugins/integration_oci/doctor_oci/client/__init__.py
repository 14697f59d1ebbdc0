"""The OCI registry client: references, challenges, credentials, auth, transport and ``RegistryClient``.

The contract shared with the checks and referrer discovery is ``docs/dev/oci-client-contract.md``.
The client depends on httpx and the standard library only; what it needs from its host
(redaction, secret registration, a logger, the caller's deadline) is injected through
:mod:`doctor_oci.client.hooks`.

Names are imported on first use: importing this package (as :mod:`doctor_oci.client.hooks`'
parent, from ``doctor_oci.settings``) costs nothing, httpx is imported with the first name that
needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from doctor_oci.client.auth import AccessToken, Authenticator, TokenCache
    from doctor_oci.client.budget import BudgetExceeded, PageBudget
    from doctor_oci.client.challenge import Challenge, parse_www_authenticate
    from doctor_oci.client.client import Manifest, PingResult, RegistryClient
    from doctor_oci.client.credentials import Credentials, default_docker_config_path, resolve_credentials
    from doctor_oci.client.errors import (
        AuthenticationError,
        ConnectError,
        CredentialRedirectRefused,
        InsecureTransportRefused,
        NotFound,
        PermissionDenied,
        ProtocolError,
        RateLimited,
        RedirectedToAnotherHost,
        RegistryError,
        RegistryTimeout,
        ResponseTooLarge,
        TLSError,
        TokenServiceError,
        Unsupported,
    )
    from doctor_oci.client.headers import RateLimit, parse_rate_limit, parse_retry_after
    from doctor_oci.client.hooks import ClientHooks, ClientLogger, install_hooks, installed_hooks
    from doctor_oci.client.link import next_link, parse_links
    from doctor_oci.client.mediatypes import (
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        INDEX_TYPES,
        MANIFEST_ACCEPT,
        OCI_EMPTY,
        OCI_EMPTY_DIGEST,
        OCI_INDEX,
        OCI_MANIFEST,
        base_media_type,
    )
    from doctor_oci.client.options import ClientSettings, Secret, SecretValue
    from doctor_oci.client.reference import (
        InvalidReference,
        InvalidRegistryUrl,
        Reference,
        RegistryEndpoint,
        digest_algorithm,
        is_digest,
    )
    from doctor_oci.client.responses import error_from_response, parse_error_body
    from doctor_oci.client.transport import RequestMetrics, RetryPolicy
    from doctor_oci.client.urls import describe_request, describe_url, same_origin

_EXPORTS = {
    "AccessToken": "doctor_oci.client.auth",
    "AuthenticationError": "doctor_oci.client.errors",
    "Authenticator": "doctor_oci.client.auth",
    "base_media_type": "doctor_oci.client.mediatypes",
    "BudgetExceeded": "doctor_oci.client.budget",
    "Challenge": "doctor_oci.client.challenge",
    "ClientHooks": "doctor_oci.client.hooks",
    "ClientLogger": "doctor_oci.client.hooks",
    "ClientSettings": "doctor_oci.client.options",
    "ConnectError": "doctor_oci.client.errors",
    "CredentialRedirectRefused": "doctor_oci.client.errors",
    "Credentials": "doctor_oci.client.credentials",
    "default_docker_config_path": "doctor_oci.client.credentials",
    "describe_request": "doctor_oci.client.urls",
    "describe_url": "doctor_oci.client.urls",
    "digest_algorithm": "doctor_oci.client.reference",
    "DOCKER_MANIFEST": "doctor_oci.client.mediatypes",
    "DOCKER_MANIFEST_LIST": "doctor_oci.client.mediatypes",
    "error_from_response": "doctor_oci.client.responses",
    "INDEX_TYPES": "doctor_oci.client.mediatypes",
    "InsecureTransportRefused": "doctor_oci.client.errors",
    "install_hooks": "doctor_oci.client.hooks",
    "installed_hooks": "doctor_oci.client.hooks",
    "InvalidReference": "doctor_oci.client.reference",
    "InvalidRegistryUrl": "doctor_oci.client.reference",
    "is_digest": "doctor_oci.client.reference",
    "Manifest": "doctor_oci.client.client",
    "MANIFEST_ACCEPT": "doctor_oci.client.mediatypes",
    "next_link": "doctor_oci.client.link",
    "NotFound": "doctor_oci.client.errors",
    "OCI_EMPTY": "doctor_oci.client.mediatypes",
    "OCI_EMPTY_DIGEST": "doctor_oci.client.mediatypes",
    "OCI_INDEX": "doctor_oci.client.mediatypes",
    "OCI_MANIFEST": "doctor_oci.client.mediatypes",
    "PageBudget": "doctor_oci.client.budget",
    "parse_error_body": "doctor_oci.client.responses",
    "parse_links": "doctor_oci.client.link",
    "parse_rate_limit": "doctor_oci.client.headers",
    "parse_retry_after": "doctor_oci.client.headers",
    "parse_www_authenticate": "doctor_oci.client.challenge",
    "PermissionDenied": "doctor_oci.client.errors",
    "PingResult": "doctor_oci.client.client",
    "ProtocolError": "doctor_oci.client.errors",
    "RateLimit": "doctor_oci.client.headers",
    "RateLimited": "doctor_oci.client.errors",
    "RedirectedToAnotherHost": "doctor_oci.client.errors",
    "Reference": "doctor_oci.client.reference",
    "RegistryClient": "doctor_oci.client.client",
    "RegistryEndpoint": "doctor_oci.client.reference",
    "RegistryError": "doctor_oci.client.errors",
    "RegistryTimeout": "doctor_oci.client.errors",
    "RequestMetrics": "doctor_oci.client.transport",
    "resolve_credentials": "doctor_oci.client.credentials",
    "ResponseTooLarge": "doctor_oci.client.errors",
    "RetryPolicy": "doctor_oci.client.transport",
    "same_origin": "doctor_oci.client.urls",
    "Secret": "doctor_oci.client.options",
    "SecretValue": "doctor_oci.client.options",
    "TLSError": "doctor_oci.client.errors",
    "TokenServiceError": "doctor_oci.client.errors",
    "TokenCache": "doctor_oci.client.auth",
    "Unsupported": "doctor_oci.client.errors",
}

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "OCI_EMPTY",
    "OCI_EMPTY_DIGEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "AccessToken",
    "AuthenticationError",
    "Authenticator",
    "BudgetExceeded",
    "Challenge",
    "ClientHooks",
    "ClientLogger",
    "ClientSettings",
    "ConnectError",
    "CredentialRedirectRefused",
    "Credentials",
    "InsecureTransportRefused",
    "InvalidReference",
    "InvalidRegistryUrl",
    "Manifest",
    "NotFound",
    "PageBudget",
    "PermissionDenied",
    "PingResult",
    "ProtocolError",
    "RateLimit",
    "RateLimited",
    "RedirectedToAnotherHost",
    "Reference",
    "RegistryClient",
    "RegistryEndpoint",
    "RegistryError",
    "RegistryTimeout",
    "RequestMetrics",
    "ResponseTooLarge",
    "RetryPolicy",
    "Secret",
    "SecretValue",
    "TLSError",
    "TokenCache",
    "TokenServiceError",
    "Unsupported",
    "base_media_type",
    "default_docker_config_path",
    "describe_request",
    "describe_url",
    "digest_algorithm",
    "error_from_response",
    "install_hooks",
    "installed_hooks",
    "is_digest",
    "next_link",
    "parse_error_body",
    "parse_links",
    "parse_rate_limit",
    "parse_retry_after",
    "parse_www_authenticate",
    "resolve_credentials",
    "same_origin",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        # ``doctor_oci.client.transport`` and friends, as attributes of the package
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
