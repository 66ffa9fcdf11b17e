"""`bhsvc init --non-interactive` through the CLI, against the local Google Cloud fakes."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from init_testing import EMAIL, GAR_CONFIG, KEY_FILE, secret_fragments, write_config

from clirun import RunCli
from fakes.gcp_services import Gcp

INIT = ("init", "--non-interactive", "--config", "bhsvc.yaml")


def test_first_run_text_then_second_run_json(
    gcp: Gcp, workdir: Path, run_cli: RunCli, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    write_config(workdir)

    first = run_cli(*INIT)

    assert first.code == 0, first.err
    for line in (
        "✓ Artifact Registry repository: created",
        "✓ pusher service account: created",
        "✓ writer role on the repository: changed",
        "✓ pusher key: created",
        "✓ push credentials: readable",
    ):
        assert line in first.err
    assert "image prefix      europe-west10-docker.pkg.dev/my-project/binder/binder-" in first.out
    assert "registry server   https://europe-west10-docker.pkg.dev" in first.out
    assert "Next: bhsvc deploy --config bhsvc.yaml" in first.out
    assert stat.S_IMODE((workdir / KEY_FILE).stat().st_mode) == 0o600
    gcp.reset_log()

    second = run_cli(*INIT, "--output", "json")

    assert second.code == 0, second.err
    document = json.loads(second.out)
    assert document["ok"] is True
    assert [(s["name"], s["status"]) for s in document["steps"]] == [
        ("Artifact Registry repository", "already present"),
        ("pusher service account", "already present"),
        ("writer role on the repository", "already present"),
        ("pusher key", "already present"),
        ("push credentials", "readable"),
    ]
    assert document["registry"] == {
        "provider": "gar",
        "server": "https://europe-west10-docker.pkg.dev",
        "image_prefix": "europe-west10-docker.pkg.dev/my-project/binder/binder-",
        "username": "_json_key",
        "key_file": str(KEY_FILE),
        "auth": "key",
        "pusher": EMAIL,
        "pull_key_file": None,
        "workload_identity": None,
        "node_service_account": None,
    }
    assert document["next"] == "bhsvc deploy --config bhsvc.yaml"
    assert second.err == ""  # JSON mode: no progress lines
    assert gcp.mutating() == []
    assert len(gcp.iam.user_key_ids(EMAIL)) == 1
    # The key is in its file and nowhere else: not in any output, not in any log record.
    assert gcp.iam.issued_private_keys
    for fragment in secret_fragments(gcp.iam.issued_private_keys):
        for text in (first.out, first.err, second.out, second.err, caplog.text):
            assert fragment not in text


def test_injected_503s_are_retried(gcp: Gcp, workdir: Path, run_cli: RunCli) -> None:
    write_config(workdir)
    gcp.artifact_registry.fail("CreateRepository", "UNAVAILABLE")
    gcp.iam.fail("CreateServiceAccountKey", "UNAVAILABLE")

    result = run_cli(*INIT, "--output", "json")

    assert result.code == 0, result.err
    assert [r.status for r in gcp.artifact_registry.calls("CreateRepository")] == [
        "UNAVAILABLE",
        "OK",
    ]
    assert [r.status for r in gcp.iam.calls("CreateServiceAccountKey")] == ["UNAVAILABLE", "OK"]


def test_permission_denied_exits_1_with_one_clear_line(
    gcp: Gcp, workdir: Path, run_cli: RunCli
) -> None:
    write_config(workdir)
    account = f"projects/my-project/serviceAccounts/{EMAIL}"
    gcp.iam.deny("GetServiceAccount", "iam.serviceAccounts.get", account)

    result = run_cli(*INIT)

    assert result.code == 1
    error_lines = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert error_lines == [
        "error: permission denied: to read the service account the account running bhsvc needs "
        f"'iam.serviceAccounts.get' on {account}; grant it a role that includes it, such as "
        "roles/iam.serviceAccountViewer"
    ]
    assert "Traceback" not in result.err
    assert "✗ pusher service account: failed" in result.err
    assert "- pusher key: skipped" in result.err


def test_permission_denied_in_json_mode(gcp: Gcp, workdir: Path, run_cli: RunCli) -> None:
    write_config(workdir)
    gcp.artifact_registry.deny(
        "GetRepository",
        "artifactregistry.repositories.get",
        "projects/my-project/locations/europe-west10/repositories/binder",
    )

    result = run_cli(*INIT, "--output", "json")

    assert result.code == 1
    document = json.loads(result.out)
    assert document["ok"] is False
    assert document["exit_code"] == 1
    assert document["config"] == "bhsvc.yaml"
    assert "artifactregistry.repositories.get" in document["error"]
    statuses = {s["name"]: s["status"] for s in document["steps"]}
    assert statuses["Artifact Registry repository"] == "failed"
    assert statuses["writer role on the repository"] == "skipped"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {
                **GAR_CONFIG,
                "registry": {"provider": "gar", "gar": {"project": "X", "region": "europe-west10"}},
            },
            "registry.gar.project",
        ),
        ({**GAR_CONFIG, "extra": 1}, "extra: unknown key"),
        ("kube: [unclosed\n", "not valid YAML"),
        ({**GAR_CONFIG, "registry": {"provider": "gar"}}, "needs a 'gar' section"),
        (
            "version: 1\nkube: {namespace: binder}\nregistry:\n  gar:\n    project: my-project\n"
            "    region: europe-west10\n    cleanup: {older_than_days: 0}\n",
            "registry.gar.cleanup.older_than_days: must be 1 to 3650 days, got 0",
        ),
    ],
)
def test_bad_config_exits_2_before_any_api_call(
    gcp: Gcp, workdir: Path, run_cli: RunCli, content: dict[str, object] | str, message: str
) -> None:
    write_config(workdir, content)

    result = run_cli(*INIT)

    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err
    assert gcp.requests() == 0
    assert not (workdir / ".bhsvc").exists()


def test_bad_input_in_json_mode_is_the_common_failure_document(
    gcp: Gcp, workdir: Path, run_cli: RunCli
) -> None:
    write_config(workdir, {**GAR_CONFIG, "extra": 1})

    result = run_cli(*INIT, "--output", "json")

    assert result.code == 2
    document = json.loads(result.out)
    assert document == {
        "ok": False,
        "error": document["error"],
        "exit_code": 2,
        "config": "bhsvc.yaml",
    }
    assert "extra: unknown key" in document["error"]
    assert gcp.requests() == 0


@pytest.mark.parametrize(
    ("key_file", "folder", "file", "problem"),
    [
        (None, str(KEY_FILE), None, "is a directory, not a file"),  # the default place
        (None, None, ".bhsvc", ".bhsvc is not a directory"),
        ("keys", "keys", None, "keys is a directory, not a file"),
        ("notes.txt/key.json", None, "notes.txt", "notes.txt is not a directory"),
    ],
)
def test_unwritable_key_file_exits_2_before_any_api_call(
    gcp: Gcp,
    workdir: Path,
    run_cli: RunCli,
    key_file: str | None,
    folder: str | None,
    file: str | None,
    problem: str,
) -> None:
    gar = {**GAR_CONFIG["registry"]["gar"], **({"key_file": key_file} if key_file else {})}
    write_config(workdir, {**GAR_CONFIG, "registry": {"provider": "gar", "gar": gar}})
    if folder:
        (workdir / folder).mkdir(parents=True)
    if file:
        (workdir / file).write_text("not a folder")
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))

    result = run_cli(*INIT, "--output", "json")

    assert result.code == 2
    error_lines = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith("error: registry.gar.key_file: ")
    assert problem in error_lines[0]
    assert result.json()["exit_code"] == 2
    assert "Traceback" not in result.err
    assert gcp.requests() == 0
    assert gcp.iam.user_key_ids(EMAIL) == []
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        ("a directory", "not a file"),
        ("SECRET-TEXT", "not a service-account or authorized-user credentials file (not JSON)"),
        ('{"auths": {"SECRET": {}}}', "not a service-account or authorized-user credentials file"),
        (
            '{"type": "service_account", "private_key": "SECRET"}',
            "an incomplete or invalid credentials file",
        ),
    ],
)
def test_bad_google_application_credentials_exits_2_before_any_api_call(
    gcp: Gcp,
    workdir: Path,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    problem: str,
) -> None:
    write_config(workdir)
    credentials = workdir / "credentials.json"
    if content == "a directory":
        credentials.mkdir()
    elif content is not None:
        credentials.write_text(content)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    # Google's own Artifact Registry endpoint: the credentials are needed (IAM stays the fake).
    monkeypatch.delenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT")

    result = run_cli(*INIT)

    assert result.code == 2
    assert result.err.strip() == f"error: GOOGLE_APPLICATION_CREDENTIALS={credentials}: {problem}"
    assert "SECRET" not in result.out + result.err
    assert gcp.requests() == 0
    assert not (workdir / ".bhsvc").exists()


def test_missing_config_file_exits_2(gcp: Gcp, workdir: Path, run_cli: RunCli) -> None:
    result = run_cli("init", "--non-interactive", "--config", "nope.yaml")

    assert result.code == 2
    assert "nope.yaml: config file not found" in result.err
    assert gcp.requests() == 0


def test_plain_text_endpoint_to_a_remote_host_is_refused(
    gcp: Gcp, workdir: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(workdir)
    monkeypatch.setenv("BHSVC_IAM_ENDPOINT", "http://iam.example.org:80")

    result = run_cli(*INIT)

    assert result.code == 2
    assert "only allowed to a loopback host" in result.err
    assert gcp.requests() == 0


def test_other_providers_check_credentials(workdir: Path, run_cli: RunCli) -> None:
    (workdir / ".bhsvc").mkdir()
    (workdir / ".bhsvc" / "token").write_text("dckr_pat_SECRET-TOKEN\n")
    write_config(
        workdir,
        {
            "kube": {"namespace": "binder"},
            "registry": {
                "provider": "dockerhub",
                "username": "MyDockerId",
                "password_file": ".bhsvc/token",
            },
        },
    )

    result = run_cli(*INIT, "--output", "json")

    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["registry"] == {
        "provider": "dockerhub",
        "server": "https://index.docker.io/v1/",
        "image_prefix": "docker.io/mydockerid/binder-",
        "username": "MyDockerId",
        "key_file": None,
    }
    assert [s["status"] for s in document["steps"]] == ["readable"]
    assert "SECRET-TOKEN" not in result.out + result.err


def test_other_providers_missing_password_exits_2(workdir: Path, run_cli: RunCli) -> None:
    write_config(
        workdir,
        {
            "kube": {"namespace": "binder"},
            "registry": {
                "provider": "generic",
                "server": "registry.example.org",
                "username": "bot",
                "image_prefix": "registry.example.org/binder/",
            },
        },
    )

    result = run_cli(*INIT)

    assert result.code == 2
    assert "BHSVC_REGISTRY_PASSWORD" in result.err

    rotate = run_cli(*INIT, "--rotate-key")
    assert rotate.code == 2
    assert "--rotate-key only applies to registry.provider 'gar'" in rotate.err


def _subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BHSVC_", "GOOGLE_", "CLOUDSDK_"))
    }
    return {**env, "COLUMNS": "200", **extra}


def test_as_a_subprocess_first_and_second_run(gcp: Gcp, workdir: Path) -> None:
    write_config(workdir)
    command = [sys.executable, "-m", "bhsvc", *INIT, "--output", "json"]
    env = _subprocess_env(gcp.env)

    first = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    mutating_first = sorted(gcp.mutating())
    gcp.reset_log()
    second = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert mutating_first == [
        "CreateRepository",
        "CreateServiceAccount",
        "CreateServiceAccountKey",
        "SetIamPolicy",
    ]
    assert gcp.mutating() == []
    assert {s["status"] for s in json.loads(second.stdout)["steps"]} == {
        "already present",
        "readable",
    }
    for fragment in secret_fragments(gcp.iam.issued_private_keys):
        assert fragment not in first.stdout + first.stderr + second.stdout + second.stderr


def test_missing_application_default_credentials(workdir: Path) -> None:
    write_config(workdir)
    env = _subprocess_env(
        {
            "HOME": str(workdir),
            "CLOUDSDK_CONFIG": str(workdir / "gcloud"),
            # Keep google-auth's metadata-server probe on loopback (nothing listens on port 9).
            "NO_GCE_CHECK": "true",
            "GCE_METADATA_HOST": "127.0.0.1:9",
            "GCE_METADATA_IP": "127.0.0.1:9",
        }
    )

    result = subprocess.run(
        [sys.executable, "-m", "bhsvc", *INIT],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert "gcloud auth application-default login" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / ".bhsvc").exists()


@pytest.mark.parametrize(
    "scope",
    [
        "google.cloud.iam_admin_v1.services.iam.transports.grpc",
        "google.cloud.iam_admin_v1",
        "google",
    ],
)
def test_the_sdks_logging_switch_never_logs_the_key(gcp: Gcp, workdir: Path, scope: str) -> None:
    """GOOGLE_SDK_PYTHON_LOGGING_SCOPE makes the generated clients log whole responses,
    and the key is in one of them."""
    write_config(workdir)
    env = _subprocess_env({**gcp.env, "GOOGLE_SDK_PYTHON_LOGGING_SCOPE": scope})
    done = subprocess.run(
        [sys.executable, "-m", "bhsvc", *INIT], cwd=workdir, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(gcp.iam.issued_private_keys) == 1
    assert "privateKeyData" not in done.stdout + done.stderr
    for fragment in secret_fragments(gcp.iam.issued_private_keys):
        assert fragment not in done.stdout + done.stderr


@pytest.mark.parametrize("pointed_at", ["ci-admin-key.json", "bhsvc.yaml"])
def test_a_key_file_that_is_not_the_pushers_key_is_never_overwritten(
    gcp: Gcp, workdir: Path, run_cli: RunCli, pointed_at: str
) -> None:
    other = {"type": "service_account", "private_key_id": "ci1", "private_key": "CI-SECRET",
             "client_email": "ci@other-project.iam.gserviceaccount.com"}  # fmt: skip
    (workdir / "ci-admin-key.json").write_text(json.dumps(other))
    config = {**GAR_CONFIG, "registry": {**GAR_CONFIG["registry"]}}
    config["registry"]["gar"] = {**config["registry"]["gar"], "key_file": pointed_at}
    write_config(workdir, config)
    before = (workdir / pointed_at).read_text()

    result = run_cli(*INIT)

    assert result.code == 2
    assert f"registry.gar.key_file: {pointed_at} " in result.err
    assert "bhsvc does not overwrite it" in result.err
    assert "CI-SECRET" not in result.both
    assert gcp.requests() == 0
    assert (workdir / pointed_at).read_text() == before


# ---- keys nobody mentions: parallel runs, runs stopped during key creation ---------------


def _start(workdir: Path, gcp: Gcp, name: str, *extra: str) -> subprocess.Popen[bytes]:
    """`bhsvc init --non-interactive` in the background; its output goes to NAME.out/.err."""
    return subprocess.Popen(
        [sys.executable, "-m", "bhsvc", *INIT, *extra],
        cwd=workdir,
        env=_subprocess_env(gcp.env),
        stdout=(workdir / f"{name}.out").open("wb"),
        stderr=(workdir / f"{name}.err").open("wb"),
    )


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _key_file_id(workdir: Path) -> str:
    key_id: str = json.loads((workdir / KEY_FILE).read_text())["private_key_id"]
    return key_id


RUNS = ("first", "second")


def test_parallel_runs_on_one_key_file_make_one_key(gcp: Gcp, workdir: Path) -> None:
    write_config(workdir)
    answer = gcp.iam.hold_answer("CreateServiceAccountKey")  # the first run's create is slow

    first = _start(workdir, gcp, "first", "--output", "json")
    try:
        _wait_until(lambda: bool(gcp.iam.calls("CreateServiceAccountKey")), "a key is asked for")
        second = _start(workdir, gcp, "second", "--output", "json")
        try:
            _wait_until(
                lambda: b"waiting for another" in (workdir / "second.err").read_bytes(),
                "the second run says it waits",
            )
        finally:
            answer.set()
            assert second.wait(timeout=120) == 0, (workdir / "second.err").read_text()
    finally:
        answer.set()
        assert first.wait(timeout=120) == 0, (workdir / "first.err").read_text()

    assert len(gcp.iam.calls("CreateServiceAccountKey")) == 1
    assert gcp.iam.user_key_ids(EMAIL) == [_key_file_id(workdir)]
    documents = {name: json.loads((workdir / f"{name}.out").read_text()) for name in RUNS}
    steps = {name: {s["name"]: s["status"] for s in documents[name]["steps"]} for name in RUNS}
    assert steps["first"]["pusher key"] == "created"
    assert steps["second"]["pusher key"] == "already present"
    wait_line = (workdir / "second.err").read_text().strip()
    assert wait_line == (
        f"waiting for another bhsvc init to finish with {KEY_FILE} (up to "
        + wait_line.split("(up to ")[1]
    )
    assert wait_line.endswith(" s)")
    for name in RUNS:
        output = (workdir / f"{name}.out").read_text() + (workdir / f"{name}.err").read_text()
        for fragment in secret_fragments(gcp.iam.issued_private_keys):
            assert fragment not in output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_run_stopped_during_key_creation_leaves_no_key_unmentioned(
    gcp: Gcp, workdir: Path, run_cli: RunCli, stop: signal.Signals
) -> None:
    write_config(workdir)
    answer = gcp.iam.hold_answer("CreateServiceAccountKey")  # made in IAM, answer slow

    stopped = _start(workdir, gcp, "stopped")
    try:
        _wait_until(lambda: bool(gcp.iam.calls("CreateServiceAccountKey")), "a key is asked for")
        stopped.send_signal(stop)
        code = stopped.wait(timeout=20)  # at once, not when the answer comes
    finally:
        answer.set()
        stopped.wait(timeout=120)
    assert code == (130 if stop == signal.SIGINT else -signal.SIGKILL)
    [orphan] = gcp.iam.user_key_ids(EMAIL)
    assert not (workdir / KEY_FILE).exists()
    pending = workdir / f"{KEY_FILE}.pending"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    record = json.loads(pending.read_text())
    assert record["account"] == EMAIL and record["keys_before"] == []
    if stop == signal.SIGINT:
        assert (workdir / "stopped.err").read_text().rstrip().endswith("interrupted")

    result = run_cli(*INIT)

    assert result.code == 0, result.err
    assert (
        f"warning: key {orphan} of {EMAIL} was made by an init stopped before writing it to "
        f"{KEY_FILE}: deleted by bhsvc"
    ) in result.err
    assert gcp.iam.user_key_ids(EMAIL) == [_key_file_id(workdir)]
    assert not pending.exists()


def test_a_rotation_stopped_before_deleting_the_old_key_is_finished_by_the_next_run(
    gcp: Gcp, workdir: Path, run_cli: RunCli
) -> None:
    write_config(workdir)
    assert run_cli(*INIT).code == 0
    old = _key_file_id(workdir)
    call = gcp.iam.hold_call("DeleteServiceAccountKey")  # IAM has not got to it yet

    stopped = _start(workdir, gcp, "stopped", "--rotate-key")
    try:
        _wait_until(lambda: bool(gcp.iam.calls("DeleteServiceAccountKey")), "the delete is sent")
        stopped.kill()
        stopped.wait(timeout=20)
        new = _key_file_id(workdir)
        assert new != old
        assert sorted(gcp.iam.user_key_ids(EMAIL)) == sorted([old, new])

        result = run_cli(*INIT)
    finally:
        call.set()  # the stopped run's request, never carried out: too late now

    assert result.code == 0, result.err
    assert f"warning: key {old} of {EMAIL} was replaced in {KEY_FILE} by an init stopped" in (
        result.err
    )
    assert gcp.iam.user_key_ids(EMAIL) == [new]
    assert _key_file_id(workdir) == new


def test_org_policy_forbidding_keys_is_one_line_exit_1(
    gcp: Gcp, workdir: Path, run_cli: RunCli
) -> None:
    write_config(workdir)
    gcp.iam.key_creation_disabled = True

    result = run_cli(*INIT)

    assert result.code == 1
    [error] = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert "constraints/iam.disableServiceAccountKeyCreation forbids service-account keys" in error
    assert "set registry.gar.auth: workload-identity in bhsvc.yaml" in error
    assert "Traceback" not in result.err
    assert not (workdir / KEY_FILE).exists()
    assert not (workdir / f"{KEY_FILE}.pending").exists()
