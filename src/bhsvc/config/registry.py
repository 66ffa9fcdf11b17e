"""Registry rules: where images go and with which account, and the `registry` section.

The functions that join two keys (an account name and its provider, an image
prefix and the server its credentials are for) are used by the model and, on
each answer, by the `bhsvc init` wizard: one rule, one message, wherever a
value comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, model_validator

from bhsvc.config.rules import (
    URL_PATH_CHARS,
    KeyProblem,
    OptionalFilePath,
    Strict,
    check_plain,
    checker,
    matcher,
)
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.text import clip, shown

ProjectId = Annotated[
    str,
    matcher(
        r"[a-z][a-z0-9-]*[a-z0-9]",
        "GCP project id",
        "a lowercase letter first, then lowercase letters, digits, '-'",
        30,
        6,
    ),
]
Region = Annotated[
    str,
    matcher(
        r"[a-z]+-[a-z]+[0-9]+|us|europe|asia",
        "Artifact Registry location",
        "a region such as europe-west10, or us, europe, asia",
        40,
    ),
]
RepositoryId = Annotated[
    str,
    matcher(
        r"[a-z]([a-z0-9-]*[a-z0-9])?",
        "Artifact Registry repository id",
        "a lowercase letter first, then lowercase letters, digits, '-'",
        63,
    ),
]
ServiceAccountId = Annotated[
    str,
    matcher(
        r"[a-z]([-a-z0-9]*[a-z0-9])",
        "service account id",
        "a lowercase letter first, then lowercase letters, digits, '-'",
        30,
        6,
    ),
]
check_image_prefix = checker(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]+)?/)?"
    r"[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*[/_.-]?",
    "image prefix",
    "a lowercase image reference such as registry.example.org/org/binder-",
    200,
)
ImagePrefix = Annotated[str, AfterValidator(check_image_prefix)]
ServiceAccountEmail = Annotated[
    str,
    matcher(
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?@[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.gserviceaccount\.com",
        "service account email",
        "such as 123456789012-compute@developer.gserviceaccount.com or "
        "nodes@my-project.iam.gserviceaccount.com",
        100,
    ),
]
# bhsvc's own bounds: beyond ten years, or ten thousand versions of one image, a
# rule would never delete anything a BinderHub builds.
MAX_CLEANUP_DAYS = 3650
MAX_KEEP_RECENT = 10_000


def _from_one_to(most: int, unit: str) -> AfterValidator:
    def check(value: int) -> int:
        if not 1 <= value <= most:
            raise ValueError(f"must be 1 to {most} {unit}, got {clip(str(value), 20)}")
        return value

    return AfterValidator(check)


# Whole numbers only: YAML text ("7"), true/false and fractions are refused.
CleanupDays = Annotated[StrictInt, _from_one_to(MAX_CLEANUP_DAYS, "days")]
KeepCount = Annotated[StrictInt, _from_one_to(MAX_KEEP_RECENT, "versions")]


class GarCleanup(Strict):
    """Artifact Registry cleanup policies that delete old images from the repository.
    bhsvc init sets them on the repository as policies whose ids start with bhsvc-
    and leaves the repository's other policies alone; without this section it sets
    none (and removes the bhsvc- ones an earlier run set). Artifact Registry applies
    them about once a day, and a deleted image cannot be brought back: BinderHub
    builds it again on the next launch."""

    keep_recent: KeepCount | None = Field(
        default=None,
        description="Keep the N most recent versions of each image, whatever the delete "
        "rules say (a keep policy: it deletes nothing on its own, so it needs "
        "untagged_after_days or older_than_days). An image with N versions or fewer is "
        f"never deleted. 1 to {MAX_KEEP_RECENT}; empty: no version is spared.",
    )
    untagged_after_days: CleanupDays | None = Field(
        default=None,
        description="Delete versions without a tag once they are older than this many "
        "days (a version loses its tag when a build pushes the same tag again). "
        f"1 to {MAX_CLEANUP_DAYS}; empty: untagged versions are not deleted for being "
        "untagged.",
    )
    older_than_days: CleanupDays | None = Field(
        default=None,
        description="Delete every version, tagged or not, once it is older than this many "
        f"days (since it was pushed). 1 to {MAX_CLEANUP_DAYS}; empty: no age limit.",
    )
    dry_run: StrictBool = Field(
        default=False,
        description="Artifact Registry's dry-run mode (the repository's "
        "cleanup_policy_dry_run): the policies are evaluated and the versions they would "
        "delete are logged, but nothing is deleted. It applies to every policy of the "
        "repository, bhsvc's and others alike; without a cleanup section bhsvc leaves it "
        "as it is.",
    )

    @model_validator(mode="after")
    def _deletes_something(self) -> GarCleanup:
        if self.untagged_after_days is None and self.older_than_days is None:
            raise ValueError(
                "deletes nothing: set untagged_after_days or older_than_days (keep_recent "
                "only spares versions from those), or remove the section"
            )
        return self


GarAuth = Literal["key", "workload-identity"]
KEY: GarAuth = "key"
WORKLOAD_IDENTITY: GarAuth = "workload-identity"


class GarSettings(Strict):
    project: ProjectId = Field(
        description="Google Cloud project id that holds the repository and the pusher "
        "service account.",
    )
    region: Region = Field(
        description="Artifact Registry location, such as europe-west10 (or the "
        "multi-regions us, europe, asia); images go to <region>-docker.pkg.dev.",
    )
    repository: RepositoryId = Field(
        default="binder",
        description="Artifact Registry repository id (Docker format), created by bhsvc "
        "init when missing.",
    )
    service_account: ServiceAccountId | None = Field(
        default=None,
        description="Id of the service account that pushes images (6-30 characters). "
        "Empty: <binderhub.release>-pusher.",
    )
    auth: GarAuth = Field(
        default=KEY,
        description="How builds get push credentials. key: a JSON key of the pusher service "
        "account, kept in key_file and stored in the cluster as a Secret. "
        "workload-identity: no key at all; on GKE with Workload Identity Federation, "
        "BinderHub's Kubernetes ServiceAccount acts as the pusher and hands each build an "
        "access token from the GKE metadata server (it lives at most an hour), and the "
        "cluster's nodes pull images as their own service account (node_service_account).",
    )
    key_file: OptionalFilePath = Field(
        default=None,
        description="Where bhsvc init writes the pusher's JSON key (mode 0600) and bhsvc "
        "deploy reads it (auth key). Empty: .bhsvc/<service account>-key.json next to the "
        "config file. With auth workload-identity no key is written; a key left here from "
        "auth key is deleted by bhsvc init --delete-old-keys.",
    )
    pull_service_account: ServiceAccountId | None = Field(
        default=None,
        description="Id of the service account whose key the hub's users pull images with "
        "(auth key with hub.enabled: it holds roles/artifactregistry.reader on the "
        "repository only, so the hub never holds push credentials). Empty: "
        "<binderhub.release>-puller.",
    )
    pull_key_file: OptionalFilePath = Field(
        default=None,
        description="Where bhsvc init writes the pull service account's JSON key (mode 0600) "
        "and bhsvc deploy reads it (auth key with hub.enabled). Empty: "
        ".bhsvc/<pull service account>-key.json next to the config file.",
    )
    node_service_account: ServiceAccountEmail | None = Field(
        default=None,
        description="Email of the service account the cluster's nodes run as: with auth "
        "workload-identity they pull the built images as this account, which bhsvc init "
        "grants roles/artifactregistry.reader on the repository. Empty: the project's "
        "Compute Engine default service account, <project number>-compute@"
        "developer.gserviceaccount.com (GKE's default for node pools). Only used with auth "
        "workload-identity.",
    )
    cleanup: GarCleanup | None = Field(
        default=None,
        description="Cleanup policies that delete old images from the repository. Empty: "
        "bhsvc sets none (and removes the bhsvc- ones an earlier run set); the repository's "
        "other policies are never touched.",
    )

    @model_validator(mode="after")
    def _auth_fields(self) -> GarSettings:
        if self.node_service_account is not None and self.auth != WORKLOAD_IDENTITY:
            raise KeyProblem(
                "node_service_account",
                "only used with auth workload-identity (with auth key, the hub's users "
                "pull with the pull service account's key)",
            )
        return self

    @property
    def host(self) -> str:
        return f"{self.region}-docker.pkg.dev"

    @property
    def keyless(self) -> bool:
        return self.auth == WORKLOAD_IDENTITY


Provider = Literal["gar", "dockerhub", "ghcr", "quay", "generic"]

# Registry servers fixed by the provider (generic needs `server`).
PROVIDER_SERVERS: dict[str, str] = {
    "dockerhub": "https://index.docker.io/v1/",
    "ghcr": "ghcr.io",
    "quay": "quay.io",
}
# Where images go: host part of the image reference for each provider.
PROVIDER_IMAGE_HOSTS: dict[str, str] = {
    "dockerhub": "docker.io",
    "ghcr": "ghcr.io",
    "quay": "quay.io",
}

# Account names as each registry allows them. Letters are matched in either case
# (images use the name lowercased); a Quay robot account is <namespace>+<robot>.
_ACCOUNT_CHECKS: dict[str, Callable[[str], str]] = {
    # New Docker IDs are letters and digits only; older accounts may have '-' or '_'.
    "dockerhub": checker(
        r"[A-Za-z0-9]+([_-][A-Za-z0-9]+)*",
        "Docker Hub user name",
        "a Docker ID: letters and digits, '-' or '_' between them",
        30,
        4,
    ),
    "ghcr": checker(
        r"[A-Za-z0-9]+(-+[A-Za-z0-9]+)*",
        "GitHub user or organisation name",
        "letters and digits, '-' between them",
        39,
    ),
    "quay": checker(
        r"[A-Za-z0-9]+([._-][A-Za-z0-9]+)*(\+[A-Za-z][A-Za-z0-9_]*)?",
        "Quay.io user name",
        "letters, digits, '.', '_' and '-' between them; a robot account as <namespace>+<robot>",
        255,
        2,
    ),
}

_HOST_NAME = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
_SERVER = re.compile(
    rf"(https?://)?(?P<host>{_HOST_NAME}(:(?P<port>[0-9]+))?)(/[/{URL_PATH_CHARS}]*)?"
)
MAX_PORT = 65535


def _registry_host(host: str) -> str:
    # Docker treats index.docker.io as another name of docker.io.
    host = host.lower()
    return "docker.io" if host == "index.docker.io" else host


def server_host(server: str) -> str | None:
    """host[:port] of a registry server given as host, host:port or URL; None if not one."""
    match = _SERVER.fullmatch(server)
    return _registry_host(match["host"]) if match else None


def image_host(reference: str) -> str:
    """The registry host of an image reference, read the way docker reads it.

    The first part is a host only when it looks like one (a '.', a ':' or
    localhost); otherwise the image is on Docker Hub.
    """
    first, slash, _ = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return _registry_host(first)
    return "docker.io"


def _check_server(value: str) -> str:
    match = _SERVER.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{shown(value)} is not a registry server (a host such as registry.example.org, "
            "host:port, or an https:// URL)"
        )
    port = match["port"]
    # Length first: int() of thousands of digits is refused by Python itself.
    if port is not None and (len(port) > len(str(MAX_PORT)) or not 1 <= int(port) <= MAX_PORT):
        raise ValueError(f"{shown(value)} has port {clip(port, 20)}: a port is 1 to {MAX_PORT}")
    return value


RegistryServer = Annotated[str, AfterValidator(_check_server)]


def _check_user(value: str) -> str:
    check_plain(value)
    if ":" in value:
        # docker's config.json joins user and password with ':' in its auth field.
        raise ValueError("holds ':', which cannot be part of a registry user name")
    return value


RegistryUser = Annotated[str, AfterValidator(_check_user)]


def check_account(provider: str, username: str) -> None:
    """The rules of `provider`'s registry for its account names (none for generic)."""
    check = _ACCOUNT_CHECKS.get(provider)
    if check is not None:
        try:
            check(username)
        except ValueError as err:
            raise KeyProblem("username", str(err)) from None


def check_images_go_to(image_prefix: str | None, host: str | None, why: str) -> None:
    """Refuse an image_prefix on another registry than the credentials are for."""
    if image_prefix is None:
        return
    target = image_host(image_prefix)
    if target != host:
        raise KeyProblem(
            "image_prefix",
            f"images would go to {target}, but the credentials are for {host} ({why})",
        )


class RegistrySettings(Strict):
    provider: Provider = Field(
        default="gar",
        description="Where images are pushed: gar (Google Artifact Registry, provisioned "
        "by bhsvc init), dockerhub, ghcr, quay, or generic (any registry).",
    )
    gar: GarSettings | None = Field(
        default=None,
        description="Artifact Registry settings; required with provider gar, refused "
        "with the others.",
    )
    server: RegistryServer | None = Field(
        default=None,
        description="Registry server the credentials are for, as docker's config.json "
        "names it (host, host:port or URL; a port is 1 to 65535). Required with provider "
        "generic, where image_prefix must name the same host; dockerhub, ghcr and quay "
        "default to "
        "https://index.docker.io/v1/, ghcr.io and quay.io and accept no other host. "
        "Refused with gar.",
    )
    username: RegistryUser | None = Field(
        default=None,
        description="Registry user name; required for every provider but gar (which "
        "uses _json_key and the service-account key, and refuses this key). For "
        "dockerhub, ghcr and quay, the account name as that registry allows it: a "
        "Docker ID of 4-30 letters and digits ('-' or '_' between them in older ones), a "
        "GitHub name of up to 39 letters, digits and '-', a Quay.io name of letters, "
        "digits, '.', '_' and '-' or a robot account <namespace>+<robot>.",
    )
    password_file: OptionalFilePath = Field(
        default=None,
        description="File holding the registry password or access token. Empty: the "
        f"environment variable {REGISTRY_PASSWORD_ENV}. Never write the password here. "
        "Refused with gar.",
    )
    image_prefix: ImagePrefix | None = Field(
        default=None,
        description="Prefix of the names of built images; BinderHub appends the build's "
        "name and tag. Empty: <region>-docker.pkg.dev/<project>/<repository>/binder- for "
        "gar, docker.io/, ghcr.io/ or quay.io/ + <username>/binder- for the others (the "
        "username lowercased; a Quay robot account's namespace). Required with provider "
        "generic. Must be on the registry the credentials are for: under "
        "<region>-docker.pkg.dev/<project>/<repository>/ for gar, on docker.io (or no "
        "host), ghcr.io or quay.io for the others, on server's host for generic.",
    )

    @model_validator(mode="after")
    def _provider_fields(self) -> RegistrySettings:
        if self.provider == "gar":
            self._gar_fields()
            return self
        if self.gar is not None:
            raise ValueError(
                f"a 'gar' section is only used with provider 'gar', not '{self.provider}'"
            )
        if not self.username:
            raise ValueError(f"provider '{self.provider}' needs 'username'")
        if self.provider == "generic":
            if not self.server:
                raise ValueError("provider 'generic' needs 'server' (the registry host)")
            if not self.image_prefix:
                raise ValueError("provider 'generic' needs 'image_prefix'")
            check_images_go_to(self.image_prefix, server_host(self.server), "registry.server")
            return self
        check_account(self.provider, self.username)
        host = PROVIDER_IMAGE_HOSTS[self.provider]
        if self.server is not None and server_host(self.server) != host:
            raise KeyProblem(
                "server",
                f"{shown(self.server)} is not {host}, where provider '{self.provider}' pushes "
                "(use provider 'generic' for another registry)",
            )
        check_images_go_to(self.image_prefix, host, f"provider '{self.provider}'")
        return self

    def _gar_fields(self) -> None:
        if self.gar is None:
            raise ValueError("provider 'gar' needs a 'gar' section (project, region)")
        for key in ("server", "username", "password_file"):
            if getattr(self, key) is not None:
                raise KeyProblem(
                    key,
                    "not used with provider 'gar': it pushes as the pusher service "
                    "account (registry.gar.auth)",
                )
        repository = f"{self.gar.host}/{self.gar.project}/{self.gar.repository}/"
        if self.image_prefix is not None and not self.image_prefix.startswith(repository):
            raise KeyProblem(
                "image_prefix",
                f"must start with {repository}: the pusher may write to that repository only",
            )

    def image_account(self) -> str:
        """The account part of the default image prefix: the username, lowercased."""
        # A Quay robot account <namespace>+<robot> pushes to its namespace.
        return (self.username or "").split("+")[0].lower()
