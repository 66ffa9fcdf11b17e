"""The config model: every field validated the way the target system does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bhsvc.config import load_config, parse_config
from bhsvc.errors import ConfigError


def base(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "kube": {"namespace": "binder"},
        "registry": {
            "provider": "gar",
            "gar": {"project": "my-project", "region": "europe-west10"},
        },
    }
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


def error_of(data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "bhsvc.yaml")
    return str(info.value)


def test_minimal_gar_config_derives_defaults() -> None:
    config = parse_config(base(), "bhsvc.yaml", Path("/work/site"))
    assert config.binderhub.release == "binderhub"
    assert config.service_account_id == "binderhub-pusher"
    assert config.image_prefix == "europe-west10-docker.pkg.dev/my-project/binder/binder-"
    assert config.registry_server == "https://europe-west10-docker.pkg.dev"
    assert config.key_file == Path("/work/site/.bhsvc/binderhub-pusher-key.json")
    assert config.binderhub_base_url == "/"
    assert config.hub_namespace == "binder"


def test_hub_enabled_moves_binderhub_under_services() -> None:
    config = parse_config(base(hub={"enabled": True}), "f")
    assert config.binderhub_base_url == "/services/binder/"
    assert config.hub.launch_way == "fancy-profiles"
    other = {"enabled": True, "service_name": "build", "fancy_profiles": False}
    other["url"] = "https://hub.example.org/"
    config = parse_config(base(hub=other, binderhub={"api_only": False}), "f")
    assert config.binderhub_base_url == "/services/build/"
    assert config.hub.launch_way == "binderhub"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kube__namespace": "Binder"}, "kube.namespace: 'Binder' is not a valid namespace"),
        ({"kube__namespace": "a" * 64}, "kube.namespace: namespace must be 1-63 characters"),
        ({"kube__namespace": "-binder"}, "kube.namespace"),
        ({"binderhub__release": "Bad_Name"}, "binderhub.release: 'Bad_Name' is not a valid helm"),
        ({"binderhub__release": "r" * 54}, "binderhub.release: helm release name must be 1-53"),
        ({"binderhub__base_url": "services/x"}, "binderhub.base_url: base_url must start and end"),
        ({"binderhub__builder": "kaniko"}, "binderhub.builder: Input should be 'dind', 'podman'"),
        ({"registry__provider": "ecr"}, "registry.provider: Input should be 'gar'"),
        ({"registry__gar__project": "p1"}, "registry.gar.project: GCP project id must be 6-30"),
        ({"registry__gar__project": "1project"}, "registry.gar.project: '1project' is not a valid"),
        ({"registry__gar__region": "Europe West"}, "registry.gar.region"),
        ({"registry__gar__repository": "Binder_Images"}, "registry.gar.repository"),
        ({"registry__gar__service_account": "short"}, "service account id must be 6-30"),
        ({"registry__image_prefix": "Registry.Example/Org/"}, "registry.image_prefix"),
        ({"hub__home_strategy": "symlink"}, "hub.home_strategy: Input should be"),
        ({"hub__service_name": "Binder"}, "hub.service_name"),
        ({"kube__extra": 1}, "kube.extra: unknown key"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"version": 2}, "version: Input should be 1"),
        ({"hub__auth": "maybe"}, "hub.auth: Input should be a valid boolean"),
    ],
)
def test_bad_field_is_named(overrides: dict[str, Any], expected: str) -> None:
    message = error_of(base(**overrides))
    assert message.startswith("bhsvc.yaml: invalid configuration")
    assert expected in message


def test_missing_required_keys_are_named() -> None:
    message = error_of({"version": 1})
    assert "kube: required key is missing" in message
    assert "registry: required key is missing" in message


def test_every_bad_field_is_reported_at_once() -> None:
    message = error_of(base(kube__namespace="X", binderhub__release="Y"))
    assert "kube.namespace" in message and "binderhub.release" in message
    assert len(message.splitlines()) == 3


def test_long_release_makes_default_service_account_too_long() -> None:
    message = error_of(base(binderhub__release="a-very-long-binderhub-release"))
    assert "registry.gar.service_account" in message


def test_other_providers_need_their_fields() -> None:
    dockerhub = {"provider": "dockerhub"}
    assert "needs 'username'" in error_of({**base(), "registry": dockerhub})
    generic = {"provider": "generic", "username": "u"}
    assert "needs 'server'" in error_of({**base(), "registry": generic})
    assert "needs a 'gar' section" in error_of({**base(), "registry": {"provider": "gar"}})


def test_provider_derivations() -> None:
    config = parse_config({**base(), "registry": {"provider": "ghcr", "username": "Octo"}}, "f")
    assert config.image_prefix == "ghcr.io/octo/binder-"
    assert config.registry_server == "ghcr.io"
    config = parse_config({**base(), "registry": {"provider": "dockerhub", "username": "me"}}, "f")
    assert config.registry_server == "https://index.docker.io/v1/"
    assert config.image_prefix == "docker.io/me/binder-"


def test_fancy_profiles_needs_api_only_mode() -> None:
    message = error_of(base(hub={"enabled": True}, binderhub={"api_only": False}))
    assert "binderhub.api_only must be true" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("kube: [unclosed", "not valid YAML at line 1"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_unusable_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bhsvc.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
