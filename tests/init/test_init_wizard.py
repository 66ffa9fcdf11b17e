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
    Answer,
    ScriptedPrompter,
    secret_fragments,
    write_config,
    write_kubeconfig,
    write_own_config,
)

import special_files
from bhsvc.config import load_config
from bhsvc.errors import ConfigError, OperationError, UsageError
from bhsvc.wizard_run import run_wizard
from clirun import RunCli
from fakes.gcp_services import Gcp

CONFIG = Path("bhsvc.yaml")
GKE = "gke_my-project_europe-west10-a_binder-cluster"
ENV_PROMPT = "empty: read it from $BHSVC_REGISTRY_PASSWORD when deploying"


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    """A kubeconfig with a GKE context (current) and a kind one; no gcloud config."""
    kubeconfig = write_kubeconfig(workdir, ["kind-dev", GKE], current=GKE)
    return {"KUBECONFIG": str(kubeconfig)}


def run(answers: list[Answer], env: dict[str, str], workdir: Path) -> ScriptedPrompter:
    """The wizard on scripted answers; it must end where the script ends."""
    prompter = ScriptedPrompter(answers)
    run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")
    assert prompter.answers == [], "the wizard stopped before the script's end"
    return prompter


def stopped(answers: list[Answer], env: dict[str, str], workdir: Path) -> tuple[int, str]:
    """The wizard on answers that stop it: its exit code and the conversation."""
    prompter = ScriptedPrompter(answers)
    try:
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")
    except SystemExit as done:
        assert isinstance(done.code, int)
        return done.code, prompter.text
    except OperationError as err:
        return err.exit_code, f"{prompter.text}\nerror: {err}"
    raise AssertionError(f"the wizard did not stop:\n{prompter.text}")


# Enter on every question: context, namespace, release, registry, project, region,
# repository, push credentials (key: the test kubeconfig reaches no cluster); no
# cleanup; no hub; go ahead.
ALL_DEFAULTS: list[Answer] = ["", "", "", "", "", "", "", "", "", "", ""]


def test_happy_path_with_defaults_from_the_environment(
    gcp: Gcp, workdir: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    prompter = run(ALL_DEFAULTS, env, workdir)

    text = prompter.text
    # The GKE context is current, so it is offered first, and gives project and region.
    assert f"  1) {GKE} (current)" in text
    assert "  2) kind-dev" in text
    assert "Google Cloud project [my-project]: " in text
    assert "Region (e.g. europe-west10, us-central1) [europe-west10]: " in text
    # No cluster answers: key is the default, and the wizard says why.
    assert "could not tell from the cluster (" in text
    assert "): key is the default" in text
    assert "  1) workload-identity no key: GKE Workload Identity" in text
    assert "Push credentials (number or name) [key]: " in text
    # The summary comes before anything is created.
    summary_at = text.index("Summary")
    repo = "projects/my-project/locations/europe-west10/repositories/binder"
    assert f"create the Docker repository {repo}" in text
    assert "roles/artifactregistry.writer on that repository only" in text
    assert "  • write bhsvc.yaml" in text
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
        "gar": {
            "project": "my-project",
            "region": "europe-west10",
            "repository": "binder",
            "auth": "key",
        },
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
    answers: list[Answer] = [
        "7",  # context: no such number
        "prod",  # no such name
        "2",  # kind-dev
        "Bad_Namespace",
        "science",
        "",  # release
        "azure",  # not a provider
        "0",
        "9" * 5000,  # more digits than Python reads as a number
        "\u00b2",  # a digit, but not one of 0-9
        "1",  # gar
        "X",  # not a project id
        "other-project",
        "",  # region: no default for a kind context
        "the moon",
        "us-central1",
        "",  # repository
        "",  # push credentials: key
        "",  # cleanup: no
        "maybe",  # hub?
        "n",
        "",  # go ahead
    ]

    prompter = run(answers, env, workdir)

    text = prompter.text
    assert "✗ 7 is not a number from 1 to 2: answer 1 to 2, or a name" in text
    assert "✗ 'prod' is not one of them: answer 1 to 2, or a name" in text
    assert "✗ kube.namespace: 'Bad_Namespace' is not a valid namespace" in text
    assert "✗ 'azure' is not one of them: answer 1 to 5, or a name" in text
    assert "✗ 0 is not a number from 1 to 5: answer 1 to 5, or a name" in text
    assert f"✗ {'9' * 59}… is not a number from 1 to 5: answer 1 to 5, or a name" in text
    assert "✗ '²' is not one of them: answer 1 to 5, or a name" in text
    assert "✗ registry.gar.project:" in text
    assert "✗ an answer is needed" in text
    assert "✗ registry.gar.region: 'the moon' is not a valid Artifact Registry location" in text
    assert "✗ answer y or n" in text
    # A refused answer never becomes the default of the question asked again.
    assert "[Bad_Namespace]" not in text
    assert "[the moon]" not in text
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


def test_a_typo_gets_a_suggestion(gcp: Gcp, workdir: Path, env: dict[str, str]) -> None:
    (workdir / "token").write_text("s3cret\n")
    (workdir / "token").chmod(0o600)
    answers: list[Answer] = ["", "", "", "dockrhub", "Ghcr", "ghcr", "octo", "token", "", ""]

    prompter = run(answers, env, workdir)

    assert (
        "✗ 'dockrhub' is not one of them; did you mean dockerhub?: answer 1 to 5, or a name"
        in prompter.text
    )
    assert "'Ghcr' is not one of them; did you mean ghcr?" in prompter.text
    assert load_config(workdir / CONFIG).registry.provider == "ghcr"


def test_every_answer_is_checked_by_its_keys_rule(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    kubeconfig = write_kubeconfig(workdir, ["--kubeconfig=/tmp/x", "kind-dev"], current=None)
    answers: list[Answer] = [
        "1",  # a context name that would read as an option on helm's command line
        "2",
        "",
        "a" * 60,  # a release name too long for helm
        "",
        "gar",
        "",  # no default project: an answer is needed
        "my-project",
        "us",
        "Images!",
        "images",
        "",  # push credentials
        "",  # cleanup
        "",
        "",
    ]

    prompter = run(answers, {"KUBECONFIG": str(kubeconfig)}, workdir)

    text = prompter.text
    assert "✗ kube.context: '--kubeconfig=/tmp/x' starts with '-'" in text
    assert "✗ binderhub.release: helm release name must be 1-53 characters, got 60" in text
    assert "✗ registry.gar.repository: 'Images!' is not a valid Artifact Registry repository" in (
        text
    )
    config = load_config(workdir / CONFIG)
    assert (config.kube.context, config.registry.image_prefix) == ("kind-dev", None)
    assert config.image_prefix == "us-docker.pkg.dev/my-project/images/binder-"


def test_an_answer_that_is_not_text_is_asked_again(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    not_utf8 = UnicodeDecodeError("utf-8", b"caf\xe9", 3, 4, "invalid continuation byte")
    answers: list[Answer] = ["", not_utf8, "caf\udce9", "science", *ALL_DEFAULTS[2:]]

    prompter = run(answers, env, workdir)

    assert "✗ that is not text in the terminal's encoding; type it again" in prompter.text
    assert "✗ kube.namespace: 'caf\\udce9' is not a valid namespace" in prompter.text
    assert load_config(workdir / CONFIG).kube.namespace == "science"


def test_a_release_name_too_long_for_the_account_id_is_refused(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    answers: list[Answer] = [
        "", "", "a-very-long-binderhub-release-name", "bh", "", "", "", "", "", "", "", "",
    ]  # fmt: skip

    prompter = run(answers, env, workdir)

    assert (
        "✗ registry.gar.service_account: the default 'a-very-long-binderhub-release-name-pusher' "
        "is longer than 30 characters; set a shorter one" in prompter.text
    )
    assert "bh-pusher@my-project.iam.gserviceaccount.com" in gcp.iam.accounts


@pytest.mark.parametrize("at", [0, 1, 4, 7, 9])
def test_ctrl_c_at_any_prompt_leaves_nothing(
    gcp: Gcp, workdir: Path, env: dict[str, str], at: int
) -> None:
    code, text = stopped([*ALL_DEFAULTS[:at], KeyboardInterrupt], env, workdir)

    assert code == 130
    assert "Cancelled: nothing was created and no file was written." in text
    assert sorted(p.name for p in workdir.iterdir()) == ["kubeconfig"]
    assert gcp.requests() == 0


@pytest.mark.parametrize("at", [1, 9])
def test_end_of_input_stops_with_exit_code_1(
    gcp: Gcp, workdir: Path, env: dict[str, str], at: int
) -> None:
    code, text = stopped([*ALL_DEFAULTS[:at], EOFError], env, workdir)

    assert code == 1  # 130 is Ctrl-C's
    assert text.endswith(
        "error: init stopped at the end of input: nothing was created and no file was written"
    )
    assert sorted(p.name for p in workdir.iterdir()) == ["kubeconfig"]
    assert gcp.requests() == 0


def test_saying_no_to_the_summary_and_to_changing_stops_with_exit_code_1(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    code, text = stopped([*ALL_DEFAULTS[:-1], "n", "n"], env, workdir)

    assert code == 1
    assert "Change some answers? (they are the defaults) [Y/n]: n" in text
    assert text.endswith("error: init cancelled: nothing was created and no file was written")
    assert not (workdir / CONFIG).exists()
    assert gcp.requests() == 0


def test_saying_no_to_the_summary_keeps_the_answers_as_defaults(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    first = ["2", "science", "", "", "my-project", "europe-west10", "", "", "", ""]
    again = ["", "", "", "", "", "", "", "", "", ""]  # Enter everywhere: the first answers

    prompter = run([*first, "n", "", *again, ""], env, workdir)

    assert "Namespace for BinderHub [science]: " in prompter.text
    assert prompter.text.count("Summary") == 2
    config = load_config(workdir / CONFIG)
    assert (config.kube.context, config.kube.namespace) == ("kind-dev", "science")


# ---- running init again -------------------------------------------------------------------

EXISTING = {
    "version": 1,
    "kube": {"context": "kind-dev", "namespace": "science"},
    "binderhub": {"release": "bh", "values": {"replicas": 1}},
    "registry": {
        "provider": "gar",
        "gar": {"project": "lab-project", "region": "us-east1", "repository": "images"},
    },
}


def test_running_again_on_its_own_file_needs_no_extra_question(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_own_config(workdir, EXISTING)
    before = (workdir / CONFIG).stat()
    # Use its values: Enter; Enter everywhere; go ahead: Enter.
    prompter = run(["", *ALL_DEFAULTS], env, workdir)

    text = prompter.text
    assert "bhsvc.yaml exists. Use its values as defaults? [Y/n]: " in text
    assert "Namespace for BinderHub [science]: " in text
    assert "Google Cloud project [lab-project]: " in text
    assert "Region (e.g. europe-west10, us-central1) [us-east1]: " in text
    assert "  • keep bhsvc.yaml: nothing in it changes" in text
    assert "Replace" not in text
    assert "Kept bhsvc.yaml. To provision again without questions:" in text
    after = (workdir / CONFIG).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (
        "projects/lab-project/locations/us-east1/repositories/images"
        in gcp.artifact_registry.repositories
    )


def test_its_own_file_is_updated_and_the_summary_shows_what_changes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_own_config(workdir, EXISTING)
    (workdir / CONFIG).chmod(0o600)  # made private: it stays private
    answers: list[Answer] = ["", "", "physics", "", "", "", "europe-west10", "", "", "", "", ""]

    prompter = run(answers, env, workdir)

    assert (
        "  • update bhsvc.yaml:\n"
        "      kube.namespace: science → physics\n"
        "      registry.gar.region: us-east1 → europe-west10\n"
        "Nothing is installed" in prompter.text
    )
    assert "Wrote bhsvc.yaml." in prompter.text
    assert stat.S_IMODE((workdir / CONFIG).stat().st_mode) == 0o600
    config = load_config(workdir / CONFIG)
    assert config.kube.namespace == "physics"
    assert config.binderhub.values == {"replicas": 1}  # not asked, kept


def test_starting_afresh_over_its_own_file_shows_what_goes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_own_config(workdir, EXISTING)

    prompter = run(["n", *ALL_DEFAULTS], env, workdir)

    assert "      binderhub.values.replicas: removed (was 1)" in prompter.text
    assert "      kube.namespace: science → binder" in prompter.text
    assert "replicas" not in (workdir / CONFIG).read_text()


HAND_WRITTEN = "# our lab's BinderHub\n" + yaml.safe_dump(EXISTING)


def test_a_hand_written_file_is_asked_about_before_any_question(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, HAND_WRITTEN)
    before = (workdir / CONFIG).read_text()

    # Use its values: yes; replace it: Enter (no).
    code, text = stopped(["y", ""], env, workdir)

    assert code == 1
    assert (
        "bhsvc.yaml is not as bhsvc init wrote it (edited, or written by hand): the new file, "
        "written from your answers, will not keep its comments and formatting.\n"
        "Replace bhsvc.yaml when you go ahead? [y/N]: \n" in text
    )
    assert "Kubernetes context" not in text  # no answer given, none lost
    assert text.endswith(
        "error: init stopped before any question: bhsvc.yaml is left as it is. To provision "
        "what it describes: bhsvc init --non-interactive --config bhsvc.yaml; to write your "
        "answers to another file: bhsvc init --config <path>"
    )
    assert (workdir / CONFIG).read_text() == before
    assert gcp.requests() == 0


def test_a_hand_written_file_is_replaced_after_a_yes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, HAND_WRITTEN)

    prompter = run(["y", "y", *ALL_DEFAULTS], env, workdir)

    assert "will not keep its comments and formatting" in prompter.text
    text = (workdir / CONFIG).read_text()
    assert text.startswith("# Written by 'bhsvc init'")
    assert "our lab's BinderHub" not in text
    assert yaml.safe_load(text) == EXISTING


def test_declining_its_values_says_nothing_of_the_file_is_kept(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, HAND_WRITTEN)

    code, text = stopped(["n", "n"], env, workdir)

    assert code == 1
    assert "the new file, written from your answers, will not keep anything of it." in text
    assert (workdir / CONFIG).read_text() == HAND_WRITTEN


def test_invalid_existing_config_is_reported_and_only_replaced_on_yes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    write_config(workdir, "kube: {namespace: Not_Valid}\n")

    prompter = run(["y", *ALL_DEFAULTS], env, workdir)

    assert "bhsvc.yaml exists but cannot be used:" in prompter.text
    assert "kube.namespace" in prompter.text
    assert (
        "Replacing it with your answers: nothing of it is kept.\n"
        "Replace bhsvc.yaml when you go ahead? [y/N]: y" in prompter.text
    )
    assert "  • replace bhsvc.yaml (it could not be used)" in prompter.text
    assert load_config(workdir / CONFIG).kube.namespace == "binder"


def unreadable_link_loop(path: Path) -> str:
    path.symlink_to(path.name)  # a link to itself: unreadable, even by root
    return "cannot read the config file (Too many levels of symbolic links)"


def link_to_nothing(path: Path) -> str:
    path.symlink_to("elsewhere.yaml")
    return "config file not found"


def not_utf8(path: Path) -> str:
    path.write_bytes(b"kube:\n  namespace: caf\xe9\n")
    return "the config file is not UTF-8 text"


def too_big(path: Path) -> str:
    with path.open("wb") as out:
        out.truncate(5 * 1024 * 1024)
    return "the config file is larger than 1 MiB"


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
        too_big,
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

    code, text = stopped([""], env, workdir)  # replace it: Enter (no)

    assert code == 1
    assert f"bhsvc.yaml exists but cannot be used:\n  bhsvc.yaml: {problem}" in text
    assert "Replace bhsvc.yaml when you go ahead? [y/N]: \n" in text
    assert "Kubernetes context" not in text
    assert os.lstat(workdir / CONFIG) == before  # the same file, untouched
    assert gcp.requests() == 0


def test_an_existing_path_that_cannot_be_read_is_replaced_after_a_yes(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    not_utf8(workdir / CONFIG)

    run(["y", *ALL_DEFAULTS], env, workdir)

    assert load_config(workdir / CONFIG).kube.context == GKE


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", [*special_files.SPECIAL, "socket"])
def test_a_config_path_that_is_no_file_is_refused_before_any_question(
    gcp: Gcp, workdir: Path, env: dict[str, str], kind: str
) -> None:
    with special_files.unix_sockets() as sockets:
        problem = {**special_files.SPECIAL, "socket": sockets}[kind](workdir / CONFIG)
        prompter = ScriptedPrompter(list(ALL_DEFAULTS))

        with pytest.raises(ConfigError) as refused:
            run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert str(refused.value) == f"bhsvc.yaml: {problem}, not a config file"
    assert refused.value.exit_code == 2
    assert prompter.lines == []
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


def test_a_kept_key_that_no_longer_fits_is_asked_about(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    old_prefix = "us-east1-docker.pkg.dev/lab-project/images/team-"
    registry = {**EXISTING["registry"], "image_prefix": old_prefix}
    write_own_config(workdir, {**EXISTING, "registry": registry})
    # Use its values; another project; the kept prefix is asked about: '-' removes it.
    answers: list[Answer] = ["", "", "", "", "", "new-project", "", "", "", "", "", "-", ""]

    prompter = run(answers, env, workdir)

    assert (
        "✗ together, these answers are refused:\n"
        "  registry.image_prefix: must start with us-east1-docker.pkg.dev/new-project/images/"
        in prompter.text
    )
    assert f"registry.image_prefix (-: remove it: bhsvc's default) [{old_prefix}]: -" in (
        prompter.text
    )
    config = load_config(workdir / CONFIG)
    assert config.image_prefix == "us-east1-docker.pkg.dev/new-project/images/binder-"


def test_malformed_kubeconfig_and_gcloud_files_only_mean_no_default(
    gcp: Gcp, workdir: Path
) -> None:
    (workdir / "kubeconfig").write_text("contexts: 5\ncurrent-context: [a]\n")
    gcloud = workdir / "home" / ".config" / "gcloud"
    (gcloud / "configurations").mkdir(parents=True)
    (gcloud / "configurations" / "config_default").write_text("[core]\nproject = my%project\n")
    env = {"KUBECONFIG": str(workdir / "kubeconfig")}
    answers: list[Answer] = ["", "", "", "", "my-project", "europe-west10", "", "", "", "", ""]

    prompter = run(answers, env, workdir)

    assert (
        "Kubernetes context (empty: the current context; no kubeconfig was found): "
        in prompter.text
    )
    assert "Google Cloud project: my-project" in prompter.text
    assert "Region (e.g. europe-west10, us-central1): europe-west10" in prompter.text
    assert load_config(workdir / CONFIG).kube.context is None


@pytest.mark.timeout(30)
def test_a_named_pipe_for_a_kubeconfig_only_means_no_default(gcp: Gcp, workdir: Path) -> None:
    os.mkfifo(workdir / "kubeconfig")
    answers: list[Answer] = ["", "", "", "", "my-project", "europe-west10", "", "", "", "", ""]

    prompter = run(answers, {"KUBECONFIG": str(workdir / "kubeconfig")}, workdir)

    assert "no kubeconfig was found" in prompter.text


def test_unwritable_key_file_is_refused_before_the_summary(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    registry = {**EXISTING["registry"], "gar": {**EXISTING["registry"]["gar"], "key_file": "keys"}}
    write_own_config(workdir, {**EXISTING, "registry": registry})
    (workdir / "keys").mkdir()
    before = (workdir / CONFIG).read_text()
    # Reuse: yes; Enter on every question before the summary.
    prompter = ScriptedPrompter(["y", *ALL_DEFAULTS[:-1]])

    with pytest.raises(UsageError, match=r"registry\.gar\.key_file: keys is a directory"):
        run_wizard(CONFIG, False, prompter=prompter, env=env, home=workdir / "home")

    assert "Go ahead?" not in prompter.text
    assert (workdir / CONFIG).read_text() == before
    assert gcp.requests() == 0


def test_key_folders_are_private_whatever_the_umask(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    registry = {
        **EXISTING["registry"],
        "gar": {**EXISTING["registry"]["gar"], "key_file": "secrets/keys/pusher.json"},
    }
    write_own_config(workdir, {**EXISTING, "registry": registry})
    old = os.umask(0)
    try:
        run(["", *ALL_DEFAULTS], env, workdir)
    finally:
        os.umask(old)

    for folder in ("secrets", "secrets/keys"):
        assert stat.S_IMODE((workdir / folder).stat().st_mode) == 0o700
    assert stat.S_IMODE((workdir / "secrets/keys/pusher.json").stat().st_mode) == 0o600


# ---- other registries: the password file ----------------------------------------------------


def token_file(path: Path, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("ghp_SECRET-TOKEN\n")
    path.chmod(mode)
    return path


def test_other_provider_with_a_password_file(
    gcp: Gcp, workdir: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    token_file(workdir / "token")
    answers: list[Answer] = ["2", "", "", "ghcr", "my-bot", "missing-file", "token", "", ""]

    prompter = run(answers, env, workdir)

    text = prompter.text
    assert "✗ registry.password_file: missing-file: password file not found" in text
    # The refused answer is not offered as the default of the next try.
    assert text.count(f"File holding the password or access token ({ENV_PROMPT}): ") == 2
    assert "check that the push credentials can be read" in text
    config = load_config(workdir / CONFIG)
    assert config.registry.provider == "ghcr"
    assert config.image_prefix == "ghcr.io/my-bot/binder-"
    out, err = capsys.readouterr()
    assert "✓ push credentials: readable" in err
    assert "SECRET-TOKEN" not in out + err + text
    assert gcp.requests() == 0  # nothing to create for GHCR


def test_password_file_answers_expand_the_home_folder_and_variables(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    home_token = token_file(workdir / "home" / "dockerhub-token.txt")
    tokens = token_file(workdir / "vault" / "quay.txt")
    answers: list[Answer] = [
        "2", "", "", "dockerhub", "mydockerid",
        "~/missing.txt",  # expanded, then not found
        "$UNSET_TOKEN_DIR/t.txt",
        "~/dockerhub-token.txt",
        "", "",
    ]  # fmt: skip

    prompter = run(answers, {**env, "TOKENS": str(tokens.parent)}, workdir)

    text = prompter.text
    assert f"✗ registry.password_file: {workdir}/home/missing.txt: password file not found" in (
        text
    )
    assert "✗ registry.password_file: $UNSET_TOKEN_DIR is not set" in text
    assert load_config(workdir / CONFIG).registry.password_file == home_token

    # The same file, named through a variable, on a second run.
    run(["", "2", "", "", "quay", "mydockerid", "${TOKENS}/quay.txt", "", ""],
        {**env, "TOKENS": str(tokens.parent)}, workdir)  # fmt: skip
    assert load_config(workdir / CONFIG).registry.password_file == tokens


def test_an_empty_password_answer_defers_to_the_variable_at_deploy(
    gcp: Gcp, workdir: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    answers: list[Answer] = ["2", "", "", "dockerhub", "mydockerid", "", "", ""]

    prompter = run(answers, env, workdir)

    text = prompter.text
    assert (
        "$BHSVC_REGISTRY_PASSWORD is not set here: set it before 'bhsvc deploy', which reads it."
        in text
    )
    assert "  • check nothing now: $BHSVC_REGISTRY_PASSWORD is not set here" in text
    config = load_config(workdir / CONFIG)
    assert config.registry.password_file is None
    _, err = capsys.readouterr()
    assert "warning: $BHSVC_REGISTRY_PASSWORD is not set here: set it before 'bhsvc deploy'" in (
        err
    )
    assert "push credentials: readable" not in err
    assert gcp.requests() == 0


def test_a_variable_of_blanks_is_no_password(
    gcp: Gcp,
    workdir: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Blanks only, as deploy reads them: not set, as a password file of blanks is empty."""
    monkeypatch.setenv("BHSVC_REGISTRY_PASSWORD", "  ")
    answers: list[Answer] = ["2", "", "", "dockerhub", "mydockerid", "", "", ""]

    prompter = run(answers, {**env, "BHSVC_REGISTRY_PASSWORD": "  "}, workdir)

    assert "$BHSVC_REGISTRY_PASSWORD is not set here" in prompter.text
    _, err = capsys.readouterr()
    assert "warning: $BHSVC_REGISTRY_PASSWORD is not set here" in err
    assert gcp.requests() == 0


def test_an_empty_password_answer_with_the_variable_set_checks_it(
    gcp: Gcp,
    workdir: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BHSVC_REGISTRY_PASSWORD", "s3cret")
    answers: list[Answer] = ["2", "", "", "dockerhub", "mydockerid", "", "", ""]

    run(answers, {**env, "BHSVC_REGISTRY_PASSWORD": "s3cret"}, workdir)

    _, err = capsys.readouterr()
    assert "✓ push credentials: readable" in err


def test_dash_returns_a_kept_password_file_to_the_variable(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    token_file(workdir / "token")
    registry = {"provider": "ghcr", "username": "octo", "password_file": "token"}
    write_own_config(workdir, {**EXISTING, "registry": registry})
    answers: list[Answer] = ["", "", "", "", "", "", "-", "", ""]

    prompter = run(answers, env, workdir)

    prompt = (
        "File holding the password or access token (-: read it from $BHSVC_REGISTRY_PASSWORD "
        "when deploying) [token]: -"
    )
    assert prompt in prompter.text
    assert "      registry.password_file: removed (was token)" in prompter.text
    assert load_config(workdir / CONFIG).registry.password_file is None


def test_a_password_file_others_can_read_is_made_private(
    gcp: Gcp, workdir: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    token = token_file(workdir / "token", mode=0o644)
    answers: list[Answer] = ["2", "", "", "ghcr", "octo", "token", "", ""]

    prompter = run(answers, env, workdir)

    assert "  token is readable by others: it is made 0600 when you go ahead." in prompter.text
    assert "  • make token readable by you only (0600)" in prompter.text
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    _, err = capsys.readouterr()
    # The same warning as a key file of Artifact Registry gets.
    assert "warning: token was readable by others (mode 0644); it is 0600 now" in err


def test_a_password_file_left_alone_when_init_is_not_confirmed(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    token = token_file(workdir / "token", mode=0o644)

    code, _ = stopped(["2", "", "", "ghcr", "octo", "token", "", "n", "n"], env, workdir)

    assert code == 1
    assert stat.S_IMODE(token.stat().st_mode) == 0o644


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", [*special_files.SPECIAL, "huge"])
def test_a_password_file_that_is_no_file_is_refused(
    gcp: Gcp, workdir: Path, env: dict[str, str], kind: str
) -> None:
    problem = {**special_files.SPECIAL, "huge": special_files.huge}[kind](workdir / "token")
    token_file(workdir / "real-token")
    answers: list[Answer] = ["2", "", "", "ghcr", "octo", "token", "real-token", "", ""]

    prompter = run(answers, env, workdir)

    expected = "the password file is larger than 64 KiB" if kind == "huge" else problem
    assert f"✗ registry.password_file: token: {expected}" in prompter.text


def test_generic_registry_prefix_must_be_on_the_server(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    token_file(workdir / "token")
    answers: list[Answer] = [
        "2", "", "", "generic",
        "registry.internal:5000",  # server: accepted before the prefix is asked
        "bot",
        "registry.internal/binder/",  # another host than the server's
        "registry.internal:5000/binder/binder-",
        "token", "", "",
    ]  # fmt: skip

    prompter = run(answers, env, workdir)

    assert prompter.text.count("✗") == 1
    assert (
        "✗ registry.image_prefix: images would go to registry.internal, but the credentials "
        "are for registry.internal:5000 (registry.server)" in prompter.text
    )
    assert "warning:" not in prompter.text
    config = load_config(workdir / CONFIG)
    assert config.registry_server == "registry.internal:5000"
    assert config.image_prefix == "registry.internal:5000/binder/binder-"


@pytest.mark.parametrize("prefix", ["registry.internal:5000/binder/binder", "r.internal:5000/b_"])
def test_a_generic_prefix_without_a_separator_is_warned_about(
    gcp: Gcp, workdir: Path, env: dict[str, str], prefix: str
) -> None:
    token_file(workdir / "token")
    server = prefix.split("/")[0]
    answers: list[Answer] = ["2", "", "", "generic", server, "bot", prefix, "token", "", ""]

    prompter = run(answers, env, workdir)

    assert (
        f"warning: images will be named {prefix}<name>, such as "
        f"{prefix}binder-2dexamples-2drequirements-55ab5c; end the prefix with '-' or '/'"
    ) in prompter.text
    assert load_config(workdir / CONFIG).image_prefix == prefix


# ---- cleanup policies ------------------------------------------------------------------------

REPO = "projects/my-project/locations/europe-west10/repositories/binder"
CLEANUP = "Delete old images from the repository (Artifact Registry cleanup policies)? [y/N]: "


def test_cleanup_answers_are_checked_one_by_one_then_together(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    answers: list[Answer] = [
        *ALL_DEFAULTS[:8],  # up to push credentials
        "y",
        "0",  # untagged after: out of range
        "ten",  # not a number
        "-",  # none: untagged versions are kept
        "-",  # no age limit either
        "5",  # keep 5
        "n",  # no dry run
        "",  # asked again, untagged: none now (Enter takes the refused round's empty answer)
        "36500",  # any version older than: too many days
        "45",
        "-",  # keep: none
        "",  # dry run: the last answer, no
        "",  # no hub
        "",  # go ahead
    ]

    prompter = run(answers, env, workdir)

    text = prompter.text
    section = "registry.gar.cleanup"
    assert f"✗ {section}.untagged_after_days: must be 1 to 3650 days, got 0" in text
    assert f"✗ {section}.untagged_after_days: expected a whole number, got text" in text
    assert f"✗ {section}: deletes nothing: set untagged_after_days or older_than_days" in text
    assert f"✗ {section}.older_than_days: must be 1 to 3650 days, got 36500" in text
    assert "Always keep this many recent versions of each image (-: none) [5]: -" in text
    assert "Dry run first (Artifact Registry only logs what it would delete)? [y/N]: " in text
    assert "  cleanup      delete any after 45 days\n" in text
    plan = "  • set cleanup policies on it: delete any after 45 days; other policies on it stay"
    assert plan in text
    written = yaml.safe_load((workdir / CONFIG).read_text())["registry"]["gar"]["cleanup"]
    assert written == {"older_than_days": 45, "dry_run": False}
    policies = gcp.artifact_registry.repositories[REPO].cleanup_policies
    assert list(policies) == ["bhsvc-delete-old"]
    assert policies["bhsvc-delete-old"].condition.older_than.seconds == 45 * 86_400


def test_cleanup_is_off_by_default_and_a_no_turns_it_off(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    cleanup = {"keep_recent": 4, "untagged_after_days": 2, "dry_run": True}
    gar = {**EXISTING["registry"]["gar"], "cleanup": cleanup}
    write_own_config(workdir, {**EXISTING, "registry": {**EXISTING["registry"], "gar": gar}})
    repo = "projects/lab-project/locations/us-east1/repositories/images"

    # Use its values, Enter everywhere: the file's answers are the defaults.
    first = run(["", *ALL_DEFAULTS[:8], "", "", "", "", "", "", ""], env, workdir)

    assert CLEANUP.replace("[y/N]", "[Y/n]") in first.text
    assert "Delete untagged versions older than (days) (-: keep them) [2]: " in first.text
    assert "Delete any version older than (days) (empty: no age limit): " in first.text
    assert "  • keep bhsvc.yaml: nothing in it changes" in first.text
    assert set(gcp.artifact_registry.repositories[repo].cleanup_policies) == {
        "bhsvc-keep-recent",
        "bhsvc-delete-untagged",
    }

    # Again, saying no: the section goes, and so do bhsvc's policies.
    second = run(["", *ALL_DEFAULTS[:8], "n", "", ""], env, workdir)

    assert "      registry.gar.cleanup.keep_recent: removed (was 4)" in second.text
    assert "cleanup" not in yaml.safe_load((workdir / CONFIG).read_text())["registry"]["gar"]
    assert dict(gcp.artifact_registry.repositories[repo].cleanup_policies) == {}


# ---- the hub, failures, no terminal ------------------------------------------------------------


def test_connecting_a_hub(gcp: Gcp, workdir: Path, env: dict[str, str]) -> None:
    answers: list[Answer] = ["", "binder", "", "", "", "", "", "", "", "y", "", "jhub", ""]

    run(answers, env, workdir)

    config = load_config(workdir / CONFIG)
    assert config.hub.enabled
    assert config.hub.release == "jupyterhub"
    assert config.hub_namespace == "jhub"
    assert config.hub.chart_version == "4.3.1"  # the fancy-profiles image's, derived


def test_a_hub_the_kept_settings_refuse_is_left_off(
    gcp: Gcp, workdir: Path, env: dict[str, str]
) -> None:
    binderhub = {"release": "bh", "api_only": False}  # fancy-profiles needs API-only mode
    write_own_config(workdir, {**EXISTING, "binderhub": binderhub})

    prompter = run(["", "", "", "", "", "", "", "", "", "", "y", ""], env, workdir)

    assert "✗ binderhub.api_only: must be true when JupyterHub launches images" in prompter.text
    assert not load_config(workdir / CONFIG).hub.enabled


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
