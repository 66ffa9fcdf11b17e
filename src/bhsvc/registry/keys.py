"""Service-account key decisions: reuse, create or rotate, and which keys an
interrupted creation left behind. Pure, apart from reading the key file.

Nothing here puts key material into a message: errors name the file and the key
id (a public identifier), never the content.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bhsvc.errors import OperationError, UsageError
from bhsvc.files import SECRET_LIMIT, UnusableFile, read_user_file

# Google allows at most 10 user-managed keys per service account.
MAX_USER_KEYS = 10
WARN_AT_KEYS = 8
# How far this machine's clock and Google's may disagree about when a key was made.
CLOCK_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class KeyFileInfo:
    """The key file of an account (read_key_file_info checks the account)."""

    key_id: str


class KeyAction(str, enum.Enum):
    REUSE = "reuse"
    CREATE = "create"
    ROTATE = "rotate"


@dataclass(frozen=True)
class KeyPlan:
    action: KeyAction
    old_key_id: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListedKey:
    """A user-managed key as IAM lists it: its id and when it was made (valid_after_time)."""

    key_id: str
    created: datetime


@dataclass(frozen=True)
class PendingKey:
    """What a run records before it asks IAM for a key (no secret in it).

    `until` is the end of that run's deadline: no key of its making is younger.
    `replaces` is the key a rotation deletes once the new key is in the file.
    """

    account: str
    started: datetime
    until: datetime
    keys_before: tuple[str, ...]
    replaces: str | None = None


def left_behind(pending: PendingKey, listed: Sequence[ListedKey], held: str | None) -> list[str]:
    """The keys a run that recorded `pending` made or meant to delete, which no key file holds.

    A key it made: listed now, not listed before it asked, made between its start and
    its deadline (give or take CLOCK_MARGIN), and not the key file's key (`held`). The
    key a rotation replaces counts too once the key file holds another listed key.
    """
    low, high = pending.started - CLOCK_MARGIN, pending.until + CLOCK_MARGIN
    found = [
        key.key_id
        for key in listed
        if key.key_id not in pending.keys_before
        and key.key_id != held
        and low <= key.created <= high
    ]
    old = pending.replaces
    if old is not None and held not in (None, old) and {old, held} <= {k.key_id for k in listed}:
        found.append(old)
    return found


def delete_command(key_id: str, email: str) -> str:
    return f"gcloud iam service-accounts keys delete {key_id} --iam-account {email}"


def key_id_from_name(name: str) -> str:
    """`projects/p/serviceAccounts/e/keys/<id>` -> `<id>`."""
    return name.rsplit("/", 1)[-1]


KEY_FIELD = "registry.gar.key_file"


def read_key_file_info(path: Path, email: str, field: str = KEY_FIELD) -> KeyFileInfo | None:
    """The key id and account of the key file, None when there is none yet (first run).

    A file that is not a key of `email` is refused, never replaced: it may be
    another account's only copy of its key, or any file `field` points at.
    """
    keep = f"bhsvc does not overwrite it: point {field} elsewhere or move it"
    try:
        text = read_user_file(path, "key file", SECRET_LIMIT)
    except UnusableFile as err:
        if err.missing:
            return None
        raise UsageError(f"{field}: {err}; {keep}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("private_key_id"), str)
        or not isinstance(data.get("client_email"), str)
    ):
        raise UsageError(f"{field}: {path} is not a service-account key; {keep}")
    if data["client_email"] != email:
        raise UsageError(
            f"{field}: {path} holds a key of {data['client_email']}, not {email}; {keep}"
        )
    return KeyFileInfo(data["private_key_id"])


def plan_key(
    existing: KeyFileInfo | None,
    listed_key_ids: Sequence[str],
    email: str,
    rotate: bool,
) -> KeyPlan:
    """What to do about an account's key, given its key file and user-managed keys."""
    warnings: list[str] = []
    usable = existing is not None and existing.key_id in listed_key_ids
    if existing is not None and not usable:
        warnings.append(
            f"key {existing.key_id[:12]} in the key file no longer exists on {email}; "
            "creating a new one"
        )
    elif existing is None and listed_key_ids:
        # A key file that was deleted, or a run stopped between creating a key and
        # writing it: those keys stay valid until someone deletes them.
        warnings.append(
            f"{email} already has user-managed keys that no key file here holds "
            f"({', '.join(k[:12] for k in listed_key_ids)}); creating a new one. Delete "
            f"the ones nobody uses: gcloud iam service-accounts keys list --iam-account "
            f"{email}, then {delete_command('KEY_ID', email)}"
        )
    if usable and not rotate:
        action = KeyAction.REUSE
    elif usable:
        action = KeyAction.ROTATE
    else:
        action = KeyAction.CREATE
    count_after = len(listed_key_ids) + (0 if action is KeyAction.REUSE else 1)
    if action is not KeyAction.REUSE and len(listed_key_ids) >= MAX_USER_KEYS:
        raise OperationError(
            f"service account {email} already has {len(listed_key_ids)} user-managed keys, "
            f"the maximum is {MAX_USER_KEYS}: delete unused ones "
            f"('gcloud iam service-accounts keys list --iam-account {email}', then "
            f"'{delete_command('KEY_ID', email)}') and run init again"
        )
    if count_after >= WARN_AT_KEYS:
        warnings.append(
            f"service account {email} has {count_after} of {MAX_USER_KEYS} user-managed keys; "
            "delete the ones no longer in use "
            f"('gcloud iam service-accounts keys list --iam-account {email}')"
        )
    old = existing.key_id if action is KeyAction.ROTATE and existing is not None else None
    return KeyPlan(action, old, tuple(warnings))


def key_file_text(private_key_data: bytes, expected_key_id: str) -> str:
    """The credentials-file text from a CreateServiceAccountKey response, checked.

    Over gRPC the field carries the JSON file itself; accept base64 of it too
    (the REST encoding) so either transport works.
    """
    candidates = [private_key_data]
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(private_key_data, validate=True))
    for raw in candidates:
        try:
            text = raw.decode("utf-8")
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if (
            isinstance(data, dict)
            and data.get("type") == "service_account"
            and "private_key" in data
        ):
            if data.get("private_key_id") != expected_key_id:
                raise OperationError(
                    f"the key returned for {expected_key_id[:12]} names another key id; "
                    "not writing it"
                )
            return text
    raise OperationError("the key returned by IAM is not a JSON credentials file; not writing it")
