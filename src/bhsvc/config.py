"""The `bhsvc.yaml` model: the one place where configuration is validated.

The interactive wizard, command-line flags and the file all build a `Config`
through this module, so every answer gets the same checks and messages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from bhsvc.errors import ConfigError

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


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"

Namespace = Annotated[
    str,
    _matcher(_LABEL, "namespace", "RFC 1123 label: lowercase letters, digits, '-'", 63),
]
ReleaseName = Annotated[
    str,
    _matcher(
        rf"{_LABEL}(\.{_LABEL})*", "helm release name", "lowercase letters, digits, '-', '.'", 53
    ),
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
    _matcher(_LABEL, "JupyterHub service name", "lowercase letters, digits, '-'", 63),
]


def _check_base_url(value: str) -> str:
    if not (value.startswith("/") and value.endswith("/")):
        raise ValueError(f"base_url must start and end with '/', got {value!r}")
    return value


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KubeSettings(_Strict):
    context: str | None = None
    namespace: Namespace


class BinderHubSettings(_Strict):
    release: ReleaseName = "binderhub"
    chart: str | None = None
    base_url: BaseUrl = "/"
    api_only: bool = True
    builder: Literal["dind", "podman", "host"] = "dind"
    values: dict[str, Any] = Field(default_factory=dict)


class GarSettings(_Strict):
    project: ProjectId
    region: Region
    repository: RepositoryId = "binder"
    service_account: ServiceAccountId | None = None
    key_file: Path | None = None

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
    provider: Provider = "gar"
    gar: GarSettings | None = None
    server: str | None = None
    username: str | None = None
    password_file: Path | None = None
    image_prefix: ImagePrefix | None = None

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
    enabled: bool = False
    release: ReleaseName = "jupyterhub"
    namespace: Namespace | None = None
    # Default 4.4.0; 4.3.1 when fancy-profiles uses the published hub image.
    chart_version: str = "4.4.0"
    service_name: ServiceName = "binder"
    # Public URL of the hub, e.g. https://hub.example.org/ (BinderHub's hub_url).
    url: HubUrl | None = None
    # Hub image (name:tag) with jupyterhub-fancy-profiles installed.
    image: HubImage | None = None
    auth: bool = True
    fancy_profiles: bool = True
    launch: LaunchWay | None = None
    home_strategy: HomeStrategy = "target-repo-dir"
    values: dict[str, Any] = Field(default_factory=dict)

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
    version: Literal[1] = 1
    kube: KubeSettings
    binderhub: BinderHubSettings = Field(default_factory=BinderHubSettings)
    registry: RegistrySettings
    hub: HubSettings = Field(default_factory=HubSettings)

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
    def binderhub_base_url(self) -> str:
        if self.hub.enabled:
            return f"/services/{self.hub.service_name}/"
        return self.binderhub.base_url

    def path(self, value: Path) -> Path:
        """Resolve a path from the file relative to the file's directory."""
        return value if value.is_absolute() else self._base_dir / value

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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (create one with 'bhsvc init' or pass --config)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read the config file (permission denied)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path), path.parent)


def dump_config(config: Config) -> str:
    """The YAML text of a config, without defaults that were never set."""
    data = config.model_dump(mode="json", exclude_defaults=True)
    data = {"version": 1, **data}
    return yaml.safe_dump(data, sort_keys=False)
