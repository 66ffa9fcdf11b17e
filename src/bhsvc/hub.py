"""z2jh wiring, pure: the hub values and BinderHub's hub-integration values.

Both charts are generated from the same `Config` here, so the service name,
URLs, Secret names, token, launch way and home-folder strategy always agree.
`existing` is the merge of the user's own z2jh values (their files, then
`hub.values`): it is read to keep their lists and names, never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from bhsvc import naming
from bhsvc.config import FANCY_PROFILES_HUB_IMAGE, Config
from bhsvc.errors import UsageError
from bhsvc.merge import deep_merge, value_at

# Where repo2docker puts the repository when home_strategy is target-repo-dir.
TARGET_REPO_DIR = "/srv/repo"
# The slug of the profile bhsvc adds for fancy-profiles.
PROFILE_SLUG = "binderhub"
# Name of the link to TARGET_REPO_DIR made in the user's home (target-repo-dir).
REPO_LINK = "repo"
# Where the copy-on-start init container mounts the user's volume.
COPY_MOUNT = "/bhsvc-home"
# hub.extraConfig keys bhsvc owns (z2jh runs them in sorted order).
EXTRA_CONFIG_FANCY_PROFILES = "bhsvc-fancy-profiles"
EXTRA_CONFIG_LAUNCH = "bhsvc-launch-image"
EXTRA_CONFIG_COPY_ON_START = "bhsvc-copy-on-start"


# ---- the user's values ---------------------------------------------------------------


def merged_files(user_values: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The values of the user's z2jh files as helm merges them, in order."""
    merged: dict[str, Any] = {}
    for values in user_values:
        merged = deep_merge(merged, dict(values))
    return merged


def merged_hub_values(
    config: Config, user_values: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The user's z2jh values as helm sees them before bhsvc's file: files, then hub.values."""
    return deep_merge(merged_files(user_values), config.hub.values)


def dropped_values(
    deployed: Mapping[str, Any], kept: Mapping[str, Any], depth: int = 3
) -> list[str]:
    """Keys the deployed release was given that the new values no longer set.

    helm upgrade replaces a release's values: whatever only the deployed release
    holds (settings from files the user did not pass this time) would be lost.
    Compared `depth` levels down, as dotted paths.
    """
    dropped = []
    for key, value in deployed.items():
        if key not in kept:
            dropped.append(str(key))
        elif depth > 1 and isinstance(value, Mapping) and isinstance(kept[key], Mapping):
            dropped += [f"{key}.{sub}" for sub in dropped_values(value, kept[key], depth - 1)]
    return dropped


# Lists the user may set that bhsvc keeps and extends (helm would replace them).
USER_SCOPES = ("hub", "loadRoles", "user", "scopes")
PULL_SECRETS = ("singleuser", "image", "pullSecrets")
PROFILE_LIST = ("singleuser", "profileList")
# Of those, the ones hub.values extends too. Its user scopes replace bhsvc's, so
# that access to BinderHub can be restricted (to a group's role, say).
RAW_VALUES_EXTEND = (PULL_SECRETS, PROFILE_LIST)


def _check_existing(config: Config, existing: Mapping[str, Any]) -> None:
    base_url = value_at(existing, ("hub", "baseUrl"))
    if base_url not in (None, "", "/"):
        raise UsageError(
            f"hub.baseUrl is {base_url!r} in the JupyterHub values: bhsvc supports a hub "
            "served at '/' only (BinderHub's base_url and fancy-profiles assume it)"
        )
    service = value_at(config.hub.values, ("hub", "services", config.hub.service_name)) or {}
    if isinstance(service, Mapping) and ({"api_token", "apiToken"} & set(service)):
        raise UsageError(
            f"hub.values.hub.services.{config.hub.service_name}: remove the API token; z2jh "
            "generates it and bhsvc reads it from the hub's Secret, so it never sits in a file"
        )


# ---- the BinderHub chart ---------------------------------------------------


def binderhub_hub_values(
    config: Config, existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """BinderHub chart values that make it the hub's service (empty without a hub)."""
    hub = config.hub
    if not hub.enabled:
        return {}
    existing = existing or {}
    token = naming.token_target(config, existing)
    integration: dict[str, Any] = {
        "enabled": True,
        "auth": hub.auth,
        "serviceName": hub.service_name,
        "baseUrl": "/",
        "apiUrl": naming.hub_api_url(config, existing),
        "urlLocal": naming.hub_url_local(config, existing),
        "apiToken": {"existingSecret": token.name, "key": token.key},
    }
    if hub.url:
        # BinderHub's launcher sends browsers to <url>user/<name>/.
        integration["url"] = hub.url
    values: dict[str, Any] = {
        "config": {
            "BinderHub": {
                "base_url": config.binderhub_base_url,
                "enable_api_only_mode": config.binderhub_api_only,
            }
        },
        "hubIntegration": integration,
    }
    if hub.home_strategy == "target-repo-dir":
        values["buildPods"] = {"targetRepoDir": TARGET_REPO_DIR}
    return values


# ---- the z2jh chart --------------------------------------------------------


def _union(first: Iterable[Any], second: Iterable[Any]) -> list[Any]:
    merged: list[Any] = []
    for item in [*first, *second]:
        if item not in merged:
            merged.append(item)
    return merged


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _py(value: str) -> str:
    """A Python string literal for generated hub configuration."""
    return json.dumps(value)


FANCY_PROFILES_SNIPPET = """\
# Written by bhsvc: the jupyterhub-fancy-profiles form (needs the package in the hub image).
from jupyterhub_fancy_profiles import setup_ui

setup_ui(c)
"""


def built_image_check(image_prefix: str) -> str:
    """Hub config (Python) defining `_bhsvc_built(image)`: whether BinderHub built the
    image. A prefix without a separator at its end ('.../org') must be followed by
    '/': '.../org-evil/x' is not under it."""
    return f"""\
_BHSVC_IMAGE_PREFIX = {_py(image_prefix)}


def _bhsvc_built(image):
    if not isinstance(image, str) or not image.startswith(_BHSVC_IMAGE_PREFIX):
        return False
    rest = image[len(_BHSVC_IMAGE_PREFIX):]
    return bool(rest) and (_BHSVC_IMAGE_PREFIX.endswith(("/", "-", "_", ".")) or rest[0] == "/")
"""


def launch_snippet(image_prefix: str) -> str:
    """Hub config that starts the image BinderHub built (its launcher sends `image`)."""
    return f"""\
# Written by bhsvc: BinderHub starts servers with the user option "image".
# Only images BinderHub pushed (under its image prefix) are accepted.
from tornado import web as _bhsvc_web

{built_image_check(image_prefix)}

def _bhsvc_apply_user_options(spawner, user_options):
    image = user_options.get("image")
    if image is None:
        return
    if not _bhsvc_built(image):
        raise _bhsvc_web.HTTPError(400, "image must be one built by BinderHub")
    spawner.image = image
    repo_url = user_options.get("repo_url")
    if isinstance(repo_url, str):
        spawner.environment = {{**spawner.environment, "BINDER_REPO_URL": repo_url}}


c.KubeSpawner.apply_user_options = _bhsvc_apply_user_options
"""


# Runs inside the built image before the notebook starts: the image's home is
# still visible (the user's volume is mounted at $BHSVC_MOUNT, not over it).
COPY_SCRIPT = """\
set -eu
dest="$BHSVC_MOUNT/$BHSVC_FOLDER"
if [ -e "$dest" ] || [ -L "$dest" ]; then
  echo "bhsvc: $dest exists, leaving it untouched"
  exit 0
fi
tmp="$BHSVC_MOUNT/.$BHSVC_FOLDER.bhsvc-incomplete"
rm -rf "$tmp"
cp -a "$HOME/." "$tmp"
mv "$tmp" "$dest"
echo "bhsvc: copied $HOME to $dest"
"""


def copy_on_start_snippet(image_prefix: str) -> str:
    """Hub config adding, for BinderHub-built images, the init container that copies home."""
    return f"""\
# Written by bhsvc: home strategy copy-on-start. For images BinderHub built, an
# init container running that image copies its home (the repository) into a
# folder named after the repository on the user's volume, on first launch only.
import re as _bhsvc_re

from jupyterhub.utils import maybe_future as _bhsvc_maybe_future
from kubernetes_asyncio.client import V1Container, V1EnvVar, V1VolumeMount

{built_image_check(image_prefix)}
_BHSVC_MOUNT = {_py(COPY_MOUNT)}
_BHSVC_SCRIPT = {_py(COPY_SCRIPT)}
_bhsvc_previous_hook = (
    c.KubeSpawner.modify_pod_hook if "modify_pod_hook" in c.KubeSpawner else None
)


def _bhsvc_repo_folder(image):
    name = image[len(_BHSVC_IMAGE_PREFIX):].split("@")[0].rsplit(":", 1)[0]
    return _bhsvc_re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".-") or "binder-repo"


async def _bhsvc_copy_home(spawner, pod):
    if _bhsvc_previous_hook is not None:
        pod = await _bhsvc_maybe_future(_bhsvc_previous_hook(spawner, pod))
    notebook = next((ct for ct in pod.spec.containers if ct.name == "notebook"), None)
    if notebook is None or not _bhsvc_built(notebook.image):
        return pod
    homes = [m for m in notebook.volume_mounts or [] if m.mount_path.startswith("/home/")]
    if not homes:
        return pod  # no persistent home: nothing hides the image's content
    home = min(homes, key=lambda m: len(m.mount_path))
    init = pod.spec.init_containers or []
    if any(ct.name == "bhsvc-copy-home" for ct in init):
        return pod
    init.append(
        V1Container(
            name="bhsvc-copy-home",
            image=notebook.image,
            image_pull_policy=notebook.image_pull_policy,
            command=["/bin/sh", "-c", _BHSVC_SCRIPT],
            env=[
                V1EnvVar(name="BHSVC_FOLDER", value=_bhsvc_repo_folder(notebook.image)),
                V1EnvVar(name="BHSVC_MOUNT", value=_BHSVC_MOUNT),
            ],
            volume_mounts=[
                V1VolumeMount(name=home.name, mount_path=_BHSVC_MOUNT, sub_path=home.sub_path)
            ],
            security_context=notebook.security_context,
            resources=notebook.resources,
        )
    )
    pod.spec.init_containers = init
    return pod


c.KubeSpawner.modify_pod_hook = _bhsvc_copy_home
"""


# postStart of the notebook container: a link to the repository in the home,
# made only where nothing exists yet, removed again when it points nowhere.
REPO_LINK_SCRIPT = f"""\
link="$HOME/{REPO_LINK}"
if [ -d {TARGET_REPO_DIR} ]; then
  if [ ! -e "$link" ] && [ ! -L "$link" ]; then ln -s {TARGET_REPO_DIR} "$link"; fi
elif [ -L "$link" ] && [ "$(readlink "$link")" = {TARGET_REPO_DIR} ]; then
  rm -f "$link"
fi
exit 0
"""


def fancy_profile(default: bool) -> dict[str, Any]:
    """The profile whose image option offers an existing image or a BinderHub build."""
    profile: dict[str, Any] = {
        "display_name": "Build your own image",
        "description": "Build an environment from a Git repository with BinderHub, "
        "or start an existing image.",
        "slug": PROFILE_SLUG,
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {},
                "unlisted_choice": {
                    "enabled": True,
                    "display_name": "Image",
                    "display_name_in_choices": "Other...",
                    "validation_regex": "^.+:.+$",
                    "validation_message": "Must be an image reference of the form <name>:<tag>",
                    "kubespawner_override": {"image": "{value}"},
                },
                "dynamic_image_building": {"enabled": True},
            }
        },
    }
    if default:
        profile["default"] = True
    return profile


def _profile_list(existing: Mapping[str, Any]) -> list[Any]:
    profiles = _as_list(value_at(existing, PROFILE_LIST))
    if any(isinstance(p, Mapping) and p.get("slug") == PROFILE_SLUG for p in profiles):
        return profiles
    return [*profiles, fancy_profile(default=not profiles)]


def z2jh_values(
    config: Config,
    existing: Mapping[str, Any] | None = None,
    service: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """z2jh values that wire BinderHub in (bhsvc's file, passed to helm last).

    `service` is BinderHub's discovered Service (name, port); without it the
    chart's naming is assumed. Lists the user already set (roles' scopes, pull
    secrets, profiles) are kept and extended, since helm replaces lists.
    """
    hub = config.hub
    existing = existing or {}
    _check_existing(config, existing)
    name = hub.service_name
    launch = hub.launch_way
    entry: dict[str, Any] = {
        "url": naming.service_url(config, service),
        # BinderHub's own pages belong in the hub's Services menu; the API does not.
        "display": launch == "binderhub",
    }
    if hub.auth:
        entry["oauth_no_confirm"] = True
        entry["oauth_client_id"] = f"service-{name}"
        entry["oauth_redirect_uri"] = f"{config.hub_service_prefix}oauth_callback"
    hub_values: dict[str, Any] = {"services": {name: entry}}
    roles: dict[str, Any] = {}
    if hub.auth:
        scopes = _as_list(value_at(existing, USER_SCOPES)) or ["self"]
        # JupyterHub's default user role lacks this scope: grant it to every user.
        roles["user"] = {"scopes": _union(scopes, [f"access:services!service={name}"])}
    if launch == "binderhub":
        # What BinderHub's launcher calls for a logged-in user: read the user's
        # servers, start one, follow its progress.
        roles[f"{name}-launcher"] = {
            "description": "BinderHub starts the images it built for the user",
            "scopes": ["read:users", "servers"],
            "services": [name],
        }
    if roles:
        hub_values["loadRoles"] = roles
    extra_config: dict[str, str] = {}
    singleuser: dict[str, Any] = {}
    if launch == "fancy-profiles":
        extra_config[EXTRA_CONFIG_FANCY_PROFILES] = FANCY_PROFILES_SNIPPET
        singleuser["profileList"] = _profile_list(existing)
    else:
        extra_config[EXTRA_CONFIG_LAUNCH] = launch_snippet(config.image_prefix)
    image = hub.hub_image
    if image is not None:
        # z2jh writes name:tag; splitting at the last ':' gives the image back for a
        # tag (name:tag), a digest (name@sha256:hex) and both.
        image_name, tag = image.rsplit(":", 1)
        hub_values["image"] = {"name": image_name, "tag": tag}
    if hub.home_strategy == "copy-on-start":
        extra_config[EXTRA_CONFIG_COPY_ON_START] = copy_on_start_snippet(config.image_prefix)
    elif hub.home_strategy == "target-repo-dir":
        singleuser["lifecycleHooks"] = {
            "postStart": {"exec": {"command": ["/bin/sh", "-c", REPO_LINK_SCRIPT]}}
        }
    hub_values["extraConfig"] = extra_config
    if config.hub_namespace != config.kube.namespace:
        # z2jh's hub only admits the network-access label from its own namespace
        # unless told to accept it from others, where BinderHub runs.
        hub_values["networkPolicy"] = {"interNamespaceAccessLabels": "accept"}
    # The nodes pull BinderHub's images with read-only registry credentials; with
    # Workload Identity they pull as their own service account, without a Secret.
    pull = _as_list(value_at(existing, PULL_SECRETS))
    if not config.keyless:
        pull = _union(pull, [naming.image_pull_secret(config).name])
    if pull:
        singleuser["image"] = {"pullSecrets": pull}
    values = {"hub": hub_values, "singleuser": singleuser}
    merged = deep_merge(values, hub.values)
    # hub.values go last, but the lists above were built from their lists (kept and
    # extended): merging those again would drop bhsvc's items.
    for path in RAW_VALUES_EXTEND:
        extended, parent = value_at(values, path), value_at(merged, path[:-1])
        if extended is not None and isinstance(parent, dict):
            parent[path[-1]] = extended
    return merged


def hub_image_note(config: Config) -> str:
    """The hub image the plan names, and whose build it is."""
    image = config.hub.hub_image
    if image is None:
        return "the chart's own hub image"
    if image == FANCY_PROFILES_HUB_IMAGE:
        return (
            f"hub image {image}: a third-party build (jupyterhub-fancy-profiles' CI, FROM "
            f"quay.io/jupyterhub/k8s-hub:{config.hub.chart_version})"
        )
    return f"hub image {image}"
