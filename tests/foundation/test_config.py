"""The config model: every field validated the way the target system does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bhsvc.config import load_config, parse_config
from bhsvc.errors import ConfigError, UsageError
from bhsvc.files import read_values_file


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


# PyYAML reads with libyaml when it has it, which refuses some things itself.
if yaml.__with_libyaml__:
    TOO_DEEP = r" at line 1, column \d+: exceeded maximum nesting depth"
    SURROGATE = "invalid Unicode character escape code"
else:
    TOO_DEEP, SURROGATE = ": nested too deeply", "an unpaired surrogate escape"


def error_of(data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "bhsvc.yaml")
    return str(info.value)


def file_error(path: Path, content: str) -> str:
    """The message of loading a config file holding `content` (after its path)."""
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


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
        (
            {"binderhub__builder": "kaniko"},
            "binderhub.builder: expected one of dind, podman, host, got 'kaniko'",
        ),
        (
            {"registry__provider": "ecr"},
            "registry.provider: expected one of gar, dockerhub, ghcr, quay, generic, got 'ecr'",
        ),
        ({"registry__gar__project": "p1"}, "registry.gar.project: GCP project id must be 6-30"),
        ({"registry__gar__project": "1project"}, "registry.gar.project: '1project' is not a valid"),
        ({"registry__gar__region": "Europe West"}, "registry.gar.region"),
        ({"registry__gar__repository": "Binder_Images"}, "registry.gar.repository"),
        ({"registry__gar__service_account": "short"}, "service account id must be 6-30"),
        ({"registry__image_prefix": "Registry.Example/Org/"}, "registry.image_prefix"),
        ({"hub__home_strategy": "symlink"}, "hub.home_strategy: expected one of target-repo-dir"),
        ({"hub__service_name": "Binder"}, "hub.service_name"),
        ({"kube__extra": 1}, "kube.extra: unknown key"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"version": 2}, "version: must be 1"),
        ({"version": True}, "version: must be 1"),
        ({"version": 1.0}, "version: must be 1"),
        ({"version": "1"}, "version: must be 1"),
        ({"hub__auth": "maybe"}, "hub.auth: expected true or false, got text"),
        ({"hub__chart_version": "latest"}, "hub.chart_version: 'latest' is not a valid chart"),
        ({"hub__chart_version": "4.4"}, "hub.chart_version: '4.4' is not a valid chart"),
        ({"hub__chart_version": "v4.4.0"}, "hub.chart_version: 'v4.4.0' is not a valid chart"),
        ({"hub__chart_version": "4.4.0-"}, "hub.chart_version: '4.4.0-' is not a valid chart"),
        ({"hub__image": "quay.io/me/hub@sha256:abc"}, "hub.image: 'quay.io/me/hub@sha256:abc'"),
        ({"hub__image": "quay.io/me/hub@md5:" + "a" * 32}, "hub.image"),
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
    assert "\n  registry.gar.service_account: the default" in message


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
    config = parse_config(
        {**base(), "registry": {"provider": "dockerhub", "username": "mine"}}, "f"
    )
    assert config.registry_server == "https://index.docker.io/v1/"
    assert config.image_prefix == "docker.io/mine/binder-"


def registry(**settings: Any) -> dict[str, Any]:
    return {**base(), "registry": settings}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"provider": "dockerhub", "username": "My Org/x"},
            "registry.username: 'My Org/x' is not a valid Docker Hub user name",
        ),
        ({"provider": "dockerhub", "username": "abc"}, "Docker Hub user name must be 4-30"),
        ({"provider": "dockerhub", "username": "a" * 31}, "Docker Hub user name must be 4-30"),
        ({"provider": "dockerhub", "username": "my.name"}, "not a valid Docker Hub user name"),
        ({"provider": "ghcr", "username": "octo cat"}, "not a valid GitHub user or organisation"),
        ({"provider": "ghcr", "username": "-octo"}, "not a valid GitHub user or organisation"),
        ({"provider": "ghcr", "username": "o" * 40}, "organisation name must be 1-39"),
        ({"provider": "ghcr", "username": "octo_cat"}, "not a valid GitHub user or organisation"),
        # K (the Kelvin sign) lowercases to an ASCII k: still not an account name.
        ({"provider": "ghcr", "username": "\u212aelvin"}, "not a valid GitHub user"),
        ({"provider": "quay", "username": "my/org"}, "registry.username: 'my/org' is not a valid"),
        ({"provider": "quay", "username": "org+"}, "not a valid Quay.io user name"),
        ({"provider": "quay", "username": "x"}, "Quay.io user name must be 2-255"),
        ({"provider": "quay", "username": "own..er"}, "not a valid Quay.io user name"),
    ],
)
def test_registry_account_names_follow_the_registry(
    settings: dict[str, Any], expected: str
) -> None:
    message = error_of(registry(**settings))
    assert expected in message
    assert len(message.splitlines()) == 2


@pytest.mark.parametrize(
    ("settings", "prefix"),
    [
        ({"provider": "dockerhub", "username": "MyDockerId"}, "docker.io/mydockerid/binder-"),
        ({"provider": "dockerhub", "username": "old_name-1"}, "docker.io/old_name-1/binder-"),
        ({"provider": "ghcr", "username": "Octo-Cat"}, "ghcr.io/octo-cat/binder-"),
        ({"provider": "quay", "username": "my.org"}, "quay.io/my.org/binder-"),
        # A robot account pushes to its organisation's namespace.
        ({"provider": "quay", "username": "my_org+builder"}, "quay.io/my_org/binder-"),
    ],
)
def test_default_image_prefix_from_the_account(settings: dict[str, Any], prefix: str) -> None:
    assert parse_config(registry(**settings), "f").image_prefix == prefix


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"provider": "ghcr", "username": "octo", "image_prefix": "docker.io/octo/binder-"},
            "registry.image_prefix: images would go to docker.io, but the credentials are for "
            "ghcr.io (provider 'ghcr')",
        ),
        (
            {"provider": "dockerhub", "username": "mine", "image_prefix": "quay.io/mine/x-"},
            "registry.image_prefix: images would go to quay.io, but the credentials are for "
            "docker.io",
        ),
        (
            {"provider": "quay", "username": "mine", "image_prefix": "mine/binder-"},
            "registry.image_prefix: images would go to docker.io, but the credentials are for "
            "quay.io",
        ),
        (
            {"provider": "quay", "username": "mine", "server": "quay.example.org"},
            "registry.server: 'quay.example.org' is not quay.io, where provider 'quay' pushes",
        ),
        (
            {"provider": "dockerhub", "username": "mine", "server": "registry-1.docker.io"},
            "registry.server: 'registry-1.docker.io' is not docker.io",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "https://registry.example.org/v2/",
                "image_prefix": "other.example.org/binder/binder-",
            },
            "registry.image_prefix: images would go to other.example.org, but the credentials "
            "are for registry.example.org (registry.server)",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "registry.example.org:5000",
                "image_prefix": "registry.example.org/binder-",
            },
            "images would go to registry.example.org, but the credentials are for "
            "registry.example.org:5000",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "registry.example.org",
                "image_prefix": "binder/binder-",
            },
            "images would go to docker.io, but the credentials are for registry.example.org",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "my registry",
                "image_prefix": "binder/binder-",
            },
            "registry.server: 'my registry' is not a registry server",
        ),
    ],
)
def test_images_go_where_the_credentials_apply(settings: dict[str, Any], expected: str) -> None:
    message = error_of(registry(**settings))
    assert expected in message
    assert len(message.splitlines()) == 2


@pytest.mark.parametrize(
    ("settings", "prefix", "server"),
    [
        (
            {"provider": "dockerhub", "username": "mine", "image_prefix": "myorg/binder-"},
            "myorg/binder-",
            "https://index.docker.io/v1/",
        ),
        (
            {"provider": "dockerhub", "username": "mine", "image_prefix": "docker.io/org/b-"},
            "docker.io/org/b-",
            "https://index.docker.io/v1/",
        ),
        (
            {"provider": "ghcr", "username": "octo", "image_prefix": "ghcr.io/octo-org/b/"},
            "ghcr.io/octo-org/b/",
            "ghcr.io",
        ),
        (
            {"provider": "quay", "username": "me", "server": "quay.io"},
            "quay.io/me/binder-",
            "quay.io",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "https://Registry.Example.org:5000/v2/",
                "image_prefix": "registry.example.org:5000/binder/binder-",
            },
            "registry.example.org:5000/binder/binder-",
            "https://Registry.Example.org:5000/v2/",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "localhost:5000",
                "image_prefix": "localhost:5000/binder-",
            },
            "localhost:5000/binder-",
            "localhost:5000",
        ),
    ],
)
def test_consistent_registries_are_accepted(
    settings: dict[str, Any], prefix: str, server: str
) -> None:
    config = parse_config(registry(**settings), "f")
    assert (config.image_prefix, config.registry_server) == (prefix, server)


@pytest.mark.parametrize(
    ("server", "port"),
    [
        ("registry.example.org:99999", "99999"),
        ("registry.example.org:0", "0"),
        ("https://registry.example.org:65536/v2/", "65536"),
        ("registry.example.org:" + "9" * 5000, "9" * 19 + "…"),
    ],
)
def test_a_registry_server_port_is_1_to_65535(server: str, port: str) -> None:
    settings = {"provider": "generic", "username": "bot", "server": server}
    message = error_of(registry(**settings, image_prefix="registry.example.org/binder-"))
    assert f"\n  registry.server: '{server[:50]}" in message
    assert f"has port {port}: a port is 1 to 65535" in message
    highest = {**settings, "server": "registry.example.org:65535"}
    config = parse_config(registry(**highest, image_prefix="registry.example.org:65535/b-"), "f")
    assert config.registry_server == "registry.example.org:65535"


@pytest.mark.parametrize(
    ("key", "value"),
    [("username", "me"), ("password_file", "token"), ("server", "europe-west10-docker.pkg.dev")],
)
def test_gar_refuses_the_keys_it_does_not_use(key: str, value: str) -> None:
    message = error_of(base(**{f"registry__{key}": value}))
    assert f"  registry.{key}: not used with provider 'gar'" in message


def test_gar_image_prefix_stays_in_its_repository() -> None:
    inside = "europe-west10-docker.pkg.dev/my-project/binder/team-a-"
    assert parse_config(base(registry__image_prefix=inside), "f").image_prefix == inside
    message = error_of(base(registry__image_prefix="europe-west10-docker.pkg.dev/other/binder/"))
    assert (
        "  registry.image_prefix: must start with europe-west10-docker.pkg.dev/my-project/binder/"
        in message
    )


@pytest.mark.parametrize(
    ("values", "path", "key"),
    [
        ({"config": {"BinderHub": {"image_prefix": "x/"}}}, "config.BinderHub.image_prefix",
         "registry.image_prefix"),
        ({"config": {"BinderHub": {"enable_api_only_mode": False}}},
         "config.BinderHub.enable_api_only_mode", "binderhub.api_only"),
        ({"config": {"BinderHub": {"base_url": "/x/"}}}, "config.BinderHub.base_url",
         "binderhub.base_url"),
        ({"dockerApi": {"type": "host"}}, "dockerApi.type", "binderhub.builder"),
        ({"buildPodsRegistryCredentials": {"existingSecret": "mine"}},
         "buildPodsRegistryCredentials", "registry"),
    ],
)  # fmt: skip
def test_raw_chart_values_may_not_change_what_bhsvc_derives(
    values: dict[str, Any], path: str, key: str
) -> None:
    message = error_of(base(binderhub__values=values))
    assert f"  binderhub.values.{path}: set {key}" in message


def test_raw_hub_integration_values_are_refused_only_with_a_hub() -> None:
    own = {"hubIntegration": {"enabled": True, "apiUrl": "http://hub.other:8081/hub/api/"}}
    assert parse_config(base(binderhub__values=own), "f").binderhub.values == own
    message = error_of(base(binderhub__values=own, hub={"enabled": True}))
    assert "  binderhub.values.hubIntegration: set hub " in message
    fine = {"replicas": 2, "config": {"BinderHub": {"build_memory_limit": "2G"}}}
    assert parse_config(base(binderhub__values=fine), "f").binderhub.values == fine


def test_empty_sections_mean_their_defaults() -> None:
    config = parse_config(base(binderhub=None, hub=None), "f")
    assert config.binderhub.release == "binderhub"
    assert not config.hub.enabled
    config = parse_config(
        base(binderhub={"values": None}, hub={"values_files": None, "values": None}), "f"
    )
    assert (config.binderhub.values, config.hub.values_files, config.hub.values) == ({}, [], {})


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_file_key_means_its_default(empty: str | None) -> None:
    """`key: ""` is a blank `key:` (Path("") would be the folder "."), as for kube.context."""
    ghcr = {"provider": "ghcr", "username": "octo", "password_file": empty}
    assert parse_config(base(registry=ghcr), "f").registry.password_file is None
    gar = {"project": "my-project", "region": "us", "key_file": empty, "pull_key_file": empty}
    config = parse_config(base(registry__gar=gar, hub={"enabled": True}), "f", Path("/site"))
    assert config.key_file == Path("/site/.bhsvc/binderhub-pusher-key.json")
    assert config.pull_key_file == Path("/site/.bhsvc/binderhub-puller-key.json")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kube": None}, "kube: is empty; expected a mapping"),
        ({"kube": ["namespace"]}, "kube: expected a mapping, got a list"),
        ({"binderhub": "binderhub"}, "binderhub: expected a mapping, got text"),
        ({"registry": None}, "registry: is empty; expected a mapping"),
        ({"registry__gar": [1]}, "registry.gar: expected a mapping, got a list"),
        ({"kube__namespace": {"a": 1}}, "kube.namespace: expected text, got a mapping"),
        ({"kube__namespace": 42}, "kube.namespace: expected text, got a number"),
        ({"kube__context": ["a"]}, "kube.context: expected text, got a list"),
        ({"binderhub__values": ["a"]}, "binderhub.values: expected a mapping, got a list"),
        ({"hub__values_files": [None]}, "hub.values_files.0: is empty; expected a path"),
        ({"hub__values_files": ["a.yaml", ""]}, "hub.values_files.1: is empty; expected a path"),
        ({"hub__values_files": "hub.yaml"}, "hub.values_files: expected a list, got text"),
        ({"hub__values_files": [{"a": 1}]}, "hub.values_files.0: expected a path, got a mapping"),
        ({"registry__gar__key_file": 5}, "registry.gar.key_file: expected a path, got a number"),
        ({"hub__enabled": None}, "hub.enabled: is empty; expected true or false"),
        ({"hub__chart_version": 4.4}, "hub.chart_version: expected text, got a number"),
    ],
)
def test_wrong_kinds_of_value_are_named_in_plain_words(
    overrides: dict[str, Any], expected: str
) -> None:
    message = error_of(base(**overrides))
    assert f"\n  {expected}" in message
    for leak in ("instance of", "<class", "Input should be a valid", "Settings"):
        assert leak not in message


@pytest.mark.parametrize(
    "key", ["binderhub.api_only", "hub.enabled", "hub.auth", "hub.fancy_profiles"]
)
@pytest.mark.parametrize(
    ("value", "got"),
    [("off", "text"), ("yes", "text"), ("1", "text"), ("true", "text"), (1, "a number"),
     (0, "a number"), (1.0, "a number")],
)  # fmt: skip
def test_true_false_keys_take_true_or_false_only(key: str, value: object, got: str) -> None:
    message = error_of(base(**{key.replace(".", "__"): value}))
    assert message.splitlines()[1:] == [f"  {key}: expected true or false, got {got}"]


def test_cleanup_dry_run_takes_true_or_false_only() -> None:
    cleanup = {"untagged_after_days": 7, "dry_run": "no"}
    message = error_of(base(registry__gar__cleanup=cleanup))
    assert "\n  registry.gar.cleanup.dry_run: expected true or false, got text" in message


def test_hub_image_by_digest_with_or_without_a_tag() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    for image in (f"registry.example.org/hub@{digest}", f"quay.io/me/hub:4.4.0-fp@{digest}"):
        config = parse_config(base(hub={"image": image}), "f")
        assert config.hub.image == image


@pytest.mark.parametrize(
    "version", ["4.4.0", "10.0.0", "4.0.0-0.dev.git.6707.h6aa5ec5a", "1.2.3+b.5"]
)
def test_chart_version_accepts_semantic_versions(version: str) -> None:
    assert parse_config(base(hub={"chart_version": version}), "f").hub.chart_version == version


@pytest.mark.parametrize("chart", [None, "charts/binderhub-service", "bh-0.2.0.tgz"])
def test_binderhub_chart_version_needs_a_chart_in_a_registry(chart: str | None) -> None:
    message = error_of(base(binderhub={"chart": chart, "chart_version": "0.2.0"}))
    assert "  binderhub.chart_version: needs binderhub.chart to name a chart in a registry" in (
        message
    )


def test_binderhub_chart_version_with_an_oci_chart() -> None:
    chart = "oci://registry.example.org/charts/binderhub-service"
    config = parse_config(base(binderhub={"chart": chart, "chart_version": "0.2.0-rc.1"}), "f")
    assert config.binderhub.chart_version == "0.2.0-rc.1"
    assert "binderhub.chart_version: '0.2' is not a valid chart version" in error_of(
        base(binderhub={"chart": chart, "chart_version": "0.2"})
    )


def test_fancy_profiles_needs_api_only_mode() -> None:
    message = error_of(base(hub={"enabled": True}, binderhub={"api_only": False}))
    assert "  binderhub.api_only: must be true" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("kube: [unclosed", "not valid YAML at line "),
        ("- a\n- b\n", "expected a mapping"),
        ("kube: {namespace: binder}\nwhen: 2001-02-30\n", "not valid YAML: day is out of range"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", f"not valid YAML{TOO_DEEP}"),
    ],
)
def test_unusable_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bhsvc.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "version: 1\nkube: {namespace: a}\nregistry: {provider: gar}\nkube: {namespace: b}\n",
            "not valid YAML at line 4, column 1: duplicate key 'kube' (first at line 2)",
        ),
        (
            "kube:\n  namespace: a\n  context: x\n  namespace: b\n",
            "not valid YAML at line 4, column 3: duplicate key 'namespace' (first at line 2)",
        ),
        (
            "hub:\n  values: {a: [{b: 1, b: 2}]}\n",
            "not valid YAML at line 2, column 23: duplicate key 'b' (first at line 2)",
        ),
    ],
)
def test_duplicate_keys_are_refused_at_any_depth(
    tmp_path: Path, content: str, expected: str
) -> None:
    assert file_error(tmp_path / "bhsvc.yaml", content) == expected


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "bhsvc.yaml"
    path.write_text(
        "registry: {provider: gar, gar: {project: my-project, region: us}}\n"
        "kube: &kube {namespace: a, context: c}\n"
        "hub: {values: {copy: {<<: *kube, namespace: b}}}\n"
    )
    config = load_config(path)
    assert config.hub.values == {"copy": {"namespace": "b", "context": "c"}}


def test_duplicate_keys_in_a_values_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("hub:\n  config: {}\nsingleuser: {}\nhub:\n  image: {}\n")
    with pytest.raises(UsageError) as info:
        read_values_file(path, "hub.values_files")
    assert str(info.value) == (
        f"{path}: not valid YAML at line 4, column 1: duplicate key 'hub' (first at line 1) "
        "(hub.values_files)"
    )


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


# ---- hostile input: values are what they are --------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # binderhub.base_url is a URL path
        (
            {"binderhub__base_url": "/a b/"},
            "binderhub.base_url: base_url is a URL path and cannot hold ' '",
        ),
        ({"binderhub__base_url": "/a?x=1/"}, "cannot hold '?'"),
        ({"binderhub__base_url": "/a#top/"}, "cannot hold '#'"),
        ({"binderhub__base_url": "/a\n/"}, "cannot hold '\\n'"),
        ({"binderhub__base_url": "/caf\u00e9/"}, "cannot hold 'é'"),
        (
            {"binderhub__base_url": "//evil.example/"},
            "base_url '//evil.example/' has an empty segment",
        ),
        # chart references reach helm's command line
        (
            {"binderhub__chart": "--post-renderer=./x"},
            "binderhub.chart: '--post-renderer=./x' starts with '-'",
        ),
        ({"hub__chart": "-x"}, "hub.chart: '-x' starts with '-'"),
        (
            {"binderhub__chart": "./chart\n--debug"},
            "binderhub.chart: holds a control character (U+000A)",
        ),
        # the context reaches helm and the kubernetes client
        (
            {"kube__context": "--kubeconfig=/tmp/x"},
            "kube.context: '--kubeconfig=/tmp/x' starts with '-'",
        ),
        ({"kube__context": "prod\x1b[2J"}, "kube.context: holds a control character (U+001B)"),
        (
            {"kube__context": "prod\u202eved"},
            "kube.context: holds an invisible formatting character (U+202E)",
        ),
        ({"kube__context": "a\u2028b"}, "kube.context: holds a line separator (U+2028)"),
        # paths
        (
            {"registry__gar__key_file": "keys/\x00key.json"},
            "registry.gar.key_file: holds a control character (U+0000)",
        ),
        (
            {"registry__gar__key_file": "-key.json"},
            "registry.gar.key_file: '-key.json' starts with '-'",
        ),
        (
            {"hub__values_files": ["ok.yaml", "a\nb.yaml"]},
            "hub.values_files.1: holds a control character (U+000A)",
        ),
        ({"hub__values_files": ["-"]}, "hub.values_files.0: '-' starts with '-'"),
    ],
)
def test_text_keys_hold_plain_text_of_their_kind(overrides: dict[str, Any], expected: str) -> None:
    message = error_of(base(**overrides))
    assert expected in message
    assert len(message.splitlines()) == 2


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {
                "provider": "generic",
                "username": "bot\nx",
                "server": "r.example.org",
                "image_prefix": "r.example.org/b-",
            },
            "registry.username: holds a control character (U+000A)",
        ),
        (
            {
                "provider": "generic",
                "username": "bot:x",
                "server": "r.example.org",
                "image_prefix": "r.example.org/b-",
            },
            "registry.username: holds ':'",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "r.example.org/v2/\x00",
                "image_prefix": "r.example.org/b-",
            },
            "registry.server: 'r.example.org/v2/\\x00' is not a registry server",
        ),
        (
            {
                "provider": "generic",
                "username": "bot",
                "server": "r.example.org/v2?x#y",
                "image_prefix": "r.example.org/b-",
            },
            "registry.server: 'r.example.org/v2?x#y' is not a registry server",
        ),
        (
            {"provider": "ghcr", "username": "octo", "password_file": "tok\ren"},
            "registry.password_file: holds a control character (U+000D)",
        ),
    ],
)
def test_registry_text_is_plain(settings: dict[str, Any], expected: str) -> None:
    message = error_of(registry(**settings))
    assert expected in message
    assert len(message.splitlines()) == 2


def test_plain_text_of_every_kind_is_accepted() -> None:
    config = parse_config(
        base(
            kube__context="gke_my-project_europe-west10-a_binder cluster (prod)",
            binderhub={"base_url": "/binder/v1.2_~x/", "chart": "charts/my chart.tgz"},
            hub={"chart": "oci://registry.example.org/charts/jupyterhub"},
        ),
        "f",
    )
    assert config.binderhub.base_url == "/binder/v1.2_~x/"
    assert config.kube.context == "gke_my-project_europe-west10-a_binder cluster (prod)"


# ---- hostile input: messages quote nothing in full ------------------------------------


SHADOW_LIKE = (
    "root:$6$Q1w2e3r4$SECRETHASHSECRETHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
)
KUBECONFIG_LIKE = "apiVersion: v1\nkind: Config\nusers: [{name: me, user: {token: SECRET-TOKEN}}]\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            SHADOW_LIKE,
            "not a bhsvc config file: none of its top-level keys is one of version, "
            "kube, binderhub, registry, hub",
        ),
        (KUBECONFIG_LIKE, "not a bhsvc config file: none of its top-level keys"),
        (
            "SECRET-TOKEN-VALUE\n",
            "not a bhsvc config file: expected a mapping of keys at the top level, found text",
        ),
        (
            "- SECRET\n- TOKEN\n",
            "not a bhsvc config file: expected a mapping of keys at the top level, found a list",
        ),
        (
            "12345\n",
            "not a bhsvc config file: expected a mapping of keys at the top level, found a number",
        ),
    ],
)
def test_a_file_that_is_no_config_is_not_quoted(
    tmp_path: Path, content: str, expected: str
) -> None:
    message = file_error(tmp_path / "file", content)
    assert message.startswith(expected)
    for secret in ("SECRET", "root", "daemon", "$6$"):
        assert secret not in message


def test_unknown_keys_are_named_by_position_and_clipped(tmp_path: Path) -> None:
    content = (
        "version: 1\n"
        "kube: {namespace: binder, nmespace: x}\n"
        "registry: {provider: gar, gar: {project: my-project, region: europe-west10}}\n"
        f"{'k' * 300}: 1\n"
        '"\\e[2Jcleared": 2\n'
        "hub:\n  enabeld: true\n"
    )
    assert file_error(tmp_path / "bhsvc.yaml", content).splitlines() == [
        "invalid configuration",
        "  kube.nmespace: unknown key (line 2, column 27); did you mean namespace?",
        "  hub.enabeld: unknown key (line 7, column 3); did you mean enabled?",
        f"  {'k' * 39}…: unknown key (line 4, column 1)",
        "  \\x1b[2Jcleared: unknown key (line 5, column 1)",
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"registry__provider": "dockrhub"}, "got 'dockrhub'; did you mean dockerhub?"),
        ({"registry__provider": "GHCR"}, "got 'GHCR'; did you mean ghcr?"),
        ({"binderhub__builder": "podmn"}, "got 'podmn'; did you mean podman?"),
        ({"hub__home_strategy": "copy_on_start"}, "did you mean copy-on-start?"),
        ({"hub__launch": "fancy_profiles"}, "did you mean fancy-profiles?"),
    ],
)
def test_enumerations_suggest_the_near_miss(overrides: dict[str, Any], expected: str) -> None:
    message = error_of(base(**overrides))
    assert message.endswith(expected)


def test_a_far_miss_gets_no_suggestion() -> None:
    message = error_of(base(registry__provider="azure"))
    assert message.endswith("expected one of gar, dockerhub, ghcr, quay, generic, got 'azure'")


def test_long_values_are_clipped_in_messages() -> None:
    message = error_of(base(binderhub__base_url="x" * 100_000, kube__context="\x1b" * 5000))
    assert len(message) < 500
    assert "'" + "x" * 59 + "…'" in message


def test_thousands_of_bad_keys_make_a_short_message() -> None:
    data = base(**{f"key{i}": i for i in range(5000)})
    lines = error_of(data).splitlines()
    assert len(lines) == 22
    assert lines[-1] == "  ... and 4980 more problems"


# ---- hostile input: YAML that reads as something else ---------------------------------


def billion_laughs(levels: int) -> str:
    lines = ["    l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"    l{i}: &l{i} [{refs}]")
    return "\n".join(lines)


MINIMAL = (
    "version: 1\nkube: {namespace: binder}\n"
    "registry: {provider: gar, gar: {project: my-project, region: europe-west10}}\n"
)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (
            "binderhub: {values: {replicas: .inf}}\n",
            "at line 4, column 32: infinite and not-a-number",
        ),
        ("binderhub: {values: {cpu: -.Inf}}\n", "infinite and not-a-number values (.inf, .nan)"),
        ("binderhub: {values: {cpu: .NaN}}\n", "infinite and not-a-number values"),
        ("binderhub: {values: {cpu: 1.0e+999}}\n", "infinite and not-a-number values"),
        (
            "hub: {chart_version: " + "9" * 5000 + "}\n",
            "at line 4, column 22: a number with 5000 digits is too long",
        ),
        (
            "binderhub: {values: {n: -" + "1" * 4400 + "}}\n",
            "a number with 4400 digits is too long",
        ),
        ('binderhub: {base_url: "/\\ud800/"}\n', "at line 4, column 2"),
        ('binderhub: {values: {"\\udfff": 1}}\n', SURROGATE),
        ('kube2: "\\ud83d"\n', SURROGATE),
        (
            "binderhub:\n  values:\n" + billion_laughs(9) + "\n",
            "its aliases expand to more than 100000 values",
        ),
        (
            "binderhub:\n  values:\n    loop: &loop [*loop]\n",
            "its aliases expand to more than 100000 values",
        ),
    ],
)
def test_yaml_that_helm_or_python_would_choke_on_is_refused(
    tmp_path: Path, tail: str, expected: str
) -> None:
    message = file_error(tmp_path / "bhsvc.yaml", MINIMAL + tail)
    assert message.startswith("not valid YAML")
    assert expected in message
    assert len(message.splitlines()) == 1
    for foreign in ("sys.set_int_max_str_digits", "Exceeds the limit", "surrogates not allowed"):
        assert foreign not in message


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "bhsvc.yaml"
    path.write_text(MINIMAL + "binderhub:\n  values:\n" + billion_laughs(3) + "\n")
    assert len(load_config(path).binderhub.values["l2"]) == 10


# ---- registry.gar.cleanup ------------------------------------------------------------


def _cleanup(**section: Any) -> dict[str, Any]:
    return base(registry__gar__cleanup=section)


DAYS = "must be 1 to 3650 days, got"
WHOLE = "expected a whole number, got"
NOTHING = "deletes nothing: set untagged_after_days or older_than_days"
VERSIONS = "must be 1 to 10000 versions, got"


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ({"older_than_days": 0}, "older_than_days", f"{DAYS} 0"),
        ({"untagged_after_days": -3}, "untagged_after_days", f"{DAYS} -3"),
        ({"older_than_days": 3651}, "older_than_days", f"{DAYS} 3651"),
        ({"older_than_days": 10**40}, "older_than_days", f"{DAYS} 1000000000000000000…"),
        ({"older_than_days": 7, "keep_recent": 0}, "keep_recent", f"{VERSIONS} 0"),
        ({"older_than_days": 7, "keep_recent": 10_001}, "keep_recent", f"{VERSIONS} 10001"),
        ({"older_than_days": "7"}, "older_than_days", f"{WHOLE} text"),
        ({"older_than_days": 7.5}, "older_than_days", f"{WHOLE} a number"),
        ({"older_than_days": True}, "older_than_days", f"{WHOLE} true/false"),
        ({"older_than_days": 7, "keep_recent": [3]}, "keep_recent", f"{WHOLE} a list"),
        ({"older_than_days": 7, "dry_run": "maybe"}, "dry_run", "expected true or false, got text"),
        ({"older_than_days": 7, "keep_recnt": 3}, "keep_recnt", "unknown key; did you mean keep_"),
        ({"keep_recent": 5}, "", NOTHING),
        ({}, "", NOTHING),
        ({"dry_run": True}, "", NOTHING),
    ],
)  # fmt: skip
def test_bad_cleanup_values_are_named(section: dict[str, Any], key: str, expected: str) -> None:
    message = error_of(_cleanup(**section))
    path = ".".join(filter(None, ("registry.gar.cleanup", key)))
    assert f"\n  {path}: {expected}" in message
    assert len(message.splitlines()) == 2  # the heading and one line
    for leak in ("Input should", "<class", "GarCleanup"):
        assert leak not in message


def test_cleanup_is_off_unless_set() -> None:
    for data in (base(), base(registry__gar__cleanup=None)):
        gar = parse_config(data, "bhsvc.yaml").registry.gar
        assert gar is not None and gar.cleanup is None


def test_a_cleanup_section_with_every_key() -> None:
    data = _cleanup(keep_recent=10, untagged_after_days=1, older_than_days=3650, dry_run=True)
    gar = parse_config(data, "bhsvc.yaml").registry.gar
    assert gar is not None and gar.cleanup is not None
    assert gar.cleanup.model_dump() == {
        "keep_recent": 10, "untagged_after_days": 1, "older_than_days": 3650, "dry_run": True,
    }  # fmt: skip
