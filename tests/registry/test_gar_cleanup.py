"""Cleanup policies (`registry.gar.cleanup`): the pure decision, and provisioning with
the real client library against the Artifact Registry fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from gar_testing import RunGar, gar_config
from google.cloud.artifactregistry_v1 import (
    CleanupPolicy,
    CleanupPolicyCondition,
    CleanupPolicyMostRecentVersions,
    Repository,
)
from google.protobuf import duration_pb2, json_format

from bhsvc.config import Config
from bhsvc.errors import OperationError
from bhsvc.registry import cleanup
from bhsvc.registry.gar import CLEANUP_STEP, REPOSITORY_STEP, ProvisionError, ProvisionReport
from fakes.gcp_services import Gcp

REPO = "projects/my-project/locations/europe-west10/repositories/binder"
DAY = 86_400
TagState = CleanupPolicyCondition.TagState


def with_cleanup(tmp_path: Path, **section: Any) -> Config:
    return gar_config(tmp_path, cleanup=section)


def user_policy(policy_id: str = "keep-releases") -> CleanupPolicy:
    """A policy the user made in the console: keep versions tagged v*."""
    return CleanupPolicy(
        id=policy_id,
        action=CleanupPolicy.Action.KEEP,
        condition=CleanupPolicyCondition(tag_state=TagState.TAGGED, tag_prefixes=["v"]),
    )


def step(report: ProvisionReport, name: str = CLEANUP_STEP) -> tuple[str, str]:
    [found] = [s for s in report.steps if s.name == name]
    return found.status, found.detail


def stored(gcp: Gcp) -> dict[str, Any]:
    """The repository's cleanup fields as the fake holds them, in the API's JSON."""
    repo = gcp.artifact_registry.repositories[REPO]
    document = json_format.MessageToDict(repo)
    return {
        "policies": document.get("cleanupPolicies", {}),
        "dry_run": document.get("cleanupPolicyDryRun", False),
    }


# ---- the pure decision ------------------------------------------------------------


def test_the_wanted_policies_are_artifact_registry_messages(tmp_path: Path) -> None:
    config = with_cleanup(tmp_path, keep_recent=10, untagged_after_days=7, older_than_days=90)
    assert config.registry.gar is not None

    wanted = cleanup.wanted_policies(config.registry.gar.cleanup)

    assert wanted == {
        "bhsvc-keep-recent": CleanupPolicy(
            id="bhsvc-keep-recent",
            action=CleanupPolicy.Action.KEEP,
            most_recent_versions=CleanupPolicyMostRecentVersions(keep_count=10),
        ),
        "bhsvc-delete-untagged": CleanupPolicy(
            id="bhsvc-delete-untagged",
            action=CleanupPolicy.Action.DELETE,
            condition=CleanupPolicyCondition(
                tag_state=TagState.UNTAGGED, older_than=duration_pb2.Duration(seconds=7 * DAY)
            ),
        ),
        "bhsvc-delete-old": CleanupPolicy(
            id="bhsvc-delete-old",
            action=CleanupPolicy.Action.DELETE,
            condition=CleanupPolicyCondition(
                tag_state=TagState.ANY, older_than=duration_pb2.Duration(seconds=90 * DAY)
            ),
        ),
    }
    assert cleanup.wanted_policies(None) == {}


def test_the_plan_keeps_the_users_policies_and_changes_only_what_differs(tmp_path: Path) -> None:
    config = with_cleanup(tmp_path, untagged_after_days=7, dry_run=True)
    assert config.registry.gar is not None
    wanted = cleanup.wanted_policies(config.registry.gar.cleanup)
    repo = Repository(name=REPO, cleanup_policies={"keep-releases": user_policy()})

    first = cleanup.plan(repo, config.registry.gar.cleanup)

    assert first.mask == ("cleanup_policies", "cleanup_policy_dry_run")
    assert first.policies == {"keep-releases": user_policy(), **wanted}
    assert first.status == "created"
    assert first.detail == (
        "delete untagged after 7 days; 1 of the repository's own (keep-releases) (dry run)"
    )
    # Once there, nothing differs: the ids in the values do not matter (the keys say them).
    applied = Repository(
        name=REPO,
        cleanup_policies={k: CleanupPolicy(action=p.action, condition=p.condition) for k, p in
                          first.policies.items()},
        cleanup_policy_dry_run=True,
    )  # fmt: skip
    again = cleanup.plan(applied, config.registry.gar.cleanup)
    assert (again.mask, again.status) == ((), "already present")
    # Turned off: bhsvc's go, the user's stay, the repository's dry-run flag is not touched.
    off = cleanup.plan(applied, None)
    assert off.mask == ("cleanup_policies",)
    assert set(off.policies) == {"keep-releases"}
    assert off.status == "removed"


def test_the_plan_refuses_more_than_ten_policies(tmp_path: Path) -> None:
    config = with_cleanup(tmp_path, keep_recent=3, older_than_days=30)
    assert config.registry.gar is not None
    mine = {f"user-{n}": user_policy(f"user-{n}") for n in range(9)}

    with pytest.raises(OperationError) as caught:
        cleanup.plan(Repository(cleanup_policies=mine), config.registry.gar.cleanup)

    assert str(caught.value) == (
        "the repository has 9 cleanup policies of its own; with bhsvc's 2 it would have more "
        "than the 10 Artifact Registry allows: remove some of them, or some of "
        "registry.gar.cleanup"
    )
    # Off, the same repository needs no change at all.
    assert cleanup.plan(Repository(cleanup_policies=mine), None).mask == ()


def test_policies_read_in_words() -> None:
    policies = {
        "bhsvc-delete-old": CleanupPolicy(
            action=CleanupPolicy.Action.DELETE,
            condition=CleanupPolicyCondition(
                tag_state=TagState.ANY, older_than=duration_pb2.Duration(seconds=DAY)
            ),
        ),
        "bhsvc-keep-recent": CleanupPolicy(
            action=CleanupPolicy.Action.KEEP,
            most_recent_versions=CleanupPolicyMostRecentVersions(keep_count=4),
        ),
        "nightly\x1b[2J": CleanupPolicy(
            action=CleanupPolicy.Action.DELETE,
            condition=CleanupPolicyCondition(
                tag_state=TagState.TAGGED,
                tag_prefixes=["nightly"],
                older_than=duration_pb2.Duration(seconds=DAY // 2),
            ),
        ),
    }

    found = cleanup.views(policies)

    # Keep policies first, then the delete policies from the youngest versions they take.
    assert [view.as_dict() for view in found] == [
        {"id": "bhsvc-keep-recent", "bhsvc": True, "action": "KEEP", "tag_state": None,
         "older_than_days": None, "keep_count": 4, "more_conditions": False},
        {"id": "nightly\\x1b[2J", "bhsvc": False, "action": "DELETE", "tag_state": "TAGGED",
         "older_than_days": 0.5, "keep_count": None, "more_conditions": True},
        {"id": "bhsvc-delete-old", "bhsvc": True, "action": "DELETE", "tag_state": "ANY",
         "older_than_days": 1, "keep_count": None, "more_conditions": False},
    ]  # fmt: skip
    assert found[1].phrase() == "delete tagged after 0.5 days (with more conditions)"
    assert cleanup.describe(found, dry_run=False) == (
        "keep 4 recent, delete any after 1 day; 1 of the repository's own (nightly\\x1b[2J)"
    )
    # As status reads them back from its JSON document.
    assert [cleanup.PolicyView(**view.as_dict()) for view in found] == found
    assert cleanup.describe([], dry_run=True) == "none of bhsvc's (dry run)"


# ---- provisioning against the fake ------------------------------------------------------


def test_first_run_sets_the_policies_and_a_second_changes_nothing(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    config = with_cleanup(tmp_path, keep_recent=10, untagged_after_days=7, dry_run=True)

    report = run_gar(config)

    names = [s.name for s in report.steps]
    assert names[:2] == [REPOSITORY_STEP, CLEANUP_STEP]
    assert step(report) == ("created", "keep 10 recent, delete untagged after 7 days (dry run)")
    assert stored(gcp) == {
        "policies": {
            "bhsvc-keep-recent": {
                "id": "bhsvc-keep-recent",
                "action": "KEEP",
                "mostRecentVersions": {"keepCount": 10},
            },
            "bhsvc-delete-untagged": {
                "id": "bhsvc-delete-untagged",
                "action": "DELETE",
                "condition": {"tagState": "UNTAGGED", "olderThan": "604800s"},
            },
        },
        "dry_run": True,
    }
    [update] = gcp.artifact_registry.calls("UpdateRepository")
    assert update.resource == REPO

    gcp.reset_log()
    again = run_gar(config)

    assert step(again) == ("already present", step(report)[1])
    assert gcp.mutating() == []
    # The repository read by its own step serves the cleanup step too.
    assert len(gcp.artifact_registry.calls("GetRepository")) == 1


def test_a_change_updates_the_policies_and_keeps_the_users_own(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    gcp.artifact_registry.add_repository(
        REPO, labels={"managed-by": "bhsvc"}, cleanup_policies={"keep-releases": user_policy()}
    )
    run_gar(with_cleanup(tmp_path, older_than_days=30, dry_run=True))
    gcp.reset_log()

    report = run_gar(with_cleanup(tmp_path, older_than_days=60, keep_recent=2))

    assert step(report) == (
        "changed",
        "keep 2 recent, delete any after 60 days; 1 of the repository's own (keep-releases)",
    )
    policies = stored(gcp)["policies"]
    assert set(policies) == {"keep-releases", "bhsvc-keep-recent", "bhsvc-delete-old"}
    assert policies["keep-releases"] == json_format.MessageToDict(CleanupPolicy.pb(user_policy()))
    assert policies["bhsvc-delete-old"]["condition"]["olderThan"] == f"{60 * DAY}s"
    assert stored(gcp)["dry_run"] is False
    assert gcp.mutating() == ["UpdateRepository"]


def test_turning_cleanup_off_removes_only_bhsvcs_policies(
    gcp: Gcp, tmp_path: Path, config: Config, run_gar: RunGar
) -> None:
    gcp.artifact_registry.add_repository(
        REPO, labels={"managed-by": "bhsvc"}, cleanup_policies={"keep-releases": user_policy()}
    )
    run_gar(with_cleanup(tmp_path, keep_recent=5, older_than_days=30, dry_run=True))
    gcp.reset_log()

    report = run_gar(config)  # no cleanup section

    assert step(report) == ("removed", "none of bhsvc's; 1 of the repository's own "
                                       "(keep-releases) (dry run)")  # fmt: skip
    assert stored(gcp) == {
        "policies": {"keep-releases": json_format.MessageToDict(CleanupPolicy.pb(user_policy()))},
        "dry_run": True,  # the repository's flag, for the user's policies too: left as it is
    }
    assert gcp.mutating() == ["UpdateRepository"]
    # Then off means untouched: no step, no call beyond the repository's own read.
    gcp.reset_log()
    report = run_gar(config)
    assert CLEANUP_STEP not in [s.name for s in report.steps]
    assert gcp.mutating() == []
    assert len(gcp.artifact_registry.calls("GetRepository")) == 1


def test_without_a_section_the_users_policies_are_never_touched(
    gcp: Gcp, config: Config, run_gar: RunGar
) -> None:
    gcp.artifact_registry.add_repository(
        REPO, cleanup_policies={"keep-releases": user_policy()}, dry_run=True
    )

    report = run_gar(config)

    assert CLEANUP_STEP not in [s.name for s in report.steps]
    assert gcp.artifact_registry.calls("UpdateRepository") == []
    assert stored(gcp)["dry_run"] is True


def test_a_repository_not_created_by_bhsvc_gets_them_and_says_so(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    gcp.artifact_registry.add_repository(REPO)

    report = run_gar(with_cleanup(tmp_path, untagged_after_days=3))

    assert step(report) == (
        "created",
        "delete untagged after 3 days (on a repository not created by bhsvc)",
    )
    assert set(stored(gcp)["policies"]) == {"bhsvc-delete-untagged"}


def test_too_many_policies_fail_the_step_before_any_update(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    mine = {f"user-{n}": user_policy(f"user-{n}") for n in range(10)}
    gcp.artifact_registry.add_repository(REPO, cleanup_policies=mine)

    with pytest.raises(ProvisionError) as caught:
        run_gar(with_cleanup(tmp_path, older_than_days=30))

    assert "more than the 10 Artifact Registry allows" in str(caught.value)
    assert step(caught.value.report)[0] == "failed"
    assert gcp.artifact_registry.calls("UpdateRepository") == []
    # The other steps still ran: the pusher exists.
    assert gcp.iam.accounts


def test_a_refused_update_names_the_permission(gcp: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    gcp.artifact_registry.add_repository(REPO, labels={"managed-by": "bhsvc"})
    gcp.artifact_registry.deny("UpdateRepository", "artifactregistry.repositories.update", REPO)

    with pytest.raises(ProvisionError) as caught:
        run_gar(with_cleanup(tmp_path, older_than_days=30))

    assert str(caught.value) == (
        "permission denied: to set the repository's cleanup policies the account running "
        f"bhsvc needs 'artifactregistry.repositories.update' on {REPO}; grant it a role that "
        "includes it, such as roles/artifactregistry.admin"
    )


def test_a_transient_error_on_the_update_is_retried(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    gcp.artifact_registry.add_repository(REPO, labels={"managed-by": "bhsvc"})
    gcp.artifact_registry.fail("UpdateRepository", "UNAVAILABLE", times=2)

    report = run_gar(with_cleanup(tmp_path, older_than_days=30))

    assert step(report)[0] == "created"
    assert len(gcp.artifact_registry.calls("UpdateRepository")) == 3
    assert set(stored(gcp)["policies"]) == {"bhsvc-delete-old"}


# ---- the fake's UpdateRepository, as the service answers ----------------------------------


def _patch(gcp: Gcp, mask: str | None, body: dict[str, Any]) -> requests.Response:
    url = f"{gcp.env['BHSVC_ARTIFACT_REGISTRY_ENDPOINT']}/v1/{REPO}"
    params = {"updateMask": mask} if mask is not None else {}
    return requests.patch(url, params=params, json=body, timeout=10)


def test_the_fake_changes_only_the_masked_fields(gcp: Gcp) -> None:
    gcp.artifact_registry.add_repository(REPO, labels={"team": "a"})
    policy = {"id": "p", "action": "DELETE", "condition": {"tagState": "ANY"}}

    answer = _patch(
        gcp,
        "cleanupPolicyDryRun",
        {"description": "ignored", "cleanupPolicyDryRun": True, "cleanupPolicies": {"p": policy}},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["cleanupPolicyDryRun"] is True
    repo = gcp.artifact_registry.repositories[REPO]
    assert (repo.description, dict(repo.labels)) == ("", {"team": "a"})
    assert len(repo.cleanup_policies) == 0
    # No mask: the fields the body sets (AIP-134).
    assert _patch(gcp, None, {"description": "d"}).status_code == 200
    assert gcp.artifact_registry.repositories[REPO].description == "d"


def _policies(**policies: Any) -> dict[str, Any]:
    return {"cleanupPolicies": policies}


DELETE_ANY = {"action": "DELETE", "condition": {"tagState": "ANY"}}


@pytest.mark.parametrize(
    ("mask", "body", "message"),
    [
        ("cleanupPolicyDryRn", {}, "Invalid update mask path"),
        ("mode", {"mode": "REMOTE_REPOSITORY"}, "cannot be updated"),
        ("cleanupPolicies.x", {}, "Invalid update mask path"),
        (
            "cleanupPolicies",
            _policies(**{f"p{n}": DELETE_ANY for n in range(11)}),
            "at most 10 cleanup policies",
        ),
        (
            "cleanupPolicies",
            _policies(p={"action": "DELETE", "mostRecentVersions": {"keepCount": 1}}),
            "may only be used to keep",
        ),
        ("cleanupPolicies", _policies(p={"condition": {}}), "action is required"),
        ("cleanupPolicies", _policies(p={"action": "KEEP"}), "condition is required"),
        ("cleanupPolicies", _policies(**{"x" * 128: DELETE_ANY}), "1-127 characters"),
        ("cleanupPolicies", _policies(p={"action": "DELETE", "age": 3}), "Invalid JSON payload"),
    ],
)
def test_the_fake_refuses_what_the_service_refuses(
    gcp: Gcp, mask: str, body: dict[str, Any], message: str
) -> None:
    gcp.artifact_registry.add_repository(REPO)

    answer = _patch(gcp, mask, body)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert len(gcp.artifact_registry.repositories[REPO].cleanup_policies) == 0
