"""Roles on a repository or a service account: read-modify-write of its IAM policy.

The policy carries the etag it was read with, so a concurrent change makes the
write fail with ABORTED (409) instead of losing that change: the edit then reads
the policy again and retries, within the run's deadline (gar_calls.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bhsvc.registry.gar_calls import CHANGED, PRESENT, GcpCalls, Outcome
from bhsvc.registry.gcp_errors import Action
from bhsvc.registry.policy import add_member, remove_member
from bhsvc.registry.roles import AR_ADMIN, SA_ADMIN

if TYPE_CHECKING:
    from google.iam.v1.policy_pb2 import Policy

    from bhsvc.registry.gcp_clients import GcpClients


@dataclass(frozen=True)
class PolicyOf:
    """A resource whose IAM policy is edited, and what its calls need."""

    resource: str
    what: str  # "the repository", "the service account": for messages
    client: Any  # ArtifactRegistryClient or IAMClient: the same get/set_iam_policy calls
    permission: str  # the prefix of the getIamPolicy / setIamPolicy permissions
    role: str  # a role that holds both permissions

    def read_action(self) -> Action:
        return Action(
            f"read {self.what}'s IAM policy",
            self.resource,
            f"{self.permission}.getIamPolicy",
            self.role,
        )

    def write_action(self, verb: str) -> Action:
        return Action(
            f"{verb} a role on {self.what}",
            self.resource,
            f"{self.permission}.setIamPolicy",
            self.role,
        )


def repository_policy(clients: GcpClients, repository_name: str) -> PolicyOf:
    return PolicyOf(
        repository_name,
        "the repository",
        clients.artifact_registry,
        "artifactregistry.repositories",
        AR_ADMIN,
    )


def account_policy(clients: GcpClients, account_name: str) -> PolicyOf:
    return PolicyOf(
        account_name, "the service account", clients.iam, "iam.serviceAccounts", SA_ADMIN
    )


def _is_conflict(err: Exception) -> bool:
    from google.api_core import exceptions as gexc

    return isinstance(err, gexc.Conflict)


@dataclass
class Policies:
    """Reads and edits of IAM policies within one run's calls."""

    calls: GcpCalls

    def read(self, where: PolicyOf) -> Policy:
        from google.iam.v1 import iam_policy_pb2, options_pb2

        request = iam_policy_pb2.GetIamPolicyRequest(
            resource=where.resource,
            options=options_pb2.GetPolicyOptions(requested_policy_version=3),
        )
        return self.calls.call(
            where.read_action(),
            lambda timeout: where.client.get_iam_policy(
                request=request, retry=None, timeout=timeout
            ),
        )

    def holds(self, where: PolicyOf, role: str, member: str) -> bool:
        """Whether `member` holds `role` unconditionally."""
        return not add_member(self.read(where), role, member)

    def _edit(
        self,
        where: PolicyOf,
        action: Action,
        change: Callable[[Policy], bool],
        worth_again: Callable[[Exception], bool],
    ) -> bool:
        """Read the policy, `change` it, and write it when it changed; True when written."""
        from google.api_core import exceptions as gexc
        from google.iam.v1 import iam_policy_pb2

        def read_modify_write() -> bool:
            policy = self.read(where)
            if not change(policy):
                return False
            request = iam_policy_pb2.SetIamPolicyRequest(resource=where.resource, policy=policy)
            self.calls.call(
                action,
                lambda timeout: where.client.set_iam_policy(
                    request=request, retry=None, timeout=timeout
                ),
                handled=(gexc.Conflict, gexc.BadRequest, gexc.NotFound),
            )
            return True

        return self.calls.until_deadline(action, read_modify_write, worth_again)

    def grant(self, where: PolicyOf, role: str, member: str, new: bool) -> Outcome:
        """Grant `role` to `member`; `new`: the member or the resource was created by
        this run, and other services may not know it yet."""
        from google.api_core import exceptions as gexc

        def worth_again(err: Exception) -> bool:
            # A service account created seconds ago may not be visible to other
            # services yet: "does not exist" (as a member) or NOT_FOUND (as the resource).
            if _is_conflict(err):
                return True
            if isinstance(err, gexc.BadRequest):
                message = str(err.message)
                return new and "does not exist" in message and "Identity Pool" not in message
            return new and isinstance(err, gexc.NotFound)

        written = self._edit(
            where,
            where.write_action("grant"),
            lambda policy: add_member(policy, role, member),
            worth_again,
        )
        detail = f"{role} for {member.removeprefix('serviceAccount:')}"
        return Outcome(CHANGED if written else PRESENT, detail)

    def revoke(self, where: PolicyOf, role: str, member: str) -> bool:
        """Take `role` from `member`; False when it did not hold it."""
        return self._edit(
            where,
            where.write_action("take back"),
            lambda policy: remove_member(policy, role, member),
            _is_conflict,
        )
