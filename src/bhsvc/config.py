"""The `bhsvc.yaml` model: the one place where configuration is validated.

The interactive wizard, command-line flags and the file all build a `Config`
through this module, so every answer gets the same checks and messages.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from bhsvc.config_file import read_config_data
from bhsvc.errors import ConfigError
from bhsvc.names import DEFAULT_RELEASE, LABEL, REGISTRY_PASSWORD_ENV, RELEASE

DEFAULT_CONFIG_PATH = Path("bhsvc.yaml")
STATE_DIR = ".bhsvc"

# REGISTRY_PASSWORD_ENV (from bhsvc.names) may hold the registry password instead
# of password_file.


class KeyProblem(ValueError):
    """A model validator's finding about one key: reported under that key's path.

    `key` is dotted and relative to the model that raises it.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _checker(
    pattern: str, what: str, hint: str, max_len: int, min_len: int = 1
) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not min_len <= len(value) <= max_len:
            raise ValueError(f"{what} must be {min_len}-{max_len} characters, got {len(value)}")
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what} ({hint})")
        return value

    return check


def _matcher(pattern: str, what: str, hint: str, max_len: int, min_len: int = 1) -> AfterValidator:
    return AfterValidator(_checker(pattern, what, hint, max_len, min_len))


def _empty_if_none(empty: Callable[[], Any]) -> BeforeValidator:
    """An empty key (`hub:` with nothing under it) means the same as no key."""
    return BeforeValidator(lambda value: empty() if value is None else value)


Namespace = Annotated[
    str,
    _matcher(LABEL, "namespace", "RFC 1123 label: lowercase letters, digits, '-'", 63),
]
ReleaseName = Annotated[
    str,
    _matcher(RELEASE, "helm release name", "lowercase letters, digits, '-', '.'", 53),
]
ProjectId = Annotated[
    str,
    _matcher(
        r"[a-z][a-z0-9-]*[a-z0-9]",
        "GCP project id",
        "a lowercase letter first, then lowercase letters, digits, '-'",
        30,
        6,
    ),
]
Region = Annotated[
    str,
    _matcher(
        r"[a-z]+-[a-z]+[0-9]+|us|europe|asia",
        "Artifact Registry location",
        "a region such as europe-west10, or us, europe, asia",
        40,
    ),
]
RepositoryId = Annotated[
    str,
    _matcher(
        r"[a-z]([a-z0-9-]*[a-z0-9])?",
        "Artifact Registry repository id",
        "a lowercase letter first, then lowercase letters, digits, '-'",
        63,
    ),
]
ServiceAccountId = Annotated[
    str,
    _matcher(
        r"[a-z]([-a-z0-9]*[a-z0-9])",
        "service account id",
        "a lowercase letter first, then lowercase letters, digits, '-'",
        30,
        6,
    ),
]
_check_image_prefix = _checker(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]+)?/)?"
    r"[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*[/_.-]?",
    "image prefix",
    "a lowercase image reference such as registry.example.org/org/binder-",
    200,
)
ImagePrefix = Annotated[str, AfterValidator(_check_image_prefix)]
ServiceName = Annotated[
    str,
    _matcher(LABEL, "JupyterHub service name", "lowercase letters, digits, '-'", 63),
]


def _check_base_url(value: str) -> str:
    if not (value.startswith("/") and value.endswith("/")):
        raise ValueError(f"base_url must start and end with '/', got {value!r}")
    return value


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(value: Any) -> Any:
    # YAML's `true` and `1.0` equal 1 in Python; only the integer is a version.
    if type(value) is not int or value != 1:
        raise ValueError("must be 1, the only version of the file format")
    return value


class KubeSettings(_Strict):
    context: str | None = Field(
        default=None,
        description="The kubeconfig context to act on. Empty: the kubeconfig's current context.",
    )
    namespace: Namespace = Field(
        description="Namespace of BinderHub and its build pods, created when missing "
        "(an RFC 1123 label: lowercase letters, digits and '-', at most 63 characters).",
    )


class BinderHubSettings(_Strict):
    release: ReleaseName = Field(
        default=DEFAULT_RELEASE,
        description="Helm release name of the binderhub-service chart (lowercase letters, "
        "digits, '-' and '.', at most 53 characters). Object names derive from it.",
    )
    chart: str | None = Field(
        default=None,
        description="Path to a binderhub-service chart to install instead of the one "
        "bundled with bhsvc: a chart directory or packaged .tgz (relative to this file), "
        "or a remote reference such as oci://registry.example.org/charts/binderhub-service.",
    )
    base_url: BaseUrl = Field(
        default="/",
        description="URL path BinderHub serves under, starting and ending with '/'. "
        "Ignored when hub.enabled: BinderHub then serves under /services/<hub.service_name>/.",
    )
    api_only: bool = Field(
        default=True,
        description="BinderHub's API-only mode (BinderHub.enable_api_only_mode): only the "
        "build API, no web pages; needed for build_only requests such as fancy-profiles'. "
        "Must be false with hub.launch binderhub.",
    )
    builder: Literal["dind", "podman", "host"] = Field(
        default="dind",
        description="Container engine that runs the builds (chart value dockerApi.type): "
        "dind (Docker in a privileged DaemonSet), podman (Podman in a privileged "
        "DaemonSet) or host (the nodes' own Docker socket).",
    )
    values: Annotated[dict[str, Any], _empty_if_none(dict)] = Field(
        default_factory=dict,
        description="Raw binderhub-service chart values, merged last over the values "
        "bhsvc writes: the escape hatch for any chart value but those bhsvc derives from "
        "its own keys (config.BinderHub.image_prefix, enable_api_only_mode, base_url and "
        "use_registry, dockerApi.type, buildPodsRegistryCredentials, and hubIntegration "
        "with a hub), which are refused.",
    )


class GarSettings(_Strict):
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
    key_file: Path | None = Field(
        default=None,
        description="Where bhsvc init writes the pusher's JSON key (mode 0600) and bhsvc "
        "deploy reads it. Empty: .bhsvc/<service account>-key.json next to the config file.",
    )

    @property
    def host(self) -> str:
        return f"{self.region}-docker.pkg.dev"


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
    "dockerhub": _checker(
        r"[A-Za-z0-9]+([_-][A-Za-z0-9]+)*",
        "Docker Hub user name",
        "a Docker ID: letters and digits, '-' or '_' between them",
        30,
        4,
    ),
    "ghcr": _checker(
        r"[A-Za-z0-9]+(-+[A-Za-z0-9]+)*",
        "GitHub user or organisation name",
        "letters and digits, '-' between them",
        39,
    ),
    "quay": _checker(
        r"[A-Za-z0-9]+([._-][A-Za-z0-9]+)*(\+[A-Za-z][A-Za-z0-9_]*)?",
        "Quay.io user name",
        "letters, digits, '.', '_' and '-' between them; a robot account as <namespace>+<robot>",
        255,
        2,
    ),
}

_HOST_NAME = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
_SERVER = re.compile(rf"(https?://)?(?P<host>{_HOST_NAME}(:[0-9]+)?)(/\S*)?")


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
    if server_host(value) is None:
        raise ValueError(
            f"{value!r} is not a registry server (a host such as registry.example.org, "
            "host:port, or an https:// URL)"
        )
    return value


RegistryServer = Annotated[str, AfterValidator(_check_server)]


class RegistrySettings(_Strict):
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
        "names it (host, host:port or URL). Required with provider generic, where "
        "image_prefix must name the same host; dockerhub, ghcr and quay default to "
        "https://index.docker.io/v1/, ghcr.io and quay.io and accept no other host. "
        "Refused with gar.",
    )
    username: str | None = Field(
        default=None,
        description="Registry user name; required for every provider but gar (which "
        "uses _json_key and the service-account key, and refuses this key). For "
        "dockerhub, ghcr and quay, the account name as that registry allows it: a "
        "Docker ID of 4-30 letters and digits ('-' or '_' between them in older ones), a "
        "GitHub name of up to 39 letters, digits and '-', a Quay.io name of letters, "
        "digits, '.', '_' and '-' or a robot account <namespace>+<robot>.",
    )
    password_file: Path | None = Field(
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
                f"a 'gar' section is only used with provider 'gar', not {self.provider!r}"
            )
        if not self.username:
            raise ValueError(f"provider {self.provider!r} needs 'username'")
        if self.provider == "generic":
            if not self.server:
                raise ValueError("provider 'generic' needs 'server' (the registry host)")
            if not self.image_prefix:
                raise ValueError("provider 'generic' needs 'image_prefix'")
            self._images_go_to(server_host(self.server), "registry.server")
            return self
        try:
            _ACCOUNT_CHECKS[self.provider](self.username)
        except ValueError as err:
            raise KeyProblem("username", str(err)) from None
        host = PROVIDER_IMAGE_HOSTS[self.provider]
        if self.server is not None and server_host(self.server) != host:
            raise KeyProblem(
                "server",
                f"{self.server!r} is not {host}, where provider {self.provider!r} pushes "
                "(use provider 'generic' for another registry)",
            )
        self._images_go_to(host, f"provider {self.provider!r}")
        return self

    def _gar_fields(self) -> None:
        if self.gar is None:
            raise ValueError("provider 'gar' needs a 'gar' section (project, region)")
        for key in ("server", "username", "password_file"):
            if getattr(self, key) is not None:
                raise KeyProblem(
                    key,
                    "not used with provider 'gar': it pushes as _json_key with the "
                    "service account's key",
                )
        repository = f"{self.gar.host}/{self.gar.project}/{self.gar.repository}/"
        if self.image_prefix is not None and not self.image_prefix.startswith(repository):
            raise KeyProblem(
                "image_prefix",
                f"must start with {repository}: the pusher may write to that repository only",
            )

    def _images_go_to(self, host: str | None, why: str) -> None:
        """Refuse an image_prefix on another registry than the credentials are for."""
        if self.image_prefix is None:
            return
        target = image_host(self.image_prefix)
        if target != host:
            raise KeyProblem(
                "image_prefix",
                f"images would go to {target}, but the credentials are for {host} ({why})",
            )

    def image_account(self) -> str:
        """The account part of the default image prefix: the username, lowercased."""
        # A Quay robot account <namespace>+<robot> pushes to its namespace.
        return (self.username or "").split("+")[0].lower()


HomeStrategy = Literal["target-repo-dir", "copy-on-start", "none"]
LaunchWay = Literal["fancy-profiles", "binderhub"]

# jupyterhub-fancy-profiles must be installed in the hub image. Its CI publishes
# such images for one z2jh version; without `hub.image` bhsvc uses this one and
# the chart version it was built for.
FANCY_PROFILES_HUB_IMAGE = (
    "quay.io/yuvipanda/z2jh-hub-with-fancy-profiles:z2jh-v4.3.1-fancy-profiles-sha-6457c79"
)
FANCY_PROFILES_CHART_VERSION = "4.3.1"

HubImage = Annotated[
    str,
    _matcher(
        r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+"
        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})",
        "hub image",
        "registry/name:tag or registry/name@sha256:<digest>, with an explicit tag or digest",
        400,
    ),
]
# helm --version with a fixed version: a semantic version, as chart versions are.
_SEMVER_ID = r"(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
ChartVersion = Annotated[
    str,
    _matcher(
        rf"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-{_SEMVER_ID}(\.{_SEMVER_ID})*)?"
        r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?",
        "chart version",
        "a semantic version MAJOR.MINOR.PATCH such as 4.4.0, with an optional -prerelease "
        "or +build",
        128,
    ),
]


def _check_hub_url(value: str) -> str:
    match = re.fullmatch(r"(https?://[A-Za-z0-9.-]+(:[0-9]+)?)/?", value)
    if not match:
        raise ValueError(
            f"url must be the hub's public root URL such as https://hub.example.org/, got {value!r}"
        )
    return match.group(1) + "/"


HubUrl = Annotated[str, AfterValidator(_check_hub_url)]


class HubSettings(_Strict):
    enabled: bool = Field(
        default=False,
        description="Connect BinderHub to a JupyterHub installed with the z2jh chart, as "
        "the hub service <service_name>; bhsvc then installs or upgrades that chart too.",
    )
    release: ReleaseName = Field(default="jupyterhub", description="Helm release name of the hub.")
    namespace: Namespace | None = Field(
        default=None, description="Namespace of the hub. Empty: kube.namespace."
    )
    chart: str | None = Field(
        default=None,
        description="The z2jh chart to install. Empty: chart jupyterhub from "
        "https://hub.jupyter.org/helm-chart/ at chart_version. A local chart directory or "
        "packaged .tgz (a mirror, an air-gapped cluster; relative to this file) is used as "
        "it is; a remote reference such as oci://registry.example.org/charts/jupyterhub "
        "at chart_version.",
    )
    chart_version: ChartVersion = Field(
        default="4.4.0",
        description="Version of the z2jh chart (jupyterhub from "
        "https://hub.jupyter.org/helm-chart/), a semantic version such as 4.4.0. When "
        "unset and users launch through fancy-profiles without hub.image: "
        f"{FANCY_PROFILES_CHART_VERSION}, the version "
        "the published fancy-profiles hub image is built for.",
    )
    service_name: ServiceName = Field(
        default="binder",
        description="Name of BinderHub's hub service, served at /services/<service_name>/. "
        "Must be binder when launching through fancy-profiles.",
    )
    url: HubUrl | None = Field(
        default=None,
        description="Public URL of the hub, such as https://hub.example.org/ "
        "(BinderHub.hub_url). Required with launch binderhub.",
    )
    image: HubImage | None = Field(
        default=None,
        description="Hub image (name:tag, name@sha256:<digest> or name:tag@sha256:<digest>) "
        "with jupyterhub-fancy-profiles installed. "
        "Empty with fancy-profiles: the image published for z2jh "
        f"{FANCY_PROFILES_CHART_VERSION}.",
    )
    auth: bool = Field(
        default=True,
        description="Require a hub login or a hub token to use BinderHub "
        "(BinderHub.auth_enabled), and grant every hub user access to the service.",
    )
    fancy_profiles: bool = Field(
        default=True,
        description="Use jupyterhub-fancy-profiles: its server form builds images with "
        "BinderHub. Sets the default of launch.",
    )
    launch: LaunchWay | None = Field(
        default=None,
        description="How users start built images: fancy-profiles (the hub's profile form "
        "calls BinderHub's API) or binderhub (BinderHub's own pages build and launch). "
        "Empty: fancy-profiles when fancy_profiles is true, binderhub otherwise.",
    )
    home_strategy: HomeStrategy = Field(
        default="target-repo-dir",
        description="How repository content stays visible under a persistent home: "
        "target-repo-dir (content in /srv/repo, linked from ~/repo), copy-on-start "
        "(copied into the user's volume on first launch) or none.",
    )
    values_files: Annotated[list[Path], _empty_if_none(list)] = Field(
        default_factory=list,
        description="Your own z2jh values files (the ones the hub was installed with), "
        "relative to this file. deploy and connect-hub pass them to helm before bhsvc's "
        "file, on every run, and never rewrite them: an upgrade keeps your hub's settings.",
    )
    values: Annotated[dict[str, Any], _empty_if_none(dict)] = Field(
        default_factory=dict,
        description="Raw z2jh chart values, merged last over the values bhsvc writes. "
        "singleuser.image.pullSecrets and singleuser.profileList keep their items and "
        "get bhsvc's; hub.loadRoles.user.scopes replace bhsvc's (to restrict who may use "
        "BinderHub), as any other list does.",
    )

    @model_validator(mode="after")
    def _launch_matches_profiles(self) -> HubSettings:
        if self.launch == "fancy-profiles" and not self.fancy_profiles:
            raise ValueError("launch 'fancy-profiles' needs fancy_profiles: true")
        if not self.enabled:
            return self
        if self.launch_way == "fancy-profiles":
            if self.service_name != "binder":
                raise ValueError(
                    "service_name must be 'binder' when launching through fancy-profiles "
                    "(its UI calls /services/binder/)"
                )
            if self.image is None:
                if "chart_version" not in self.model_fields_set:
                    # Frozen model: set the derived default once, while validating.
                    object.__setattr__(self, "chart_version", FANCY_PROFILES_CHART_VERSION)
                elif self.chart_version != FANCY_PROFILES_CHART_VERSION:
                    raise ValueError(
                        f"image is required for fancy-profiles with chart_version "
                        f"{self.chart_version}: the hub image needs jupyterhub-fancy-profiles "
                        "and a published one exists for chart_version "
                        f"{FANCY_PROFILES_CHART_VERSION} only; use that version, or build an "
                        "image (FROM "
                        f"quay.io/jupyterhub/k8s-hub:{self.chart_version}, pip install "
                        "jupyterhub-fancy-profiles) and set hub.image"
                    )
        else:
            if not self.auth:
                raise ValueError(
                    "launch 'binderhub' needs auth: true (without hub login BinderHub would "
                    "create anonymous users on the hub)"
                )
            if self.url is None:
                raise ValueError(
                    "url is required with launch 'binderhub': BinderHub sends users to "
                    "the hub's public URL (e.g. https://hub.example.org/) after a build"
                )
        return self

    @property
    def launch_way(self) -> LaunchWay:
        """How users start built images; follows fancy_profiles unless set."""
        if self.launch is not None:
            return self.launch
        return "fancy-profiles" if self.fancy_profiles else "binderhub"

    @property
    def hub_image(self) -> str | None:
        """The hub image to run: hub.image, or the published fancy-profiles one."""
        if self.image is not None:
            return self.image
        if (
            self.launch_way == "fancy-profiles"
            and self.chart_version == FANCY_PROFILES_CHART_VERSION
        ):
            return FANCY_PROFILES_HUB_IMAGE
        return None


_ABSENT = object()
# binderhub-service chart values bhsvc derives from its own keys: the hub's launch
# rules, the Secrets and the hub wiring follow those keys, not the raw value.
_KEYS_FOR_CHART_VALUES: dict[tuple[str, ...], str] = {
    ("config", "BinderHub", "image_prefix"): "registry.image_prefix",
    ("config", "BinderHub", "enable_api_only_mode"): "binderhub.api_only",
    ("config", "BinderHub", "base_url"): "binderhub.base_url (with a hub: hub.service_name)",
    ("config", "BinderHub", "use_registry"): "registry (BinderHub always pushes)",
    ("dockerApi", "type"): "binderhub.builder",
    ("buildPodsRegistryCredentials",): "registry (bhsvc creates the Secret)",
}


class Config(_Strict):
    version: Annotated[Literal[1], BeforeValidator(_exactly_one)] = Field(
        default=1, description="Version of the file format; always 1."
    )
    kube: KubeSettings = Field(description="Where BinderHub runs in Kubernetes.")
    binderhub: Annotated[BinderHubSettings, _empty_if_none(dict)] = Field(
        default_factory=BinderHubSettings,
        description="The BinderHub release (binderhub-service chart).",
    )
    registry: RegistrySettings = Field(description="The image registry that build pods push to.")
    hub: Annotated[HubSettings, _empty_if_none(dict)] = Field(
        default_factory=HubSettings,
        description="The JupyterHub (z2jh chart) that BinderHub serves, if any.",
    )

    # Directory relative paths in the file are resolved against; not a key.
    _base_dir: Path = PrivateAttr(default=Path("."))

    @model_validator(mode="after")
    def _raw_values_leave_the_wiring_alone(self) -> Config:
        managed = dict(_KEYS_FOR_CHART_VALUES)
        if self.hub.enabled:
            managed[("hubIntegration",)] = "hub (bhsvc wires BinderHub into the hub)"
        for path, key in managed.items():
            node: Any = self.binderhub.values
            for part in path:
                node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
            if node is not _ABSENT:
                raise KeyProblem(
                    "binderhub.values." + ".".join(path),
                    f"set {key} instead: bhsvc derives this value from it, and other "
                    "settings follow it",
                )
        return self

    @model_validator(mode="after")
    def _derived_names_valid(self) -> Config:
        if self.registry.gar is not None and self.registry.gar.service_account is None:
            derived = f"{self.binderhub.release}-pusher"
            if len(derived) > 30:
                raise KeyProblem(
                    "registry.gar.service_account",
                    f"the default {derived!r} is longer than 30 characters; set a shorter one",
                )
        if self.registry.image_prefix is None:
            # The same rule as an explicit image_prefix, told about the key it came from.
            source = "registry.gar" if self.registry.gar is not None else "registry.username"
            try:
                _check_image_prefix(self.image_prefix)
            except ValueError as err:
                raise KeyProblem(source, f"gives an invalid default image prefix: {err}") from None
        if (
            self.hub.enabled
            and self.hub.launch_way == "fancy-profiles"
            and not self.binderhub.api_only
        ):
            raise KeyProblem(
                "binderhub.api_only",
                "must be true when JupyterHub launches images through fancy-profiles",
            )
        if (
            self.hub.enabled
            and self.hub.launch_way == "binderhub"
            and self.binderhub.api_only
            and "api_only" in self.binderhub.model_fields_set
        ):
            raise KeyProblem(
                "binderhub.api_only",
                "must be false with hub.launch 'binderhub': BinderHub's own pages start "
                "the built images",
            )
        return self

    # ---- derived values -------------------------------------------------

    @property
    def hub_namespace(self) -> str:
        return self.hub.namespace or self.kube.namespace

    @property
    def service_account_id(self) -> str:
        gar = self.registry.gar
        if gar is not None and gar.service_account:
            return gar.service_account
        return f"{self.binderhub.release}-pusher"

    @property
    def image_prefix(self) -> str:
        reg = self.registry
        if reg.image_prefix:
            return reg.image_prefix
        if reg.gar is not None:
            # BinderHub appends the build slug directly, so end with "binder-".
            return f"{reg.gar.host}/{reg.gar.project}/{reg.gar.repository}/binder-"
        return f"{PROVIDER_IMAGE_HOSTS[reg.provider]}/{reg.image_account()}/binder-"

    @property
    def registry_server(self) -> str:
        """The registry host credentials are for, as docker config.json keys it."""
        reg = self.registry
        if reg.gar is not None:
            return f"https://{reg.gar.host}"
        if reg.server:
            return reg.server
        return PROVIDER_SERVERS[reg.provider]

    @property
    def registry_secret_name(self) -> str:
        """The Secret holding the docker config.json that build pods push with."""
        return f"{self.binderhub.release}-registry-credentials"

    @property
    def binderhub_api_only(self) -> bool:
        """BinderHub's API-only mode: off when BinderHub itself launches into the hub."""
        if self.hub.enabled and self.hub.launch_way == "binderhub":
            return False
        return self.binderhub.api_only

    @property
    def hub_service_prefix(self) -> str:
        """Where the hub's proxy serves BinderHub: /services/<service_name>/."""
        return f"/services/{self.hub.service_name}/"

    @property
    def binderhub_base_url(self) -> str:
        return self.hub_service_prefix if self.hub.enabled else self.binderhub.base_url

    def path(self, value: Path) -> Path:
        """Resolve a path from the file relative to the file's directory."""
        return value if value.is_absolute() else self._base_dir / value

    @property
    def hub_values_files(self) -> list[Path]:
        """hub.values_files, resolved against the config file's folder."""
        return [self.path(p) for p in self.hub.values_files]

    @property
    def key_file(self) -> Path:
        gar = self.registry.gar
        if gar is not None and gar.key_file is not None:
            return self.path(gar.key_file)
        return self.path(Path(STATE_DIR) / f"{self.service_account_id}-key.json")


# ---- loading ------------------------------------------------------------


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


# pydantic's wording for a value of the wrong kind names Python types
# ("instance of HubSettings", "<class 'pathlib.Path'>"); say it in YAML's terms.
_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "string_type": "text",
    "list_type": "a list",
    "path_type": "a path",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _kind(value: Any) -> str:
    """What a YAML value is, in the file's terms."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    return "another kind of value"


def _message(item: ErrorDetails) -> str:
    expected = _EXPECTED.get(item["type"])
    if expected is not None:
        value = item["input"]
        if value is None:
            return f"is empty; expected {expected}"
        return f"expected {expected}, got {_kind(value)}"
    if item["type"] == "extra_forbidden":
        return "unknown key"
    if item["type"] == "missing":
        return "required key is missing"
    return str(item["msg"]).removeprefix("Value error, ")


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in err.errors():
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        problem = item.get("ctx", {}).get("error")
        if isinstance(problem, KeyProblem):
            loc += tuple(problem.key.split("."))
        lines.append(f"  {_field_path(loc)}: {_message(item)}")
    return "\n".join(lines)


def parse_config(data: Any, source: str, base_dir: Path = Path(".")) -> Config:
    """Validate an already-parsed mapping; raises ConfigError naming each bad field."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    config._base_dir = base_dir
    return config


def load_config(path: Path) -> Config:
    """Read and validate `bhsvc.yaml`; every failure is a ConfigError (exit code 2)."""
    return parse_config(read_config_data(path), str(path), path.parent)
