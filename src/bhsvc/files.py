"""The user's files: read with one set of rules, written atomically, in private folders.

Every file a user names (the config, chart values files, a password or key file)
is read by `read_user_file`: a regular file only (a named pipe would block, a
device never ends), of bounded size, as UTF-8 text. Writes go through a temp
file and a rename, so a reader sees the old file or the new one, never half of
one; the folders bhsvc creates on the way are private (0700) whatever the umask.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bhsvc.errors import UsageError
from bhsvc.text import printable
from bhsvc.yaml_input import describe_yaml_error, load_yaml

SECRET_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
KIB = 1024
MIB = 1024 * KIB
# bhsvc.yaml and chart values files: a few kilobytes in practice.
DOCUMENT_LIMIT = MIB
# Password, token and service-account key files: a key is about 2.4 KB.
SECRET_LIMIT = 64 * KIB

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class UnusableFile(UsageError):
    """A user's file bhsvc will not read; the message names it and says why, never
    what it holds. `missing`: nothing is there (no file, or a part of the path is a file)."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def shown_path(path: Path | str) -> str:
    """A path for a message: control characters escaped, not clipped (it names a file)."""
    return printable(str(path), length=4096)


def file_kind(mode: int) -> str:
    """What a file is, from its st_mode: 'a named pipe', 'a directory', ..."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _size_text(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB"


def read_user_file(path: Path, what: str, limit: int) -> str:
    """The text of a file the user names. `what` names it in messages ("config
    file"); anything but a regular file of at most `limit` bytes of UTF-8 is an
    UnusableFile (bad input, exit code 2)."""
    name = shown_path(path)
    try:
        # Non-blocking: opening a named pipe must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except ValueError:  # a NUL character: no such path can exist
        raise UnusableFile(f"{name}: the path holds a NUL character") from None
    except OSError as err:
        raise _open_problem(path, name, what, err) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnusableFile(f"{name}: is {file_kind(mode)}, not a {what}")
        # Read one byte past the limit: the size a file reports may be wrong (/proc).
        data = _read_up_to(fd, limit + 1)
    except OSError as err:
        raise UnusableFile(f"{name}: cannot read the {what} ({err.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnusableFile(f"{name}: the {what} is larger than {_size_text(limit)}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnusableFile(f"{name}: the {what} is not UTF-8 text") from None


def _read_up_to(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, MIB))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _open_problem(path: Path, name: str, what: str, err: OSError) -> UnusableFile:
    if err.errno == errno.ENOENT:
        return UnusableFile(f"{name}: {what} not found", missing=True)
    if err.errno in (errno.EACCES, errno.EPERM):
        return UnusableFile(f"{name}: cannot read the {what} (permission denied)")
    if err.errno == errno.ENXIO:  # a socket: it cannot be opened at all
        try:
            return UnusableFile(f"{name}: is {file_kind(os.stat(path).st_mode)}, not a {what}")
        except OSError:
            pass
    # A path through a regular file holds nothing either.
    missing = err.errno == errno.ENOTDIR
    return UnusableFile(f"{name}: cannot read the {what} ({err.strerror})", missing=missing)


def cache_home(env: Mapping[str, str]) -> Path:
    """bhsvc's folder in the user's cache: $XDG_CACHE_HOME/bhsvc, or ~/.cache/bhsvc."""
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bhsvc"


def make_private_dir(folder: Path) -> None:
    """Create `folder` and its missing parents as 0700 (whatever the umask); folders
    that exist are left as they are. OSError names the folder that failed."""
    missing = []
    current = folder
    while not os.path.isdir(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for part in reversed(missing):
        try:
            part.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if os.path.isdir(part):
                continue  # made meanwhile by someone else: theirs, left alone
            raise
        os.chmod(part, PRIVATE_DIR_MODE)  # the umask may have taken bits away


def make_private(path: Path) -> str | None:
    """Make a secret file readable by its owner only; a warning when it was not."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    path.chmod(SECRET_MODE)
    return f"{shown_path(path)} was readable by others (mode {mode:04o}); it is 0600 now"


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644, durable: bool = False) -> None:
    """Write via a temp file in the same directory, created with `mode`, then rename.

    Secrets pass SECRET_MODE: the temp file has that mode from its creation, so
    the content is never readable by others, not even for a moment. `durable`
    also syncs to disk before the rename, for files that cannot be made again
    (keys, the user's config); rendered files skip that cost. Missing folders
    are created private. Every failure is an OSError naming `path`.
    """
    try:
        make_private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise _naming(path, err) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _naming(path, err) from None
        raise


def write_if_changed(path: Path, data: str, mode: int) -> bool:
    """write_atomic, unless the file holds `data` with `mode` already: a run that
    changes nothing leaves the file, its time and its inode alone."""
    try:
        same = read_user_file(path, "file", len(data.encode())) == data
        if same and (path.stat().st_mode & 0o777) == mode:
            return False
    except (OSError, UsageError):
        pass  # missing, unreadable or another size: written below, which reports a real problem
    write_atomic(path, data, mode)
    return True


def _naming(path: Path, err: OSError) -> OSError:
    """The same error about `path`, not the temp file beside it (OSError picks the
    subclass from errno, so callers still catch IsADirectoryError and the like)."""
    return OSError(err.errno, err.strerror, str(path))


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (config snippets, scripts) as readable `|` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def yaml_text(data: object, header: str = "", sort_keys: bool = False) -> str:
    body = yaml.dump(data, Dumper=_BlockDumper, sort_keys=sort_keys, default_flow_style=False)
    return f"{header}{body}"


def read_values_file(path: Path, origin: str) -> dict[str, Any]:
    """A user's chart values file: a YAML mapping (an empty file: no values).

    `origin` says where the path came from (a flag or a config key) for the message.
    """
    try:
        text = read_user_file(path, "values file", DOCUMENT_LIMIT)
    except UnusableFile as err:
        raise UsageError(f"{err} ({origin})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise UsageError(
            f"{shown_path(path)}: not valid YAML{describe_yaml_error(err)} ({origin})"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{shown_path(path)}: expected a mapping of chart values ({origin})")
    return data
