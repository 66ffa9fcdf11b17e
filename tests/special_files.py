"""Files that are not regular files, or far too large, made at a path for a test.

Each maker returns the words bhsvc uses for what it made ("is a named pipe").
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Maker = Callable[[Path], str]


def named_pipe(path: Path) -> str:
    os.mkfifo(path)  # no writer: a reader that opens it blocking waits for ever
    return "is a named pipe"


def device(path: Path) -> str:
    path.symlink_to("/dev/zero")  # endless: read whole, it fills the memory
    return "is a character device"


def directory(path: Path) -> str:
    path.mkdir()
    return "is a directory"


def huge(path: Path) -> str:
    with path.open("wb") as out:
        out.truncate(50 * 1024 * 1024)  # sparse: 50 MB that take no disk
    return "is larger than"


@contextmanager
def unix_sockets() -> Iterator[Maker]:
    """A maker of listening unix sockets, closed on leaving."""
    opened: list[socket.socket] = []

    def make(path: Path) -> str:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        opened.append(server)
        return "is a socket"

    try:
        yield make
    finally:
        for server in opened:
            server.close()


SPECIAL = {"named_pipe": named_pipe, "device": device, "directory": directory}
