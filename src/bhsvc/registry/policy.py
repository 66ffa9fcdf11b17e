"""IAM policy edits, as pure functions on a `google.iam.v1.Policy` message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.iam.v1.policy_pb2 import Policy


def add_member(policy: Policy, role: str, member: str) -> bool:
    """Grant `role` to `member` unconditionally; False when it is already granted.

    Only a binding without a condition counts: a conditional grant may not
    apply when BinderHub pushes, and adding to it would inherit its condition.
    """
    for binding in policy.bindings:
        if binding.role == role and not binding.HasField("condition"):
            if member in binding.members:
                return False
            binding.members.append(member)
            return True
    policy.bindings.add(role=role, members=[member])
    return True


def remove_member(policy: Policy, role: str, member: str) -> bool:
    """Take `member` out of the unconditional binding of `role` (the one add_member
    grants); False when it is not there. A binding left without members goes."""
    for binding in list(policy.bindings):
        if binding.role == role and not binding.HasField("condition"):
            if member not in binding.members:
                return False
            binding.members.remove(member)
            if not binding.members:
                policy.bindings.remove(binding)
            return True
    return False
