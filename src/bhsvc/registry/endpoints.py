"""Where the Google Cloud clients connect, and which credentials they present.

Endpoints can be overridden for private endpoints and for tests. Plain-text
transports are refused for anything but a loopback host, so an access token is
never sent over an unencrypted connection, and a loopback endpoint gets
anonymous credentials, so no real token ever reaches a local test server.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bhsvc.errors import UsageError

ARTIFACT_REGISTRY_ENDPOINT_ENV = "BHSVC_ARTIFACT_REGISTRY_ENDPOINT"
IAM_ENDPOINT_ENV = "BHSVC_IAM_ENDPOINT"


@dataclass(frozen=True)
class Endpoint:
    """An overridden API endpoint."""

    address: str  # a URL for REST clients, host:port for gRPC clients
    host: str
    insecure: bool  # plain HTTP / an insecure gRPC channel

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse_plain_text(env_name: str, value: str, host: str) -> UsageError:
    return UsageError(
        f"{env_name}={value}: an unencrypted connection is only allowed to a loopback host "
        f"(127.0.0.1, ::1, localhost), not {host!r}; use https"
    )


def artifact_registry_endpoint(env: Mapping[str, str] | None = None) -> Endpoint | None:
    """The REST endpoint from BHSVC_ARTIFACT_REGISTRY_ENDPOINT, or None for the default."""
    env = os.environ if env is None else env
    value = env.get(ARTIFACT_REGISTRY_ENDPOINT_ENV, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{ARTIFACT_REGISTRY_ENDPOINT_ENV}={value}: expected a URL such as "
            "https://europe-west10-artifactregistry.googleapis.com or http://127.0.0.1:8080"
        )
    try:
        parts.port  # noqa: B018 - validates the port number
    except ValueError:
        raise UsageError(f"{ARTIFACT_REGISTRY_ENDPOINT_ENV}={value}: invalid port") from None
    endpoint = Endpoint(value.rstrip("/"), parts.hostname, parts.scheme == "http")
    if endpoint.insecure and not endpoint.loopback:
        raise _refuse_plain_text(ARTIFACT_REGISTRY_ENDPOINT_ENV, value, parts.hostname)
    return endpoint


def iam_endpoint(env: Mapping[str, str] | None = None) -> Endpoint | None:
    """The gRPC endpoint from BHSVC_IAM_ENDPOINT (`host:port`), or None for the default.

    A bare `host:port` means an insecure channel for a loopback host and TLS
    otherwise; `http://` asks for an insecure channel (loopback only) and
    `https://` for TLS.
    """
    env = os.environ if env is None else env
    value = env.get(IAM_ENDPOINT_ENV, "").strip()
    if not value:
        return None
    scheme, _, rest = value.rpartition("://")
    if scheme not in ("", "http", "https"):
        raise UsageError(f"{IAM_ENDPOINT_ENV}={value}: expected host:port")
    parts = urlsplit(f"//{rest}")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname
    if not host or port is None or parts.path or parts.query:
        raise UsageError(
            f"{IAM_ENDPOINT_ENV}={value}: expected host:port, such as "
            "iam.googleapis.com:443 or 127.0.0.1:50051"
        )
    insecure = scheme == "http" or (scheme == "" and is_loopback(host))
    if insecure and not is_loopback(host):
        raise _refuse_plain_text(IAM_ENDPOINT_ENV, value, host)
    return Endpoint(rest, host, insecure)
