"""Building the Artifact Registry (REST) and IAM admin (gRPC) clients.

All Google imports live inside these functions: they cost about half a second
and only `init` needs them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.registry.endpoints import Endpoint, artifact_registry_endpoint, iam_endpoint
from bhsvc.registry.gcp_errors import ADC_HELP

if TYPE_CHECKING:
    from google.cloud.artifactregistry_v1 import ArtifactRegistryClient
    from google.cloud.iam_admin_v1 import IAMClient

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

# The kinds of file google.auth.default() loads from CREDENTIALS_ENV.
_CREDENTIALS_FILE_TYPES = frozenset(
    {
        "service_account",
        "authorized_user",
        "external_account",
        "external_account_authorized_user",
        "impersonated_service_account",
        "gdch_service_account",
    }
)
_NOT_CREDENTIALS = "not a service-account or authorized-user credentials file"

# The generated transports log full request and response payloads at DEBUG
# level, which would include a newly created private key. Pinning these
# loggers above DEBUG keeps key material out of logs even when the root logger
# is set to DEBUG.
SDK_LOGGING_SCOPE_ENV = "GOOGLE_SDK_PYTHON_LOGGING_SCOPE"
_PAYLOAD_LOGGERS = (
    "google.cloud.iam_admin_v1",
    "google.cloud.artifactregistry_v1",
    "google.api_core",
)


@dataclass
class GcpClients:
    artifact_registry: ArtifactRegistryClient
    iam: IAMClient

    def close(self) -> None:
        self.artifact_registry.transport.close()  # type: ignore[no-untyped-call]
        self.iam.transport.close()  # type: ignore[no-untyped-call]


def silence_payload_logging() -> None:
    """Keep the payload loggers above DEBUG, and the one GOOGLE_SDK_PYTHON_LOGGING_SCOPE
    names too: a client's first start would set that logger to DEBUG with a handler
    of its own (unless it is configured already), below the ones pinned here."""
    scope = os.environ.get(SDK_LOGGING_SCOPE_ENV, "").strip()
    for name in (*_PAYLOAD_LOGGERS, *([scope] if scope.startswith("google") else [])):
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET (0) included
            logger.setLevel(logging.INFO)


def _credentials_file_problem(path: Path) -> str | None:
    """What keeps `path` from being a credentials file, judged without quoting it."""
    if not os.path.exists(path):
        return "not found"
    if not os.path.isfile(path):
        return "not a file"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{_NOT_CREDENTIALS} (not JSON)"
    if not isinstance(data, dict) or data.get("type") not in _CREDENTIALS_FILE_TYPES:
        return _NOT_CREDENTIALS
    return None


def check_credentials_file(env: Mapping[str, str] | None = None) -> None:
    """Refuse a GOOGLE_APPLICATION_CREDENTIALS that names no credentials file (bad input).

    The file holds a private key or a refresh token: messages name it, never quote it.
    """
    env = os.environ if env is None else env
    value = env.get(CREDENTIALS_ENV, "")
    problem = _credentials_file_problem(Path(value)) if value else None
    if problem:
        raise UsageError(f"{CREDENTIALS_ENV}={value}: {problem}")


class LazyDefaultCredentials:
    """Application Default Credentials, looked up once and only if a client needs them."""

    def __init__(self) -> None:
        self._value: Any = None

    def get(self) -> Any:
        if self._value is None:
            import google.auth
            from google.auth.exceptions import DefaultCredentialsError

            try:
                self._value, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            except DefaultCredentialsError:
                raise _default_credentials_error() from None
        return self._value


def _default_credentials_error() -> BhsvcError:
    """Why google.auth.default() failed: a bad file the variable names, or no credentials."""
    value = os.environ.get(CREDENTIALS_ENV, "")
    if not value:
        return OperationError(ADC_HELP)
    try:
        check_credentials_file()
    except UsageError as err:
        return err
    # A known kind of file, but google.auth could not load it.
    return UsageError(f"{CREDENTIALS_ENV}={value}: an incomplete or invalid credentials file")


def needs_credentials(endpoint: Endpoint | None) -> bool:
    """Whether a client for `endpoint` presents the user's credentials (loopback: none)."""
    return endpoint is None or not endpoint.loopback


def _credentials_for(endpoint: Endpoint | None, adc: LazyDefaultCredentials) -> Any:
    if not needs_credentials(endpoint):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    return adc.get()


def make_artifact_registry_client(
    endpoint: Endpoint | None, adc: LazyDefaultCredentials
) -> ArtifactRegistryClient:
    from google.cloud.artifactregistry_v1 import ArtifactRegistryClient

    options: dict[str, str] = {}
    if endpoint is not None:
        options["api_endpoint"] = endpoint.address
    # REST: it works through HTTP proxies and needs no gRPC channel to a regional host.
    return ArtifactRegistryClient(
        credentials=_credentials_for(endpoint, adc),
        transport="rest",
        client_options=options,
    )


def make_iam_client(endpoint: Endpoint | None, adc: LazyDefaultCredentials) -> IAMClient:
    from google.cloud.iam_admin_v1 import IAMClient

    if endpoint is not None and endpoint.insecure:
        # Only reachable for loopback hosts (endpoints.iam_endpoint refuses others);
        # a ready channel carries no credentials at all.
        import grpc
        from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

        channel = grpc.insecure_channel(endpoint.address)
        return IAMClient(transport=IAMGrpcTransport(channel=channel))
    options = {"api_endpoint": endpoint.address} if endpoint is not None else {}
    return IAMClient(credentials=_credentials_for(endpoint, adc), client_options=options)


def resolve_endpoints(
    env: Mapping[str, str] | None = None,
) -> tuple[Endpoint | None, Endpoint | None]:
    """Both overrides, validated before any client is made (a bad value is exit 2)."""
    return artifact_registry_endpoint(env), iam_endpoint(env)


def make_clients(env: Mapping[str, str] | None = None) -> GcpClients:
    ar_endpoint, iam_ep = resolve_endpoints(env)
    silence_payload_logging()
    adc = LazyDefaultCredentials()
    return GcpClients(
        artifact_registry=make_artifact_registry_client(ar_endpoint, adc),
        iam=make_iam_client(iam_ep, adc),
    )
