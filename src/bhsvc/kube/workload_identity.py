"""Whether a cluster can use Workload Identity Federation for GKE, read from its nodes.

GKE labels the nodes that run the GKE metadata server (node pools with
GKE_METADATA; every Autopilot node) `iam.gke.io/gke-metadata-server-enabled=true`:
only pods on those nodes get the tokens of the Google service account their
Kubernetes ServiceAccount is bound to. `detect` decides from the nodes (pure);
`read_cluster` lists them, and says why when it cannot.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bhsvc.config.registry import KEY, WORKLOAD_IDENTITY, GarAuth
from bhsvc.errors import BhsvcError

METADATA_SERVER_LABEL = "iam.gke.io/gke-metadata-server-enabled"
# A GKE node's spec.providerID: gce://<project>/<zone>/<instance>.
_PROVIDER_ID = re.compile(r"gce://(?P<project>[a-z][-a-z0-9.:]*)/[^/]+/[^/]+")


@dataclass(frozen=True)
class Detection:
    """What the nodes say about Workload Identity (or why they could not be read)."""

    nodes: int = 0
    with_metadata_server: int = 0
    projects: tuple[str, ...] = ()  # the Google Cloud projects the nodes run in
    problem: str | None = None  # why the nodes could not be read

    def default_auth(self, project: str | None = None) -> GarAuth:
        """workload-identity where nodes run the GKE metadata server (in `project`,
        whose pool Workload Identity binds, when the nodes say where they run)."""
        elsewhere = project is not None and self.projects and project not in self.projects
        return WORKLOAD_IDENTITY if self.with_metadata_server and not elsewhere else KEY

    def lines(self, project: str | None = None) -> list[str]:
        """What to tell the user; `project`: the registry's, where Workload Identity binds."""
        if self.problem is not None:
            return [f"could not tell from the cluster ({self.problem}): key is the default"]
        if not self.with_metadata_server:
            return [
                f"no node of the cluster runs the GKE metadata server (label "
                f"{METADATA_SERVER_LABEL}): Workload Identity is not enabled there, so key is "
                "the default"
            ]
        found = (
            f"all {self.nodes} nodes"
            if self.with_metadata_server == self.nodes
            else f"{self.with_metadata_server} of {self.nodes} nodes"
        )
        lines = [f"{found} run the GKE metadata server: workload-identity is the default"]
        if self.with_metadata_server < self.nodes:
            lines.append(
                "BinderHub must run on one of them: add binderhub.values.nodeSelector "
                f'{{"{METADATA_SERVER_LABEL}": "true"}} to bhsvc.yaml'
            )
        if self.default_auth(project) != WORKLOAD_IDENTITY:
            lines[0] = f"{found} run the GKE metadata server"
            lines.append(
                f"but in project {', '.join(self.projects)}, not {project}: bhsvc binds "
                f"BinderHub in {project}'s Workload Identity pool, so key is the default "
                "(keep the repository in the cluster's project to go keyless)"
            )
        return lines


def detect(nodes: Sequence[Mapping[str, Any]]) -> Detection:
    """The Workload Identity facts of these nodes (the API's JSON form)."""
    labelled = 0
    projects: list[str] = []
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if labels.get(METADATA_SERVER_LABEL) == "true":
            labelled += 1
        found = _PROVIDER_ID.fullmatch(str((node.get("spec") or {}).get("providerID") or ""))
        if found and found["project"] not in projects:
            projects.append(found["project"])
    return Detection(len(nodes), labelled, tuple(projects))


def read_cluster(context: str | None, kubeconfig: str | None = None) -> Detection:
    """Detection from the nodes of the cluster of `context`; a cluster that cannot be
    reached or read gives a Detection that says why (never an error)."""
    from bhsvc.kube.kubeconfig import connect

    # urllib3 warns before it retries a connection: the problem is said once, here.
    pool_log = logging.getLogger("urllib3.connectionpool")
    level = pool_log.level
    pool_log.setLevel(logging.ERROR)
    try:
        kube = connect(context, kubeconfig)
        return detect(kube.list_nodes())
    except BhsvcError as err:
        return Detection(problem=str(err))
    finally:
        pool_log.setLevel(level)
