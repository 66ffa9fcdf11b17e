"""Artifact Registry cleanup policies for `registry.gar.cleanup`: the policies the
config asks for, the change that gets the repository there, and how policies read.

Pure: messages are built and compared here; gar.py makes the calls. The policies
whose ids start with `bhsvc-` are bhsvc's; any other is the user's own and stays
as it is. A repository's policies are one map, replaced whole by an update that
names `cleanup_policies` in its mask, so the user's policies are sent back with
bhsvc's. The dry-run flag is the repository's, for every policy: bhsvc sets it only
while the config has a cleanup section.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bhsvc.errors import OperationError
from bhsvc.registry.gar_calls import CHANGED, CREATED, PRESENT
from bhsvc.text import clip, printable

if TYPE_CHECKING:
    from google.cloud.artifactregistry_v1 import (
        CleanupPolicy,
        Repository,
        UpdateRepositoryRequest,
    )

    from bhsvc.config.registry import GarCleanup

PREFIX = "bhsvc-"
KEEP_RECENT = "bhsvc-keep-recent"
DELETE_UNTAGGED = "bhsvc-delete-untagged"
DELETE_OLD = "bhsvc-delete-old"
# Artifact Registry takes at most 10 cleanup policies on a repository.
MAX_POLICIES = 10
POLICIES_FIELD = "cleanup_policies"
DRY_RUN_FIELD = "cleanup_policy_dry_run"
_DAY = 86_400  # seconds
REMOVED = "removed"


def is_bhsvc(policy_id: str) -> bool:
    return policy_id.startswith(PREFIX)


def wanted_policies(cleanup: GarCleanup | None) -> dict[str, CleanupPolicy]:
    """The policies `cleanup` asks for, by id (none without the section)."""
    from google.cloud.artifactregistry_v1 import (
        CleanupPolicy,
        CleanupPolicyCondition,
        CleanupPolicyMostRecentVersions,
    )
    from google.protobuf import duration_pb2

    if cleanup is None:
        return {}
    delete, any_tag = CleanupPolicy.Action.DELETE, CleanupPolicyCondition.TagState.ANY
    untagged = CleanupPolicyCondition.TagState.UNTAGGED
    wanted: dict[str, CleanupPolicy] = {}
    if cleanup.keep_recent is not None:
        wanted[KEEP_RECENT] = CleanupPolicy(
            id=KEEP_RECENT,
            action=CleanupPolicy.Action.KEEP,
            most_recent_versions=CleanupPolicyMostRecentVersions(keep_count=cleanup.keep_recent),
        )
    for policy_id, state, days in (
        (DELETE_UNTAGGED, untagged, cleanup.untagged_after_days),
        (DELETE_OLD, any_tag, cleanup.older_than_days),
    ):
        if days is not None:
            condition = CleanupPolicyCondition(
                tag_state=state, older_than=duration_pb2.Duration(seconds=days * _DAY)
            )
            wanted[policy_id] = CleanupPolicy(id=policy_id, action=delete, condition=condition)
    return wanted


def _same(a: CleanupPolicy, b: CleanupPolicy) -> bool:
    """Equal but for `id`, which the map's key says already."""
    from google.cloud.artifactregistry_v1 import CleanupPolicy

    def bare(policy: CleanupPolicy) -> Any:
        found = CleanupPolicy.pb(CleanupPolicy())
        found.CopyFrom(CleanupPolicy.pb(policy))
        found.ClearField("id")
        return found

    return bool(bare(a) == bare(b))


@dataclass(frozen=True)
class Change:
    """What an update of the repository sets; no `mask`: nothing to change."""

    policies: dict[str, CleanupPolicy]  # the whole map after the change
    dry_run: bool
    mask: tuple[str, ...]
    before: int  # how many of bhsvc's policies were there
    wanted: int  # how many of bhsvc's policies there are to be

    @property
    def status(self) -> str:
        if not self.mask:
            return PRESENT
        if not self.before:
            return CREATED
        return CHANGED if self.wanted else REMOVED

    @property
    def detail(self) -> str:
        return describe(views(self.policies), self.dry_run)

    def request(self, repository_name: str) -> UpdateRepositoryRequest:
        """The update: the fields in the mask change, and nothing else."""
        from google.cloud.artifactregistry_v1 import Repository, UpdateRepositoryRequest
        from google.protobuf import field_mask_pb2

        repository = Repository(
            name=repository_name,
            cleanup_policies=self.policies,
            cleanup_policy_dry_run=self.dry_run,
        )
        mask = field_mask_pb2.FieldMask(paths=list(self.mask))
        return UpdateRepositoryRequest(repository=repository, update_mask=mask)


def plan(repository: Repository, cleanup: GarCleanup | None) -> Change:
    """The change from the repository's policies to the ones `cleanup` asks for."""
    current: dict[str, CleanupPolicy] = dict(repository.cleanup_policies)
    others = {key: policy for key, policy in current.items() if not is_bhsvc(key)}
    mine = {key: policy for key, policy in current.items() if is_bhsvc(key)}
    wanted = wanted_policies(cleanup)
    mask = []
    if mine.keys() != wanted.keys() or not all(_same(mine[k], wanted[k]) for k in wanted):
        if len(others) + len(wanted) > MAX_POLICIES:
            raise OperationError(
                f"the repository has {len(others)} cleanup policies of its own; with "
                f"bhsvc's {len(wanted)} it would have more than the {MAX_POLICIES} Artifact "
                "Registry allows: remove some of them, or some of registry.gar.cleanup"
            )
        mask.append(POLICIES_FIELD)
    dry_run = bool(repository.cleanup_policy_dry_run)
    if cleanup is not None and cleanup.dry_run != dry_run:
        mask.append(DRY_RUN_FIELD)
        dry_run = cleanup.dry_run
    return Change({**others, **wanted}, dry_run, tuple(mask), len(mine), len(wanted))


# ---- how policies read -------------------------------------------------------------


@dataclass(frozen=True)
class PolicyView:
    """One policy as status shows it; its id as printable text."""

    id: str
    bhsvc: bool
    action: str  # DELETE, KEEP (ACTION_UNSPECIFIED when unset)
    tag_state: str | None  # TAGGED, UNTAGGED, ANY
    older_than_days: float | None
    keep_count: int | None
    more_conditions: bool  # prefixes of names or tags, or newer_than: not shown here

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def phrase(self) -> str:
        if self.keep_count is not None:
            text = f"keep {self.keep_count} recent"
        else:
            state = {"UNTAGGED": "untagged", "TAGGED": "tagged"}.get(self.tag_state or "", "any")
            text = f"{self.action.lower()} {state}"
            if self.older_than_days is not None:
                days = self.older_than_days
                text += f" after {days:g} day{'' if days == 1 else 's'}"
        return text + (" (with more conditions)" if self.more_conditions else "")


def views(policies: Mapping[str, CleanupPolicy]) -> list[PolicyView]:
    """The policies of a repository (or wanted): keep policies first, then the youngest
    a delete policy takes."""
    from google.cloud.artifactregistry_v1 import CleanupPolicy, CleanupPolicyCondition

    found = []
    for key, policy in policies.items():
        pb = CleanupPolicy.pb(policy)
        condition, recent = pb.condition, pb.most_recent_versions
        older: float | None = None
        if condition.HasField("older_than"):
            seconds = condition.older_than.seconds
            older = seconds // _DAY if seconds % _DAY == 0 else seconds / _DAY
        tag_state = None
        if condition.HasField("tag_state"):
            tag_state = CleanupPolicyCondition.TagState(condition.tag_state).name
        found.append(
            PolicyView(
                id=printable(key, 128),
                bhsvc=is_bhsvc(key),
                action=CleanupPolicy.Action(pb.action).name,
                tag_state=tag_state,
                older_than_days=older,
                keep_count=recent.keep_count if recent.HasField("keep_count") else None,
                more_conditions=bool(
                    condition.tag_prefixes
                    or condition.version_name_prefixes
                    or condition.package_name_prefixes
                    or condition.HasField("newer_than")
                    or recent.package_name_prefixes
                ),
            )
        )
    return sorted(found, key=lambda v: (v.action != "KEEP", v.older_than_days or 0, v.id))


def describe(found: list[PolicyView], dry_run: bool) -> str:
    """'keep 10 recent, delete untagged after 7 days (dry run)'; bhsvc's policies only,
    the others counted."""
    mine = [view.phrase() for view in found if view.bhsvc]
    others = [clip(view.id, 40) for view in found if not view.bhsvc]
    text = ", ".join(mine) or "none of bhsvc's"
    if others:
        text += f"; {len(others)} of the repository's own ({', '.join(others)})"
    return text + (" (dry run)" if dry_run else "")


def in_words(cleanup: GarCleanup) -> str:
    """What a cleanup section asks for, as the step that sets it will say it."""
    return describe(views(wanted_policies(cleanup)), cleanup.dry_run)
