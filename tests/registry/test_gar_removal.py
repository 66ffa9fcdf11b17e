"""Removing what init provisioned, with the real google-cloud clients against the
local fakes: only what bhsvc made, the plan first, a re-run that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from gar_testing import QUICK, RunGar, gar_config
from google.cloud.artifactregistry_v1 import CleanupPolicy, CleanupPolicyCondition

from bhsvc import lifecycle
from bhsvc.config import Config, parse_config
from bhsvc.errors import UsageError
from bhsvc.lifecycle import Cluster, Removal
from bhsvc.registry import keyfile, keys
from bhsvc.registry.gar import CLEANUP_STEP, GarTarget
from bhsvc.registry.gcp_clients import GcpClients, make_clients
from bhsvc.registry.removal import registry_parts
from bhsvc.registry.roles import READER_ROLE, WRITER_ROLE
from bhsvc.ui import Steps
from fakes.gcp_services import Gcp

REPO = "projects/my-project/locations/europe-west10/repositories/binder"
EMAIL = "binderhub-pusher@my-project.iam.gserviceaccount.com"
PULLER = "binderhub-puller@my-project.iam.gserviceaccount.com"
MEMBER = f"serviceAccount:{EMAIL}"
# The registry's parts never touch the cluster.
NO_CLUSTER = cast(Cluster, None)


@pytest.fixture
def clients(gcp: Gcp) -> Iterator[GcpClients]:
    made = make_clients(gcp.env)
    yield made
    made.close()


def parts(clients: GcpClients, config: Config, delete_images: bool = False) -> list[Any]:
    found = registry_parts(clients, GarTarget.from_config(config), delete_images)
    for part in found:
        part.side.policy = QUICK
    return found


def plan(found: list[Any]) -> list[Removal]:
    return lifecycle.removal_plan(found, NO_CLUSTER)


def remove(found: list[Any], planned: list[Removal]) -> list[str]:
    steps = Steps(quiet=True)
    lifecycle.remove(found, NO_CLUSTER, steps, planned)
    return [result.name for result in steps.results]


def test_everything_init_made_goes_in_reverse_order(
    gcp: Gcp, config: Config, run_gar: RunGar, clients: GcpClients
) -> None:
    run_gar()
    key_id = gcp.iam.user_key_ids(EMAIL)[0]
    found = parts(clients, config)
    gcp.reset_log()
    planned = plan(found)
    assert gcp.mutating() == [], "the plan only reads"
    lines = {r.name: r.objects for r in planned if r.objects}
    assert list(lines) == ["pusher key", "pusher service account", "Artifact Registry repository"]
    assert lines["pusher key"] == (
        f"key {key_id} of {EMAIL}",
        f"file {config.key_file}",
        f"file {keyfile.lock_path(config.key_file)}",
    )
    assert lines["pusher service account"] == (f"service account {EMAIL}",)
    assert lines["Artifact Registry repository"] == (f"repository {REPO}",)

    assert remove(found, planned) == list(lines)
    done = gcp.artifact_registry.mutating_calls() + gcp.iam.mutating_calls()
    assert [r.method for r in sorted(done, key=lambda r: r.start)] == [
        "DeleteServiceAccountKey",
        "DeleteServiceAccount",
        "DeleteRepository",
    ]
    assert REPO not in gcp.artifact_registry.repositories
    assert EMAIL not in gcp.iam.accounts
    assert not config.key_file.exists() and not keyfile.lock_path(config.key_file).exists()

    gcp.reset_log()
    again = plan(parts(clients, config))
    assert [r for r in again if r.objects] == []
    assert gcp.mutating() == []


def test_a_repository_with_images_goes_only_with_delete_images(
    gcp: Gcp, config: Config, run_gar: RunGar, clients: GcpClients
) -> None:
    run_gar()
    gcp.artifact_registry.add_image(REPO, "binder-requirements-55ab5c", "abc123")
    found = parts(clients, config)
    planned = plan(found)
    repo = next(r for r in planned if r.name == "Artifact Registry repository")
    assert isinstance(repo.blocker, UsageError)
    assert "--delete-images" in str(repo.blocker)
    assert "binder-requirements-55ab5c" in str(repo.blocker)
    gcp.reset_log()
    with pytest.raises(UsageError):
        remove(found, planned)
    assert gcp.mutating() == [], "nothing goes when one step would stop"

    found = parts(clients, config, delete_images=True)
    planned = plan(found)
    assert all(r.blocker is None for r in planned)
    assert "every image in it (binder-requirements-55ab5c" in " ".join(
        next(r for r in planned if r.name == "Artifact Registry repository").objects
    )
    remove(found, planned)
    assert REPO not in gcp.artifact_registry.repositories
    assert gcp.artifact_registry.tags == {}, "its images went with it"


def test_what_bhsvc_did_not_make_stays(
    gcp: Gcp, config: Config, run_gar: RunGar, clients: GcpClients
) -> None:
    # A repository made by hand; an account made by hand, with a key of someone else's.
    gcp.artifact_registry.add_repository(REPO)
    gcp.iam.add_account("my-project", "binderhub-pusher", description="made in the console")
    gcp.iam.add_user_keys(EMAIL, 1)
    [theirs] = gcp.iam.user_key_ids(EMAIL)
    run_gar()
    mine = next(k for k in gcp.iam.user_key_ids(EMAIL) if k != theirs)
    found = parts(clients, config)
    planned = plan(found)
    lines = {r.name: r for r in planned}
    assert lines["Artifact Registry repository"].objects == ()
    assert "was not created by bhsvc" in lines["Artifact Registry repository"].detail
    assert lines["pusher service account"].objects == ()
    # The account stays, so does its role; of its keys only the one init made goes.
    assert lines["writer role on the repository"].objects == ()
    assert lines["pusher key"].objects[0] == f"key {mine} of {EMAIL}"
    remove(found, planned)
    assert gcp.iam.user_key_ids(EMAIL) == [theirs]
    assert REPO in gcp.artifact_registry.repositories
    assert gcp.artifact_registry.members(REPO, WRITER_ROLE) == [MEMBER]
    assert not config.key_file.exists()


def test_bhsvcs_cleanup_policies_leave_a_repository_that_stays(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar, clients: GcpClients
) -> None:
    mine = CleanupPolicy(
        action=CleanupPolicy.Action.DELETE,
        condition=CleanupPolicyCondition(tag_state=CleanupPolicyCondition.TagState.UNTAGGED),
    )
    gcp.artifact_registry.add_repository(REPO, cleanup_policies={"untagged": mine})
    config = gar_config(tmp_path, cleanup={"keep_recent": 2, "older_than_days": 14})
    run_gar(config)
    found = parts(clients, config)
    gcp.reset_log()
    planned = plan(found)
    assert gcp.mutating() == []
    [policies] = [r for r in planned if r.name == CLEANUP_STEP]
    assert policies.objects == (
        f"cleanup policies bhsvc-delete-old, bhsvc-keep-recent of repository {REPO}",
    )
    remove(found, planned)
    assert list(gcp.artifact_registry.repositories[REPO].cleanup_policies) == ["untagged"]
    assert REPO in gcp.artifact_registry.repositories
    # Gone: a second plan has nothing to remove there.
    again = next(r for r in plan(parts(clients, config)) if r.name == CLEANUP_STEP)
    assert again.objects == ()


def test_cleanup_policies_go_with_a_repository_bhsvc_made(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar, clients: GcpClients
) -> None:
    config = gar_config(tmp_path, cleanup={"untagged_after_days": 1})
    run_gar(config)
    planned = plan(parts(clients, config))
    assert next(r for r in planned if r.name == CLEANUP_STEP).objects == ()
    assert next(r for r in planned if r.name == "Artifact Registry repository").objects


def test_the_role_of_a_deleted_account_leaves_a_repository_that_stays(
    gcp: Gcp, config: Config, run_gar: RunGar, clients: GcpClients
) -> None:
    gcp.artifact_registry.add_repository(REPO)
    run_gar()  # bhsvc makes the account and grants it the writer role there
    found = parts(clients, config)
    planned = plan(found)
    binding = next(r for r in planned if r.name == "writer role on the repository")
    assert binding.objects == (f"writer role of {EMAIL} on repository {REPO}",)
    gcp.artifact_registry.concurrent_policy_changes(1)  # someone else changes the policy
    remove(found, planned)
    assert gcp.artifact_registry.members(REPO, WRITER_ROLE) == []
    # The other writer's change survived the read-modify-write.
    assert gcp.artifact_registry.members(REPO, "roles/artifactregistry.reader")
    assert EMAIL not in gcp.iam.accounts and REPO in gcp.artifact_registry.repositories


def test_transient_failures_are_retried_and_a_lost_answer_is_done(
    gcp: Gcp, config: Config, run_gar: RunGar, clients: GcpClients
) -> None:
    run_gar()
    gcp.artifact_registry.operation_seconds = 0.3  # the deletion takes a moment
    gcp.artifact_registry.fail("DeleteRepository", "UNAVAILABLE", times=2)
    gcp.iam.lose_answer("DeleteServiceAccount")  # deleted, but the answer never came
    found = parts(clients, config)
    remove(found, plan(found))
    assert REPO not in gcp.artifact_registry.repositories
    assert EMAIL not in gcp.iam.accounts
    assert len(gcp.artifact_registry.calls("GetOperation")) >= 2, "it waited for the operation"


def test_a_key_an_interrupted_init_left_goes_too(
    gcp: Gcp, config: Config, run_gar: RunGar, clients: GcpClients
) -> None:
    gcp.iam.add_account("my-project", "binderhub-pusher", description="made by hand")
    run_gar()
    [held] = gcp.iam.user_key_ids(EMAIL)
    # The record an init stopped during key creation leaves, and the key it made.
    now = datetime.now(timezone.utc)
    pending = keys.PendingKey(EMAIL, now, now + timedelta(seconds=120), (held,))
    keyfile.write_pending(config.key_file, pending)
    gcp.iam.add_user_keys(EMAIL, 1)
    [left] = [k for k in gcp.iam.user_key_ids(EMAIL) if k != held]
    found = parts(clients, config)
    planned = plan(found)
    key = next(r for r in planned if r.name == "pusher key")
    assert key.objects[:2] == (f"key {held} of {EMAIL}", f"key {left} of {EMAIL}")
    assert f"file {keyfile.pending_path(config.key_file)}" in key.objects
    remove(found, planned)
    assert gcp.iam.user_key_ids(EMAIL) == []
    assert not keyfile.pending_path(config.key_file).exists()
    assert EMAIL in gcp.iam.accounts, "not bhsvc's account"


def test_a_switch_to_workload_identity_leaves_nothing_of_bhsvcs_behind(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar, clients: GcpClients
) -> None:
    """Keys with a hub, then Workload Identity with the old keys deleted: the pull
    account stays until uninstall, which also takes the roles bhsvc granted on a
    repository made by hand (the nodes' account itself is not bhsvc's)."""
    gcp.artifact_registry.add_repository(REPO)
    gcp.iam.enable_workload_pool("my-project")
    nodes = gcp.iam.add_compute_default("my-project", "123456789012")
    run_gar(hub_config(tmp_path, "key"))
    keyless = hub_config(tmp_path, "workload-identity")
    run_gar(keyless, delete_old_keys=True)
    assert gcp.iam.has_account(PULLER) and not keyless.pull_key_file.exists()

    found = parts(clients, keyless)
    planned = plan(found)
    lines = {r.name: r.objects for r in planned if r.objects}
    pusher_lock, puller_lock = (
        keyfile.lock_path(p) for p in (keyless.key_file, keyless.pull_key_file)
    )
    assert lines == {
        "pull key": (f"file {puller_lock}",),  # the lock files init leaves in place
        "pusher key": (f"file {pusher_lock}",),
        "reader role for the nodes": (f"reader role of {nodes} on repository {REPO}",),
        "reader role of the pull account": (f"reader role of {PULLER} on repository {REPO}",),
        "pull service account": (f"service account {PULLER}",),
        "writer role on the repository": (f"writer role of {EMAIL} on repository {REPO}",),
        "pusher service account": (f"service account {EMAIL}",),
    }
    remove(found, planned)
    assert not gcp.iam.has_account(PULLER) and not gcp.iam.has_account(EMAIL)
    assert gcp.iam.has_account(nodes)
    assert gcp.artifact_registry.members(REPO, READER_ROLE) == []
    assert gcp.artifact_registry.members(REPO, WRITER_ROLE) == []
    again = plan(parts(clients, keyless))
    assert [r.objects for r in again if r.objects] == [], "a second run finds nothing"


def hub_config(base: Path, auth: str) -> Config:
    data = {
        "kube": {"namespace": "binder"},
        "registry": {
            "provider": "gar",
            "gar": {"project": "my-project", "region": "europe-west10", "auth": auth},
        },
        "hub": {"enabled": True},
    }
    return parse_config(data, "test", base)
