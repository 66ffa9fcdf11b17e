"""GAR provisioning with the real google-cloud clients against the local fakes."""

from __future__ import annotations

import itertools
import json
import logging
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gar_testing import RunGar, gar_config
from google.cloud.artifactregistry_v1 import Repository

from bhsvc.config import Config
from bhsvc.errors import OperationError
from bhsvc.registry import keyfile, keys
from bhsvc.registry.gar import (
    ACCOUNT_STEP,
    BINDING_STEP,
    KEY_STEP,
    REPOSITORY_STEP,
    ProvisionError,
    ProvisionReport,
    RetryPolicy,
)
from bhsvc.registry.roles import WRITER_ROLE
from fakes.gcp_common import RpcError
from fakes.gcp_services import Gcp

REPO = "projects/my-project/locations/europe-west10/repositories/binder"
EMAIL = "binderhub-pusher@my-project.iam.gserviceaccount.com"
MEMBER = f"serviceAccount:{EMAIL}"


def statuses(report: ProvisionReport) -> dict[str, str]:
    return {step.name: step.status for step in report.steps}


def key_file_json(config: Config) -> dict[str, str]:
    data: dict[str, str] = json.loads(config.key_file.read_text())
    return data


def test_first_run_creates_everything(gcp: Gcp, config: Config, run_gar: RunGar) -> None:
    report = run_gar()

    assert statuses(report) == {
        REPOSITORY_STEP: "created",
        ACCOUNT_STEP: "created",
        BINDING_STEP: "changed",
        KEY_STEP: "created",
    }
    repo = gcp.artifact_registry.repositories[REPO]
    assert repo.format_ == Repository.Format.DOCKER
    assert repo.mode == Repository.Mode.STANDARD_REPOSITORY
    assert dict(repo.labels) == {"managed-by": "bhsvc"}
    assert EMAIL in gcp.iam.accounts
    # The writer role is granted on the repository, and only the writer role.
    assert gcp.artifact_registry.members(REPO, WRITER_ROLE) == [MEMBER]
    policy = gcp.artifact_registry.policies[REPO]
    assert [b.role for b in policy.bindings] == [WRITER_ROLE]
    # The key file is the key IAM issued, private to the user, in a private directory.
    key = key_file_json(config)
    assert key["client_email"] == EMAIL
    assert gcp.iam.user_key_ids(EMAIL) == [key["private_key_id"]]
    assert key["private_key"] == gcp.iam.issued_private_keys[0]
    assert stat.S_IMODE(config.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.key_file.parent.stat().st_mode) == 0o700
    assert report.key_file == config.key_file
    # Anonymous credentials for loopback endpoints: no token reached the fakes.
    for record in gcp.artifact_registry.calls() + gcp.iam.calls():
        assert "authorization" not in record.headers
    # One call at a time, in the order the steps need each other.
    records = sorted(gcp.artifact_registry.calls() + gcp.iam.calls(), key=lambda r: r.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(records))
    assert [r.method for r in records if r.mutating] == [
        "CreateRepository",
        "CreateServiceAccount",
        "SetIamPolicy",
        "CreateServiceAccountKey",
    ]
    assert [s.name for s in report.steps] == [REPOSITORY_STEP, ACCOUNT_STEP, BINDING_STEP, KEY_STEP]
    # The lock stays (empty, private); the record of the creation is gone.
    assert stat.S_IMODE(keyfile.lock_path(config.key_file).stat().st_mode) == 0o600
    assert not keyfile.pending_path(config.key_file).exists()


def test_second_run_changes_nothing(gcp: Gcp, config: Config, run_gar: RunGar) -> None:
    run_gar()
    key_before = config.key_file.read_bytes()
    gcp.reset_log()

    report = run_gar()

    assert set(statuses(report).values()) == {"already present"}
    assert gcp.mutating() == []
    assert sorted(r.method for r in gcp.artifact_registry.calls() + gcp.iam.calls()) == [
        "GetIamPolicy",
        "GetRepository",
        "GetServiceAccount",
        "ListServiceAccountKeys",
    ]
    assert config.key_file.read_bytes() == key_before
    assert len(gcp.iam.user_key_ids(EMAIL)) == 1


def test_transient_errors_are_retried(gcp: Gcp, config: Config, run_gar: RunGar) -> None:
    ar, iam = gcp.artifact_registry, gcp.iam
    ar.fail("GetRepository", "UNAVAILABLE", times=2)
    ar.fail("CreateRepository", "UNAVAILABLE")
    ar.fail("GetOperation", "DEADLINE_EXCEEDED")
    ar.fail("GetIamPolicy", "RESOURCE_EXHAUSTED")
    ar.fail("SetIamPolicy", "UNAVAILABLE", times=2)
    iam.fail("GetServiceAccount", "UNAVAILABLE", times=3)
    iam.fail("CreateServiceAccount", "UNAVAILABLE")
    iam.fail("ListServiceAccountKeys", "DEADLINE_EXCEEDED")
    iam.fail("CreateServiceAccountKey", "UNAVAILABLE")

    report = run_gar()

    assert statuses(report)[KEY_STEP] == "created"
    assert len(ar.calls("GetRepository")) == 3
    assert len(ar.calls("SetIamPolicy")) == 3
    assert len(iam.calls("GetServiceAccount")) == 4
    assert len(iam.calls("CreateServiceAccountKey")) == 2
    assert [r.status for r in ar.calls("GetRepository")] == [
        "UNAVAILABLE",
        "UNAVAILABLE",
        "NOT_FOUND",
    ]
    assert ar.members(REPO, WRITER_ROLE) == [MEMBER]
    assert len(iam.user_key_ids(EMAIL)) == 1


def test_transient_errors_stop_at_the_deadline(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.fail("GetRepository", "UNAVAILABLE", times=1000)
    policy = RetryPolicy(deadline=1.0, initial=0.05, maximum=0.2, call_timeout=1.0)

    start = time.monotonic()
    with pytest.raises(ProvisionError) as caught:
        run_gar(policy=policy)

    message = str(caught.value)
    assert message.startswith(f"could not read the repository ({REPO}): still failing after 1 s")
    assert "(UNAVAILABLE: " in message  # the last error, then what to do
    assert message.endswith("The service is currently unavailable.); run init again later")
    assert 3 <= len(gcp.artifact_registry.calls("GetRepository")) < 40
    steps = statuses(caught.value.report)
    assert steps[REPOSITORY_STEP] == "failed"
    assert steps[BINDING_STEP] == "skipped"
    assert time.monotonic() - start < 3


def test_nothing_starts_after_the_deadline(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.set_latency(0.15)  # every request takes 0.15 s: the run cannot finish in 0.5 s
    policy = RetryPolicy(deadline=0.5, initial=0.05, maximum=0.2, call_timeout=1.0)

    start = time.monotonic()
    with pytest.raises(ProvisionError) as caught:
        run_gar(policy=policy)

    assert "deadline passed before it; run init again" in str(caught.value)
    records = gcp.artifact_registry.calls() + gcp.iam.calls()
    assert max(r.start for r in records) - start < 0.5 + 0.1
    assert time.monotonic() - start < 0.5 + 1.0  # the last call in flight, then nothing
    assert gcp.iam.calls("CreateServiceAccountKey") == []
    failed = [s for s in caught.value.report.steps if s.status == "failed"]
    assert "deadline passed" in failed[-1].detail


def test_permission_denied_names_permission_role_and_resource(gcp: Gcp, run_gar: RunGar) -> None:
    parent = "projects/my-project/locations/europe-west10"
    gcp.artifact_registry.deny("CreateRepository", "artifactregistry.repositories.create", parent)

    with pytest.raises(ProvisionError) as caught:
        run_gar()

    assert str(caught.value) == (
        "permission denied: to create the repository the account running bhsvc needs "
        f"'artifactregistry.repositories.create' on {parent}; grant it a role that includes it, "
        "such as roles/artifactregistry.admin"
    )
    assert caught.value.exit_code == 1
    assert len(gcp.artifact_registry.calls("CreateRepository")) == 1  # not retried


def test_permission_denied_over_grpc(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.iam.deny("CreateServiceAccount", "iam.serviceAccounts.create", "projects/my-project")

    with pytest.raises(ProvisionError) as caught:
        run_gar()

    message = str(caught.value)
    assert "'iam.serviceAccounts.create' on projects/my-project" in message
    assert "roles/iam.serviceAccountAdmin" in message
    assert statuses(caught.value.report)[KEY_STEP] == "skipped"


def test_disabled_api_says_how_to_enable_it(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.inject(
        "GetRepository",
        RpcError(
            "PERMISSION_DENIED",
            "Artifact Registry API has not been used in project my-project before "
            "or it is disabled.",
            reason="SERVICE_DISABLED",
            domain="googleapis.com",
            metadata={
                "service": "artifactregistry.googleapis.com",
                "consumer": "projects/my-project",
            },
        ),
    )

    with pytest.raises(
        ProvisionError,
        match=r"gcloud services enable artifactregistry.googleapis.com --project my-project",
    ):
        run_gar()


def test_concurrent_policy_change_is_retried_and_kept(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.concurrent_policy_changes(2)

    report = run_gar()

    assert statuses(report)[BINDING_STEP] == "changed"
    sets = gcp.artifact_registry.calls("SetIamPolicy")
    assert [r.status for r in sets] == ["ABORTED", "ABORTED", "OK"]
    assert len(gcp.artifact_registry.calls("GetIamPolicy")) == 3
    # Read-modify-write: the other writers' bindings survive next to ours.
    readers = gcp.artifact_registry.members(REPO, "roles/artifactregistry.reader")
    assert len(readers) == 2
    assert gcp.artifact_registry.members(REPO, WRITER_ROLE) == [MEMBER]


def test_new_account_not_yet_visible_to_the_policy_is_retried(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.inject(
        "SetIamPolicy",
        RpcError("INVALID_ARGUMENT", f"Service account {EMAIL} does not exist."),
    )

    report = run_gar()

    assert statuses(report)[BINDING_STEP] == "changed"
    assert [r.status for r in gcp.artifact_registry.calls("SetIamPolicy")] == [
        "INVALID_ARGUMENT",
        "OK",
    ]


def test_repository_of_another_format_is_an_error(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.add_repository(REPO, "MAVEN")

    with pytest.raises(ProvisionError) as caught:
        run_gar()

    assert str(caught.value) == (
        f"repository {REPO} exists with format MAVEN, not DOCKER: "
        "choose another registry.gar.repository"
    )
    assert gcp.artifact_registry.calls("CreateRepository") == []
    assert statuses(caught.value.report)[BINDING_STEP] == "skipped"


def test_existing_repository_made_elsewhere_is_used_as_is(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.add_repository(REPO, "DOCKER", labels={"team": "data"})

    report = run_gar()

    repository = next(s for s in report.steps if s.name == REPOSITORY_STEP)
    assert repository.status == "already present"
    assert "not created by bhsvc" in repository.detail
    assert dict(gcp.artifact_registry.repositories[REPO].labels) == {"team": "data"}
    assert gcp.artifact_registry.calls("CreateRepository") == []


def test_existing_account_and_race_on_create(gcp: Gcp, run_gar: RunGar) -> None:
    # The account appears between our read and our create (another run, a colleague).
    gcp.iam.add_account("my-project", "binderhub-pusher")
    gcp.iam.fail("GetServiceAccount", "NOT_FOUND")

    report = run_gar()

    assert statuses(report)[ACCOUNT_STEP] == "already present"
    assert [r.status for r in gcp.iam.calls("CreateServiceAccount")] == ["ALREADY_EXISTS"]


def test_rotate_key_replaces_and_deletes_the_old_key(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    run_gar()
    old_id = key_file_json(config)["private_key_id"]

    report = run_gar(rotate_key=True)

    new_id = key_file_json(config)["private_key_id"]
    assert new_id != old_id
    assert gcp.iam.user_key_ids(EMAIL) == [new_id]
    step = next(s for s in report.steps if s.name == KEY_STEP)
    assert step.status == "changed"
    assert f"old key {old_id[:12]} deleted" in step.detail
    assert stat.S_IMODE(config.key_file.stat().st_mode) == 0o600
    # Written first, deleted after: the delete is the last IAM call.
    assert gcp.iam.calls()[-1].method == "DeleteServiceAccountKey"


def test_key_deleted_on_the_account_is_replaced(gcp: Gcp, config: Config, run_gar: RunGar) -> None:
    run_gar()
    old_id = key_file_json(config)["private_key_id"]
    gcp.iam.keys[EMAIL] = [k for k in gcp.iam.keys[EMAIL] if not k.name.endswith(old_id)]

    report = run_gar()

    assert statuses(report)[KEY_STEP] == "created"
    assert key_file_json(config)["private_key_id"] != old_id
    assert any("no longer exists" in w for w in report.warnings)


def test_a_lost_create_answer_makes_no_second_key_and_deletes_the_first(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    gcp.iam.lose_answer("CreateServiceAccountKey")  # made in Google, answer timed out

    with pytest.raises(OperationError) as err:
        run_gar()

    assert len(gcp.iam.calls("CreateServiceAccountKey")) == 1, "never retried"
    [made] = [r.resource for r in gcp.iam.calls("DeleteServiceAccountKey")]
    made_id = made.rsplit("/", 1)[-1]
    assert str(err.value).endswith(f"; Google made key {made_id} all the same, deleted by bhsvc")
    assert gcp.iam.user_key_ids(EMAIL) == []
    assert not config.key_file.exists()
    assert not keyfile.pending_path(config.key_file).exists()
    # The next run makes one key, and has nothing to say about others.
    report = run_gar()
    assert report.warnings == []
    assert gcp.iam.user_key_ids(EMAIL) == [key_file_json(config)["private_key_id"]]


def test_a_key_made_anyway_that_cannot_be_deleted_is_named(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    gcp.iam.lose_answer("CreateServiceAccountKey")
    gcp.iam.deny("DeleteServiceAccountKey", "iam.serviceAccountKeys.delete", EMAIL)

    with pytest.raises(OperationError) as err:
        run_gar()

    [made] = gcp.iam.user_key_ids(EMAIL)
    assert str(err.value).endswith(
        f"; Google made key {made} all the same, delete it with "
        f"gcloud iam service-accounts keys delete {made} --iam-account {EMAIL}"
    )
    assert not keyfile.pending_path(config.key_file).exists()  # named: settled


def _stopped_run_left(config: Config, email: str, keys_before: list[str]) -> None:
    """The record a run stopped during key creation leaves (written the way bhsvc does)."""
    now = datetime.now(timezone.utc)
    pending = keys.PendingKey(email, now, now + timedelta(seconds=120), tuple(keys_before))
    keyfile.write_pending(config.key_file, pending)


def test_a_record_left_by_a_stopped_run_is_settled_by_the_next(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    run_gar()
    [held] = gcp.iam.user_key_ids(EMAIL)
    _stopped_run_left(config, EMAIL, [held])
    gcp.iam.add_user_keys(EMAIL, 1)  # what the stopped run's create made
    [orphan] = [k for k in gcp.iam.user_key_ids(EMAIL) if k != held]

    report = run_gar()

    assert statuses(report)[KEY_STEP] == "already present"
    assert gcp.iam.user_key_ids(EMAIL) == [held]
    assert report.warnings == [
        f"key {orphan} of {EMAIL} was made by an init stopped before writing it to "
        f"{config.key_file}: deleted by bhsvc"
    ]
    assert not keyfile.pending_path(config.key_file).exists()
    gcp.reset_log()
    assert run_gar().warnings == []
    assert gcp.mutating() == []


def test_a_stopped_runs_key_that_cannot_be_deleted_is_named_once(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    gcp.iam.add_account("my-project", "binderhub-pusher")
    _stopped_run_left(config, EMAIL, [])
    gcp.iam.add_user_keys(EMAIL, 1)
    [orphan] = gcp.iam.user_key_ids(EMAIL)
    gcp.iam.deny("DeleteServiceAccountKey", "iam.serviceAccountKeys.delete", EMAIL)

    report = run_gar()

    assert (
        f"key {orphan} of {EMAIL} was made by an init stopped before writing it to "
        f"{config.key_file}: delete it with gcloud iam service-accounts keys delete {orphan} "
        f"--iam-account {EMAIL}"
    ) in report.warnings
    assert orphan in gcp.iam.user_key_ids(EMAIL)
    assert statuses(report)[KEY_STEP] == "created"  # a key in the file, besides
    assert not keyfile.pending_path(config.key_file).exists()


def test_a_record_of_another_account_settles_that_account(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    other = gcp.iam.add_account("my-project", "old-pusher")
    _stopped_run_left(config, other, [])
    gcp.iam.add_user_keys(other, 1)
    [orphan] = gcp.iam.user_key_ids(other)

    report = run_gar()

    assert gcp.iam.user_key_ids(other) == []
    assert f"key {orphan} of {other} was made by an init stopped" in report.warnings[0]
    [deleted] = gcp.iam.calls("DeleteServiceAccountKey")
    assert deleted.resource == f"projects/-/serviceAccounts/{other}/keys/{orphan}"


def test_a_failed_delete_after_rotation_says_how_to_finish(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    run_gar()
    old_id = key_file_json(config)["private_key_id"]
    gcp.iam.deny("DeleteServiceAccountKey", "iam.serviceAccountKeys.delete", EMAIL)

    with pytest.raises(OperationError) as err:
        run_gar(rotate_key=True)

    new_id = key_file_json(config)["private_key_id"]
    assert new_id != old_id, "the new key is written before the old one is deleted"
    assert f"the old key {old_id} still works" in str(err.value)
    assert f"keys delete {old_id} --iam-account {EMAIL}" in str(err.value)


def test_a_reused_key_file_readable_by_others_is_made_private(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    run_gar()
    config.key_file.chmod(0o644)  # as a copy or an unpacked backup may leave it

    report = run_gar()

    assert statuses(report)[KEY_STEP] == "already present"
    assert stat.S_IMODE(config.key_file.stat().st_mode) == 0o600
    assert any("was readable by others (mode 0644)" in w for w in report.warnings)


def test_a_new_account_unknown_to_iam_for_a_while_is_waited_for(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    gcp.iam.fail("ListServiceAccountKeys", "NOT_FOUND", times=2)  # not visible yet

    report = run_gar()

    assert statuses(report)[KEY_STEP] == "created"
    assert len(gcp.iam.calls("ListServiceAccountKeys")) == 3


def test_an_existing_account_that_iam_does_not_know_is_an_error(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.iam.add_account("my-project", "binderhub-pusher")
    gcp.iam.fail("ListServiceAccountKeys", "NOT_FOUND")

    with pytest.raises(OperationError, match="list the service account's keys"):
        run_gar()
    assert len(gcp.iam.calls("ListServiceAccountKeys")) == 1


def test_warns_near_the_key_limit(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.iam.add_account("my-project", "binderhub-pusher")
    gcp.iam.add_user_keys(EMAIL, 7)

    report = run_gar()

    assert statuses(report)[KEY_STEP] == "created"
    assert any("has 8 of 10 user-managed keys" in w for w in report.warnings)


def test_full_key_quota_is_an_error_before_creating(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.iam.add_account("my-project", "binderhub-pusher")
    gcp.iam.add_user_keys(EMAIL, 10)

    with pytest.raises(
        ProvisionError, match=r"already has 10 user-managed keys, the maximum is 10"
    ):
        run_gar()

    assert gcp.iam.calls("CreateServiceAccountKey") == []


def test_a_record_of_an_account_that_is_gone_is_dropped(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    _stopped_run_left(config, "deleted-pusher@my-project.iam.gserviceaccount.com", [])

    report = run_gar()  # creates the pusher account: IAM may not know it yet, this one is gone

    assert statuses(report)[KEY_STEP] == "created"
    listed = [r.status for r in gcp.iam.calls("ListServiceAccountKeys")]
    assert listed.count("NOT_FOUND") == 1  # asked once, not again and again
    assert not keyfile.pending_path(config.key_file).exists()


def test_key_creation_forbidden_by_org_policy(gcp: Gcp, config: Config, run_gar: RunGar) -> None:
    gcp.iam.key_creation_disabled = True

    with pytest.raises(ProvisionError) as caught:
        run_gar()

    account = f"projects/my-project/serviceAccounts/{EMAIL}"
    assert str(caught.value) == (
        f"could not create a key for the service account ({account}): the organization "
        "policy constraint constraints/iam.disableServiceAccountKeyCreation forbids "
        "service-account keys. On GKE with Workload Identity Federation, push without a key: "
        "set registry.gar.auth: workload-identity in bhsvc.yaml and run bhsvc init again "
        "(https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity); or ask for "
        "an exception for this project (https://cloud.google.com/resource-manager/docs/"
        "organization-policy/restricting-service-accounts#disable_service_account_key_creation)"
    )
    assert len(gcp.iam.calls("CreateServiceAccountKey")) == 1
    assert gcp.iam.calls("DeleteServiceAccountKey") == []
    assert not config.key_file.exists()
    assert not keyfile.pending_path(config.key_file).exists()


def test_other_failed_preconditions_are_not_blamed_on_the_org_policy(
    gcp: Gcp, run_gar: RunGar
) -> None:
    gcp.iam.fail(
        "CreateServiceAccountKey", "FAILED_PRECONDITION", message="Precondition check failed."
    )

    with pytest.raises(ProvisionError) as caught:
        run_gar()

    assert str(caught.value).endswith("FAILED_PRECONDITION: Precondition check failed.")
    assert "organization policy" not in str(caught.value)


@pytest.mark.parametrize("deletable", [True, False])
def test_an_answer_naming_another_key_id_is_not_written_and_its_key_deleted(
    gcp: Gcp, config: Config, run_gar: RunGar, deletable: bool
) -> None:
    gcp.iam.answer_with_another_key_id()
    if not deletable:
        gcp.iam.deny("DeleteServiceAccountKey", "iam.serviceAccountKeys.delete", EMAIL)

    with pytest.raises(ProvisionError) as caught:
        run_gar()

    [create] = gcp.iam.calls("CreateServiceAccountKey")
    made = gcp.iam.calls("DeleteServiceAccountKey")[0].resource.rsplit("/", 1)[-1]
    fate = (
        "deleted by bhsvc"
        if deletable
        else f"delete it with gcloud iam service-accounts keys delete {made} --iam-account {EMAIL}"
    )
    assert str(caught.value) == (
        f"the key returned for {made[:12]} names another key id; not writing it; "
        f"key {made} was made all the same, {fate}; run init again"
    )
    assert gcp.iam.user_key_ids(EMAIL) == ([] if deletable else [made])
    assert not config.key_file.exists()
    assert not keyfile.pending_path(config.key_file).exists()
    del create


def test_a_run_waits_for_another_on_the_same_key_file_then_gives_up(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    notes: list[str] = []
    policy = RetryPolicy(deadline=1.5, initial=0.01, maximum=0.05, call_timeout=1.0)
    config.key_file.parent.mkdir()
    with (
        keyfile.locked(config.key_file, 1.0, notes.append),  # another run holds it
        pytest.raises(ProvisionError) as caught,
    ):
        run_gar(policy=policy, on_note=notes.append)

    assert len(notes) == 1 and notes[0].startswith(
        f"waiting for another bhsvc init to finish with {config.key_file} (up to "
    )
    assert str(caught.value).startswith(
        f"another bhsvc init still holds {config.key_file}.lock after "
    )
    assert caught.value.exit_code == 1
    assert statuses(caught.value.report)[KEY_STEP] == "failed"
    assert gcp.iam.calls("ListServiceAccountKeys") == []
    assert gcp.iam.calls("CreateServiceAccountKey") == []


def test_key_folder_that_cannot_be_made_fails_before_the_key_exists(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    (tmp_path / "notes.txt").write_text("notes")
    config = gar_config(tmp_path, key_file="notes.txt/key.json")

    with pytest.raises(ProvisionError, match=r"notes\.txt/key\.json: cannot create its folder"):
        run_gar(config)

    assert gcp.iam.calls("CreateServiceAccountKey") == []
    assert gcp.iam.user_key_ids(EMAIL) == []


def test_custom_account_and_key_file(gcp: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    config = gar_config(tmp_path, service_account="bh-push", key_file="secrets/push.json")

    run_gar(config)

    assert "bh-push@my-project.iam.gserviceaccount.com" in gcp.iam.accounts
    assert (tmp_path / "secrets" / "push.json").exists()


def test_key_never_reaches_logs_even_at_debug(
    gcp: Gcp, run_gar: RunGar, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)

    run_gar()
    run_gar(rotate_key=True)

    captured = capfd.readouterr()
    assert len(gcp.iam.issued_private_keys) == 2
    for secret in gcp.iam.issued_private_keys:
        body = secret.splitlines()[1]
        assert body not in caplog.text
        assert body not in captured.out + captured.err
    assert caplog.records, "debug logging was on: the test must see the client's records"


def test_operation_error_fails_the_step(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.fail(
        "CreateRepository", "INVALID_ARGUMENT", message="Location is not supported."
    )

    with pytest.raises(
        OperationError, match=r"could not create the repository .*Location is not supported"
    ):
        run_gar()


def test_a_slow_repository_operation_is_polled_until_done(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.operation_seconds = 0.3

    report = run_gar()

    assert statuses(report)[REPOSITORY_STEP] == "created"
    polls = gcp.artifact_registry.calls("GetOperation")
    assert len(polls) >= 2
    assert polls[-1].end - polls[0].start >= 0.25  # it waited, and stopped once done
    assert REPO in gcp.artifact_registry.repositories


def test_a_repository_operation_still_running_at_the_deadline(gcp: Gcp, run_gar: RunGar) -> None:
    gcp.artifact_registry.operation_seconds = 60
    policy = RetryPolicy(deadline=1.0, initial=0.05, maximum=0.2, call_timeout=1.0)

    start = time.monotonic()
    with pytest.raises(ProvisionError) as caught:
        run_gar(policy=policy)

    message = str(caught.value)
    assert message.startswith("could not create the repository (waiting for its operation) (")
    assert message.endswith("(the operation is still running); run init again later")
    assert time.monotonic() - start < 3


def test_a_key_creation_that_times_out_is_never_sent_again(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    answer = gcp.iam.hold_answer("CreateServiceAccountKey")  # made in IAM, answer too slow
    policy = RetryPolicy(deadline=20.0, initial=0.01, maximum=0.05, call_timeout=0.5)
    try:
        with pytest.raises(ProvisionError) as caught:
            run_gar(policy=policy)
    finally:
        answer.set()

    assert len(gcp.iam.calls("CreateServiceAccountKey")) == 1
    message = str(caught.value)
    assert message.startswith("could not create a key for the service account (")
    assert "DEADLINE_EXCEEDED" in message
    assert message.endswith("all the same, deleted by bhsvc")
    assert gcp.iam.user_key_ids(EMAIL) == []
    assert not config.key_file.exists()
