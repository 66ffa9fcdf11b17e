"""Hub rules: the JupyterHub (z2jh chart) that BinderHub serves, and the `hub` section."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    StrictBool,
    model_validator,
)

from bhsvc.config.rules import (
    FilePath,
    Namespace,
    PlainArgument,
    ReleaseName,
    ServiceName,
    Strict,
    empty_if_none,
    matcher,
)
from bhsvc.text import shown

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
    matcher(
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
    matcher(
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
            "url must be the hub's public root URL such as https://hub.example.org/, "
            f"got {shown(value)}"
        )
    return match.group(1) + "/"


HubUrl = Annotated[str, AfterValidator(_check_hub_url)]


class HubSettings(Strict):
    enabled: StrictBool = Field(
        default=False,
        description="Connect BinderHub to a JupyterHub installed with the z2jh chart, as "
        "the hub service <service_name>; bhsvc then installs or upgrades that chart too.",
    )
    release: ReleaseName = Field(default="jupyterhub", description="Helm release name of the hub.")
    namespace: Namespace | None = Field(
        default=None, description="Namespace of the hub. Empty: kube.namespace."
    )
    chart: PlainArgument | None = Field(
        default=None,
        description="The z2jh chart to install. Empty: chart jupyterhub from "
        "https://hub.jupyter.org/helm-chart/ (or the repository in BHSVC_HUB_CHART_REPO) "
        "at chart_version. A local chart directory or packaged .tgz (a mirror, an "
        "air-gapped cluster; relative to this file) is used as it is; a remote reference "
        "such as oci://registry.example.org/charts/jupyterhub at chart_version. A remote "
        "chart is fetched into bhsvc's cache and checked before the cluster is touched.",
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
    auth: StrictBool = Field(
        default=True,
        description="Require a hub login or a hub token to use BinderHub "
        "(BinderHub.auth_enabled), and grant every hub user access to the service.",
    )
    fancy_profiles: StrictBool = Field(
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
    values_files: Annotated[list[FilePath], empty_if_none(list)] = Field(
        default_factory=list,
        description="Your own z2jh values files (the ones the hub was installed with), "
        "relative to this file. deploy and connect-hub pass them to helm before bhsvc's "
        "file, on every run, and never rewrite them: an upgrade keeps your hub's settings.",
    )
    values: Annotated[dict[str, Any], empty_if_none(dict)] = Field(
        default_factory=dict,
        description="Raw z2jh chart values, merged last over the values bhsvc writes. "
        "singleuser.image.pullSecrets and singleuser.profileList keep their items and "
        "get bhsvc's; hub.loadRoles.user.scopes replace bhsvc's (to restrict who may use "
        "BinderHub), as any other list does.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _fancy_profiles_chart_version(
        cls, data: Any, handler: ModelWrapValidatorHandler[HubSettings]
    ) -> HubSettings:
        """chart_version, when unset, is the one the published fancy-profiles image is for,
        if that image is used: derived from the validated settings, then validated as given."""
        hub = handler(data)
        if (
            isinstance(data, dict)
            and "chart_version" not in data
            and hub.enabled
            and hub.launch_way == "fancy-profiles"
            and hub.image is None
        ):
            return handler({**data, "chart_version": FANCY_PROFILES_CHART_VERSION})
        return hub

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
            # Unset, chart_version is derived (see above) and needs no image.
            explicit = "chart_version" in self.model_fields_set
            if (
                self.image is None
                and explicit
                and self.chart_version != FANCY_PROFILES_CHART_VERSION
            ):
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
