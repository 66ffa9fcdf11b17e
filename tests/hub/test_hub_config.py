"""The hub-side configuration bhsvc generates, run in real KubeSpawner (no cluster).

The values' `hub.extraConfig` snippets are executed the way z2jh's hub config
does (sorted by key, with `c` in scope) after the `singleuser` settings bhsvc
writes were applied; then a KubeSpawner (its own test mode, no Kubernetes API)
builds the pod. The shell scripts the pods run are run here with `sh`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hublib import make_config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from tornado.web import HTTPError
from traitlets.config import Config as TraitletsConfig

from bhsvc import hub
from bhsvc.values import jupyterhub_values

PREFIX = "us-docker.pkg.dev/my-project/binder/binder-"
BUILT = f"{PREFIX}gh-binder-2dexamples-2drequirements-55ab5c:a1b2c3"


def hub_config(values: dict[str, Any]) -> TraitletsConfig:
    """The part of z2jh's jupyterhub_config.py that reads what bhsvc sets."""
    c = TraitletsConfig()
    singleuser = values.get("singleuser", {})
    if "profileList" in singleuser:
        c.KubeSpawner.profile_list = singleuser["profileList"]
    if "lifecycleHooks" in singleuser:
        c.KubeSpawner.lifecycle_hooks = singleuser["lifecycleHooks"]
    pull = singleuser.get("image", {}).get("pullSecrets")
    if pull:
        c.KubeSpawner.image_pull_secrets = pull
    # z2jh's default dynamic storage: a PVC per user mounted at the home.
    c.KubeSpawner.volumes = {
        "volume-{user_server}": {
            "name": "volume-{user_server}",
            "persistentVolumeClaim": {"claimName": "{pvc_name}"},
        }
    }
    c.KubeSpawner.volume_mounts = {
        "volume-{user_server}": {"mountPath": "/home/jovyan", "name": "volume-{user_server}"}
    }
    c.JupyterHub.extra_handlers = []
    for _key, snippet in sorted(values["hub"].get("extraConfig", {}).items()):
        exec(compile(snippet, f"extraConfig.{_key}", "exec"), {"c": c})
    return c


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: none, user: {}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """KubeSpawner loads a client configuration when created; it is never contacted."""
    path = tmp_path_factory.getbasetemp() / "kubeconfig"
    path.write_text(KUBECONFIG)
    # read when the client library was imported, so patch the module's copy
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


def spawner(config: TraitletsConfig, **traits: Any) -> KubeSpawner:
    return KubeSpawner(_mock=True, config=config, **traits)


def values_for(launch: str = "fancy-profiles", home: str = "none") -> dict[str, Any]:
    values = jupyterhub_values(make_config(launch=launch, home=home))
    assert values is not None
    return values


def test_fancy_profiles_form_and_profile_start_the_built_image() -> None:
    c = hub_config(values_for("fancy-profiles"))
    # setup_ui from the jupyterhub-fancy-profiles package ran
    assert c.KubeSpawner.additional_profile_form_template_paths
    assert any("fancy-profiles" in h[0] for h in c.JupyterHub.extra_handlers)

    async def check() -> None:
        sp = spawner(c)
        # what the form submits after BinderHub answered `ready` with imageName
        sp.user_options = {"profile": hub.PROFILE_SLUG, "image--unlisted-choice": BUILT}
        await sp.load_user_options()
        assert sp.image == BUILT
        assert sp.image_pull_secrets == ["binderhub-image-pull"]

    asyncio.run(check())


def test_fancy_profiles_rejects_a_malformed_image() -> None:
    async def check() -> None:
        sp = spawner(hub_config(values_for("fancy-profiles")))
        sp.user_options = {"profile": hub.PROFILE_SLUG, "image--unlisted-choice": "no-tag"}
        with pytest.raises(ValueError, match="validation regex"):
            await sp.load_user_options()

    asyncio.run(check())


def test_binderhub_launcher_options_set_the_image() -> None:
    async def check() -> None:
        sp = spawner(hub_config(values_for("binderhub")))
        # the user options BinderHub's launcher posts to /users/<name>/servers/
        options = {"image": BUILT, "repo_url": "https://github.com/a/b", "token": "t"}
        await sp._run_apply_user_options(options)
        assert sp.image == BUILT
        assert sp.environment["BINDER_REPO_URL"] == "https://github.com/a/b"

    asyncio.run(check())


def test_binderhub_launcher_refuses_images_from_elsewhere() -> None:
    async def check() -> None:
        sp = spawner(hub_config(values_for("binderhub")))
        before = sp.image
        with pytest.raises(HTTPError) as err:
            await sp._run_apply_user_options({"image": "docker.io/evil/miner:1"})
        assert err.value.status_code == 400
        assert sp.image == before
        await sp._run_apply_user_options({})  # the hub's own start button
        assert sp.image == before

    asyncio.run(check())


@pytest.mark.parametrize(
    ("prefix", "image", "built"),
    [
        ("registry.example.org/org", "registry.example.org/org/repo-1:abc", True),
        ("registry.example.org/org", "registry.example.org/org-evil/miner:1", False),
        ("registry.example.org/org", "registry.example.org/org:1", False),
        ("registry.example.org/org/", "registry.example.org/org/repo-1:abc", True),
        ("registry.example.org/org/binder-", "registry.example.org/org/binder-x:1", True),
        ("registry.example.org/org/binder-", "registry.example.org/org/binderx:1", False),
        ("registry.example.org/org/binder-", "registry.example.org/org/binder-", False),
    ],
)
def test_only_whole_path_components_under_the_prefix_count_as_built(
    prefix: str, image: str, built: bool
) -> None:
    scope: dict[str, Any] = {}
    exec(hub.built_image_check(prefix), scope)
    assert scope["_bhsvc_built"](image) is built


def pod_for(config: TraitletsConfig, image: str) -> Any:
    """The pod KubeSpawner would create, after the modify_pod_hook ran twice."""

    async def make() -> Any:
        sp = spawner(config, image=image)
        pod = await sp.get_pod_manifest()
        if sp.modify_pod_hook:
            pod = await sp.modify_pod_hook(sp, pod)
            # a retried spawn runs the hook again on the same pod: nothing doubles
            pod = await sp.modify_pod_hook(sp, pod)
        return pod

    return asyncio.run(make())


def _copy_containers(pod: Any) -> list[Any]:
    return [ct for ct in pod.spec.init_containers or [] if ct.name == "bhsvc-copy-home"]


def test_copy_on_start_adds_an_init_container_for_built_images_only() -> None:
    c = hub_config(values_for(home="copy-on-start"))
    pod = pod_for(c, BUILT)
    [init] = _copy_containers(pod)
    notebook = pod.spec.containers[0]
    assert init.image == BUILT
    assert init.security_context == notebook.security_context
    [mount] = init.volume_mounts
    [home] = [m for m in notebook.volume_mounts if m.mount_path == "/home/jovyan"]
    assert (mount.name, mount.mount_path) == (home.name, hub.COPY_MOUNT)
    env = {e.name: e.value for e in init.env}
    assert env["BHSVC_FOLDER"] == "gh-binder-2dexamples-2drequirements-55ab5c"
    assert env["BHSVC_MOUNT"] == hub.COPY_MOUNT
    assert init.command[-1] == hub.COPY_SCRIPT
    # the chart's default image, or any other, is left alone
    assert not _copy_containers(pod_for(c, "quay.io/jupyterhub/k8s-singleuser-sample:4.4.0"))


def test_copy_on_start_keeps_an_earlier_modify_pod_hook() -> None:
    values = values_for(home="copy-on-start")
    values["hub"]["extraConfig"]["a-user-hook"] = (
        "def hook(spawner, pod):\n"
        "    pod.metadata.labels['from-user-hook'] = 'yes'\n"
        "    return pod\n"
        "c.KubeSpawner.modify_pod_hook = hook\n"
    )
    pod = pod_for(hub_config(values), BUILT)
    assert pod.metadata.labels["from-user-hook"] == "yes"
    assert len(_copy_containers(pod)) == 1


def _sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script], env={**os.environ, **env},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_copy_script_copies_once_and_never_overwrites(tmp_path: Path) -> None:
    image_home = tmp_path / "image-home"
    (image_home / "notebooks").mkdir(parents=True)
    (image_home / "index.ipynb").write_text("from the repo")
    (image_home / "notebooks" / "a.ipynb").write_text("a")
    volume = tmp_path / "volume"
    volume.mkdir()
    env = {"HOME": str(image_home), "BHSVC_MOUNT": str(volume), "BHSVC_FOLDER": "gh-repo-1"}
    first = _sh(hub.COPY_SCRIPT, env)
    assert first.returncode == 0, first.stderr
    copied = volume / "gh-repo-1"
    assert (copied / "notebooks" / "a.ipynb").read_text() == "a"
    # the user edits; a new image of the same repository starts later
    (copied / "index.ipynb").write_text("user's work")
    (image_home / "index.ipynb").write_text("newer repo version")
    second = _sh(hub.COPY_SCRIPT, env)
    assert second.returncode == 0
    assert "leaving it untouched" in second.stdout
    assert (copied / "index.ipynb").read_text() == "user's work"
    assert sorted(p.name for p in volume.iterdir()) == ["gh-repo-1"]


def test_repo_link_script_links_without_overwriting(tmp_path: Path) -> None:
    repo = tmp_path / "srv-repo"
    repo.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    script = hub.REPO_LINK_SCRIPT.replace("/srv/repo", str(repo))
    link = home / hub.REPO_LINK
    assert _sh(script, {"HOME": str(home)}).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(repo)
    assert _sh(script, {"HOME": str(home)}).returncode == 0  # again: unchanged
    assert os.readlink(link) == str(repo)
    # an image without the repository: our dangling link goes away
    repo.rmdir()
    assert _sh(script, {"HOME": str(home)}).returncode == 0
    assert not link.is_symlink()
    # a user's own folder of that name is never touched, even with the repo back
    repo.mkdir()
    link.mkdir()
    (link / "mine.txt").write_text("x")
    assert _sh(script, {"HOME": str(home)}).returncode == 0
    assert (link / "mine.txt").read_text() == "x"


def test_repo_link_hook_runs_in_the_notebook_container() -> None:
    pod = pod_for(hub_config(values_for(home="target-repo-dir")), BUILT)

    async def serialize() -> Any:
        async with ApiClient() as api:
            return api.sanitize_for_serialization(pod)

    manifest = asyncio.run(serialize())
    lifecycle = manifest["spec"]["containers"][0]["lifecycle"]
    assert lifecycle["postStart"]["exec"]["command"][-1] == hub.REPO_LINK_SCRIPT
    assert not _copy_containers(pod)
