"""Text a server sent, made fit for a terminal and a JSON document.

A server (or whatever answers in its place) may send terminal escape sequences
(cursor movement, colours, window titles, OSC 8 links, clipboard writes), other
control characters, bidirectional overrides that reorder what a reader sees,
or megabytes in one line. `clean` removes the first ones and clips the last.
"""

from __future__ import annotations

import re

# ESC sequences: CSI (ESC [ ... final byte), the string ones (OSC ESC ], DCS ESC P,
# SOS ESC X, PM ESC ^, APC ESC _) up to BEL or ST (ESC \), and two-byte ones; the
# 8-bit forms of CSI (0x9b) and of the string ones (0x9d, 0x90, 0x98, 0x9e, 0x9f).
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Control characters (C0, DEL, C1) and the invisible bidirectional controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[\t\n]+")


def clean(text: str, limit: int) -> str:
    """`text` without escape sequences and control characters, on one line (tabs and
    newlines become spaces), clipped to `limit` characters with a note of its length."""
    total = len(text)
    cut = total > 4 * limit  # no need to scan megabytes to keep a few hundred characters
    if cut:
        text = text[: 4 * limit]
    if not text.isprintable():
        text = _SPACES.sub(" ", _CONTROLS.sub("", _ESCAPES.sub("", text)))
    if cut or len(text) > limit:
        return f"{text[:limit]}… ({total} characters)"
    return text
