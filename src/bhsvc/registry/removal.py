"""Removing the Artifact Registry side `init` provisioned (`uninstall --registry`).

The parts, in the order init makes them (the removal loop takes them the other
way round): the repository, the pusher service account, its writer role on the
repository, its key and the key file. Each goes only when bhsvc made it: the
repository by its label, the account by its description's mark. Of an account
bhsvc did not make, only the keys bhsvc made go (the one in the key file, and
those an interrupted init left behind). A repository that holds images is
deleted only with --delete-images: they go with it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bhsvc.errors import UsageError
from bhsvc.lifecycle import Cluster, Removable, Removal
from bhsvc.registry import keyfile, keys
from bhsvc.registry.gar import (
    GarRemover,
    GarTarget,
    RetryPolicy,
    account_made_by_bhsvc,
    repository_made_by_bhsvc,
)
from bhsvc.registry.gcp_clients import GcpClients
from bhsvc.ui import StepResult, print_notice
from bhsvc.workdir import remove_file

# Deleting a repository with many images takes a while.
REMOVAL_POLICY = RetryPolicy(deadline=600.0)


@dataclass
class GarSide:
    """What the parts share: the clients and the names."""

    clients: GcpClients
    target: GarTarget
    delete_images: bool = False
    policy: RetryPolicy = REMOVAL_POLICY

    def remover(self) -> GarRemover:
        """A remover with a deadline of its own (the cluster's steps may take long)."""
        return GarRemover(self.clients, self.target, policy=self.policy, on_note=print_notice)


@dataclass
class RepositoryPart:
    side: GarSide
    name: str = "Artifact Registry repository"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        target = self.side.target
        gar = self.side.remover()
        repo = gar.observe_repository()
        where = f"repository {target.repository_name}"
        if repo is None:
            return Removal(self.name, "registry", detail=f"{where} does not exist")
        if not repository_made_by_bhsvc(repo):
            return Removal(
                self.name, "registry", detail=f"{where} was not created by bhsvc: left alone"
            )
        images = gar.observe_images()
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
class AccountPart:
    side: GarSide
    name: str = "pusher service account"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        email = self.side.target.email
        account = self.side.remover().observe_service_account()
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
        self.side.remover().delete_service_account()
        step.status = "deleted"
        step.detail = self.side.target.email


@dataclass
class BindingPart:
    """The account's writer role on a repository that stays: it would outlive the
    account bhsvc deletes (as a binding of a deleted account)."""

    side: GarSide
    name: str = "writer role on the repository"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        target = self.side.target
        gar = self.side.remover()
        account = gar.observe_service_account()
        repo = gar.observe_repository()
        if account is None or not account_made_by_bhsvc(account):
            return Removal(self.name, "registry")  # the account stays, and its role
        if repo is None or repository_made_by_bhsvc(repo):
            return Removal(self.name, "registry")  # goes with the repository
        if not gar.observe_writer_binding(target.email):
            return Removal(self.name, "registry")
        return Removal(
            self.name,
            "registry",
            (f"writer role of {target.email} on repository {target.repository_name}",),
        )

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        taken = self.side.remover().remove_writer_binding(self.side.target.email)
        step.status = "removed" if taken else "absent"
        step.detail = self.side.target.email


@dataclass
class KeyPart:
    """The pusher's keys bhsvc made and the key file with the two files beside it."""

    side: GarSide
    name: str = "pusher key"
    _keys: list[str] = field(default_factory=list, init=False, repr=False)
    _files: list[Path] = field(default_factory=list, init=False, repr=False)

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        target = self.side.target
        path = target.key_file
        gar = self.side.remover()
        notes = []
        try:
            held = keys.read_key_file_info(path, target.email)
        except UsageError as err:  # another account's key, or not a key: not bhsvc's
            held = None
            notes.append(f"{err}: left alone")
        try:
            pending = keyfile.read_pending(path)
        except UsageError as err:
            pending = None
            notes.append(str(err))
        account = gar.observe_service_account()
        self._keys = []
        if account is not None:
            listed = gar.list_keys(target.email)
            if account_made_by_bhsvc(account):
                self._keys = [key.key_id for key in listed]
            else:
                ids = {key.key_id for key in listed}
                mine = [held.key_id] if held is not None and held.key_id in ids else []
                if pending is not None and pending.account == target.email:
                    mine += keys.left_behind(pending, listed, held.key_id if held else None)
                self._keys = list(dict.fromkeys(mine))
        self._files = [p for p in self._local_files(held, pending) if _regular(p)]
        objects = [f"key {key_id} of {target.email}" for key_id in self._keys]
        objects += [f"file {p}" for p in self._files]
        return Removal(self.name, "registry", tuple(objects), "; ".join(notes))

    def _local_files(
        self, held: keys.KeyFileInfo | None, pending: keys.PendingKey | None
    ) -> list[Path]:
        path = self.side.target.key_file
        found = [path] if held is not None else []
        if pending is not None:
            found.append(keyfile.pending_path(path))
        lock = keyfile.lock_path(path)
        if _regular(lock) and lock.stat().st_size == 0:
            found.append(lock)
        return found

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        target = self.side.target
        gar = self.side.remover()
        lock = keyfile.lock_path(target.key_file)
        folder = target.key_file.parent.is_dir()
        existed = _regular(lock)
        # No init may make a key while they go; the lock file itself goes last.
        held = keyfile.locked(target.key_file, 60.0, print_notice)
        with held if folder else contextlib.nullcontext():
            for key_id in self._keys:
                gar.delete_key(target.email, key_id)
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
    return [RepositoryPart(side), AccountPart(side), BindingPart(side), KeyPart(side)]
