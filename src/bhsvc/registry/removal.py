"""Removing the Artifact Registry side `init` provisioned (`uninstall --registry`).

The parts, in the order init makes them (the removal loop takes them the other
way round): the repository, then for the pusher and the pull account each the
service account, its role on the repository, its key and the key file. Each
goes only when bhsvc made it: the repository by its label, an account by its
description's mark. Of an account bhsvc did not make, only the keys bhsvc made
go (the one in the key file, and those an interrupted init left behind). A
repository that holds images is deleted only with --delete-images: they go with
it. The pusher's Workload Identity binding is on the pusher's own policy, so it
goes with the account; the reader role init granted the nodes' service account
(not bhsvc's) goes with a repository bhsvc made and stays on any other. So do
bhsvc's cleanup policies: on a repository that stays, they go and the
repository's other policies stay.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bhsvc.errors import UsageError
from bhsvc.lifecycle import Cluster, Removable, Removal
from bhsvc.registry import cleanup, keyfile, keys
from bhsvc.registry.gar import (
    CLEANUP_STEP,
    GarProvisioner,
    GarTarget,
    RetryPolicy,
    account_made_by_bhsvc,
    repository_made_by_bhsvc,
)
from bhsvc.registry.gar_keys import KeyHolder, KeyKeeper
from bhsvc.registry.gar_nodes import NodeAccount
from bhsvc.registry.gcp_errors import Action, printable
from bhsvc.registry.roles import AR_ADMIN, AR_READER, READER_ROLE, SA_ADMIN, WRITER_ROLE
from bhsvc.ui import StepResult, print_notice
from bhsvc.workdir import remove_file

if TYPE_CHECKING:
    from google.cloud.artifactregistry_v1 import Repository
    from google.cloud.iam_admin_v1 import types as iam_types

    from bhsvc.registry.gcp_clients import GcpClients

# Deleting a repository with many images takes a while.
REMOVAL_POLICY = RetryPolicy(deadline=600.0)


@dataclass
class GarRemover(GarProvisioner):
    """The removing counterparts of the provisioning steps: each removes what bhsvc
    made and treats what is gone already as done, so a re-run converges."""

    def observe_images(self, limit: int = 3) -> list[str]:
        """Up to `limit` image (package) names in the repository."""
        from google.cloud.artifactregistry_v1 import ListPackagesRequest

        client = self.clients.artifact_registry
        parent = self.target.repository_name
        action = Action(
            "list the repository's images", parent, "artifactregistry.packages.list", AR_READER
        )
        request = ListPackagesRequest(parent=parent, page_size=limit)
        found = self.calls.call(
            action,
            lambda timeout: client.list_packages(request=request, retry=None, timeout=timeout),
        )
        # One page: its first `limit` names are enough to say it is not empty.
        names = [str(package.name).rpartition("/")[2] for package in found.packages]
        return names[:limit]

    def delete_repository(self) -> None:
        """Delete the repository and every image in it (a long-running operation)."""
        client = self.clients.artifact_registry
        name = self.target.repository_name
        delete = Action(
            "delete the repository", name, "artifactregistry.repositories.delete", AR_ADMIN
        )
        operation = self.calls.delete(
            delete,
            lambda timeout: client.delete_repository(name=name, retry=None, timeout=timeout),
        )
        if operation is not None:
            self._wait_for(operation.operation.name, delete)

    def revoke_repository_role(self, role: str, email: str) -> bool:
        """Take `role` on the repository from `email`; False when it does not hold it."""
        return self.policies.revoke(self.repository_policy(), role, f"serviceAccount:{email}")

    def delete_service_account(self, holder: KeyHolder) -> None:
        """Delete an account (and with it every key it has); gone is fine."""
        client = self.clients.iam
        name = holder.account_name
        delete = Action("delete the service account", name, "iam.serviceAccounts.delete", SA_ADMIN)
        self.calls.delete(
            delete,
            lambda timeout: client.delete_service_account(name=name, retry=None, timeout=timeout),
        )


@dataclass
class GarSide:
    """What the parts share: the clients, the names, and what the plan read.

    The plan reads everything before anything goes, so the parts' plans share
    one read of the repository and of each account."""

    clients: GcpClients
    target: GarTarget
    delete_images: bool = False
    policy: RetryPolicy = REMOVAL_POLICY
    _accounts: dict[str, iam_types.ServiceAccount | None] = field(
        default_factory=dict, init=False, repr=False
    )

    def remover(self) -> GarRemover:
        """A remover with a deadline of its own (the cluster's steps may take long)."""
        return GarRemover(self.clients, self.target, policy=self.policy, on_note=print_notice)

    @functools.cached_property
    def repository(self) -> Repository | None:
        """The repository as the plan found it (None: there is none)."""
        return self.remover().observe_repository()

    def account(self, holder: KeyHolder) -> iam_types.ServiceAccount | None:
        """An account as the plan found it (None: there is none)."""
        if holder.email not in self._accounts:
            self._accounts[holder.email] = self.remover().observe_service_account(holder)
        return self._accounts[holder.email]


@dataclass
class RepositoryPart:
    side: GarSide
    name: str = "Artifact Registry repository"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        target = self.side.target
        repo = self.side.repository
        where = f"repository {target.repository_name}"
        if repo is None:
            return Removal(self.name, "registry", detail=f"{where} does not exist")
        if not repository_made_by_bhsvc(repo):
            return Removal(
                self.name, "registry", detail=f"{where} was not created by bhsvc: left alone"
            )
        images = self.side.remover().observe_images()
        blocker = None
        if images and not self.side.delete_images:
            blocker = UsageError(
                f"{where} holds images ({', '.join(images)}, ...), which go with it, also the "
                "ones your users run: pass --delete-images to delete them with it, or run "
                "without --registry"
            )
        held = f" and every image in it ({', '.join(images)}, ...)" if images else ""
        return Removal(self.name, "registry", (where + held,), blocker=blocker)

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        self.side.remover().delete_repository()
        step.status = "deleted"
        step.detail = self.side.target.image_path


@dataclass
class CleanupPart:
    """bhsvc's cleanup policies on a repository that stays."""

    side: GarSide
    name: str = CLEANUP_STEP

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        repo = self.side.repository
        if repo is None or repository_made_by_bhsvc(repo):
            return Removal(self.name, "registry")  # they go with the repository
        ids = sorted(printable(key) for key in repo.cleanup_policies if cleanup.is_bhsvc(key))
        if not ids:
            return Removal(self.name, "registry")
        where = self.side.target.repository_name
        return Removal(
            self.name, "registry", (f"cleanup policies {', '.join(ids)} of repository {where}",)
        )

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        outcome = self.side.remover().ensure_cleanup_policies(off=True)
        step.status, step.detail = outcome.status, outcome.detail


@dataclass
class AccountPart:
    side: GarSide
    holder: KeyHolder
    name: str = "pusher service account"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        email = self.holder.email
        account = self.side.account(self.holder)
        if account is None:
            return Removal(self.name, "registry", detail=f"service account {email} does not exist")
        if not account_made_by_bhsvc(account):
            return Removal(
                self.name,
                "registry",
                detail=f"service account {email} was not created by bhsvc: left alone",
            )
        return Removal(self.name, "registry", (f"service account {email}",))

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        self.side.remover().delete_service_account(self.holder)
        step.status = "deleted"
        step.detail = self.holder.email


@dataclass
class BindingPart:
    """A role init granted on a repository that stays: that of an account bhsvc
    deletes (it would outlive it as a binding of a deleted account), or the nodes'
    reader role."""

    side: GarSide
    role: str
    email: str | None  # None: the project's Compute Engine default service account
    holder: KeyHolder | None  # the account bhsvc may delete; None: one it never deletes
    name: str = "writer role on the repository"
    _email: str = field(default="", init=False, repr=False)

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        gar = self.side.remover()
        self._email = self.email or ""
        repo = self.side.repository
        if repo is None or repository_made_by_bhsvc(repo):
            return Removal(self.name, "registry")  # goes with the repository
        if self.holder is not None:
            account = self.side.account(self.holder)
            if account is None or not account_made_by_bhsvc(account):
                return Removal(self.name, "registry")  # the account stays, and its role
        if not self._email:
            default = NodeAccount(gar.calls, gar.target).observe()
            self._email = default.email if default is not None else ""
        if not self._email or not gar.observe_repository_role(self.role, self._email):
            return Removal(self.name, "registry")
        where = self.side.target.repository_name
        role = self.role.rpartition(".")[2]  # writer, reader
        return Removal(
            self.name, "registry", (f"{role} role of {self._email} on repository {where}",)
        )

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        taken = self.side.remover().revoke_repository_role(self.role, self._email)
        step.status = "removed" if taken else "absent"
        step.detail = self._email


@dataclass
class KeyPart:
    """An account's keys bhsvc made and its key file with the two files beside it."""

    side: GarSide
    holder: KeyHolder
    name: str = "pusher key"
    _keys: list[str] = field(default_factory=list, init=False, repr=False)
    _files: list[Path] = field(default_factory=list, init=False, repr=False)

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        holder = self.holder
        path = holder.key_file
        gar = self.side.remover()
        notes = []
        try:
            held = keys.read_key_file_info(path, holder.email, holder.field)
        except UsageError as err:  # another account's key, or not a key: not bhsvc's
            held = None
            notes.append(f"{err}: left alone")
        try:
            pending = keyfile.read_pending(path)
        except UsageError as err:
            pending = None
            notes.append(str(err))
        account = self.side.account(holder)
        self._keys = []
        if account is not None:
            listed = KeyKeeper(gar.calls, holder).list_keys(holder.email)
            if account_made_by_bhsvc(account):
                self._keys = [key.key_id for key in listed]
            else:
                ids = {key.key_id for key in listed}
                mine = [held.key_id] if held is not None and held.key_id in ids else []
                if pending is not None and pending.account == holder.email:
                    mine += keys.left_behind(pending, listed, held.key_id if held else None)
                self._keys = list(dict.fromkeys(mine))
        self._files = [p for p in self._local_files(held, pending) if _regular(p)]
        objects = [f"key {key_id} of {holder.email}" for key_id in self._keys]
        objects += [f"file {p}" for p in self._files]
        return Removal(self.name, "registry", tuple(objects), "; ".join(notes))

    def _local_files(
        self, held: keys.KeyFileInfo | None, pending: keys.PendingKey | None
    ) -> list[Path]:
        path = self.holder.key_file
        found = [path] if held is not None else []
        if pending is not None:
            found.append(keyfile.pending_path(path))
        lock = keyfile.lock_path(path)
        if _regular(lock) and lock.stat().st_size == 0:
            found.append(lock)
        return found

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        holder = self.holder
        keeper = KeyKeeper(self.side.remover().calls, holder)
        lock = keyfile.lock_path(holder.key_file)
        folder = holder.key_file.parent.is_dir()
        existed = _regular(lock)
        # No init may make a key while they go; the lock file itself goes last.
        held = keyfile.locked(holder.key_file, 60.0, print_notice)
        with held if folder else contextlib.nullcontext():
            for key_id in self._keys:
                keeper.delete_key(holder.email, key_id)
            for path in self._files:
                if path != lock:
                    remove_file(path)
        if lock in self._files or (folder and not existed):
            remove_file(lock)
        step.status = "deleted"
        step.detail = f"{len(self._keys)} key(s), {len(self._files)} file(s)"


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def registry_parts(clients: GcpClients, target: GarTarget, delete_images: bool) -> list[Removable]:
    """The parts in the order init makes them."""
    side = GarSide(clients, target, delete_images)
    pusher, puller = target.pusher, target.puller
    parts: list[Removable] = [
        RepositoryPart(side),
        CleanupPart(side),
        AccountPart(side, pusher),
        BindingPart(side, WRITER_ROLE, pusher.email, pusher),
        KeyPart(side, pusher),
    ]
    # With Workload Identity: the pull account a switch from keys may have left.
    if target.with_puller or target.keyless or puller.key_file.exists():
        parts += [
            AccountPart(side, puller, "pull service account"),
            BindingPart(side, READER_ROLE, puller.email, puller, "reader role of the pull account"),
            KeyPart(side, puller, "pull key"),
        ]
    if target.keyless:
        nodes = target.node_account
        parts.append(BindingPart(side, READER_ROLE, nodes, None, "reader role for the nodes"))
    return parts
