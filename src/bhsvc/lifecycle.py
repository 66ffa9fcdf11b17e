"""One lifecycle for every command.

An installation is an ordered list of components (a namespace, a Secret, a helm
release, a smoke check, ...). Each can

- *describe* itself: the plan line a dry run prints (pure);
- *observe* what exists, read-only: converged, drifted or missing, and whatever
  would stop it from being applied;
- *apply*: make it so, idempotently (nothing when it is converged already);
- *remove* what bhsvc made of it, proven by its labels (a release: by its name
  and chart), after a read-only look that says what that is (`removal`).

deploy, connect-hub, uninstall and their dry runs are loops over the same list,
so what a dry run shows is what the real run does, in that order; removals go
in the reverse order.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bhsvc.errors import BhsvcError

if TYPE_CHECKING:
    from bhsvc.helm import Helm
    from bhsvc.kube.client import Kube
    from bhsvc.ui import StepResult, Steps


class State(str, enum.Enum):
    CONVERGED = "converged"  # exists as wanted: applying changes nothing
    DRIFTED = "drifted"  # exists, but differs: applying changes it
    MISSING = "missing"  # does not exist: applying creates it
    UNKNOWN = "unknown"  # cannot be told before it runs (a check, a token not yet made)


@dataclass(frozen=True)
class Observation:
    state: State
    detail: str = ""
    # What would stop `apply` (a release helm holds pending, a namespace being
    # deleted, values an upgrade would drop): raised before any change.
    blocker: BhsvcError | None = None


@dataclass(frozen=True)
class PlanStep:
    """One line of a plan: what a component will do, and the exact command if any."""

    name: str
    action: str  # namespace, secret, files, helm, check
    description: str
    command: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "description": self.description,
            "command": list(self.command),
        }


@dataclass(frozen=True)
class ObjectRef:
    """An object a removal takes away; kind RELEASE is a helm release, which takes
    the objects helm made for it (and theirs) with it."""

    kind: str
    namespace: str
    name: str


RELEASE = "helm release"


@dataclass(frozen=True)
class Removal:
    """What removing a component takes away, decided from what exists (read-only).

    `objects` are the lines a plan shows, one per thing removed; none: the
    component is left as it is, and `detail` says why (not made by bhsvc, not
    there). `takes` are the same things as objects, for the steps after it (a
    namespace goes only when nothing else is left in it).
    """

    name: str
    action: str  # namespace, secret, files, helm, registry, check
    objects: tuple[str, ...] = ()
    detail: str = ""
    command: tuple[str, ...] = ()
    takes: tuple[ObjectRef, ...] = ()
    blocker: BhsvcError | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "remove": list(self.objects),
            "detail": self.detail,
            "command": list(self.command),
            "blocker": str(self.blocker) if self.blocker else None,
        }


@dataclass(frozen=True)
class Cluster:
    """What components act on: the Kubernetes API and helm, on one context."""

    kube: Kube
    helm: Helm

    @property
    def context(self) -> str:
        return self.kube.context_name


class Removable(Protocol):
    @property
    def name(self) -> str:
        """The step's name, as progress lines and plans show it."""

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        """What `remove` would take away, read-only, after the `earlier` removals of
        the same run; remembered for `remove`."""

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        """Remove what `removal` found; sets the step's status and detail."""


class Component(Removable, Protocol):
    def describe(self) -> PlanStep: ...

    def observe(self, cluster: Cluster) -> Observation: ...

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        """Converge; sets the step's status and detail."""


def plan(components: Sequence[Component]) -> list[PlanStep]:
    return [component.describe() for component in components]


def observe(components: Sequence[Component], cluster: Cluster) -> list[Observation]:
    return [component.observe(cluster) for component in components]


def check_blockers(observations: Sequence[Observation | Removal]) -> None:
    """Raise the first problem that would stop a step, before any change is made."""
    for seen in observations:
        if seen.blocker is not None:
            raise seen.blocker


def apply(components: Sequence[Component], cluster: Cluster, steps: Steps) -> None:
    """Apply each component in order, one progress step each."""
    for component in components:
        with steps.step(component.name) as step:
            component.apply(cluster, step)


def removal_plan(parts: Sequence[Removable], cluster: Cluster) -> list[Removal]:
    """What removing `parts` takes away, in the order it goes: the reverse of theirs
    (what was made last goes first). Read-only."""
    planned: list[Removal] = []
    for part in reversed(parts):
        planned.append(part.removal(cluster, planned))
    return planned


def remove(
    parts: Sequence[Removable], cluster: Cluster, steps: Steps, planned: Sequence[Removal]
) -> None:
    """Remove what `planned` (the removal plan of `parts`) lists, one progress step
    per part that has something to remove; nothing when a step would stop."""
    check_blockers(planned)
    for part, removal in zip(reversed(parts), planned, strict=True):
        if removal.objects:
            with steps.step(part.name) as step:
                part.remove(cluster, step)
