"""The pure decisions of removing: what is left in a namespace, which objects a config
left behind, and bhsvc's record of where it deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bhsvc import helm, record
from bhsvc.errors import UsageError
from bhsvc.kube.leftovers import leftovers
from bhsvc.lifecycle import RELEASE, ObjectRef
from bhsvc.orphans import HUB_VALUES, NAMESPACE, SECRET, orphans
from bhsvc.orphans import RELEASE as RELEASE_ORPHAN
from bhsvc.record import InstalledHub, Place

RECORD_LABELS = {"owner": "helm", "name": "binderhub"}
HELM_NOTES = {"meta.helm.sh/release-name": "binderhub", "meta.helm.sh/release-namespace": "binder"}


def obj(kind: str, name: str, uid: str = "", **meta: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "uid": uid or f"{kind}-{name}", **meta}}


def owned(kind: str, name: str, owner: str) -> dict[str, Any]:
    return obj(kind, name, ownerReferences=[{"uid": owner}])


# ---- leftovers -------------------------------------------------------------------------------


def test_what_kubernetes_puts_in_every_namespace_does_not_count() -> None:
    found = [obj("ServiceAccount", "default"), obj("ConfigMap", "kube-root-ca.crt")]
    assert leftovers("binder", found) == []


def test_a_release_that_goes_takes_what_helm_made_and_what_that_owns() -> None:
    found = [
        obj("Deployment", "binderhub", annotations=HELM_NOTES),
        owned("ReplicaSet", "binderhub-5f6", "Deployment-binderhub"),
        owned("Pod", "binderhub-5f6-x2", "ReplicaSet-binderhub-5f6"),
        obj("Service", "binderhub", annotations=HELM_NOTES),
        obj("Endpoints", "binderhub"),  # no owner: it goes with its Service
        obj("Secret", "sh.helm.release.v1.binderhub.v1", labels=RECORD_LABELS),
        obj("Secret", "binderhub-registry-credentials"),
    ]  # fmt: skip
    going = [
        ObjectRef(RELEASE, "binder", "binderhub"),
        ObjectRef("Secret", "binder", "binderhub-registry-credentials"),
    ]
    assert leftovers("binder", found, going) == []
    # Before they go, all of it stays.
    assert len(leftovers("binder", found)) == len(found)


def test_what_is_not_the_releases_stays() -> None:
    kept = {**HELM_NOTES, "helm.sh/resource-policy": "keep"}
    found = [
        obj("PersistentVolumeClaim", "hub-db-dir", annotations=kept),
        obj("Pod", "build-abc", labels={"component": "binderhub-build"}),  # BinderHub's own
        obj("ConfigMap", "other", annotations={**HELM_NOTES, "meta.helm.sh/release-name": "x"}),
        owned("Pod", "half", "Deployment-gone-and-another"),
        obj("Service", "mine"),
        obj("Endpoints", "mine"),
    ]
    going = [ObjectRef(RELEASE, "binder", "binderhub"), ObjectRef(RELEASE, "elsewhere", "x")]
    assert leftovers("binder", found, going) == [
        "PersistentVolumeClaim/hub-db-dir",
        "Pod/build-abc",
        "ConfigMap/other",
        "Pod/half",
        "Service/mine",
        "Endpoints/mine",
    ]


def test_what_is_being_deleted_already_does_not_count() -> None:
    assert leftovers("binder", [obj("Pod", "old", deletionTimestamp="2026-01-01T00:00:00Z")]) == []


# ---- orphans ---------------------------------------------------------------------------------

SERVER = "https://cluster"


def test_a_new_namespace_leaves_the_old_ones_objects() -> None:
    old = Place(SERVER, "binder", "binderhub", "jupyterhub", "jupyterhub")
    new = Place(SERVER, "binder2", "binderhub", "jupyterhub", "jupyterhub")
    found = [(o.kind, o.namespace, o.name) for o in orphans([old, new], new)]
    assert found == [
        (NAMESPACE, "binder", "binder"),
        (SECRET, "binder", "binderhub-registry-credentials"),
        (SECRET, "binder", "binderhub-hub-api-token"),
        (RELEASE_ORPHAN, "binder", "binderhub"),
    ], "the hub is the same: bhsvc rewires it; its pull Secret is the same name"


def test_the_hub_turned_off_leaves_its_values_and_secrets() -> None:
    old = Place(SERVER, "binder", "binderhub", "jupyterhub", "jupyterhub")
    new = Place(SERVER, "binder", "binderhub")
    found = [(o.kind, o.namespace, o.name) for o in orphans([old], new)]
    assert found == [
        (NAMESPACE, "jupyterhub", "jupyterhub"),
        (SECRET, "jupyterhub", "binderhub-image-pull"),
        (SECRET, "binder", "binderhub-hub-api-token"),
        (HUB_VALUES, "jupyterhub", "jupyterhub"),
    ]


def test_places_on_other_clusters_and_the_current_one_hold_no_orphans() -> None:
    here = Place(SERVER, "binder", "binderhub")
    elsewhere = Place("https://other", "binder-old", "binderhub")
    assert orphans([here, elsewhere], here) == []


def test_a_renamed_release_in_the_same_namespace() -> None:
    old = Place(SERVER, "binder", "old")
    new = Place(SERVER, "binder", "binderhub")
    found = [(o.kind, o.name, o.place.release) for o in orphans([old], new)]
    assert found == [(SECRET, "old-registry-credentials", "old"), (RELEASE_ORPHAN, "old", "old")]


# ---- the record -------------------------------------------------------------------------------


def test_the_record_round_trips_and_forgets(tmp_path: Path) -> None:
    path = tmp_path / ".bhsvc" / "deployed.yaml"
    assert record.read(path) == record.Record()
    place = Place(SERVER, "binder", "binderhub", "jupyterhub", "jupyterhub")
    record.add_place(path, place)
    record.add_place(path, place)  # once only
    hub = InstalledHub(SERVER, "jupyterhub", "jupyterhub", "2026-01-01T00:00:00.1Z")
    record.note_installed_hub(path, hub)
    assert record.read(path) == record.Record((place,), (hub,))
    assert path.stat().st_mode & 0o777 == 0o600
    assert record.installed_hub(record.read(path), SERVER, "jupyterhub", "jupyterhub") == (
        hub.first_deployed
    )
    record.forget_places(path, (place,))
    record.forget_hub(path, SERVER, "jupyterhub", "jupyterhub")
    assert not path.exists(), "an empty record is no file"


@pytest.mark.parametrize(
    "text",
    ["places: []\n", "# Generated by bhsvc from x\nplaces: [{server: a, color: red}]\n", "\x00"],
)
def test_a_record_bhsvc_did_not_write_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deployed.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=r"deployed\.yaml"):
        record.read(path)
    with pytest.raises(UsageError):
        record.add_place(path, Place(SERVER, "binder", "binderhub"))
    assert path.read_text() == text, "never written over"


def test_uninstall_waits_for_what_it_deletes_and_their_dependents() -> None:
    assert helm.uninstall_args("binderhub", "binder", 60, "fake") == [
        "uninstall", "binderhub", "--namespace", "binder", "--kube-context", "fake",
        "--wait", "--cascade", "foreground", "--timeout", "60s",
    ]  # fmt: skip
