"""Helpers of the status and doctor tests: the registry and pusher as `bhsvc init`
leaves them in the Google Cloud fakes, and the pods BinderHub and the hub create."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fakes.binderhub import BUILDER_IMAGE
from fakes.gcp_services import Gcp

PROJECT = "my-project"
REGION = "europe-west10"
REPOSITORY = f"projects/{PROJECT}/locations/{REGION}/repositories/binder"
PREFIX = f"{REGION}-docker.pkg.dev/{PROJECT}/binder/binder-"
ACCOUNT = f"binderhub-pusher@{PROJECT}.iam.gserviceaccount.com"
# What a build pod's log says when Artifact Registry refuses the push (repo2docker
# --json-logs around docker push's own words).
AR_PUSH_DENIED = (
    'denied: Permission "artifactregistry.repositories.uploadArtifacts" denied on resource '
    f'"{REPOSITORY}" (or it may not exist)\n'
)


def provision(gcp: Gcp, key_id: str = "key1", created: datetime | None = None) -> None:
    """The repository with three images, the pusher account and its key `key_id` (the
    id of the key file the deploy tests use)."""
    registry = gcp.artifact_registry
    registry.add_repository(REPOSITORY)
    for number, size in enumerate((300_000_000, 450_000_000, 1_200_000_000)):
        registry.add_image(
            REPOSITORY,
            f"binder-binder-2dexamples-2drequirements-55ab5c{number}",
            f"{number:040x}",
            digest=f"sha256:{number:064x}",
            size_bytes=size,
        )
    email = gcp.iam.add_account(PROJECT, "binderhub-pusher")
    gcp.iam.add_user_key(email, key_id, created)


def build_pod(namespace: str, name: str, repo: str, node: str | None = None) -> dict[str, Any]:
    """A build pod as BinderHub's KubernetesBuildExecutor creates it."""
    image = f"{PREFIX}{name.removeprefix('build-')}:{'a' * 40}"
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "builder",
                "image": BUILDER_IMAGE,
                "args": [
                    "jupyter-repo2docker", "--ref=HEAD", f"--image={image}", "--no-clean",
                    "--no-run", "--json-logs", "--user-name=jovyan", "--user-id=1000", "--push",
                    repo,
                ],
                "volumeMounts": [{"name": "docker-socket", "mountPath": "/var/run/docker.sock"}],
            }
        ],
        "volumes": [
            {
                "name": "docker-socket",
                "hostPath": {"path": "/var/run/binderhub/docker-api/docker.sock", "type": "Socket"},
            }
        ],
        "restartPolicy": "Never",
    }  # fmt: skip
    if node is not None:
        spec["nodeName"] = node
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"name": name, "component": "binderhub-build"},
            "annotations": {"binder-repo": repo},
        },
        "spec": spec,
    }


def build_log(*messages: str) -> list[str]:
    """A build pod's log lines as repo2docker --json-logs writes them."""
    return [json.dumps({"message": m, "phase": "building"}) for m in messages]


def user_pod(namespace: str, user: str, image: str, pull_secrets: list[str]) -> dict[str, Any]:
    """A user server pod as KubeSpawner creates it."""
    return {
        "metadata": {
            "name": f"jupyter-{user}",
            "namespace": namespace,
            "labels": {
                "component": "singleuser-server",
                "app": "jupyterhub",
                "hub.jupyter.org/username": user,
            },
        },
        "spec": {
            "containers": [{"name": "notebook", "image": image}],
            "imagePullSecrets": [{"name": name} for name in pull_secrets],
            "restartPolicy": "OnFailure",
        },
    }
