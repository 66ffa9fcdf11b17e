"""The `bhsvc.yaml` model: the one place where configuration is validated.

The interactive wizard, command-line flags and the file all build a `Config`
through this module, so every answer gets the same checks and messages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from bhsvc.config_file import read_config_data
from bhsvc.errors import ConfigError
from bhsvc.names import DEFAULT_RELEASE, LABEL, RELEASE

DEFAULT_CONFIG_PATH = Path("bhsvc.yaml")
STATE_DIR = ".bhsvc"

# Environment variable that may hold the registry password instead of password_file.
REGISTRY_PASSWORD_ENV = "BHSVC_REGISTRY_PASSWORD"


def _matcher(pattern: str, what: str, hint: str, max_len: int, min_len: int = 1) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not min_len <= len(value) <= max_len:
            raise ValueError(f"{what} must be {min_len}-{max_len} characters, got {len(value)}")
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what} ({hint})")
        return value

    return AfterValidator(check)


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
ImagePrefix = Annotated[
    str,
    _matcher(
        r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]+)?/)?"
        r"[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*[/_.-]?",
        "image prefix",
        "a lowercase image reference such as registry.example.org/org/binder-",
        200,
    ),
]
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
        "bundled with bhsvc (a chart directory or packaged .tgz).",
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
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Raw binderhub-service chart values, merged last over the values "
        "bhsvc writes: the escape hatch for any chart value.",
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
    server: str | None = Field(
        default=None,
        description="Registry server the credentials are for, as docker's config.json "
        "names it. Required with provider generic; dockerhub, ghcr and quay default to "
        "https://index.docker.io/v1/, ghcr.io and quay.io. Not used with gar.",
    )
    username: str | None = Field(
        default=None,
        description="Registry user name; required for every provider but gar (which "
        "uses _json_key and the service-account key).",
    )
    password_file: Path | None = Field(
        default=None,
        description="File holding the registry password or access token. Empty: the "
        f"environment variable {REGISTRY_PASSWORD_ENV}. Never write the password here.",
    )
    image_prefix: ImagePrefix | None = Field(
        default=None,
        description="Prefix of the names of built images; BinderHub appends the build's "
        "name and tag. Empty: <region>-docker.pkg.dev/<project>/<repository>/binder- for "
        "gar, docker.io/, ghcr.io/ or quay.io/ + <username>/binder- for the others. "
        "Required with provider generic.",
    )

    @model_validator(mode="after")
    def _provider_fields(self) -> RegistrySettings:
        if self.provider == "gar":
            if self.gar is None:
                raise ValueError("provider 'gar' needs a 'gar' section (project, region)")
            return self
        if self.gar is not None:
            raise ValueError(
                f"a 'gar' section is only used with provider 'gar', not {self.provider!r}"
            )
        if not self.username:
            raise ValueError(f"provider {self.provider!r} needs 'username'")
        if self.provider == "generic" and not self.server:
            raise ValueError("provider 'generic' needs 'server' (the registry host)")
        if self.provider == "generic" and not self.image_prefix:
            raise ValueError("provider 'generic' needs 'image_prefix'")
        return self


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
        r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
        "hub image",
        "registry/name:tag, with an explicit tag",
        300,
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
        "https://hub.jupyter.org/helm-chart/ at chart_version; a local chart directory or "
        "packaged .tgz (a mirror, an air-gapped cluster) is used as it is.",
    )
    chart_version: str = Field(
        default="4.4.0",
        description="Version of the z2jh chart (jupyterhub from "
        "https://hub.jupyter.org/helm-chart/). When unset and users launch through "
        f"fancy-profiles without hub.image: {FANCY_PROFILES_CHART_VERSION}, the version "
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
        description="Hub image (name:tag) with jupyterhub-fancy-profiles installed. "
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
    values_files: list[Path] = Field(
        default_factory=list,
        description="Your own z2jh values files (the ones the hub was installed with), "
        "relative to this file. deploy and connect-hub pass them to helm before bhsvc's "
        "file, on every run, and never rewrite them: an upgrade keeps your hub's settings.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Raw z2jh chart values, merged last over the values bhsvc writes; "
        "the lists bhsvc extends (the user role's scopes, singleuser image pull secrets, "
        "the profile list) keep their items and get bhsvc's.",
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


class Config(_Strict):
    version: Literal[1] = Field(default=1, description="Version of the file format; always 1.")
    kube: KubeSettings = Field(description="Where BinderHub runs in Kubernetes.")
    binderhub: BinderHubSettings = Field(
        default_factory=BinderHubSettings,
        description="The BinderHub release (binderhub-service chart).",
    )
    registry: RegistrySettings = Field(description="The image registry that build pods push to.")
    hub: HubSettings = Field(
        default_factory=HubSettings,
        description="The JupyterHub (z2jh chart) that BinderHub serves, if any.",
    )

    # Directory relative paths in the file are resolved against; not a key.
    _base_dir: Path = PrivateAttr(default=Path("."))

    @model_validator(mode="after")
    def _derived_names_valid(self) -> Config:
        if self.registry.gar is not None and self.registry.gar.service_account is None:
            derived = f"{self.binderhub.release}-pusher"
            if len(derived) > 30:
                raise ValueError(
                    f"registry.gar.service_account: the default {derived!r} is longer than "
                    "30 characters; set a shorter one"
                )
        if (
            self.hub.enabled
            and self.hub.launch_way == "fancy-profiles"
            and not self.binderhub.api_only
        ):
            raise ValueError(
                "binderhub.api_only must be true when JupyterHub launches images "
                "through fancy-profiles"
            )
        if (
            self.hub.enabled
            and self.hub.launch_way == "binderhub"
            and self.binderhub.api_only
            and "api_only" in self.binderhub.model_fields_set
        ):
            raise ValueError(
                "binderhub.api_only must be false with hub.launch 'binderhub': BinderHub's "
                "own pages start the built images"
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
        host = PROVIDER_IMAGE_HOSTS[reg.provider]
        return f"{host}/{(reg.username or '').lower()}/binder-"

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


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in err.errors():
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-after"))
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  {_field_path(loc)}: {msg}")
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
