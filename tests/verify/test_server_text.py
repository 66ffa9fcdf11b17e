"""server_text.clean: escape sequences and control characters out, long text clipped."""

from __future__ import annotations

import pytest

from bhsvc.server_text import clean


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("plain text ünïcode ✓", "plain text ünïcode ✓"),
        ("\x1b[1;31mred\x1b[0m", "red"),
        ("\x1b[2J\x1b[Hhome", "home"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b]52;c;ZWNobw==\x07x", "x"),
        ("\x1bPdcs data\x1b\\x", "x"),
        ("\x1b_apc\x1b\\x", "x"),
        ("\x9b31mred", "red"),
        ("\x9d0;title\x9cafter", "after"),
        ("\x1b7saved\x1b8", "saved"),
        ("\x1b", ""),
        ("a\tb\nc\r\x00d\x7fe\x85f", "a b cdef"),
        ("abc\u202edef\u2066g\u200fh", "abcdefgh"),
        ("unfinished \x1b]0;title without end", "unfinished "),
    ],
)
def test_clean(text: str, cleaned: str) -> None:
    assert clean(text, 100) == cleaned


def test_long_text_is_clipped_with_its_length() -> None:
    assert clean("x" * 50, 10) == "xxxxxxxxxx… (50 characters)"
    assert clean("x" * 10, 10) == "x" * 10
    huge = "\x1b[31m" * 1000 + "tail"  # escapes beyond 4x the limit are not even scanned
    assert clean(huge, 10) == f"… ({len(huge)} characters)"
