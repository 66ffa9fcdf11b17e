"""The service-account keys bhsvc keeps in files: reused, created, rotated, or
deleted once no longer used.

One key file per account, one run at a time per key file (its lock), and a
record written before IAM is asked for a key (keyfile.py): every key a run
makes ends up in the key file, or is deleted, or is named with the command
that deletes it, even when the run is stopped while Google creates the key.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bhsvc import files
from bhsvc.errors import OperationError
from bhsvc.registry import keyfile, keys
from bhsvc.registry.gar_calls import CHANGED, CREATED, PRESENT, GcpCalls, Handled, Outcome
from bhsvc.registry.gcp_errors import Action, surely_not_done
from bhsvc.registry.roles import KEY_ADMIN

NO_KEY = "none"
UNUSED = "unused"
DELETED = "deleted"


@dataclass(frozen=True)
class KeyHolder:
    """A service account whose JSON key bhsvc keeps in a file."""

    account_id: str
    project: str
    key_file: Path
    field: str = keys.KEY_FIELD  # the config key that names the key file

    @property
    def email(self) -> str:
        return f"{self.account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def account_name(self) -> str:
        return f"projects/{self.project}/serviceAccounts/{self.email}"


def _fate(delete_command: str | None) -> str:
    """How a key no file holds was dealt with (see KeyKeeper._discard)."""
    return "deleted by bhsvc" if delete_command is None else f"delete it with {delete_command}"


@dataclass
class KeyKeeper:
    """The key of one account, in its key file, within the run's calls."""

    calls: GcpCalls
    holder: KeyHolder

    def _account_name(self, email: str) -> str:
        # `projects/-` lets IAM find the project of an account other than the holder's.
        if email == self.holder.email:
            return self.holder.account_name
        return f"projects/-/serviceAccounts/{email}"

    def list_keys(self, email: str, handled: Handled = ()) -> list[keys.ListedKey]:
        """The user-managed keys of `email`."""
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        client = self.calls.clients.iam
        name = self._account_name(email)
        action = Action(
            "list the service account's keys", name, "iam.serviceAccountKeys.list", KEY_ADMIN
        )
        request = types.ListServiceAccountKeysRequest(
            name=name, key_types=[types.ListServiceAccountKeysRequest.KeyType.USER_MANAGED]
        )

        def list_once() -> types.ListServiceAccountKeysResponse:
            return self.calls.call(
                action,
                lambda timeout: client.list_service_account_keys(
                    request=request, retry=None, timeout=timeout
                ),
                handled=(gexc.NotFound,),
            )

        def unknown_yet(err: Exception) -> bool:
            # IAM is eventually consistent: an account created seconds ago may be
            # unknown to this call for a while.
            return email in self.calls.new_accounts and isinstance(err, gexc.NotFound)

        listing = self.calls.until_deadline(action, list_once, unknown_yet, handled)
        return [
            keys.ListedKey(keys.key_id_from_name(key.name), key.valid_after_time)
            for key in listing.keys
        ]

    def observe(self, email: str) -> tuple[keys.KeyFileInfo | None, list[keys.ListedKey]]:
        """The key file's key (None without a key file) and the account's user-managed keys."""
        holder = self.holder
        info = keys.read_key_file_info(holder.key_file, email, holder.field)
        return info, self.list_keys(email)

    def delete_key(self, email: str, key_id: str) -> None:
        """Delete a key of `email`; one already gone is fine (the goal is reached)."""
        client = self.calls.clients.iam
        name = f"{self._account_name(email)}/keys/{key_id}"
        delete = Action(
            "delete a key of the service account", name, "iam.serviceAccountKeys.delete", KEY_ADMIN
        )
        self.calls.delete(
            delete,
            lambda timeout: client.delete_service_account_key(
                name=name, retry=None, timeout=timeout
            ),
        )

    def _discard(self, email: str, key_id: str) -> str | None:
        """Delete a key no file holds: None when it is gone, else the command that deletes it."""
        try:
            self.delete_key(email, key_id)
        except OperationError:
            return keys.delete_command(key_id, email)
        return None

    def _keep_private(self, path: Path) -> None:
        """A reused key file readable by others (copied, unpacked) is made 0600 again."""
        warning = files.make_private(path)
        if warning:
            self.calls.warn(warning)

    def _settle_pending(
        self, email: str, existing: keys.KeyFileInfo | None, listed: list[keys.ListedKey]
    ) -> list[keys.ListedKey]:
        """Finish what an interrupted run recorded: the keys it made that no key file holds
        (and the key its rotation replaced) are deleted, or named with the command that
        deletes them. Returns the keys of `email` still listed."""
        from google.api_core import exceptions as gexc

        path = self.holder.key_file
        pending = keyfile.read_pending(path, self.holder.field)
        if pending is None:
            return listed
        account = pending.account
        held = existing.key_id if existing is not None else None
        theirs = listed
        if account != email:  # the config named another account then: no file holds its keys
            held = None
            try:
                theirs = self.list_keys(account, handled=(gexc.NotFound,))
            except gexc.NotFound:  # the account is gone, and its keys with it
                theirs = []
        deleted = set()
        for key_id in keys.left_behind(pending, theirs, held):
            command = self._discard(account, key_id)
            if command is None:
                deleted.add(key_id)
            why = (
                f"was replaced in {path} by an init stopped before deleting it"
                if key_id == pending.replaces
                else f"was made by an init stopped before writing it to {path}"
            )
            self.calls.warn(f"key {key_id} of {account} {why}: {_fate(command)}")
        keyfile.remove_pending(path)
        return [key for key in listed if key.key_id not in deleted]

    def _locked_folder(self) -> contextlib.AbstractContextManager[None]:
        """The key file's lock, its folder made first: a folder that cannot be made
        leaves no key behind. The key file is read under the lock: the run that held
        it may have just written a key."""
        path = self.holder.key_file
        try:
            files.make_private_dir(path.parent)
        except OSError as err:
            raise OperationError(f"{path}: cannot create its folder ({err.strerror})") from None
        return keyfile.locked(path, max(0.0, self.calls.remaining()), self.calls.note)

    def ensure(self, email: str, rotate: bool) -> Outcome:
        """A usable key of `email` in the key file: the one there, or a new one."""
        path = self.holder.key_file
        with self._locked_folder():
            existing, listed = self.observe(email)
            listed = self._settle_pending(email, existing, listed)
            plan = keys.plan_key(existing, [key.key_id for key in listed], email, rotate)
            for warning in plan.warnings:
                self.calls.warn(warning)
            if plan.action is keys.KeyAction.REUSE and existing is not None:
                self._keep_private(path)
                return Outcome(PRESENT, f"key {existing.key_id[:12]} in {path}")
            now = datetime.now(timezone.utc)
            pending = keys.PendingKey(
                account=email,
                started=now,
                until=now + timedelta(seconds=max(0.0, self.calls.remaining())),
                keys_before=tuple(key.key_id for key in listed),
                replaces=plan.old_key_id,
            )
            new_id = self._create_key(pending, existing)
            if plan.old_key_id is None:
                keyfile.remove_pending(path)
                return Outcome(CREATED, f"key {new_id[:12]} written to {path}")
            self._finish_rotation(email, new_id, plan.old_key_id)
            return Outcome(
                CHANGED,
                f"key {new_id[:12]} written to {path}; old key {plan.old_key_id[:12]} deleted",
            )

    def retire(self, delete: bool, how_to_delete: str) -> Outcome:
        """The key of an account that no longer needs one (Workload Identity): with
        `delete`, the key the key file holds is deleted and the file removed; otherwise
        it is left as it is and a warning says how to delete it (`how_to_delete`: the
        command that does). Keys no file holds are only named."""
        from google.api_core import exceptions as gexc

        holder = self.holder
        email, path = holder.email, holder.key_file
        if not (path.exists() or keyfile.pending_path(path).exists()):
            try:  # no file: only say whether the account has keys someone else made
                listed = self.list_keys(email, handled=(gexc.NotFound,))
            except gexc.NotFound:
                listed = []
            return self._others(email, listed, None) or Outcome(NO_KEY, f"{email} has no key")
        with self._locked_folder():
            existing = keys.read_key_file_info(path, email, holder.field)
            try:
                listed = self.list_keys(email, handled=(gexc.NotFound,))
            except gexc.NotFound:  # the account is gone, and its keys with it
                listed = []
            listed = self._settle_pending(email, existing, listed)
            listed_ids = {key.key_id for key in listed}
            if existing is None:
                return self._others(email, listed, None) or Outcome(NO_KEY, f"{email} has no key")
            if not delete:
                live = "" if existing.key_id in listed_ids else " (no longer listed by Google)"
                self.calls.warn(
                    f"key {existing.key_id[:12]} of {email} in {path}{live} is not needed with "
                    f"Workload Identity: once builds work, delete it with {how_to_delete}"
                )
                self._others(email, listed, existing.key_id)
                return Outcome(UNUSED, f"key {existing.key_id[:12]} kept in {path}")
            if existing.key_id in listed_ids:
                self.delete_key(email, existing.key_id)
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                raise OperationError(
                    f"{path}: key {existing.key_id[:12]} was deleted, but the file could not "
                    f"be removed ({err.strerror}): remove it yourself"
                ) from None
            self._others(email, listed, existing.key_id)
            return Outcome(DELETED, f"key {existing.key_id[:12]} deleted, {path} removed")

    def _others(self, email: str, listed: list[keys.ListedKey], held: str | None) -> Outcome | None:
        """Keys of `email` that no key file here holds: named, never deleted (someone
        else may use them)."""
        others = [key.key_id for key in listed if key.key_id != held]
        if not others:
            return None
        self.calls.warn(
            f"{email} has user-managed keys that no key file here holds "
            f"({', '.join(k[:12] for k in others)}): delete the ones nobody uses "
            f"({keys.delete_command('KEY_ID', email)})"
        )
        return Outcome(UNUSED, f"{len(others)} key(s) made elsewhere")

    def _create_key(self, pending: keys.PendingKey, existing: keys.KeyFileInfo | None) -> str:
        """Record the intent, create a key and write it to the key file; its id.

        A key this makes that the file does not end up holding is deleted, or named
        with the command that deletes it.
        """
        from google.cloud.iam_admin_v1 import types

        holder = self.holder
        email, path = pending.account, holder.key_file
        client = self.calls.clients.iam
        keyfile.write_pending(path, pending)
        create = Action(
            "create a key for the service account",
            holder.account_name,
            "iam.serviceAccountKeys.create",
            KEY_ADMIN,
        )
        request = types.CreateServiceAccountKeyRequest(
            name=holder.account_name,
            private_key_type=types.ServiceAccountPrivateKeyType.TYPE_GOOGLE_CREDENTIALS_FILE,
        )
        try:
            created = self.calls.call(
                create,
                lambda timeout: client.create_service_account_key(
                    request=request, retry=None, timeout=timeout
                ),
                # A create whose answer was lost may have made a key: never a second one.
                idempotent=False,
            )
        except OperationError as err:
            made = self._made_anyway(pending, existing, err.__cause__)
            raise OperationError(f"{err}{made}") from None
        new_id = keys.key_id_from_name(created.name)
        try:
            text = keys.key_file_text(created.private_key_data, new_id)
            del created  # hold the key material no longer than needed
            files.write_atomic(path, text, files.SECRET_MODE, durable=True)
        except (OperationError, OSError) as err:
            problem = (
                f"{path}: cannot write the new key ({err.strerror})"
                if isinstance(err, OSError)
                else str(err)
            )
            command = self._discard(email, new_id)
            keyfile.remove_pending(path)
            raise OperationError(
                f"{problem}; key {new_id} was made all the same, {_fate(command)}; run init again"
            ) from None
        del text
        return new_id

    def _made_anyway(
        self,
        pending: keys.PendingKey,
        existing: keys.KeyFileInfo | None,
        cause: BaseException | None,
    ) -> str:
        """After a failed create: the keys it made all the same, deleted or named (to add
        to the error). The record stays when that cannot be settled now."""
        path = self.holder.key_file
        if surely_not_done(cause):
            keyfile.remove_pending(path)
            return ""
        try:
            listed = self.list_keys(pending.account)
        except OperationError:
            return "; the next init checks whether a key was made all the same"
        made = keys.left_behind(pending, listed, existing.key_id if existing else None)
        if not made:
            return ""  # none listed yet: the record stays, and the next run looks again
        keyfile.remove_pending(path)
        return "".join(
            f"; Google made key {key_id} all the same, "
            f"{_fate(self._discard(pending.account, key_id))}"
            for key_id in made
        )

    def _finish_rotation(self, email: str, new_id: str, old_id: str) -> None:
        """Delete the key the new one replaces; the record goes once that is done or said."""
        path = self.holder.key_file
        try:
            self.delete_key(email, old_id)
        except OperationError as err:
            # The new key is in the key file: a rerun with --rotate-key would rotate
            # away from it and leave this old key behind, so say how to finish.
            keyfile.remove_pending(path)
            raise OperationError(
                f"{err}; the new key {new_id[:12]} is in {path}, the old key {old_id} still "
                f"works: delete it with {keys.delete_command(old_id, email)}"
            ) from None
        keyfile.remove_pending(path)
