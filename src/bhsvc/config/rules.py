"""The text rules of bhsvc.yaml's keys, and the building blocks of its sections.

Every key holding text says what the text is (a Kubernetes name, a URL path, a
chart reference, a file path) and accepts only that: no control characters or
line breaks reach YAML, a command line or a URL, and nothing reads as an option
on helm's command line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from bhsvc.names import LABEL, RELEASE
from bhsvc.text import shown, unplain_problem


class KeyProblem(ValueError):
    """A model validator's finding about one key: reported under that key's path.

    `key` is dotted and relative to the model that raises it.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Strict(BaseModel):
    """A section of the file: unknown keys refused, never changed once built. Its
    true/false keys are StrictBool: pydantic's bool would take "off", "yes", "1", 1, 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def empty_if_none(empty: Callable[[], Any]) -> BeforeValidator:
    """An empty key (`hub:` with nothing under it) means the same as no key."""
    return BeforeValidator(lambda value: empty() if value is None else value)


def checker(
    pattern: str, what: str, hint: str, max_len: int, min_len: int = 1
) -> Callable[[str], str]:
    """A check of text against `pattern`, its length first (a long value is not shown)."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not min_len <= len(value) <= max_len:
            raise ValueError(f"{what} must be {min_len}-{max_len} characters, got {len(value)}")
        if not regex.fullmatch(value):
            raise ValueError(f"{shown(value)} is not a valid {what} ({hint})")
        return value

    return check


def matcher(pattern: str, what: str, hint: str, max_len: int, min_len: int = 1) -> AfterValidator:
    return AfterValidator(checker(pattern, what, hint, max_len, min_len))


def check_plain(value: str) -> str:
    problem = unplain_problem(value)
    if problem:
        raise ValueError(f"{problem}: only plain text is allowed here")
    return value


def _not_an_option(value: str) -> str:
    if value.startswith("-"):
        raise ValueError(f"{shown(value)} starts with '-', as a command-line option does")
    return value


def _plain_path(value: Path) -> Path:
    _not_an_option(check_plain(str(value)))
    return value


# Free text that reaches helm's command line: plain, and never read as an option.
PlainArgument = Annotated[str, AfterValidator(check_plain), AfterValidator(_not_an_option)]


def _not_empty(value: Any) -> Any:
    # Path("") is Path("."): the folder itself, never a file the user meant.
    if value == "":
        raise ValueError("is empty; expected a path")
    return value


def _none_if_empty(value: Any) -> Any:
    return None if value == "" else value


# A file the user names; relative ones are resolved against the config file's folder.
FilePath = Annotated[Path, BeforeValidator(_not_empty), AfterValidator(_plain_path)]
# A file whose key may be left empty: `key: ""` means no key, as empty text does for
# every other optional key (kube.context, binderhub.chart).
OptionalFilePath = Annotated[FilePath | None, BeforeValidator(_none_if_empty)]

Namespace = Annotated[
    str,
    matcher(LABEL, "namespace", "RFC 1123 label: lowercase letters, digits, '-'", 63),
]
ReleaseName = Annotated[
    str,
    matcher(RELEASE, "helm release name", "lowercase letters, digits, '-', '.'", 53),
]
ServiceName = Annotated[
    str,
    matcher(LABEL, "JupyterHub service name", "lowercase letters, digits, '-'", 63),
]

# Characters of a URL path segment (RFC 3986 pchar); others are percent-encoded.
URL_PATH_CHARS = "A-Za-z0-9._~!$&'()*+,;=:@%-"
_SEGMENT = f"[{URL_PATH_CHARS}]+"
URL_PATH = rf"/({_SEGMENT}/)*"


def _check_base_url(value: str) -> str:
    if not (value.startswith("/") and value.endswith("/")):
        raise ValueError(f"base_url must start and end with '/', got {shown(value)}")
    if "//" in value:
        raise ValueError(f"base_url {shown(value)} has an empty segment ('//')")
    if not re.fullmatch(URL_PATH, value):
        bad = next(c for c in value if not re.fullmatch(_SEGMENT + "|/", c))
        raise ValueError(
            f"base_url is a URL path and cannot hold {shown(bad)} (spaces, '?', '#' and "
            "characters beyond ASCII are percent-encoded in a URL)"
        )
    return value


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]
