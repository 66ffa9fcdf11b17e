"""Service-account key decisions: reuse, create or rotate. Pure, apart from reading the key file.

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
from pathlib import Path

from bhsvc.errors import OperationError, UsageError
from bhsvc.files import SECRET_LIMIT, UnusableFile, read_user_file

# Google allows at most 10 user-managed keys per service account.
MAX_USER_KEYS = 10
WARN_AT_KEYS = 8


@dataclass(frozen=True)
class KeyFileInfo:
    """The key file of the pusher account (read_key_file_info checks the account)."""

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


def key_id_from_name(name: str) -> str:
    """`projects/p/serviceAccounts/e/keys/<id>` -> `<id>`."""
    return name.rsplit("/", 1)[-1]


def read_key_file_info(path: Path, email: str) -> KeyFileInfo | None:
    """The key id and account of the key file, None when there is none yet (first run).

    A file that is not a key of `email` is refused, never replaced: it may be
    another account's only copy of its key, or any file key_file points at.
    """
    keep = "bhsvc does not overwrite it: point registry.gar.key_file elsewhere or move it"
    try:
        text = read_user_file(path, "key file", SECRET_LIMIT)
    except UnusableFile as err:
        if err.missing:
            return None
        raise UsageError(f"registry.gar.key_file: {err}; {keep}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("private_key_id"), str)
        or not isinstance(data.get("client_email"), str)
    ):
        raise UsageError(f"registry.gar.key_file: {path} is not a service-account key; {keep}")
    if data["client_email"] != email:
        raise UsageError(
            f"registry.gar.key_file: {path} holds a key of {data['client_email']}, "
            f"not {email}; {keep}"
        )
    return KeyFileInfo(data["private_key_id"])


def plan_key(
    existing: KeyFileInfo | None,
    listed_key_ids: Sequence[str],
    email: str,
    rotate: bool,
) -> KeyPlan:
    """What to do about the pusher key, given the key file and the account's user-managed keys."""
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
            f"{email}, then gcloud iam service-accounts keys delete KEY_ID --iam-account {email}"
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
            "'gcloud iam service-accounts keys delete KEY_ID --iam-account ...') and run init again"
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
