"""What doctor's checks share: the finding they return, the fix command line, and
facts about BinderHub and the hub that checks of both read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bhsvc.health.facts import Facts, newest
from bhsvc.merge import value_at
from bhsvc.text import shown_command

FANCY_PROFILES_MODULE = "jupyterhub_fancy_profiles"
# Docker Hub's registry answers under several names.
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # ERROR: it breaks now; WARNING: it will, or may
    finding: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "finding": self.finding,
            "fix": self.fix,
        }


def bhsvc(facts: Facts, command: str, *flags: str) -> str:
    """The bhsvc command line a fix runs, with the config file the user named."""
    return shown_command(["bhsvc", command, "--config", facts.config_file, *flags])


def registry_name(host: str) -> str:
    """A registry host, with Docker Hub's names as one."""
    return "docker.io" if host in _DOCKER_HUB else host


def binderhub_labels(facts: Facts) -> dict[str, str] | None:
    """The labels of BinderHub's newest pod; None: no pod."""
    pod = newest(facts.binderhub_pods or [])
    return None if pod is None else dict((pod.get("metadata") or {}).get("labels") or {})


def fancy_profiles_on(facts: Facts) -> bool:
    """Whether the hub's deployed values load jupyterhub-fancy-profiles."""
    snippets = value_at(facts.hub_values, ("hub", "extraConfig"), {}) or {}
    return isinstance(snippets, Mapping) and any(
        FANCY_PROFILES_MODULE in str(text) for text in snippets.values()
    )


Check = Callable[[Facts], list[Finding]]
