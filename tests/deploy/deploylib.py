"""Helpers of the deploy tests: the project layout, CLI results, subprocess runs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes

# Marks the pusher key: it must never show up in output, values files or errors.
KEY_MARKER = "PUSHER-PRIVATE-KEY-MATERIAL"
NAMESPACE = "binder"
RELEASE = "binderhub"
REGISTRY_SECRET = f"{RELEASE}-registry-credentials"
BINDERHUB_SELECTOR = "app.kubernetes.io/component=binderhub"


PULLER = "binderhub-puller@my-project.iam.gserviceaccount.com"


def key_json(
    version: int = 1, email: str = "binderhub-pusher@my-project.iam.gserviceaccount.com"
) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "my-project",
            "private_key_id": f"key{version}",
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}-{version}\n"
            "-----END PRIVATE KEY-----\n",
            "client_email": email,
        }
    )


def write_key_files(folder: Path) -> Path:
    """The pusher's key file in `folder`, and the read-only key the hub's users pull
    with (auth key with a hub), both 0600 as init writes them; the pusher's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, email in (("binderhub-pusher", None), ("binderhub-puller", PULLER)):
        path = folder / f"{name}-key.json"
        path.write_text(key_json() if email is None else key_json(email=email))
        path.chmod(0o600)
    return folder / "binderhub-pusher-key.json"


@dataclass
class Project:
    root: Path
    config: Path
    key: Path

    def write_config(self, extra: dict[str, Any] | None = None) -> None:
        doc: dict[str, Any] = {
            "version": 1,
            "kube": {"namespace": NAMESPACE},
            "binderhub": {"release": RELEASE},
            "registry": {
                "provider": "gar",
                "gar": {"project": "my-project", "region": "europe-west10"},
            },
        }
        for key, value in (extra or {}).items():
            doc[key] = {**doc.get(key, {}), **value}
        self.config.write_text(yaml.safe_dump(doc))

    @property
    def rendered(self) -> Path:
        return self.root / ".bhsvc" / "rendered"


def cluster_env(kubeconfig: Path, helm: Path, home: Path) -> dict[str, str]:
    """The environment of a run against a fake cluster: its kubeconfig, helm 4, and
    helm's caches and the kubernetes discovery cache under `home`."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "KUBECONFIG": str(kubeconfig),
        "BHSVC_HELM": str(helm),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
        "COLUMNS": "200",
    }


def bhsvc_process(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    """`python -m bhsvc <args>` as its own process (for terminals and signals)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bhsvc", *args],
        env={**os.environ, **env},
        text=True,
        **kwargs,
    )


@contextlib.contextmanager
def serving(cluster: FakeKubernetes, hub: bool) -> Iterator[FakeBinderHub]:
    """A fake BinderHub that BinderHub's pod and, with a hub, the hub's proxy pod reach
    through their port-forwards."""
    with FakeBinderHub(base_url="/services/binder/" if hub else "/") as fake:
        cluster.port_targets[8585] = ("127.0.0.1", fake.port)
        cluster.port_targets[8000] = ("127.0.0.1", fake.port)
        yield fake
