"""Helpers of the deploy tests: the project layout, CLI results, subprocess runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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


def bhsvc_process(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    """`python -m bhsvc <args>` as its own process (for terminals and signals)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bhsvc", *args],
        env={**os.environ, **env},
        text=True,
        **kwargs,
    )
