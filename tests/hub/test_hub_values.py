"""Values for both charts, for every combination of auth, launch way and home strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hublib import combinations, make_config, merged, z2jh_schema

from bhsvc import hub, naming
from bhsvc.config import FANCY_PROFILES_HUB_IMAGE, Config, parse_config
from bhsvc.errors import ConfigError, UsageError
from bhsvc.files import yaml_text
from bhsvc.values import binderhub_values, jupyterhub_values

COMBOS = combinations()
IDS = [f"auth={a}-{launch}-{home}" for a, launch, home in COMBOS]


def both(
    config: Config, existing: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    z2jh = jupyterhub_values(config, existing)
    assert z2jh is not None
    return z2jh, binderhub_values(config, existing)


@pytest.mark.parametrize("version", ["4.4.0", "4.3.1"])
@pytest.mark.parametrize(("auth", "launch", "home"), COMBOS, ids=IDS)
def test_z2jh_values_validate_against_the_targeted_chart_schema(
    version: str, auth: bool, launch: str, home: str
) -> None:
    config = make_config(launch, auth, home, chart_version=version)
    assert config.hub.chart_version == version
    z2jh, _ = both(config)
    schema, defaults = z2jh_schema(version)
    # helm validates the chart's defaults merged with the values files.
    jsonschema.validate(merged(defaults, z2jh), schema)
    # and the file itself round-trips through YAML unchanged
    assert yaml.safe_load(yaml_text(z2jh)) == z2jh


@pytest.mark.parametrize(("auth", "launch", "home"), COMBOS, ids=IDS)
def test_both_charts_agree(auth: bool, launch: str, home: str) -> None:
    config = make_config(launch, auth, home)
    z2jh, bh = both(config)
    name = config.hub.service_name
    service = z2jh["hub"]["services"][name]
    integration = bh["hubIntegration"]
    assert integration["enabled"] is True
    assert integration["serviceName"] == name
    assert integration["auth"] is auth
    # the proxy routes /services/<name>/ unchanged: BinderHub must serve there
    assert bh["config"]["BinderHub"]["base_url"] == f"/services/{name}/"
    assert service["url"] == "http://binderhub-binderhub-service.binder:80"
    assert integration["apiUrl"] == "http://hub.binder:8081/hub/api/"
    assert integration["apiToken"] == {
        "existingSecret": "hub",
        "key": f"hub.services.{name}.apiToken",
    }
    # API-only for fancy-profiles, BinderHub's own pages for its launcher
    assert bh["config"]["BinderHub"]["enable_api_only_mode"] is (launch == "fancy-profiles")
    if auth:
        assert service["oauth_no_confirm"] is True
        assert service["oauth_client_id"] == f"service-{name}"
        assert service["oauth_redirect_uri"] == f"/services/{name}/oauth_callback"
        scopes = z2jh["hub"]["loadRoles"]["user"]["scopes"]
        assert scopes == ["self", f"access:services!service={name}"]
    else:
        assert not {"oauth_no_confirm", "oauth_client_id", "oauth_redirect_uri"} & set(service)
        assert "user" not in z2jh["hub"].get("loadRoles", {})
    # home strategy on both sides
    assert ("buildPods" in bh) is (home == "target-repo-dir")
    if home == "target-repo-dir":
        assert bh["buildPods"] == {"targetRepoDir": "/srv/repo"}
        hook = z2jh["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
        assert "/srv/repo" in hook[-1]
    else:
        assert "lifecycleHooks" not in z2jh["singleuser"]
    assert (hub.EXTRA_CONFIG_COPY_ON_START in z2jh["hub"]["extraConfig"]) is (
        home == "copy-on-start"
    )
    # user pods can pull what BinderHub pushed
    assert z2jh["singleuser"]["image"]["pullSecrets"] == ["binderhub-image-pull"]


def test_fancy_profiles_launch() -> None:
    z2jh, bh = both(make_config("fancy-profiles"))
    assert z2jh["hub"]["image"] == {
        "name": FANCY_PROFILES_HUB_IMAGE.rsplit(":", 1)[0],
        "tag": "z2jh-v4.3.1-fancy-profiles-sha-6457c79",
    }
    assert "setup_ui(c)" in z2jh["hub"]["extraConfig"][hub.EXTRA_CONFIG_FANCY_PROFILES]
    [profile] = z2jh["singleuser"]["profileList"]
    image = profile["profile_options"]["image"]
    assert image["unlisted_choice"]["enabled"] is True
    assert image["unlisted_choice"]["kubespawner_override"] == {"image": "{value}"}
    assert image["dynamic_image_building"] == {"enabled": True}
    assert profile["default"] is True
    assert z2jh["hub"]["services"]["binder"]["display"] is False
    assert "url" not in bh["hubIntegration"]


def test_binderhub_launch() -> None:
    z2jh, bh = both(make_config("binderhub"))
    assert bh["hubIntegration"]["url"] == "https://hub.example.org/"
    assert bh["hubIntegration"]["urlLocal"] == "http://hub.binder:8081/"
    assert bh["config"]["BinderHub"]["enable_api_only_mode"] is False
    role = z2jh["hub"]["loadRoles"]["binder-launcher"]
    assert role["services"] == ["binder"]
    assert set(role["scopes"]) == {"read:users", "servers"}
    assert "profileList" not in z2jh["singleuser"]
    assert "image" not in z2jh["hub"]  # the chart's own hub image
    snippet = z2jh["hub"]["extraConfig"][hub.EXTRA_CONFIG_LAUNCH]
    assert '"us-docker.pkg.dev/my-project/binder/binder-"' in snippet
    assert z2jh["hub"]["services"]["binder"]["display"] is True


def test_the_api_token_is_never_in_a_values_file() -> None:
    for auth, launch, home in COMBOS:
        z2jh, bh = both(make_config(launch, auth, home))
        text = yaml_text(z2jh) + yaml_text(bh)
        assert "api_token" not in text
        assert "apiToken:" not in text.replace("  apiToken:\n    existingSecret", "")


def test_a_token_in_hub_values_is_refused() -> None:
    config = make_config(values={"hub": {"services": {"binder": {"api_token": "abc"}}}})
    with pytest.raises(UsageError, match=r"hub\.values\.hub\.services\.binder: remove the API"):
        jupyterhub_values(config)


def test_users_lists_are_kept_and_extended() -> None:
    existing = {
        "hub": {"loadRoles": {"user": {"scopes": ["self", "read:groups"]}}},
        "singleuser": {
            "image": {"pullSecrets": ["mine"]},
            "profileList": [{"display_name": "Small", "slug": "small"}],
        },
    }
    z2jh, _ = both(make_config(), existing)
    assert z2jh["hub"]["loadRoles"]["user"]["scopes"] == [
        "self",
        "read:groups",
        "access:services!service=binder",
    ]
    assert z2jh["singleuser"]["image"]["pullSecrets"] == ["mine", "binderhub-image-pull"]
    profiles = z2jh["singleuser"]["profileList"]
    assert [p["slug"] for p in profiles] == ["small", "binderhub"]
    assert "default" not in profiles[1]
    # idempotent: a second run over the result adds nothing
    again, _ = both(make_config(), merged(existing, z2jh))
    assert again == z2jh


def test_lists_in_hub_values_are_kept_and_extended_too() -> None:
    own = {
        "hub": {"loadRoles": {"user": {"scopes": ["self", "read:users"]}}},
        "singleuser": {
            "image": {"pullSecrets": ["my-own"]},
            "profileList": [{"display_name": "D", "slug": "d"}],
            "extraEnv": {"A": "1"},
        },
    }
    z2jh = jupyterhub_values(make_config(values=own))
    assert z2jh is not None
    # The user role's scopes in hub.values are the user's word: access can be restricted.
    assert z2jh["hub"]["loadRoles"]["user"]["scopes"] == ["self", "read:users"]
    assert z2jh["singleuser"]["image"]["pullSecrets"] == ["my-own", "binderhub-image-pull"]
    assert [p["slug"] for p in z2jh["singleuser"]["profileList"]] == ["d", "binderhub"]
    assert z2jh["singleuser"]["extraEnv"] == {"A": "1"}, "the rest of hub.values still goes last"


def test_discovered_service_is_used() -> None:
    config = make_config()
    values = jupyterhub_values(config, None, ("my-binder", 8080))
    assert values is not None
    assert values["hub"]["services"]["binder"]["url"] == "http://my-binder.binder:8080"


def test_z2jh_name_prefix_follows_its_overrides() -> None:
    config = make_config()
    assert naming.hub_service(config, {}) == "hub"
    assert naming.hub_service(config, {"fullnameOverride": "jh"}) == "jh-hub"
    assert naming.hub_service(config, {"fullnameOverride": None}) == "jupyterhub-hub"
    _, bh = both(config, {"fullnameOverride": "jh"})
    assert bh["hubIntegration"]["apiToken"]["existingSecret"] == "jh-hub"
    assert bh["hubIntegration"]["apiUrl"] == "http://jh-hub.binder:8081/hub/api/"


def test_binderhub_in_another_namespace_reads_a_copied_token_secret() -> None:
    config = make_config(namespace="jupyterhub")
    assert config.hub_namespace == "jupyterhub"
    source = naming.token_source(config, {})
    target = naming.token_target(config, {})
    assert (source.namespace, source.name) == ("jupyterhub", "hub")
    assert (target.namespace, target.name) == ("binder", "binderhub-hub-api-token")
    assert source.key == target.key == "hub.services.binder.apiToken"
    _, bh = both(config)
    assert bh["hubIntegration"]["apiToken"]["existingSecret"] == "binderhub-hub-api-token"
    assert bh["hubIntegration"]["apiUrl"] == "http://hub.jupyterhub:8081/hub/api/"
    assert naming.image_pull_secret(config).namespace == "jupyterhub"
    z2jh, _ = both(config)
    # BinderHub's network-access label comes from another namespace: the hub must accept it.
    assert z2jh["hub"]["networkPolicy"] == {"interNamespaceAccessLabels": "accept"}
    same_namespace, _ = both(make_config())
    assert "networkPolicy" not in same_namespace["hub"]


def test_a_hub_below_a_base_url_is_refused() -> None:
    with pytest.raises(UsageError, match=r"hub\.baseUrl is '/jupyter/'"):
        jupyterhub_values(make_config(), {"hub": {"baseUrl": "/jupyter/"}})


def test_service_selector_matches_the_charts_labels() -> None:
    assert naming.service_selector(make_config()) == (
        "app.kubernetes.io/name=binderhub-service,app.kubernetes.io/instance=binderhub,"
        "app.kubernetes.io/component=binderhub"
    )


def test_no_hub_no_values() -> None:
    config = parse_config(
        {
            "kube": {"namespace": "binder"},
            "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
        },
        "t",
    )
    assert jupyterhub_values(config) is None
    assert "hubIntegration" not in binderhub_values(config)


# ---- config rules of the hub section ---------------------------------------------


def _hub(**hub_settings: Any) -> Config:
    return parse_config(
        {
            "kube": {"namespace": "binder"},
            "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
            "hub": {"enabled": True, **hub_settings},
        },
        "bhsvc.yaml",
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"chart_version": "4.4.0"},
            "image is required for fancy-profiles with chart_version 4.4.0",
        ),
        ({"fancy_profiles": False}, "url is required with launch 'binderhub'"),
        (
            {"fancy_profiles": False, "url": "https://h.example.org", "auth": False},
            "launch 'binderhub' needs auth: true",
        ),
        ({"service_name": "builder"}, "service_name must be 'binder'"),
        ({"url": "hub.example.org"}, "hub.url: url must be the hub's public root URL"),
        ({"image": "quay.io/me/hub"}, "hub.image: 'quay.io/me/hub' is not a valid hub image"),
    ],
)
def test_invalid_hub_settings_name_the_field(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _hub(**settings)


def test_fancy_profiles_defaults_to_the_published_image_and_its_chart() -> None:
    config = _hub()
    assert config.hub.chart_version == "4.3.1"
    assert config.hub.hub_image == FANCY_PROFILES_HUB_IMAGE
    own = _hub(chart_version="4.4.0", image="registry.example.org/hub:4.4.0-fp")
    assert own.hub.hub_image == "registry.example.org/hub:4.4.0-fp"
    assert _hub(fancy_profiles=False, url="https://h.example.org").hub.chart_version == "4.4.0"


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.org/hub:4.4.0-fp",
        "registry.example.org:5000/team/hub@sha256:" + "ab" * 32,
        "registry.example.org/hub:4.4.0-fp@sha256:" + "ab" * 32,
    ],
)
def test_the_hub_image_reaches_z2jh_by_tag_or_digest(image: str) -> None:
    config = _hub(chart_version="4.4.0", image=image)
    z2jh, _ = both(config)
    # z2jh's hub Deployment runs <name>:<tag>.
    assert "{name}:{tag}".format(**z2jh["hub"]["image"]) == image
    schema, defaults = z2jh_schema("4.4.0")
    jsonschema.validate(merged(defaults, z2jh), schema)


def test_launch_binderhub_turns_api_only_off_unless_explicitly_kept_on() -> None:
    config = _hub(fancy_profiles=False, url="https://h.example.org/")
    assert config.binderhub_api_only is False
    assert config.hub.url == "https://h.example.org/"
    with pytest.raises(ConfigError, match=r"binderhub\.api_only: must be false"):
        parse_config(
            {
                "kube": {"namespace": "binder"},
                "binderhub": {"api_only": True},
                "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
                "hub": {"enabled": True, "fancy_profiles": False, "url": "https://h.example.org"},
            },
            "bhsvc.yaml",
        )


def test_hub_rules_apply_only_when_the_hub_is_enabled() -> None:
    config = parse_config(
        {
            "kube": {"namespace": "binder"},
            "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
            "hub": {"fancy_profiles": False},
        },
        "t",
    )
    assert config.hub.chart_version == "4.4.0"


# ---- the BinderHub side, rendered by the real chart --------------------------------


def _render_binderhub(helm: Path, values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    import subprocess

    from bhsvc.chart import bundled_chart

    path = tmp_path / "values.yaml"
    path.write_text(yaml_text(values))
    proc = subprocess.run(
        [str(helm), "template", "binderhub", str(bundled_chart()), "--namespace", "binder",
         "--values", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.mark.parametrize(("auth", "launch", "home"), COMBOS, ids=IDS)
def test_the_binderhub_chart_renders_what_the_hub_expects(
    auth: bool, launch: str, home: str, helm4_path: Path, tmp_path: Path
) -> None:
    config = make_config(launch, auth, home)
    z2jh, bh = both(config)
    docs = _render_binderhub(helm4_path, bh, tmp_path)
    deployment = next(
        d for d in docs
        if d["kind"] == "Deployment"
        and d["metadata"]["labels"].get("app.kubernetes.io/component") == "binderhub"
    )  # fmt: skip
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    service = z2jh["hub"]["services"]["binder"]
    assert env["JUPYTERHUB_SERVICE_NAME"] == "binder"
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/services/binder/"
    assert env["JUPYTERHUB_API_URL"] == "http://hub.binder:8081/hub/api/"
    assert env["JUPYTERHUB_API_TOKEN"] == {
        "secretKeyRef": {"name": "hub", "key": "hub.services.binder.apiToken"}
    }
    if auth:
        # the OAuth client BinderHub presents is the one the hub registers
        assert env["JUPYTERHUB_CLIENT_ID"] == service["oauth_client_id"]
        assert env["JUPYTERHUB_OAUTH_CALLBACK_URL"] == service["oauth_redirect_uri"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    # the hub's proxy reaches this Service at the URL the service entry names
    svc = next(d for d in docs if d["kind"] == "Service" and "binderhub" in d["metadata"]["name"])
    assert (
        service["url"]
        == f"http://{svc['metadata']['name']}.binder:{svc['spec']['ports'][0]['port']}"
    )
    secret = next(
        d for d in docs if d["kind"] == "Secret" and "chart-config.yaml" in d.get("stringData", {})
    )
    chart_config = yaml.safe_load(secret["stringData"]["chart-config.yaml"])["config"]
    binderhub = chart_config["BinderHub"]
    assert binderhub["base_url"] == "/services/binder/"
    assert binderhub["auth_enabled"] is auth
    assert binderhub["enable_api_only_mode"] is (launch == "fancy-profiles")
    assert binderhub.get("hub_url") == (
        "https://hub.example.org/" if launch == "binderhub" else None
    )
    args = chart_config.get("BuildExecutor", {}).get("repo2docker_extra_args", [])
    assert ("--target-repo-dir=/srv/repo" in args) is (home == "target-repo-dir")


def test_dropped_values_are_the_deployed_keys_the_new_values_lack() -> None:
    deployed = {
        "hub": {"config": {"A": {"x": 1}}, "services": {"binder": {"url": "u"}}},
        "proxy": {"https": {"enabled": True}},
        "singleuser": {"image": {"name": "old"}},
    }
    kept = {
        "hub": {"services": {"binder": {"url": "v"}}},
        "singleuser": {"image": {"name": "new"}},
    }
    assert hub.dropped_values(deployed, kept) == ["hub.config", "proxy"]
    assert hub.dropped_values(deployed, {**kept, "proxy": {}, "hub": {"config": {}}}) == [
        "hub.config.A",
        "hub.services",
        "proxy.https",
    ]
    assert hub.dropped_values({}, kept) == []


def test_a_failed_upgrade_does_not_make_bhsvcs_old_values_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bhsvc.components.releases import HubRelease
    from bhsvc.files import write_if_changed
    from bhsvc.render import values_files
    from bhsvc.workdir import HUB_APPLIED_FILE, HUB_VALUES_FILE, values_dir

    monkeypatch.chdir(tmp_path)
    old, new = make_config(home="target-repo-dir"), make_config(home="none")
    folder = values_dir(old)

    def write_values(config: Config) -> None:
        for name, text in values_files(config, "bhsvc.yaml", {}).items():
            write_if_changed(folder / name, text, 0o600)

    def release(values: dict[str, object]) -> HubRelease:
        return HubRelease(
            "hub", "jupyterhub", "binder", "z2jh", [], "release=jupyterhub", 60,
            expected_values=values,
            values_file=folder / HUB_VALUES_FILE,
            applied_file=folder / HUB_APPLIED_FILE,
        )  # fmt: skip

    write_values(old)
    # run 1: the hub upgrade succeeded, so bhsvc's file is what the release holds
    write_if_changed(folder / HUB_APPLIED_FILE, (folder / HUB_VALUES_FILE).read_text(), 0o600)
    deployed = hub.z2jh_values(old, {}, None)
    assert "lifecycleHooks" in deployed["singleuser"]
    new_values = hub.z2jh_values(new, {}, None)
    # Run 2 writes its values, then its hub upgrade fails and helm rolls back:
    # the release still holds run 1's hook, which is bhsvc's, not the user's.
    assert release(new_values).drop_check(deployed) is None
    write_values(new)
    assert release(new_values).drop_check(deployed) is None  # run 3 is not refused
    # A setting of the user's own, in no file, is still refused.
    refused = release(new_values).drop_check(
        merged(deployed, {"singleuser": {"memory": {"limit": "2G"}}})
    )
    assert isinstance(refused, UsageError) and "singleuser.memory" in str(refused)
