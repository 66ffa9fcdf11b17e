"""hubIntegration: BinderHub as a JupyterHub service, and buildPods."""

from __future__ import annotations

import pytest
from chartlib import duplicate_keys

HUB_LABEL = "hub.jupyter.org/network-access-hub"


def pod_labels(rendered) -> dict[str, str]:
    return rendered.deployment["spec"]["template"]["metadata"]["labels"]


def test_hub_auth_environment(helm, render):
    rendered = render(helm, "hub-auth")
    env = rendered.env()
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "hub", "key": "hub.services.binder.apiToken"}
    }
    values = {name: e.get("value") for name, e in env.items()}
    assert values["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api/"
    assert values["JUPYTERHUB_SERVICE_NAME"] == "binder"
    assert values["JUPYTERHUB_BASE_URL"] == "/"
    assert values["JUPYTERHUB_CLIENT_ID"] == "service-binder"
    assert values["JUPYTERHUB_OAUTH_CALLBACK_URL"] == "/services/binder/oauth_callback"
    assert values["JUPYTERHUB_SERVICE_PREFIX"] == "/services/binder/"
    # the cookie secret the chart generated, shared by all replicas
    secrets = rendered.shared_secrets()
    assert secrets["cookie-secret"] == ("binderhub-binderhub-service-secrets", "cookie-secret")
    assert pod_labels(rendered)[HUB_LABEL] == "true"


def test_hub_auth_config(helm, render):
    binderhub = render(helm, "hub-auth").config("BinderHub")
    assert binderhub["auth_enabled"] is True
    assert binderhub["hub_url"] == "https://hub.example.org/"
    assert "hub_url_local" not in binderhub
    assert binderhub["base_url"] == "/services/binder/"


def test_hub_without_auth(helm, render):
    rendered = render(helm, "hub-noauth")
    assert rendered.config("BinderHub")["auth_enabled"] is False
    assert "hub_url" not in rendered.config("BinderHub")
    env = rendered.env()
    # defaults: z2jh's hub Service in the same namespace
    assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api/"
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hub"
    assert pod_labels(rendered)[HUB_LABEL] == "true"


@pytest.mark.parametrize("scenario", ["defaults", "seed", "existing-secret"])
def test_no_hub_wiring_by_default(helm, render, scenario):
    rendered = render(helm, scenario)
    assert not [name for name in rendered.env() if name.startswith("JUPYTERHUB_")]
    assert "auth_enabled" not in rendered.config("BinderHub")
    # The label is there all the same, as in the 2i2c chart: a hub wired by
    # hand (extraConfig, extraEnv) relies on it to reach the hub's API.
    assert pod_labels(rendered)[HUB_LABEL] == "true"


def test_pod_labels_can_turn_the_hub_label_off(helm, render):
    rendered = render(helm, "hub-auth", extra={"podLabels": {HUB_LABEL: "false"}})
    assert pod_labels(rendered)[HUB_LABEL] == "false"


def test_pod_labels_cannot_replace_the_chart_labels(helm, render):
    extra = {"podLabels": {"app.kubernetes.io/component": "x", "team": "binder"}}
    rendered = render(helm, extra=extra)
    labels = pod_labels(rendered)
    assert labels["app.kubernetes.io/component"] == "binderhub"
    assert labels["team"] == "binder"
    # no key written twice (YAML parsers would silently keep one of them)
    assert duplicate_keys(rendered.text) == []


def test_every_option_hub_values(helm, render):
    rendered = render(helm, "every-option")
    env = rendered.env()
    values = {name: e.get("value") for name, e in env.items()}
    assert values["JUPYTERHUB_API_URL"] == "http://hub.jupyterhub.svc:8081/jupyter/hub/api/"
    assert values["JUPYTERHUB_BASE_URL"] == "/jupyter/"
    assert values["JUPYTERHUB_SERVICE_NAME"] == "binderhub"
    assert values["JUPYTERHUB_CLIENT_ID"] == "service-binderhub-custom"
    assert values["JUPYTERHUB_OAUTH_CALLBACK_URL"] == (
        "https://example.org/jupyter/services/binderhub/oauth_callback"
    )
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "binderhub-hub-token",
        "key": "token",
    }
    assert rendered.shared_secrets()["cookie-secret"] == ("binderhub-cookie-secret", "secret")
    binderhub = rendered.config("BinderHub")
    assert binderhub["hub_url_local"] == "http://proxy-public.jupyterhub.svc/jupyter/"


def test_default_callback_follows_hub_base_url(helm, render):
    rendered = render(
        helm, "hub-noauth", extra={"hubIntegration": {"baseUrl": "/jupyter", "serviceName": "b"}}
    )
    values = {name: e.get("value") for name, e in rendered.env().items()}
    assert values["JUPYTERHUB_BASE_URL"] == "/jupyter/"
    assert values["JUPYTERHUB_API_URL"] == "http://hub:8081/jupyter/hub/api/"
    assert values["JUPYTERHUB_OAUTH_CALLBACK_URL"] == "/jupyter/services/b/oauth_callback"
    assert values["JUPYTERHUB_CLIENT_ID"] == "service-b"


def test_auth_with_replicas_shares_the_generated_cookie_secret(helm, render):
    rendered = render(helm, "hub-auth", extra={"replicas": 3})
    assert rendered.deployment["spec"]["replicas"] == 3
    # the Secret the chart fills on install (test_chart_upgrades)
    assert rendered.shared_secrets()["cookie-secret"] == (
        "binderhub-binderhub-service-secrets",
        "cookie-secret",
    )


def test_auth_with_replicas_and_cookie_secret(helm, render):
    rendered = render(
        helm,
        "hub-auth",
        extra={"replicas": 3, "hubIntegration": {"cookieSecret": {"existingSecret": "c"}}},
    )
    assert rendered.deployment["spec"]["replicas"] == 3
    assert rendered.shared_secrets()["cookie-secret"] == ("c", "cookie-secret")


def test_replicas_without_auth_are_fine(helm, render):
    rendered = render(helm, "hub-noauth", extra={"replicas": 2})
    assert rendered.deployment["spec"]["replicas"] == 2


def test_api_url_must_end_with_a_slash(template_error):
    err = template_error({"hubIntegration": {"apiUrl": "http://hub:8081/hub/api"}}, "hub-auth")
    assert "hubIntegration" in err and "apiUrl" in err


def test_target_repo_dir(helm, render):
    rendered = render(helm, "hub-auth")
    assert rendered.config("BuildExecutor")["repo2docker_extra_args"] == [
        "--target-repo-dir=/srv/repo"
    ]


def test_target_repo_dir_keeps_user_args(helm, render):
    args = render(helm, "every-option").config("BuildExecutor")["repo2docker_extra_args"]
    assert args == ["--no-clean-cache", "--target-repo-dir=/srv/repo"]


def test_target_repo_dir_goes_where_the_args_are_read(helm, render):
    extra = {
        "buildPods": {"targetRepoDir": "/srv/repo"},
        "config": {"KubernetesBuildExecutor": {"repo2docker_extra_args": ["--debug"]}},
    }
    rendered = render(helm, extra=extra)
    assert rendered.config("KubernetesBuildExecutor")["repo2docker_extra_args"] == [
        "--debug",
        "--target-repo-dir=/srv/repo",
    ]


def test_target_repo_dir_is_not_repeated(helm, render):
    extra = {
        "buildPods": {"targetRepoDir": "/srv/repo"},
        "config": {"BuildExecutor": {"repo2docker_extra_args": ["--target-repo-dir=/srv/repo"]}},
    }
    rendered = render(helm, extra=extra)
    assert rendered.config("BuildExecutor")["repo2docker_extra_args"] == [
        "--target-repo-dir=/srv/repo"
    ]


def test_target_repo_dir_conflict_fails(template_error):
    extra = {
        "buildPods": {"targetRepoDir": "/srv/repo"},
        "config": {"BuildExecutor": {"repo2docker_extra_args": ["--target-repo-dir=/other"]}},
    }
    err = template_error(extra)
    assert "buildPods.targetRepoDir" in err


def test_no_target_repo_dir_by_default(helm, render):
    assert "repo2docker_extra_args" not in render(helm, "seed").config("BuildExecutor")
