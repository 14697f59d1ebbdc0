"""The OCI registry client: references, challenges, credentials, auth, transport and ``RegistryClient``.

The contract shared with the checks and referrer discovery is ``docs/dev/oci-client-contract.md``.
"""

from __future__ import annotations

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
    Unsupported,
)
from doctor_oci.client.headers import RateLimit, parse_rate_limit, parse_retry_after
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
    "TLSError",
    "TokenCache",
    "Unsupported",
    "base_media_type",
    "default_docker_config_path",
    "describe_request",
    "describe_url",
    "digest_algorithm",
    "error_from_response",
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
