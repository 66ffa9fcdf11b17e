"""Keyless Artifact Registry (registry.gar.auth workload-identity), and the read-only
pull account of auth key with a hub, with the real clients against the fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gar_testing import RunGar, gar_config

from bhsvc.config import Config, parse_config
from bhsvc.registry import keyfile
from bhsvc.registry.gar import (
    ACCOUNT_STEP,
    BINDING_STEP,
    KEY_STEP,
    NODE_ACCOUNT_STEP,
    NODE_READER_STEP,
    PULL_ACCOUNT_STEP,
    PULL_BINDING_STEP,
    PULL_KEY_STEP,
    REPOSITORY_STEP,
    WORKLOAD_IDENTITY_STEP,
    ProvisionError,
    ProvisionReport,
)
from bhsvc.registry.roles import READER_ROLE, WORKLOAD_IDENTITY_ROLE, WRITER_ROLE
from fakes.gcp_services import Gcp

REPO = "projects/my-project/locations/europe-west10/repositories/binder"
EMAIL = "binderhub-pusher@my-project.iam.gserviceaccount.com"
PULLER = "binderhub-puller@my-project.iam.gserviceaccount.com"
NODES = "123456789012-compute@developer.gserviceaccount.com"
# BinderHub's Kubernetes ServiceAccount: the chart names it like the Deployment.
KSA = "serviceAccount:my-project.svc.id.goog[binder/binderhub-binderhub-service]"


def statuses(report: ProvisionReport) -> dict[str, str]:
    return {step.name: step.status for step in report.steps}


def keyless(base: Path, **gar: object) -> Config:
    return gar_config(base, auth="workload-identity", **gar)


@pytest.fixture
def gke(gcp: Gcp) -> Gcp:
    return gke_project(gcp)


def gke_project(gcp: Gcp) -> Gcp:
    """A project with a Workload Identity cluster and its default compute account."""
    gcp.iam.enable_workload_pool("my-project")
    gcp.iam.add_compute_default("my-project", "123456789012")
    return gcp


def test_first_run_makes_no_key(gke: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    config = keyless(tmp_path)

    report = run_gar(config)

    assert statuses(report) == {
        REPOSITORY_STEP: "created",
        ACCOUNT_STEP: "created",
        BINDING_STEP: "changed",
        WORKLOAD_IDENTITY_STEP: "changed",
        NODE_ACCOUNT_STEP: "found",
        NODE_READER_STEP: "changed",
        KEY_STEP: "none",
    }
    # BinderHub's ServiceAccount may act as the pusher, and nobody else.
    assert gke.iam.members(EMAIL, WORKLOAD_IDENTITY_ROLE) == [KSA]
    assert [b.role for b in gke.iam.policies[EMAIL].bindings] == [WORKLOAD_IDENTITY_ROLE]
    # The pusher writes to the repository; the nodes only read it.
    assert gke.artifact_registry.members(REPO, WRITER_ROLE) == [f"serviceAccount:{EMAIL}"]
    assert gke.artifact_registry.members(REPO, READER_ROLE) == [f"serviceAccount:{NODES}"]
    # No key anywhere: none asked for, none on disk.
    assert gke.iam.calls("CreateServiceAccountKey") == []
    assert gke.iam.user_key_ids(EMAIL) == []
    assert not config.key_file.exists()
    assert report.key_file is None
    assert report.node_account == NODES
    assert list(tmp_path.rglob("*")) == []  # not even the key file's folder or lock


def test_second_run_changes_nothing(gke: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    config = keyless(tmp_path)
    run_gar(config)
    gke.reset_log()

    report = run_gar(config)

    assert gke.mutating() == []
    assert statuses(report) == {
        REPOSITORY_STEP: "already present",
        ACCOUNT_STEP: "already present",
        BINDING_STEP: "already present",
        WORKLOAD_IDENTITY_STEP: "already present",
        NODE_ACCOUNT_STEP: "found",
        NODE_READER_STEP: "already present",
        KEY_STEP: "none",
    }
    iam = sorted(r.method for r in gke.iam.calls())
    assert iam == [
        "GetIamPolicy",
        "GetServiceAccount",
        "ListServiceAccountKeys",
        "ListServiceAccounts",
    ]


def test_the_grant_is_a_read_modify_write_with_the_etag(
    gke: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    config = keyless(tmp_path)
    gke.iam.add_account("my-project", "binderhub-pusher")
    gke.iam.concurrent_policy_changes(2)

    report = run_gar(config)

    assert statuses(report)[WORKLOAD_IDENTITY_STEP] == "changed"
    assert [r.status for r in gke.iam.calls("SetIamPolicy")] == ["ABORTED", "ABORTED", "OK"]
    assert len(gke.iam.calls("GetIamPolicy")) == 3
    # The other writers' bindings survive next to ours.
    assert len(gke.iam.members(EMAIL, "roles/iam.serviceAccountUser")) == 2
    assert gke.iam.members(EMAIL, WORKLOAD_IDENTITY_ROLE) == [KSA]


def test_the_service_account_name_follows_the_chart_values(
    gke: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    config = parse_config(
        {
            "kube": {"namespace": "builds"},
            "binderhub": {"release": "bh", "values": {"serviceAccount": {"name": "builder"}}},
            "registry": {
                "provider": "gar",
                "gar": {"project": "my-project", "region": "europe-west10"},
            },
        },
        "test",
        tmp_path,
    )
    config = config.model_copy(
        update={
            "registry": config.registry.model_copy(
                update={"gar": config.registry.gar.model_copy(update={"auth": "workload-identity"})}
            )
        }
    )

    run_gar(config)

    assert gke.iam.members(
        "bh-pusher@my-project.iam.gserviceaccount.com", WORKLOAD_IDENTITY_ROLE
    ) == ["serviceAccount:my-project.svc.id.goog[builds/builder]"]


def test_without_a_workload_identity_cluster(gcp: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    gcp.iam.add_compute_default("my-project", "123456789012")

    with pytest.raises(ProvisionError) as caught:
        run_gar(keyless(tmp_path))

    assert str(caught.value) == (
        "could not grant a role on the service account "
        f"(projects/my-project/serviceAccounts/{EMAIL}): the Workload Identity pool "
        "my-project.svc.id.goog does not exist, so no GKE cluster of project my-project has "
        "Workload Identity Federation enabled: enable it (gcloud container clusters update "
        "CLUSTER --location LOCATION --workload-pool=my-project.svc.id.goog, and GKE_METADATA "
        "on its node pools), or set registry.gar.auth: key"
    )
    # Refused at once: not retried as a service account IAM does not know yet.
    assert [r.status for r in gcp.iam.calls("SetIamPolicy")] == ["INVALID_ARGUMENT"]
    # The steps that do not need it still ran.
    assert statuses(caught.value.report)[NODE_READER_STEP] == "changed"


def test_without_a_compute_default_account(gcp: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    gcp.iam.enable_workload_pool("my-project")

    with pytest.raises(ProvisionError) as caught:
        run_gar(keyless(tmp_path))

    assert "project my-project has no Compute Engine default service account" in str(caught.value)
    assert "set registry.gar.node_service_account" in str(caught.value)
    assert statuses(caught.value.report)[NODE_READER_STEP] == "skipped"


def test_the_compute_default_account_on_a_later_page(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    for n in range(150):
        gcp.iam.add_account("my-project", f"account-{n:03d}")
    gke = gke_project(gcp)  # its compute account listed after the 150 others

    report = run_gar(keyless(tmp_path))

    assert report.node_account == NODES
    assert len(gke.iam.calls("ListServiceAccounts")) >= 2


def test_named_node_account(gke: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    nodes = gke.iam.add_account("my-project", "gke-nodes")

    report = run_gar(keyless(tmp_path, node_service_account=nodes))

    assert report.node_account == nodes
    assert gke.iam.calls("ListServiceAccounts") == []
    assert gke.artifact_registry.members(REPO, READER_ROLE) == [f"serviceAccount:{nodes}"]


def test_named_node_account_that_does_not_exist(gke: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    missing = "nobody@my-project.iam.gserviceaccount.com"

    with pytest.raises(ProvisionError) as caught:
        run_gar(keyless(tmp_path, node_service_account=missing))

    # Refused at once: an account the config names is not waited for as a new one is.
    assert f"Service account {missing} does not exist" in str(caught.value)
    sets = gke.artifact_registry.calls("SetIamPolicy")
    assert [r.status for r in sets] == ["OK", "INVALID_ARGUMENT"]
    assert statuses(caught.value.report)[BINDING_STEP] == "changed"
    assert statuses(caught.value.report)[NODE_READER_STEP] == "failed"


def test_switch_from_key_keeps_the_old_key_until_asked(
    gke: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    with_key = gar_config(tmp_path)
    run_gar(with_key)
    [key_id] = gke.iam.user_key_ids(EMAIL)
    config = keyless(tmp_path)
    gke.reset_log()

    report = run_gar(config)

    assert statuses(report)[KEY_STEP] == "unused"
    assert gke.iam.user_key_ids(EMAIL) == [key_id]  # builds may still use it
    assert config.key_file.exists()
    [warning] = [w for w in report.warnings if key_id[:12] in w]
    assert "not needed with Workload Identity" in warning
    assert "bhsvc init --non-interactive --delete-old-keys" in warning
    assert gke.iam.calls("DeleteServiceAccountKey") == []

    report = run_gar(config, delete_old_keys=True)

    assert statuses(report)[KEY_STEP] == "deleted"
    assert gke.iam.user_key_ids(EMAIL) == []
    assert not config.key_file.exists()
    assert not keyfile.pending_path(config.key_file).exists()
    gke.reset_log()

    report = run_gar(config, delete_old_keys=True)

    assert statuses(report)[KEY_STEP] == "none"
    assert gke.mutating() == []


def test_keys_no_file_holds_are_named_not_deleted(
    gke: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    gke.iam.add_account("my-project", "binderhub-pusher")
    gke.iam.add_user_keys(EMAIL, 1)
    [key_id] = gke.iam.user_key_ids(EMAIL)

    report = run_gar(keyless(tmp_path), delete_old_keys=True)

    assert statuses(report)[KEY_STEP] == "unused"
    assert gke.iam.user_key_ids(EMAIL) == [key_id]
    assert any(key_id[:12] in w and "no key file here holds" in w for w in report.warnings)


def hub_config(base: Path, **gar: object) -> Config:
    return parse_config(
        {
            "kube": {"namespace": "binder"},
            "registry": {
                "provider": "gar",
                "gar": {"project": "my-project", "region": "europe-west10", **gar},
            },
            "hub": {"enabled": True},
        },
        "test",
        base,
    )


def test_key_mode_with_a_hub_makes_a_read_only_pull_key(
    gcp: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    config = hub_config(tmp_path)

    report = run_gar(config)

    assert statuses(report) == {
        REPOSITORY_STEP: "created",
        ACCOUNT_STEP: "created",
        BINDING_STEP: "changed",
        KEY_STEP: "created",
        PULL_ACCOUNT_STEP: "created",
        PULL_BINDING_STEP: "changed",
        PULL_KEY_STEP: "created",
    }
    ar = gcp.artifact_registry
    assert ar.members(REPO, WRITER_ROLE) == [f"serviceAccount:{EMAIL}"]
    assert ar.members(REPO, READER_ROLE) == [f"serviceAccount:{PULLER}"]
    pull_key = json.loads(config.pull_key_file.read_text())
    assert pull_key["client_email"] == PULLER
    assert json.loads(config.key_file.read_text())["client_email"] == EMAIL
    assert report.pull_key_file == config.pull_key_file
    assert len(gcp.iam.user_key_ids(PULLER)) == 1
    gcp.reset_log()

    report = run_gar(config)

    assert gcp.mutating() == []
    assert set(statuses(report).values()) == {"already present"}


def test_rotation_replaces_both_keys(gcp: Gcp, tmp_path: Path, run_gar: RunGar) -> None:
    config = hub_config(tmp_path)
    run_gar(config)
    before = {EMAIL: gcp.iam.user_key_ids(EMAIL), PULLER: gcp.iam.user_key_ids(PULLER)}

    report = run_gar(config, rotate_key=True)

    assert statuses(report)[KEY_STEP] == statuses(report)[PULL_KEY_STEP] == "changed"
    for email, old in before.items():
        [new] = gcp.iam.user_key_ids(email)
        assert [new] != old


def test_switch_from_key_with_a_hub_deletes_both_keys(
    gke: Gcp, tmp_path: Path, run_gar: RunGar
) -> None:
    run_gar(hub_config(tmp_path))
    config = hub_config(tmp_path, auth="workload-identity")

    report = run_gar(config)

    assert statuses(report)[KEY_STEP] == statuses(report)[PULL_KEY_STEP] == "unused"

    report = run_gar(config, delete_old_keys=True)

    assert statuses(report)[KEY_STEP] == statuses(report)[PULL_KEY_STEP] == "deleted"
    assert gke.iam.user_key_ids(EMAIL) == gke.iam.user_key_ids(PULLER) == []
    assert not config.key_file.exists() and not config.pull_key_file.exists()
    # The pull account stays, with nothing to pull with; the nodes pull instead.
    assert gke.artifact_registry.members(REPO, READER_ROLE) == [
        f"serviceAccount:{PULLER}",
        f"serviceAccount:{NODES}",
    ]
