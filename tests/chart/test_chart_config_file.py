"""chart/files/binderhub_config.py, run as traitlets runs a config file."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import yaml
from chartlib import CHART, load_config_file

pytest.importorskip("traitlets.config")

CONFIG_FILE = CHART / "files" / "binderhub_config.py"


def load(tmp_path: Path, rendered, monkeypatch, env=None):
    secret = rendered.find("Secret", "binderhub")[0]["stringData"]
    assert secret["binderhub_config.py"].strip() == CONFIG_FILE.read_text().strip()
    return load_config_file(tmp_path, rendered, monkeypatch, env)


def test_seed_config(tmp_path, render, helm4, monkeypatch):
    c = load(tmp_path, render(helm4, "seed"), monkeypatch)
    assert c.BinderHub.image_prefix == "europe-west10-docker.pkg.dev/proj/repo/binder-"
    assert c.BinderHub.use_registry is True
    assert c.BinderHub.enable_api_only_mode is True
    assert c.BinderHub.port == 8585
    assert c.KubernetesBuildExecutor.push_secret == (
        "binderhub-binderhub-service-build-pods-docker-config"
    )
    assert c.KubernetesBuildExecutor.docker_host == (
        "/var/run/binder-binderhub/docker-api/docker-api.sock"
    )


def test_extra_config_runs_in_order_and_reads_custom(tmp_path, render, helm4, monkeypatch):
    c = load(tmp_path, render(helm4, "every-option"), monkeypatch)
    assert c.BinderHub.banner_message == "Welcome"
    assert c.BinderHub.about_message == "about"
    assert c.BuildExecutor.repo2docker_extra_args == [
        "--no-clean-cache",
        "--target-repo-dir=/srv/repo",
    ]


def test_extra_config_order(tmp_path, render, helm4, monkeypatch):
    rendered = render(
        helm4,
        extra={
            "extraConfig": {
                "b": "c.BinderHub.order = c.BinderHub.order + ['b']",
                "a": "c.BinderHub.order = ['a']",
                "c": "c.BinderHub.order = c.BinderHub.order + ['c']",
            }
        },
    )
    c = load(tmp_path, rendered, monkeypatch)
    assert c.BinderHub.order == ["a", "b", "c"]


def test_2i2c_default_snippets_still_work(tmp_path, render, helm4, monkeypatch):
    """The extraConfig entries of the 2i2c chart's defaults read env vars."""
    snippets = {
        "binderhub-service-01-build-pods-docker-config": (
            'import os\nc.KubernetesBuildExecutor.push_secret = os.environ["PUSH_SECRET_NAME"]\n'
        ),
        "binderhub-service-02-set-docker-api": (
            "import os\n"
            'helm_release_name = os.environ["HELM_RELEASE_NAME"]\n'
            'namespace = os.environ["NAMESPACE"]\n'
            "c.KubernetesBuildExecutor.docker_host = "
            'f"/var/run/{namespace}-{helm_release_name}/docker-api/docker-api.sock"\n'
        ),
    }
    rendered = render(helm4, "seed", extra={"extraConfig": snippets})
    env = {name: e["value"] for name, e in rendered.env().items() if "value" in e}
    env["NAMESPACE"] = "binder"  # from the downward API in a pod
    c = load(tmp_path, rendered, monkeypatch, env=env)
    assert c.KubernetesBuildExecutor.push_secret == env["PUSH_SECRET_NAME"]
    assert (
        c.KubernetesBuildExecutor.docker_host
        == (rendered.config("KubernetesBuildExecutor")["docker_host"])
    )


def test_shared_cookie_secret(tmp_path, render, helm4, monkeypatch):
    class FakeBinderHub:
        def __init__(self):
            self.tornado_settings = {"cookie_secret": b"random"}
            self.tornado_app = types.SimpleNamespace(settings=dict(self.tornado_settings))

        def start(self):
            return "started"

    binderhub = types.ModuleType("binderhub")
    app = types.ModuleType("binderhub.app")
    app.BinderHub = FakeBinderHub
    monkeypatch.setitem(sys.modules, "binderhub", binderhub)
    monkeypatch.setitem(sys.modules, "binderhub.app", app)

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "cookie-secret").write_text("shared\n")
    load(
        tmp_path,
        render(helm4, "every-option"),
        monkeypatch,
        env={"BINDERHUB_SECRETS_DIR": str(secrets)},
    )
    hub = FakeBinderHub()
    assert hub.start() == "started"
    assert hub.tornado_settings["cookie_secret"] == b"shared"
    assert hub.tornado_app.settings["cookie_secret"] == b"shared"


def test_chart_config_file_is_plain_yaml(render, helm4):
    secret = render(helm4, "seed").find("Secret", "binderhub")[0]["stringData"]
    assert set(yaml.safe_load(secret["chart-config.yaml"])) == {"config", "extraConfig", "custom"}


def test_shared_build_token_secret(tmp_path, render, helm4, monkeypatch):
    """BinderHub reads BinderHub.build_token_secret as hex; every replica reads
    the same file."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "build-token-secret").write_text("ab" * 32)
    env = {"BINDERHUB_SECRETS_DIR": str(secrets)}
    c = load(tmp_path, render(helm4, "seed"), monkeypatch, env=env)
    assert bytes.fromhex(c.BinderHub.build_token_secret) == b"\xab" * 32


def test_build_token_secret_set_in_config_wins(tmp_path, render, helm4, monkeypatch):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "build-token-secret").write_text("ab" * 32)
    rendered = render(helm4, extra={"config": {"BinderHub": {"build_token_secret": "cd" * 32}}})
    c = load(tmp_path, rendered, monkeypatch, env={"BINDERHUB_SECRETS_DIR": str(secrets)})
    assert c.BinderHub.build_token_secret == "cd" * 32


def test_no_secrets_directory_leaves_binderhub_defaults(tmp_path, render, helm4, monkeypatch):
    monkeypatch.delenv("BINDERHUB_SECRETS_DIR", raising=False)
    c = load(tmp_path, render(helm4, "seed"), monkeypatch)
    assert "build_token_secret" not in c.BinderHub
