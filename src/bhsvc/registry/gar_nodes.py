"""Who pulls the built images on the nodes with Workload Identity: the service
account the config names, or the project's Compute Engine default service
account (GKE's default for node pools), found by listing the project's accounts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bhsvc.errors import OperationError
from bhsvc.registry.gar_calls import PRESENT, GcpCalls, Outcome
from bhsvc.registry.gcp_errors import Action
from bhsvc.registry.roles import SA_VIEWER

if TYPE_CHECKING:
    from google.cloud.iam_admin_v1 import types as iam_types

    from bhsvc.registry.gar import GarTarget

FOUND = "found"
_COMPUTE_DEFAULT = re.compile(r"[0-9]+-compute@developer\.gserviceaccount\.com")


@dataclass
class NodeAccount:
    """The nodes' service account, within the run's calls."""

    calls: GcpCalls
    target: GarTarget

    def observe(self) -> iam_types.ServiceAccount | None:
        """The project's Compute Engine default service account, None when it has none."""
        from google.cloud.iam_admin_v1 import types

        client = self.calls.clients.iam
        project = f"projects/{self.target.project}"
        action = Action(
            "list the project's service accounts", project, "iam.serviceAccounts.list", SA_VIEWER
        )

        def page(token: str, timeout: float) -> Any:
            # One page per call (the pager would fetch the next ones outside the deadline).
            request = types.ListServiceAccountsRequest(
                name=project, page_size=100, page_token=token
            )
            return client.list_service_accounts(request=request, retry=None, timeout=timeout)

        token = ""
        while True:
            found = self.calls.call(action, functools.partial(page, token))
            account: iam_types.ServiceAccount
            for account in found.accounts:
                if _COMPUTE_DEFAULT.fullmatch(account.email):
                    return account
            token = found.next_page_token
            if not token:
                return None

    def ensure(self) -> Outcome:
        """Who pulls the images on the nodes: the account the config names, or the
        project's Compute Engine default service account (GKE's default)."""
        named = self.target.node_account
        if named is not None:
            return Outcome(PRESENT, f"{named}, from registry.gar.node_service_account", named)
        account = self.observe()
        if account is None:
            raise OperationError(
                f"project {self.target.project} has no Compute Engine default service account "
                "(<project number>-compute@developer.gserviceaccount.com): set "
                "registry.gar.node_service_account to the service account of the cluster's "
                "nodes (gcloud container node-pools describe POOL --cluster CLUSTER "
                "--format 'value(config.serviceAccount)')"
            )
        if account.disabled:
            self.calls.warn(
                f"service account {account.email} is disabled: nodes that run as it cannot "
                "pull images"
            )
        return Outcome(
            FOUND, f"{account.email}, the Compute Engine default service account", account.email
        )
