"""The two files beside the key file: a lock, and the record of a key being created.

`<key file>.lock` serializes the runs that use one key file (fcntl.flock: the
lock goes with the process, so a crash or a kill releases it). It stays in
place, empty: removing it would let a waiting run lock a file nobody else sees.

`<key file>.pending` is written before IAM is asked for a key and removed once
the key is in the key file: a run stopped in between (Ctrl-C, a crash) leaves
it, and the next run finds the key it made. It holds the account, times and
key ids, never key material.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from bhsvc import files
from bhsvc.errors import OperationError, UsageError
from bhsvc.registry.keys import KEY_FIELD, PendingKey


def lock_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".lock")


def pending_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".pending")


def check_companions(key_file: Path, field: str = KEY_FIELD) -> None:
    """Refuse a lock or record path that is not a regular file, or a record bhsvc did
    not write (bad input: neither is ever replaced); `field` names the key file."""
    for path in (lock_path(key_file), pending_path(key_file)):
        try:
            mode = path.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            raise UsageError(f"{field}: cannot check {path} ({err.strerror})") from None
        if not stat.S_ISREG(mode):
            raise UsageError(f"{field}: {path} is not a regular file; move it away")
    read_pending(key_file, field)


@contextlib.contextmanager
def locked(key_file: Path, wait: float, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the key file's lock; wait at most `wait` seconds for another run to let go."""
    from google.api_core.exceptions import RetryError
    from google.api_core.retry import Retry, if_exception_type

    path = lock_path(key_file)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, files.SECRET_MODE)
    except OSError as err:
        raise OperationError(f"{path}: cannot open the lock file ({err.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OperationError(f"{path} is not a regular file; move it away and run init again")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(
                f"waiting for another bhsvc init to finish with {key_file} (up to {wait:.0f} s)"
            )
            retry = Retry(
                predicate=if_exception_type(BlockingIOError),
                initial=0.1,
                maximum=1.0,
                timeout=wait,
            )
            try:
                retry(fcntl.flock)(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except RetryError:
                raise OperationError(
                    f"another bhsvc init still holds {path} after {wait:.0f} s: let it finish "
                    "(or stop it), then run init again"
                ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def read_pending(key_file: Path, field: str = KEY_FIELD) -> PendingKey | None:
    path = pending_path(key_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PendingKey(
            account=str(data["account"]),
            started=_utc_time(data["started"]),
            until=_utc_time(data["until"]),
            keys_before=tuple(str(key) for key in data["keys_before"]),
            replaces=None if data.get("replaces") is None else str(data["replaces"]),
        )
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{field}: {path} is not a record bhsvc wrote; move it away and run init again"
        ) from None


def _utc_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time without its zone")
    return moment


def write_pending(key_file: Path, pending: PendingKey) -> None:
    data = {
        "account": pending.account,
        "started": pending.started.isoformat(),
        "until": pending.until.isoformat(),
        "keys_before": list(pending.keys_before),
        "replaces": pending.replaces,
    }
    path = pending_path(key_file)
    try:
        files.write_atomic(path, json.dumps(data, indent=2) + "\n", files.SECRET_MODE, durable=True)
    except OSError as err:
        raise OperationError(f"{path}: cannot write ({err.strerror}); no key was created") from None


def remove_pending(key_file: Path) -> None:
    pending_path(key_file).unlink(missing_ok=True)
