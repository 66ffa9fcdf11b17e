"""The interactive `bhsvc init`, driven through its prompt layer with scripted answers."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from init_testing import (
    EMAIL,
    KEY_FILE,
    ScriptedPrompter,
    secret_fragments,
    write_config,
    write_kubeconfig,
)

from bhsvc.config import load_config
from bhsvc.errors import ConfigError, OperationError, UsageError
from bhsvc.wizard import run_wizard
from clirun import RunCli
from fakes.gcp_services import Gcp

CONFIG = Path("bhsvc.yaml")
GKE = "gke_my-project_europe-west10-a_binder-cluster"


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    """A kubeconfig with a GKE context (current) and a kind one; no gcloud config."""
    kubeconfig = write_kubeconfig(workdir, ["kind-dev", GKE], current=GKE)
    return {"KUBECONFIG": str(kubeconfig)}


def wizard(
    answers: list[str | type[BaseException]], env: dict[str, str], workdir: Path
) -> ScriptedPrompter:
    prompter = ScriptedPrompter(answers)
    run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")
    assert prompter.answers == [], "the wizard stopped before the script's end"
    return prompter


# Enter on every question: context, namespace, release, registry, project, region,
# repository; no hub; go ahead.
ALL_DEFAULTS: list[str | type[BaseException]] = ["", "", "", "", "", "", "", "", ""]


def test_happy_path_with_defaults_from_the_environment(
    gcp: Gcp, workdir: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    prompter = wizard(ALL_DEFAULTS, env, workdir)

    text = prompter.text
    # The GKE context is current, so it is offered first, and gives project and region.
    assert f"  1) {GKE} (current)" in text
    assert "  2) kind-dev" in text
    assert "Google Cloud project [my-project]: " in text
    assert "Region (e.g. europe-west10, us-central1) [europe-west10]: " in text
    # The summary comes before anything is created.
    summary_at = text.index("Summary")
    repo = "projects/my-project/locations/europe-west10/repositories/binder"
    assert f"create the Docker repository {repo}" in text
    assert "roles/artifactregistry.writer on that repository only" in text
    assert text.index("Go ahead? [Y/n]: ") > summary_at
    assert "bhsvc init --non-interactive --config bhsvc.yaml" in text
    config = load_config(workdir / CONFIG)
    assert config.kube.context == GKE
    assert config.kube.namespace == "binder"
    assert config.registry.gar is not None
    assert (config.registry.gar.project, config.registry.gar.region) == (
        "my-project",
        "europe-west10",
    )
    assert not config.hub.enabled
    written = (workdir / CONFIG).read_text()
    assert written.startswith("# Written by 'bhsvc init'")
    assert yaml.safe_load(written)["registry"] == {
        "provider": "gar",
        "gar": {"project": "my-project", "region": "europe-west10", "repository": "binder"},
    }
    # Provisioned, and the key stayed in its file.
    assert gcp.iam.user_key_ids(EMAIL)
    assert stat.S_IMODE((workdir / KEY_FILE).stat().st_mode) == 0o600
    out, err = capsys.readouterr()
    assert "✓ pusher key: created" in err
    assert "Next: bhsvc deploy --config bhsvc.yaml" in out
    for fragment in secret_fragments(gcp.iam.issued_private_keys):
        assert fragment not in out + err + text


def test_bad_answers_are_explained_and_asked_again(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    answers: list[str | type[BaseException]] = [
        "7",  # context: no such number
        "2",  # kind-dev
        "Bad_Namespace",
        "science",
        "",  # release
        "azure",  # not a provider
        "1",  # gar
        "X",  # not a project id
        "other-project",
        "",  # region: no default for a kind context
        "the moon",
        "us-central1",
        "",  # repository
        "maybe",  # hub?
        "n",
        "",  # go ahead
    ]

    prompter = wizard(answers, env, workdir)

    text = prompter.text
    assert f"✗ choose one of: {GKE}, kind-dev" in text
    assert "✗ kube.namespace: 'Bad_Namespace' is not a valid namespace" in text
    assert "✗ choose one of: gar, dockerhub, ghcr, quay, generic" in text
    assert "✗ registry.gar.project:" in text
    assert "✗ an answer is needed" in text
    assert "✗ registry.gar.region: 'the moon' is not a valid Artifact Registry location" in text
    assert "✗ answer y or n" in text
    assert "Traceback" not in text
    config = load_config(workdir / CONFIG)
    assert config.kube.context == "kind-dev"
    assert config.kube.namespace == "science"
    assert config.registry.gar is not None
    assert (config.registry.gar.project, config.registry.gar.region) == (
        "other-project",
        "us-central1",
    )
    assert (
        "projects/other-project/locations/us-central1/repositories/binder"
        in gcp.artifact_registry.repositories
    )


def test_a_release_name_too_long_for_the_account_id_is_refused(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    answers: list[str | type[BaseException]] = [
        "", "", "a-very-long-binderhub-release-name", "bh", "", "", "", "", "", "",
    ]  # fmt: skip

    prompter = wizard(answers, env, workdir)

    assert "is longer than 30 characters" in prompter.text
    assert "bh-pusher@my-project.iam.gserviceaccount.com" in gcp.iam.accounts


@pytest.mark.parametrize("at", [0, 1, 4, 8])
def test_ctrl_c_at_any_prompt_leaves_nothing(
    gcp: Gcp, workdir: Path, env: dict[str, str], at: int
) -> None:
    answers = [*ALL_DEFAULTS[:at], KeyboardInterrupt]
    prompter = ScriptedPrompter(answers)

    with pytest.raises(SystemExit) as stopped:
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert stopped.value.code == 130
    assert "Cancelled: nothing was created and no file was written." in prompter.text
    assert sorted(p.name for p in workdir.iterdir()) == ["kubeconfig"]
    assert gcp.requests() == 0


def test_saying_no_to_the_summary_changes_nothing(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    prompter = ScriptedPrompter([*ALL_DEFAULTS[:-1], "n"])

    with pytest.raises(SystemExit):
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert not (workdir / CONFIG).exists()
    assert gcp.requests() == 0


EXISTING = {
    "version": 1,
    "kube": {"context": "kind-dev", "namespace": "science"},
    "binderhub": {"release": "bh", "values": {"replicas": 1}},
    "registry": {
        "provider": "gar",
        "gar": {"project": "lab-project", "region": "us-east1", "repository": "images"},
    },
}


def test_existing_config_offers_its_values_and_is_not_replaced_silently(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, EXISTING)
    before = (workdir / CONFIG).read_text()
    # Reuse: yes; Enter everywhere; go ahead; replace the file: default (no).
    prompter = ScriptedPrompter(["y", *ALL_DEFAULTS, ""])

    with pytest.raises(SystemExit):
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    text = prompter.text
    assert "bhsvc.yaml exists. Use its values as defaults? [Y/n]: y" in text
    assert "Namespace for BinderHub [science]: " in text
    assert "Google Cloud project [lab-project]: " in text
    assert "Region (e.g. europe-west10, us-central1) [us-east1]: " in text
    assert (
        "Replacing bhsvc.yaml keeps its keys that were not asked about, but not its comments "
        "and formatting.\nReplace the existing bhsvc.yaml? [y/N]: \n" in text
    )
    assert (workdir / CONFIG).read_text() == before
    assert gcp.requests() == 0


def test_existing_config_replaced_after_a_yes_keeps_unasked_keys(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, "# our lab's BinderHub\n" + yaml.safe_dump(EXISTING))
    (workdir / CONFIG).chmod(0o600)  # made private: it stays private

    prompter = wizard(["y", *ALL_DEFAULTS, "y"], env, workdir)

    assert stat.S_IMODE((workdir / CONFIG).stat().st_mode) == 0o600
    assert "but not its comments and formatting" in prompter.text
    assert "our lab's BinderHub" not in (workdir / CONFIG).read_text()
    config = load_config(workdir / CONFIG)
    assert config.kube.context == "kind-dev"
    assert config.binderhub.release == "bh"
    assert config.binderhub.values == {"replicas": 1}  # not asked, kept
    assert (
        "projects/lab-project/locations/us-east1/repositories/images"
        in gcp.artifact_registry.repositories
    )


def test_invalid_existing_config_is_reported_and_only_replaced_on_yes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, "kube: {namespace: Not_Valid}\n")

    prompter = wizard([*ALL_DEFAULTS, "y"], env, workdir)

    assert "bhsvc.yaml exists but cannot be used:" in prompter.text
    assert "kube.namespace" in prompter.text
    assert (
        "Replacing bhsvc.yaml keeps nothing of it: not its other keys, comments or formatting.\n"
        "Replace the existing bhsvc.yaml? [y/N]: y" in prompter.text
    )
    assert load_config(workdir / CONFIG).kube.namespace == "binder"


def test_declining_its_values_warns_that_nothing_of_the_file_is_kept(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, EXISTING)
    before = (workdir / CONFIG).read_text()
    prompter = ScriptedPrompter(["n", *ALL_DEFAULTS, "n"])

    with pytest.raises(SystemExit):
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert (
        "Replacing bhsvc.yaml keeps nothing of it: not its other keys, comments or formatting.\n"
        "Replace the existing bhsvc.yaml? [y/N]: n" in prompter.text
    )
    assert (workdir / CONFIG).read_text() == before
    assert gcp.requests() == 0


def unreadable_link_loop(path: Path) -> str:
    path.symlink_to(path.name)  # a link to itself: unreadable, even by root
    return "cannot read the config file (Too many levels of symbolic links)"


def link_to_nothing(path: Path) -> str:
    path.symlink_to("elsewhere.yaml")
    return "config file not found"


def not_utf8(path: Path) -> str:
    path.write_bytes(b"kube:\n  namespace: caf\xe9\n")
    return "the config file is not UTF-8 text"


def not_readable(path: Path) -> str:
    write_config(path.parent, EXISTING)
    path.chmod(0)
    return "cannot read the config file (permission denied)"


@pytest.mark.parametrize(
    "make",
    [
        unreadable_link_loop,
        link_to_nothing,
        not_utf8,
        pytest.param(
            not_readable,
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file"),
        ),
    ],
)
def test_an_existing_path_that_cannot_be_read_is_only_replaced_on_yes(
    gcp: Gcp, workdir: Path, env: dict[str, str], make: Callable[[Path], str]
) -> None:
    problem = make(workdir / CONFIG)
    before = os.lstat(workdir / CONFIG)
    # Enter everywhere; go ahead; replace: default (no).
    prompter = ScriptedPrompter([*ALL_DEFAULTS, ""])

    with pytest.raises(SystemExit) as stopped:
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert stopped.value.code == 130
    assert f"bhsvc.yaml exists but cannot be used:\n  bhsvc.yaml: {problem}" in prompter.text
    assert "Replace the existing bhsvc.yaml? [y/N]: \n" in prompter.text
    assert os.lstat(workdir / CONFIG) == before  # the same file, untouched
    assert gcp.requests() == 0


def test_an_existing_path_that_cannot_be_read_is_replaced_after_a_yes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    not_utf8(workdir / CONFIG)

    wizard([*ALL_DEFAULTS, "y"], env, workdir)

    assert load_config(workdir / CONFIG).kube.context == GKE


def test_a_config_path_that_is_a_directory_is_refused_before_any_question(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    (workdir / CONFIG).mkdir()
    prompter = ScriptedPrompter(list(ALL_DEFAULTS))

    with pytest.raises(ConfigError) as refused:
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert str(refused.value) == "bhsvc.yaml: is a directory, not a config file"
    assert refused.value.exit_code == 2
    assert prompter.lines == []
    assert list((workdir / CONFIG).iterdir()) == []
    assert gcp.requests() == 0


def test_a_config_path_under_a_regular_file_is_refused_before_any_question(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    (workdir / "notes.txt").write_text("not a folder\n")
    prompter = ScriptedPrompter(list(ALL_DEFAULTS))

    with pytest.raises(ConfigError) as refused:
        run_wizard(
            Path("notes.txt/bhsvc.yaml"), False, prompter=prompter, env=env, home=workdir / "home"
        )

    problem = "cannot check the config file (Not a directory)"
    assert str(refused.value) == f"notes.txt/bhsvc.yaml: {problem}"
    assert prompter.lines == []
    assert gcp.requests() == 0


def test_malformed_kubeconfig_and_gcloud_files_only_mean_no_default(
    gcp: Gcp, workdir: Path
) -> None:
    (workdir / "kubeconfig").write_text("contexts: 5\ncurrent-context: [a]\n")
    gcloud = workdir / "home" / ".config" / "gcloud"
    (gcloud / "configurations").mkdir(parents=True)
    (gcloud / "configurations" / "config_default").write_text("[core]\nproject = my%project\n")
    env = {"KUBECONFIG": str(workdir / "kubeconfig")}
    answers: list[str | type[BaseException]] = [
        "", "", "", "", "my-project", "europe-west10", "", "", "",
    ]  # fmt: skip

    prompter = wizard(answers, env, workdir)

    assert "Kubernetes context (no kubeconfig found; empty: the current context): " in prompter.text
    assert "Google Cloud project: my-project" in prompter.text
    assert "Region (e.g. europe-west10, us-central1): europe-west10" in prompter.text
    assert load_config(workdir / CONFIG).kube.context is None


def test_unwritable_key_file_is_refused_before_the_summary(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    registry = {**EXISTING["registry"], "gar": {**EXISTING["registry"]["gar"], "key_file": "keys"}}
    write_config(workdir, {**EXISTING, "registry": registry})
    (workdir / "keys").mkdir()
    before = (workdir / CONFIG).read_text()
    # Reuse: yes; Enter on every question before the summary.
    prompter = ScriptedPrompter(["y", *ALL_DEFAULTS[:-1]])

    with pytest.raises(UsageError, match=r"registry\.gar\.key_file: keys is a directory"):
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert "Go ahead?" not in prompter.text
    assert (workdir / CONFIG).read_text() == before
    assert gcp.requests() == 0


def test_other_provider_with_a_password_file(
    gcp: Gcp, workdir: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "token").write_text("ghp_SECRET-TOKEN\n")
    answers: list[str | type[BaseException]] = [
        "2", "", "", "ghcr", "my-bot", "missing-file", "token", "", "",
    ]  # fmt: skip

    prompter = wizard(answers, env, workdir)

    assert "✗ registry.password_file: missing-file is not a file" in prompter.text
    assert "check that the push credentials can be read" in prompter.text
    config = load_config(workdir / CONFIG)
    assert config.registry.provider == "ghcr"
    assert config.image_prefix == "ghcr.io/my-bot/binder-"
    out, err = capsys.readouterr()
    assert "✓ push credentials: readable" in err
    assert "SECRET-TOKEN" not in out + err + prompter.text
    assert gcp.requests() == 0  # nothing to create for GHCR


def test_generic_registry_prefix_must_be_on_the_server(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    (workdir / "token").write_text("s3cret\n")
    answers: list[str | type[BaseException]] = [
        "2", "", "", "generic",
        "registry.internal:5000",  # server: accepted before the prefix is asked
        "bot",
        "registry.internal/binder/",  # another host than the server's
        "registry.internal:5000/binder/binder-",
        "token", "", "",
    ]  # fmt: skip

    prompter = wizard(answers, env, workdir)

    assert prompter.text.count("✗") == 1
    assert (
        "✗ registry.image_prefix: images would go to registry.internal, but the credentials "
        "are for registry.internal:5000 (registry.server)" in prompter.text
    )
    config = load_config(workdir / CONFIG)
    assert config.registry_server == "registry.internal:5000"
    assert config.image_prefix == "registry.internal:5000/binder/binder-"


def test_connecting_a_hub(gcp: Gcp, workdir: Path, env: dict[str, str]) -> None:
    answers: list[str | type[BaseException]] = [
        "", "binder", "", "", "", "", "", "y", "", "jhub", "",
    ]  # fmt: skip

    wizard(answers, env, workdir)

    config = load_config(workdir / CONFIG)
    assert config.hub.enabled
    assert config.hub.release == "jupyterhub"
    assert config.hub_namespace == "jhub"


def test_provisioning_failure_keeps_the_answers(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    gcp.artifact_registry.deny(
        "CreateRepository",
        "artifactregistry.repositories.create",
        "projects/my-project/locations/europe-west10",
    )
    prompter = ScriptedPrompter(list(ALL_DEFAULTS))

    with pytest.raises(OperationError, match=r"artifactregistry\.repositories\.create"):
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert load_config(workdir / CONFIG).kube.context == GKE
    assert "bhsvc init --non-interactive --config bhsvc.yaml" in prompter.text


def test_refuses_without_a_terminal(workdir: Path, run_cli: RunCli) -> None:
    with pytest.raises(UsageError, match="--non-interactive"):
        run_wizard(CONFIG, False)

    result = run_cli("init")

    assert result.code == 2
    assert "needs a terminal" in result.err
    assert "--non-interactive" in result.err
    assert not (workdir / CONFIG).exists()
