"""The texts that betray a failure in logs and events, as the tools print them. Pure.

Build pods run repo2docker with `--json-logs`: each line is a JSON object whose
`message` holds what docker printed (repo2docker runs `docker push`), so lines are
read as JSON first and as plain text otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from bhsvc.text import printable

# What a registry answers a push it refuses, as docker prints it:
# - Docker Hub, Quay, a registry with htpasswd: no or wrong credentials;
# - Docker Hub and others: credentials that may not write to the repository;
# - Artifact Registry: an account without artifactregistry.writer on the repository
#   ('denied: Permission "artifactregistry.repositories.uploadArtifacts" denied on
#   resource "projects/P/locations/L/repositories/R" (or it may not exist)').
PUSH_DENIED = re.compile(
    r"unauthorized: authentication required"
    r"|unauthorized: incorrect username or password"
    r"|denied: requested access to the resource is denied"
    # (quotes escaped when a line is not read as JSON)
    r'|denied: Permission \\?"artifactregistry\.repositories\.uploadArtifacts\\?" denied'
)
# BinderHub's log when its registry client cannot read a manifest (builder.py logs
# "Failed to get image manifest for <image>" with the HTTPClientError's traceback).
MANIFEST_FAILED = "Failed to get image manifest for"
MANIFEST_STATUS = re.compile(r"HTTP (40[13])")
# What the kubelet (containerd) reports when a registry refuses a pull: the HTTP
# status at the end of "failed to authorize: failed to fetch oauth token: unexpected
# status from GET request to <token URL>: 403 Forbidden", or the registry's words.
PULL_STATUS = re.compile(r"\b(401 Unauthorized|403 Forbidden)\b")
PULL_REFUSED = re.compile(r"unauthorized|denied|failed to authorize", re.IGNORECASE)
# The hub's log when its image lacks jupyterhub-fancy-profiles.
NO_FANCY_PROFILES = "No module named 'jupyterhub_fancy_profiles'"
MAX_LINE = 300


def message_of(line: str) -> str:
    """The text of a log line: the `message` of a JSON log line, else the line."""
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return str(doc["message"])
    return line


def shown(text: str) -> str:
    """A line of server-provided text fit for one line of output."""
    return printable(" ".join(text.split()), MAX_LINE)


def first_match(lines: Iterable[str], pattern: re.Pattern[str]) -> str | None:
    """The first message among `lines` that `pattern` finds, made printable."""
    for line in lines:
        message = message_of(line)
        if pattern.search(message):
            return shown(message)
    return None


def pull_refusal(messages: Iterable[str]) -> str | None:
    """Why the registry refused a pull, from the kubelet's event messages, or None."""
    for message in messages:
        status = PULL_STATUS.search(message)
        if status:
            return f"the registry answered {status.group(1)}"
        refused = PULL_REFUSED.search(message)
        if refused:
            return shown(message[refused.start() :])
    return None


def manifest_failures(lines: Iterable[str]) -> tuple[int, set[str]]:
    """How many times BinderHub's log says it could not read a manifest, and the HTTP
    status codes its tracebacks show (401, 403)."""
    count, codes = 0, set()
    for line in lines:
        if MANIFEST_FAILED in line:
            count += 1
        codes.update(MANIFEST_STATUS.findall(line))
    return count, codes
