"""The `bhsvc.yaml` model: its sections joined into one `Config`, and what derives from it.

The interactive wizard, command-line flags and the file all build a `Config`
through this model, so every value gets the same checks and messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, StrictBool, model_validator

from bhsvc.config.hub import ChartVersion, HubSettings
from bhsvc.config.registry import (
    PROVIDER_IMAGE_HOSTS,
    PROVIDER_SERVERS,
    RegistrySettings,
    check_image_prefix,
)
from bhsvc.config.rules import (
    BaseUrl,
    KeyProblem,
    Namespace,
    PlainArgument,
    ReleaseName,
    Strict,
    empty_if_none,
)
from bhsvc.names import DEFAULT_RELEASE

DEFAULT_CONFIG_PATH = Path("bhsvc.yaml")
STATE_DIR = ".bhsvc"


def _exactly_one(value: Any) -> Any:
    # YAML's `true` and `1.0` equal 1 in Python; only the integer is a version.
    if type(value) is not int or value != 1:
        raise ValueError("must be 1, the only version of the file format")
    return value


class KubeSettings(Strict):
    context: PlainArgument | None = Field(
        default=None,
        description="The kubeconfig context to act on. Empty: the kubeconfig's current context.",
    )
    namespace: Namespace = Field(
        description="Namespace of BinderHub and its build pods, created when missing "
        "(an RFC 1123 label: lowercase letters, digits and '-', at most 63 characters).",
    )


class BinderHubSettings(Strict):
    release: ReleaseName = Field(
        default=DEFAULT_RELEASE,
        description="Helm release name of the binderhub-service chart (lowercase letters, "
        "digits, '-' and '.', at most 53 characters). Object names derive from it.",
    )
    chart: PlainArgument | None = Field(
        default=None,
        description="Path to a binderhub-service chart to install instead of the one "
        "bundled with bhsvc: a chart directory or packaged .tgz (relative to this file), "
        "or a remote reference such as oci://registry.example.org/charts/binderhub-service.",
    )
    chart_version: ChartVersion | None = Field(
        default=None,
        description="Version of a remote binderhub.chart (oci://...), passed to helm as "
        "--version for the offline render and the install alike: a semantic version such "
        "as 0.2.0. Empty: the registry's newest stable version. Refused without an oci:// "
        "chart: a local chart directory or .tgz is the version it is.",
    )
    base_url: BaseUrl = Field(
        default="/",
        description="URL path BinderHub serves under, starting and ending with '/'. "
        "Ignored when hub.enabled: BinderHub then serves under /services/<hub.service_name>/.",
    )
    api_only: StrictBool = Field(
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
    values: Annotated[dict[str, Any], empty_if_none(dict)] = Field(
        default_factory=dict,
        description="Raw binderhub-service chart values, merged last over the values "
        "bhsvc writes: the escape hatch for any chart value but those bhsvc derives from "
        "its own keys (config.BinderHub.image_prefix, enable_api_only_mode, base_url and "
        "use_registry, dockerApi.type, buildPodsRegistryCredentials, and hubIntegration "
        "with a hub), which are refused.",
    )

    @model_validator(mode="after")
    def _chart_version_needs_a_registry(self) -> BinderHubSettings:
        if self.chart_version is not None and not (self.chart or "").startswith("oci://"):
            raise KeyProblem(
                "chart_version",
                "needs binderhub.chart to name a chart in a registry (oci://...): the bundled "
                "chart, a chart directory or a .tgz is the version it is",
            )
        return self


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
    ("gkeWorkloadIdentity",): "registry.gar.auth",
}


def check_binderhub_with_hub(binderhub: BinderHubSettings, hub: HubSettings) -> None:
    """What bhsvc's wiring asks of BinderHub's settings: raw chart values leave the
    values bhsvc derives alone, and API-only mode suits how the hub launches."""
    managed = dict(_KEYS_FOR_CHART_VALUES)
    if hub.enabled:
        managed[("hubIntegration",)] = "hub (bhsvc wires BinderHub into the hub)"
    for path, key in managed.items():
        node: Any = binderhub.values
        for part in path:
            node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        if node is not _ABSENT:
            raise KeyProblem(
                "binderhub.values." + ".".join(path),
                f"set {key} instead: bhsvc derives this value from it, and other "
                "settings follow it",
            )
    if not hub.enabled:
        return
    if hub.launch_way == "fancy-profiles" and not binderhub.api_only:
        raise KeyProblem(
            "binderhub.api_only",
            "must be true when JupyterHub launches images through fancy-profiles",
        )
    if (
        hub.launch_way == "binderhub"
        and binderhub.api_only
        and "api_only" in binderhub.model_fields_set
    ):
        raise KeyProblem(
            "binderhub.api_only",
            "must be false with hub.launch 'binderhub': BinderHub's own pages start "
            "the built images",
        )


def check_default_account(release: str, key: str = "service_account") -> None:
    """A service account id derived from the release, <release>-pusher (or -puller for
    `pull_service_account`), must fit."""
    derived = default_account(release, PULLER if key == "pull_service_account" else PUSHER)
    if len(derived) > 30:
        raise KeyProblem(
            f"registry.gar.{key}",
            f"the default '{derived}' is longer than 30 characters; set a shorter one",
        )


PUSHER = "pusher"
PULLER = "puller"


def default_account(release: str, role: str = PUSHER) -> str:
    return f"{release}-{role}"


class Config(Strict):
    version: Annotated[Literal[1], BeforeValidator(_exactly_one)] = Field(
        default=1, description="Version of the file format; always 1."
    )
    kube: KubeSettings = Field(description="Where BinderHub runs in Kubernetes.")
    binderhub: Annotated[BinderHubSettings, empty_if_none(dict)] = Field(
        default_factory=BinderHubSettings,
        description="The BinderHub release (binderhub-service chart).",
    )
    registry: RegistrySettings = Field(description="The image registry that build pods push to.")
    hub: Annotated[HubSettings, empty_if_none(dict)] = Field(
        default_factory=HubSettings,
        description="The JupyterHub (z2jh chart) that BinderHub serves, if any.",
    )

    # Directory relative paths in the file are resolved against; not a key.
    _base_dir: Path = PrivateAttr(default=Path("."))

    @model_validator(mode="after")
    def _sections_fit(self) -> Config:
        check_binderhub_with_hub(self.binderhub, self.hub)
        gar = self.registry.gar
        if gar is not None and gar.service_account is None:
            check_default_account(self.binderhub.release)
        if gar is not None and self.needs_pull_key:
            if gar.pull_service_account is None:
                check_default_account(self.binderhub.release, "pull_service_account")
            if self.pull_service_account_id == self.service_account_id:
                raise KeyProblem(
                    "registry.gar.pull_service_account",
                    "must differ from the pusher service account: the hub's users must "
                    "never hold push credentials",
                )
            if self.pull_key_file == self.key_file:
                raise KeyProblem(
                    "registry.gar.pull_key_file", "must differ from registry.gar.key_file"
                )
        if self.registry.image_prefix is None:
            # The same rule as an explicit image_prefix, told about the key it came from.
            source = "registry.gar" if self.registry.gar is not None else "registry.username"
            try:
                check_image_prefix(self.image_prefix)
            except ValueError as err:
                raise KeyProblem(source, f"gives an invalid default image prefix: {err}") from None
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
        return default_account(self.binderhub.release)

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

    @property
    def pusher_email(self) -> str:
        """The pusher service account of Artifact Registry."""
        project = self.registry.gar.project if self.registry.gar is not None else ""
        return f"{self.service_account_id}@{project}.iam.gserviceaccount.com"

    @property
    def keyless(self) -> bool:
        """Artifact Registry through Workload Identity: no key, no registry Secret."""
        return self.registry.gar is not None and self.registry.gar.keyless

    @property
    def needs_pull_key(self) -> bool:
        """Artifact Registry with keys and a hub: the hub's users pull with a key of
        their own, which may read the repository and nothing else."""
        return self.registry.gar is not None and not self.keyless and self.hub.enabled

    @property
    def pull_service_account_id(self) -> str:
        gar = self.registry.gar
        if gar is not None and gar.pull_service_account:
            return gar.pull_service_account
        return default_account(self.binderhub.release, PULLER)

    @property
    def pull_key_file(self) -> Path:
        gar = self.registry.gar
        if gar is not None and gar.pull_key_file is not None:
            return self.path(gar.pull_key_file)
        return self.path(Path(STATE_DIR) / f"{self.pull_service_account_id}-key.json")


# ---- loading ------------------------------------------------------------
