"""The wizard's defaults from kubeconfig, gcloud and ADC files: a malformed file gives none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhsvc.wizard_defaults import KubeContexts, gcp_project, kube_contexts

GOOD_KUBECONFIG = """\
contexts:
- {name: kind-dev, context: {cluster: c, user: u}}
- {name: prod, context: {cluster: c, user: u}}
current-context: prod
"""
DEEP = "[" * 5000 + "]" * 5000


def contexts_from(home: Path, *files: str | bytes) -> KubeContexts:
    paths = []
    for number, content in enumerate(files):
        path = home / f"kubeconfig-{number}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        paths.append(str(path))
    return kube_contexts({"KUBECONFIG": ":".join(paths)}, home)


def test_a_good_kubeconfig_gives_its_contexts_current_first(tmp_path: Path) -> None:
    assert contexts_from(tmp_path, GOOD_KUBECONFIG) == KubeContexts(["prod", "kind-dev"], "prod")


@pytest.mark.parametrize(
    "content",
    [
        "contexts: 5\n",
        "contexts: {name: prod}\n",
        "contexts: [5, prod, [a], {name: [b]}, {name: 7}, {name: ''}]\n",
        "current-context: [a]\ncontexts: 5\n",
        "contexts: [{name: prod}]\ncreated: 2001-02-30\n",  # an impossible date
        "contexts: [{name: prod}]\nreplicas: !!int many\n",
        DEEP,
        b"contexts: [{name: \xff}]\n",  # not UTF-8
        "- a list, not a mapping\n",
        "contexts: [\n",
    ],
)
def test_a_malformed_kubeconfig_gives_no_context(tmp_path: Path, content: str | bytes) -> None:
    assert contexts_from(tmp_path, content) == KubeContexts([], None)


def test_a_current_context_that_is_not_a_name_is_not_current(tmp_path: Path) -> None:
    content = "contexts: [{name: kind-dev}, {name: prod}]\ncurrent-context: [prod]\n"

    assert contexts_from(tmp_path, content) == KubeContexts(["kind-dev", "prod"], None)


def test_a_malformed_kubeconfig_leaves_the_other_files_of_kubeconfig(tmp_path: Path) -> None:
    contexts = contexts_from(tmp_path, "contexts: 5\ncurrent-context: [a]\n", GOOD_KUBECONFIG)

    assert contexts == KubeContexts(["prod", "kind-dev"], "prod")


def test_a_kubeconfig_that_is_a_directory_gives_no_context(tmp_path: Path) -> None:
    (tmp_path / "kube").mkdir()

    assert kube_contexts({"KUBECONFIG": str(tmp_path / "kube")}, tmp_path) == KubeContexts()


# ---- Google Cloud project ----------------------------------------------------------------


def gcloud_dir(home: Path, properties: str | bytes, active: str | bytes | None = None) -> Path:
    """gcloud's configuration folder as gcloud lays it out, under `home`."""
    config_dir = home / ".config" / "gcloud"
    (config_dir / "configurations").mkdir(parents=True)
    properties_file = config_dir / "configurations" / "config_default"
    if isinstance(properties, bytes):
        properties_file.write_bytes(properties)
    else:
        properties_file.write_text(properties)
    if isinstance(active, bytes):
        (config_dir / "active_config").write_bytes(active)
    elif active is not None:
        (config_dir / "active_config").write_text(active)
    return config_dir


def test_the_gcloud_configuration_gives_the_project(tmp_path: Path) -> None:
    gcloud_dir(tmp_path, "[core]\naccount = me%40example.org\nproject = my-project\n", "default")

    # A '%' elsewhere in the file is just a character: gcloud does not interpolate.
    assert gcp_project(None, {}, tmp_path) == "my-project"


@pytest.mark.parametrize(
    "properties",
    [
        "[core]\nproject = my%project\n",
        "[core]\nproject = %(account)s\naccount = my-project\n",
        "[core]\nproject = %\n",
        "[core]\nproject = My_Project\n",
        "[core]\nproject = my-project\n[core]\nproject = other-project\n",
        "project = my-project\n",  # no section header
        "[core\nproject = my-project\n",
        b"[core]\nproject = my-project\naccount = \xff\n",  # not UTF-8
    ],
)
def test_malformed_gcloud_properties_give_no_project(
    tmp_path: Path, properties: str | bytes
) -> None:
    gcloud_dir(tmp_path, properties)

    assert gcp_project(None, {}, tmp_path) is None


@pytest.mark.parametrize("active", [b"\xffdefault\n", "../configurations/config_default", "a\0b"])
def test_an_unusable_active_config_gives_no_project(tmp_path: Path, active: str | bytes) -> None:
    gcloud_dir(tmp_path, "[core]\nproject = my-project\n", active)

    assert gcp_project(None, {}, tmp_path) is None


def test_an_active_config_that_cannot_be_read_gives_no_project(tmp_path: Path) -> None:
    config_dir = gcloud_dir(tmp_path, "[core]\nproject = my-project\n")
    (config_dir / "active_config").mkdir()

    assert gcp_project(None, {}, tmp_path) is None


def test_an_invalid_project_in_the_environment_is_not_offered(tmp_path: Path) -> None:
    assert gcp_project(None, {"CLOUDSDK_CORE_PROJECT": "my%project"}, tmp_path) is None
    assert gcp_project(None, {"GOOGLE_CLOUD_PROJECT": "my-project"}, tmp_path) == "my-project"


def test_application_default_credentials_give_the_quota_project(tmp_path: Path) -> None:
    adc = tmp_path / "adc.json"
    adc.write_text('{"type": "authorized_user", "quota_project_id": "my-project"}')

    assert gcp_project(None, {"GOOGLE_APPLICATION_CREDENTIALS": str(adc)}, tmp_path) == "my-project"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"quota_project_id": "my-project"',
        '["quota_project_id", "my-project"]',
        '{"quota_project_id": 5, "project_id": ["my-project"]}',
        '{"quota_project_id": "my%project"}',
        DEEP,
        b'{"quota_project_id": "my-project", "x": "\xff"}',  # not UTF-8
    ],
)
def test_malformed_application_default_credentials_give_no_project(
    tmp_path: Path, content: str | bytes
) -> None:
    adc = tmp_path / "adc.json"
    if isinstance(content, bytes):
        adc.write_bytes(content)
    else:
        adc.write_text(content)

    assert gcp_project(None, {"GOOGLE_APPLICATION_CREDENTIALS": str(adc)}, tmp_path) is None


def test_credentials_that_are_a_directory_give_no_project(tmp_path: Path) -> None:
    assert gcp_project(None, {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path)}, tmp_path) is None
