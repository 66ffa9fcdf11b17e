"""`bhsvc init` and Workload Identity: the default read from the cluster's nodes (a fake
Kubernetes API), keyless provisioning against the Google Cloud fakes, and a switch
from a key to no key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from init_testing import EMAIL, KEY_FILE, ScriptedPrompter, write_config, write_own_config

from bhsvc.config import load_config
from bhsvc.wizard_run import run_wizard
from clirun import RunCli
from fakes.gcp_services import Gcp
from fakes.k8s_api import NODE_NAME, FakeKubernetes

CONFIG = Path("bhsvc.yaml")
GKE = "gke_my-project_europe-west10-a_binder-cluster"
LABEL = "iam.gke.io/gke-metadata-server-enabled"
NODES = "123456789012-compute@developer.gserviceaccount.com"
KSA = "serviceAccount:my-project.svc.id.goog[binder/binderhub-binderhub-service]"
WI_CONFIG: dict[str, Any] = {
    "version": 1,
    "kube": {"namespace": "binder"},
    "binderhub": {"release": "binderhub"},
    "registry": {
        "provider": "gar",
        "gar": {"project": "my-project", "region": "europe-west10", "auth": "workload-identity"},
    },
}
INIT = ("init", "--non-interactive", "--config", "bhsvc.yaml")


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        fake.delete("Node", "", NODE_NAME)  # each test makes the nodes it needs
        yield fake


def add_nodes(cluster: FakeKubernetes, labelled: int, plain: int = 0, project: str = "my-project"):
    """GKE nodes: `labelled` of a pool with the GKE metadata server, `plain` without."""
    for n in range(labelled + plain):
        labels = {"kubernetes.io/hostname": f"gke-node-{n}"}
        if n < labelled:
            labels[LABEL] = "true"
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"gke-node-{n}", "labels": labels},
                "spec": {"providerID": f"gce://{project}/europe-west10-a/gke-node-{n}"},
            }
        )


@pytest.fixture
def gke(gcp: Gcp) -> Gcp:
    gcp.iam.enable_workload_pool("my-project")
    gcp.iam.add_compute_default("my-project", "123456789012")
    return gcp


def wizard(
    answers: list[str], cluster: FakeKubernetes, workdir: Path, **kwargs: Any
) -> ScriptedPrompter:
    kubeconfig = cluster.kubeconfig(workdir / "kubeconfig", context=GKE)
    prompter = ScriptedPrompter(list(answers))
    run_wizard(
        CONFIG,
        False,
        prompter=prompter,
        env={"KUBECONFIG": str(kubeconfig)},
        home=workdir / "home",
        **kwargs,
    )
    assert prompter.answers == [], "the wizard stopped before the script's end"
    return prompter


# context, namespace, release, registry, project, region, repository, push credentials,
# (workload-identity: the nodes' service account,) cleanup, hub, go ahead: Enter everywhere.
KEYLESS_DEFAULTS = [""] * 12


def test_wizard_on_a_workload_identity_cluster(
    gke: Gcp, cluster: FakeKubernetes, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_nodes(cluster, labelled=3)

    prompter = wizard(KEYLESS_DEFAULTS, cluster, workdir)

    text = prompter.text
    assert "all 3 nodes run the GKE metadata server: workload-identity is the default" in text
    assert "Push credentials (number or name) [workload-identity]: " in text
    assert (
        "Service account of the cluster's nodes (they pull the images) (empty: the project's "
        "Compute Engine default service account): " in text
    )
    for line in (
        "  • let BinderHub's Kubernetes ServiceAccount binder/binderhub-binderhub-service act "
        "as it (Workload Identity: roles/iam.workloadIdentityUser for "
        "my-project.svc.id.goog[binder/binderhub-binderhub-service])",
        "  • grant the nodes' service account (the project's Compute Engine default service "
        "account) roles/artifactregistry.reader on that repository, so that they pull "
        "without a Secret",
        "  • create no key",
    ):
        assert line in text
    assert "create a key" not in text
    gar = yaml.safe_load((workdir / CONFIG).read_text())["registry"]["gar"]
    assert gar["auth"] == "workload-identity"
    assert "node_service_account" not in gar
    assert gke.iam.members(EMAIL, "roles/iam.workloadIdentityUser") == [KSA]
    assert gke.iam.calls("CreateServiceAccountKey") == []
    assert not (workdir / ".bhsvc").exists()
    out, err = capsys.readouterr()
    assert "✓ Workload Identity for BinderHub: changed" in err
    assert "push credentials: readable" not in err
    assert f"pull credentials  the nodes pull as {NODES}" in out
    assert "push credentials  none kept: BinderHub acts as " + EMAIL in out


def test_wizard_names_the_nodes_account(gke: Gcp, cluster: FakeKubernetes, workdir: Path) -> None:
    add_nodes(cluster, labelled=1)
    nodes = gke.iam.add_account("my-project", "gke-nodes")
    answers = [*[""] * 8, "not an email", nodes, "", "", ""]

    prompter = wizard(answers, cluster, workdir)

    assert "✗ registry.gar.node_service_account: 'not an email' is not a valid" in prompter.text
    assert load_config(workdir / CONFIG).registry.gar.node_service_account == nodes
    assert gke.iam.calls("ListServiceAccounts") == []
    assert f"serviceAccount:{nodes}" in gke.artifact_registry.members(
        "projects/my-project/locations/europe-west10/repositories/binder",
        "roles/artifactregistry.reader",
    )


def test_wizard_on_a_cluster_without_the_metadata_server(
    gcp: Gcp, cluster: FakeKubernetes, workdir: Path
) -> None:
    add_nodes(cluster, labelled=0, plain=2)

    prompter = wizard([""] * 11, cluster, workdir)

    assert (
        "no node of the cluster runs the GKE metadata server (label "
        "iam.gke.io/gke-metadata-server-enabled): Workload Identity is not enabled there, so "
        "key is the default" in prompter.text
    )
    assert "Push credentials (number or name) [key]: " in prompter.text
    assert load_config(workdir / CONFIG).registry.gar.auth == "key"
    assert (workdir / KEY_FILE).exists()


def test_wizard_when_some_nodes_run_it(gke: Gcp, cluster: FakeKubernetes, workdir: Path) -> None:
    add_nodes(cluster, labelled=1, plain=2)

    prompter = wizard(KEYLESS_DEFAULTS, cluster, workdir)

    assert "1 of 3 nodes run the GKE metadata server: workload-identity is the default" in (
        prompter.text
    )
    assert (
        "BinderHub must run on one of them: add binderhub.values.nodeSelector "
        '{"iam.gke.io/gke-metadata-server-enabled": "true"} to bhsvc.yaml' in prompter.text
    )


def test_wizard_when_the_nodes_run_in_another_project(
    gcp: Gcp, cluster: FakeKubernetes, workdir: Path
) -> None:
    add_nodes(cluster, labelled=2, project="cluster-project")

    prompter = wizard([""] * 11, cluster, workdir)

    assert (
        "but in project cluster-project, not my-project: bhsvc binds BinderHub in "
        "my-project's Workload Identity pool, so key is the default" in prompter.text
    )
    assert "Push credentials (number or name) [key]: " in prompter.text


def test_wizard_when_nodes_cannot_be_listed(
    gcp: Gcp, cluster: FakeKubernetes, workdir: Path
) -> None:
    add_nodes(cluster, labelled=2)
    cluster.forbidden_reads.add(("", "nodes"))

    prompter = wizard([""] * 11, cluster, workdir)

    assert (
        "could not tell from the cluster (list the cluster's nodes: forbidden: nodes is "
        'forbidden: User "fake-user" cannot list resource "nodes" in API group "" at the '
        "cluster scope): key is the default" in prompter.text
    )


def test_wizard_keeps_key_for_a_file_written_before(
    gcp: Gcp, cluster: FakeKubernetes, workdir: Path
) -> None:
    """An existing file without registry.gar.auth pushes with a key: that stays the default,
    even where the cluster could go keyless, and the file is kept as it is."""
    add_nodes(cluster, labelled=3)
    old = {**WI_CONFIG, "kube": {"context": GKE, "namespace": "binder"}}
    gar = {"project": "my-project", "region": "us", "repository": "binder"}
    old["registry"] = {"provider": "gar", "gar": gar}
    write_own_config(workdir, old)

    prompter = wizard(["", *[""] * 11], cluster, workdir)

    assert "workload-identity is the default" in prompter.text  # what the cluster allows
    assert "Push credentials (number or name) [key]: " in prompter.text  # what the file says
    assert "  • keep bhsvc.yaml: nothing in it changes" in prompter.text


# ---- --non-interactive ---------------------------------------------------------------------


def test_switch_from_key_to_workload_identity(
    gke: Gcp, cluster: FakeKubernetes, workdir: Path, run_cli: RunCli, monkeypatch
) -> None:
    add_nodes(cluster, labelled=2)
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(workdir / "kubeconfig")))
    with_key = {**WI_CONFIG, "registry": {**WI_CONFIG["registry"]}}
    with_key["registry"]["gar"] = {"project": "my-project", "region": "europe-west10"}
    write_config(workdir, with_key)
    assert run_cli(*INIT).code == 0
    [key_id] = gke.iam.user_key_ids(EMAIL)

    write_config(workdir, WI_CONFIG)
    switched = run_cli(*INIT)

    assert switched.code == 0, switched.err
    assert "✓ Workload Identity for BinderHub: changed" in switched.err
    assert "✓ reader role for the nodes: changed" in switched.err
    assert "✓ pusher key: unused" in switched.err
    warning = (
        f"warning: key {key_id[:12]} of {EMAIL} in {KEY_FILE} is not needed with Workload "
        "Identity: once builds work, delete it with bhsvc init --non-interactive "
        "--delete-old-keys"
    )
    assert warning in switched.err
    assert gke.iam.user_key_ids(EMAIL) == [key_id]  # running builds may still use it
    assert gke.iam.members(EMAIL, "roles/iam.workloadIdentityUser") == [KSA]
    gke.reset_log()

    again = run_cli(*INIT, "--output", "json")

    assert again.code == 0
    assert gke.mutating() == []  # converged: no change at all
    document = json.loads(again.out)
    assert document["registry"]["auth"] == "workload-identity"
    assert document["registry"]["workload_identity"] == KSA
    assert document["registry"]["node_service_account"] == NODES
    assert document["registry"]["key_file"] is None

    deleted = run_cli(*INIT, "--delete-old-keys")

    assert deleted.code == 0, deleted.err
    assert f"✓ pusher key: deleted (key {key_id[:12]} deleted, {KEY_FILE} removed)" in (deleted.err)
    assert gke.iam.user_key_ids(EMAIL) == []
    assert not (workdir / KEY_FILE).exists()


def test_workload_identity_on_a_cluster_without_it_is_warned(
    gke: Gcp, cluster: FakeKubernetes, workdir: Path, run_cli: RunCli, monkeypatch
) -> None:
    add_nodes(cluster, labelled=0, plain=1)
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(workdir / "kubeconfig")))
    write_config(workdir, WI_CONFIG)

    result = run_cli(*INIT)

    assert result.code == 0, result.err
    assert (
        "warning: registry.gar.auth is workload-identity, but no node of the cluster runs the "
        "GKE metadata server" in result.err
    )


def test_workload_identity_without_a_cluster_says_so(
    gke: Gcp, workdir: Path, run_cli: RunCli, monkeypatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(workdir / "nowhere"))
    write_config(workdir, WI_CONFIG)

    result = run_cli(*INIT)

    assert result.code == 0, result.err
    assert "warning: could not read the cluster's nodes (no kubeconfig at" in result.err
    assert "cannot tell whether they run the GKE metadata server" in result.err


@pytest.mark.parametrize(
    ("auth", "flag", "words"),
    [
        ("key", "--delete-old-keys", "--delete-old-keys only applies with registry.gar.auth"),
        ("workload-identity", "--rotate-key", "which uses no key"),
    ],
)
def test_flags_that_do_not_fit_the_mode_are_bad_input(
    gcp: Gcp, workdir: Path, run_cli: RunCli, auth: str, flag: str, words: str
) -> None:
    config = {**WI_CONFIG, "registry": {**WI_CONFIG["registry"]}}
    config["registry"]["gar"] = {**config["registry"]["gar"], "auth": auth}
    write_config(workdir, config)

    result = run_cli(*INIT, flag)

    assert result.code == 2
    [line] = result.err.strip().splitlines()
    assert words in line
    assert gcp.requests() == 0
