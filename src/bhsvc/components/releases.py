"""helm releases: the BinderHub release and the JupyterHub release.

A release is removed only when it is the one the config names and runs the
chart the config installs. The hub release bhsvc installed goes with `helm
uninstall` when asked (`uninstall --hub`); otherwise only bhsvc's values leave
it, by an upgrade with the user's own values files.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc import record
from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.files import SECRET_MODE, read_values_file, write_if_changed
from bhsvc.kube.diagnosis import DiagnosisSampler
from bhsvc.lifecycle import RELEASE, Cluster, ObjectRef, Observation, PlanStep, Removal, State
from bhsvc.merge import deep_merge
from bhsvc.ui import StepResult
from bhsvc.versions import chart_version, is_older, version_key
from bhsvc.workdir import remove_file, written_by_bhsvc

# Seconds for a read-only helm command (list, get values).
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    namespace: str
    revision: int
    status: str
    chart_version: str
    app_version: str
    first_deployed: str = ""  # when the release was installed (helm's record of it)

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.name,
            "namespace": self.namespace,
            "revision": self.revision,
            "status": self.status,
            "chart_version": self.chart_version,
            "app_version": self.app_version,
        }


def parse_release(document: Any) -> ReleaseInfo:
    """The release `helm upgrade --output json` printed (helm 3 and 4 share the shape)."""
    if not isinstance(document, dict):
        raise OperationError("helm printed no release document")
    chart = (document.get("chart") or {}).get("metadata") or {}
    info = document.get("info") or {}
    return ReleaseInfo(
        name=str(document.get("name", "")),
        namespace=str(document.get("namespace", "")),
        revision=int(document.get("version") or 0),
        status=str(info.get("status", "")),
        chart_version=str(chart.get("version", "")),
        app_version=str(chart.get("appVersion", "")),
        first_deployed=str(info.get("first_deployed", "")),
    )


def recovery_hint(release: str, namespace: str, context: str) -> str:
    """What to run when helm left `release` pending (a run was killed mid-way)."""
    where = f"--namespace {namespace} --kube-context {context}"
    return (
        f"if no other helm or bhsvc run is changing it, an earlier one was interrupted: "
        f"'helm history {release} {where}' shows its revisions, 'helm rollback {release} "
        f"{where}' restores the last good one (or 'helm uninstall' if it never installed); "
        "then run bhsvc again"
    )


def listed_release(cluster: Cluster, release: str, namespace: str) -> dict[str, Any] | None:
    """`helm list`'s entry of the release in any state, None when it is not installed."""
    args = ["list", "--namespace", namespace, "--kube-context", cluster.context]
    args += ["--deployed", "--failed", "--pending", "--filter", f"^{release}$"]
    try:
        listed = helm_mod.run_json(cluster.helm, args, timeout=READ_TIMEOUT)
    except OperationError as err:
        raise OperationError(
            f"cannot read the helm releases in namespace {namespace}: {err}"
        ) from None
    found = [r for r in listed or [] if isinstance(r, dict) and r.get("name") == release]
    return found[0] if found else None


def deployed_values(cluster: Cluster, release: str, namespace: str) -> dict[str, Any]:
    """The values the release was given, {} when it is not installed."""
    args = ["get", "values", release, "--namespace", namespace, "--kube-context", cluster.context]
    try:
        found = helm_mod.run_json(cluster.helm, args, timeout=READ_TIMEOUT)
    except OperationError as err:
        if "not found" in str(err):
            return {}
        raise OperationError(f"cannot read the values of release {release}: {err}") from None
    return found if isinstance(found, dict) else {}


def _some(paths: Sequence[str], shown: int = 6) -> str:
    """Value paths for a message: the first few."""
    return ", ".join(paths[:shown]) + (", ..." if len(paths) > shown else "")


def first_deployed(cluster: Cluster, release: str, namespace: str) -> str:
    """When the release was installed, as helm records it ("" when helm does not say)."""
    args = ["status", release, "--namespace", namespace, "--kube-context", cluster.context]
    try:
        found = helm_mod.run_json(cluster.helm, args, timeout=READ_TIMEOUT)
    except OperationError as err:
        raise OperationError(f"cannot read the status of release {release}: {err}") from None
    return str(((found or {}).get("info") or {}).get("first_deployed", ""))


def uninstall(helm: helm_mod.Helm, args: Sequence[str], timeout_seconds: int) -> None:
    """`helm uninstall ... --wait`; a release already gone is fine."""
    try:
        helm_mod.run(helm, args, timeout_seconds + helm_mod.GRACE_SECONDS)
    except helm_mod.HelmFailed as err:
        if "not found" not in str(err):
            raise OperationError(str(err)) from None


def install(helm: helm_mod.Helm, args: Sequence[str], timeout_seconds: int) -> ReleaseInfo:
    """`helm upgrade --install ... --wait` and the release it made.

    helm may wait `timeout_seconds` for the upgrade and as long again for the
    rollback after a failure; stopping it during the rollback would leave the
    release pending, so the process gets both and a margin.
    """
    out = helm_mod.run(
        helm,
        [*args, "--output", "json"],
        2 * timeout_seconds + helm_mod.GRACE_SECONDS,
        # Interrupted, helm rolls back, waiting up to the timeout again.
        stop_grace=timeout_seconds + helm_mod.GRACE_SECONDS,
    )
    try:
        return parse_release(json.loads(out))
    except ValueError:
        raise OperationError("helm upgrade printed something that is not JSON") from None


class Changes(Protocol):
    """A component whose apply says whether it changed anything (a Secret a release's
    pods read: a new one must restart them, even when the values are the same)."""

    changed: bool


@dataclass
class Release:
    """A helm release, installed or upgraded with `helm upgrade --install --wait` and
    rolled back on failure; left alone when it runs the same chart version with the
    same values and nothing it reads changed. `selector` finds its pods, to say why
    they are not ready when helm gives up."""

    name: str
    release: str
    namespace: str
    title: str  # what the plan calls the chart, such as "z2jh 4.3.1"
    args: list[str]
    selector: str
    timeout: int
    chart_name: str = ""
    chart_version: str | None = None  # None: not known before helm fetches it
    # The values helm will hold (all its values files merged); None: not known.
    expected_values: dict[str, Any] | None = None
    depends_on: Sequence[Changes] = ()
    force: bool = False  # upgrade even when converged
    downgrade_hint: str = ""  # the ways out when the deployed chart is newer
    # Filled by a run: what `observe` read, what `apply` made.
    listed: dict[str, Any] | None = field(default=None, init=False)
    deployed: dict[str, Any] | None = field(default=None, init=False)
    converged: bool = field(default=False, init=False)
    skipped: bool = field(default=False, init=False)  # left alone: nothing to change
    info: ReleaseInfo | None = field(default=None, init=False)
    _removal_args: list[str] = field(default_factory=list, init=False, repr=False)

    def describe(self) -> PlanStep:
        return PlanStep(
            self.name,
            "helm",
            f"install or upgrade {self.title} release {self.release} in {self.namespace}",
            ("helm", *self.args),
        )

    def observe(self, cluster: Cluster) -> Observation:
        self.listed = listed_release(cluster, self.release, self.namespace)
        self.converged = False
        if self.listed is None:
            self.deployed = {}
            return Observation(State.MISSING, "not installed: will be installed")
        status = str(self.listed.get("status", ""))
        chart = str(self.listed.get("chart", ""))
        where = f"revision {self.listed.get('revision')} {status} ({chart}) in {self.namespace}"
        pending = self._pending(cluster, self.listed)
        if pending is not None:
            return Observation(
                State.DRIFTED, f"{where}: the run stops here until it is rolled back", pending
            )
        running = chart_version(chart, self.chart_name) if self.chart_name else None
        newer = self._newer(running)
        if newer is not None:
            return Observation(
                State.DRIFTED,
                f"{where}: newer than {self.chart_version}, the run stops here",
                newer,
            )
        try:
            self.deployed = deployed_values(cluster, self.release, self.namespace)
        except OperationError as err:
            return Observation(State.DRIFTED, where, err)
        self.converged = (
            status == "deployed"
            and running is not None
            and running == self.chart_version
            and self.expected_values is not None
            and self.deployed == self.expected_values
        )
        if self.converged:
            return Observation(State.CONVERGED, f"{where}: same chart and values")
        return Observation(State.DRIFTED, f"{where}: will be upgraded")

    def _pending(self, cluster: Cluster, listed: dict[str, Any]) -> BhsvcError | None:
        """The error for a release helm holds pending (a run killed mid-way, or one
        running now), which no command may change before it is settled."""
        status = str(listed.get("status", ""))
        if not status.startswith("pending"):
            return None
        return OperationError(
            f"release {self.release} in {self.namespace} is {status} (since "
            f"{listed.get('updated')}): "
            + recovery_hint(self.release, self.namespace, cluster.context)
        )

    def _newer(self, running: str | None) -> BhsvcError | None:
        """The error for a release running a newer chart than bhsvc's: never downgraded."""
        if not (running and self.chart_version and is_older(self.chart_version, running)):
            return None
        return UsageError(
            f"release {self.release} in {self.namespace} runs chart {self.chart_name} "
            f"{running}, newer than the {self.chart_version} bhsvc would install, "
            f"and bhsvc never downgrades a chart: {self.downgrade_hint}"
        )

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        unchanged = self.converged and not any(part.changed for part in self.depends_on)
        if unchanged and not self.force and self.listed is not None:
            listed = self.listed
            self.info = ReleaseInfo(
                self.release,
                self.namespace,
                int(listed.get("revision") or 0),
                str(listed.get("status", "")),
                self.chart_version or "",
                str(listed.get("app_version", "")),
            )
            self.skipped = True
            step.status = "unchanged"
            step.detail = f"revision {self.info.revision}, chart {self.info.chart_version}"
            return
        with DiagnosisSampler(cluster.kube, self.namespace, self.selector) as sampler:
            try:
                self.info = install(cluster.helm, self.args, self.timeout)
            except helm_mod.HelmFailed as err:
                if "another operation" in str(err):
                    # Another run took the release after our check, or one was killed:
                    # the pods are not what went wrong.
                    raise OperationError(
                        f"helm cannot change release {self.release} now ({err}): "
                        + recovery_hint(self.release, self.namespace, cluster.context)
                    ) from None
                raise OperationError(
                    f"release {self.release} did not become ready: {err}",
                    diagnosis=sampler.result(),
                ) from None
        step.status = self.info.status
        step.detail = f"revision {self.info.revision}, chart {self.info.chart_version}"

    # ---- removal ------------------------------------------------------------------

    def _where(self) -> str:
        return f"release {self.release} in {self.namespace}"

    def _not_ours(self, listed: dict[str, Any]) -> str:
        """Why the listed release is not the config's to remove ("" when it is)."""
        chart = str(listed.get("chart", ""))
        running = chart_version(chart, self.chart_name)
        if running is None or version_key(running) is None:
            return f"{self._where()} runs chart {chart}, not {self.chart_name}: left alone"
        return ""

    def _uninstall_removal(self, cluster: Cluster, listed: dict[str, Any]) -> Removal:
        what = f"{self._where()} ({listed.get('chart')}, revision {listed.get('revision')})"
        args = helm_mod.uninstall_args(self.release, self.namespace, self.timeout, cluster.context)
        self._removal_args = args
        return Removal(
            self.name,
            "helm",
            (what,),
            command=("helm", *args),
            takes=(ObjectRef(RELEASE, self.namespace, self.release),),
            blocker=self._pending(cluster, listed),
        )

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        """`helm uninstall` of the release, when it is there and runs the config's chart."""
        listed = listed_release(cluster, self.release, self.namespace)
        if listed is None:
            return Removal(self.name, "helm", detail=f"{self._where()} is not installed")
        why = self._not_ours(listed)
        if why:
            return Removal(self.name, "helm", detail=why)
        return self._uninstall_removal(cluster, listed)

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        uninstall(cluster.helm, self._removal_args, self.timeout)
        step.status = "uninstalled"
        step.detail = f"{self.release} in {self.namespace}"


@dataclass
class HubRelease(Release):
    """The JupyterHub release: an upgrade must not drop what the hub holds today.

    helm upgrade replaces a release's values, so settings that only the deployed
    release holds (from files the user did not pass this time) would be lost.
    What bhsvc's own file set in the last run whose hub upgrade succeeded
    (`applied_file`) is bhsvc's to change: a new home strategy, say, removes the
    old one's hook. That copy is kept apart from `values_file` because a run that
    failed after writing its values has not applied them.
    """

    values_file: Path = Path()
    applied_file: Path = Path()
    # Where bhsvc records that it installed this release (see `bhsvc.record`).
    record_file: Path | None = None
    # Removing: `helm uninstall` (only of the release bhsvc installed), or else an
    # upgrade with `unwire_args`: the chart and the user's `user_values` files only.
    uninstall: bool = False
    unwire_args: list[str] = field(default_factory=list)
    user_values: dict[str, Any] = field(default_factory=dict)
    # What `remove` does: "uninstall", "unwire", or delete bhsvc's record of the values
    # it set only: the "record" of a release holding none, or of one that is "gone".
    _mode: str = field(default="record", init=False, repr=False)

    def observe(self, cluster: Cluster) -> Observation:
        seen = super().observe(cluster)
        if seen.blocker is not None or not self.deployed:
            return seen
        return Observation(seen.state, seen.detail, self.drop_check(self.deployed))

    def drop_check(self, deployed: dict[str, Any]) -> BhsvcError | None:
        """The error an upgrade from `deployed` would stop at, or None."""
        if not deployed:
            return None
        dropped = hub_mod.dropped_values(deployed, self._bhsvcs_values(self.expected_values or {}))
        if not dropped:
            return None
        return UsageError(
            f"the hub release {self.release} holds values your files do not set "
            f"({_some(dropped)}); an upgrade would drop them: list the files you installed the hub "
            "with in hub.values_files (or pass --hub-values), or set them in hub.values"
        )

    def _bhsvcs_values(self, kept: dict[str, Any]) -> dict[str, Any]:
        """`kept` and what bhsvc's own file set in the last run that changed the hub
        (before the first run that kept that copy: the file of the previous run)."""
        previous = self.applied_file if self.applied_file.is_file() else self.values_file
        if previous.is_file():
            with contextlib.suppress(UsageError):  # unreadable: `kept` alone
                kept = deep_merge(read_values_file(previous, "bhsvc's previous values"), kept)
        return kept

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        super().apply(cluster, step)
        # The release took bhsvc's values: they are what it holds now.
        write_if_changed(self.applied_file, self.values_file.read_text(), SECRET_MODE)
        if self.listed is None and self.info is not None and self.record_file is not None:
            # It was not there before this run: bhsvc installed it.
            installed = record.InstalledHub(
                cluster.kube.server, self.namespace, self.release, self.info.first_deployed
            )
            record.note_installed_hub(self.record_file, installed)

    # ---- removal ------------------------------------------------------------------

    def _installed_by_bhsvc(self, cluster: Cluster) -> bool:
        """Whether bhsvc installed the release the cluster has now (not an earlier one
        of the same name)."""
        if self.record_file is None:
            return False
        noted = record.installed_hub(
            self.record_file, cluster.kube.server, self.namespace, self.release
        )
        return bool(noted) and noted == first_deployed(cluster, self.release, self.namespace)

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        """`helm uninstall` with --hub (of the release bhsvc installed); otherwise an
        upgrade without bhsvc's values, when the release still holds some."""
        self._mode = "record"
        where = self._where()
        listed = listed_release(cluster, self.release, self.namespace)
        if listed is None:  # bhsvc's record of what it set there goes
            self._mode = "gone"
            return Removal(self.name, "helm", self._record_lines(), f"{where} is not installed")
        why = self._not_ours(listed)
        if why:
            return Removal(self.name, "helm", detail=why)
        if self.uninstall:
            if self._installed_by_bhsvc(cluster):
                self._mode = "uninstall"
                removal = self._uninstall_removal(cluster, listed)
                return replace(removal, objects=(*removal.objects, *self._record_lines()))
            return Removal(
                self.name,
                "helm",
                detail=f"{where} was not installed by bhsvc",
                blocker=UsageError(
                    f"--hub: bhsvc did not install the hub {where} (it was there before, or "
                    "was installed again since), so it only removes its own values from it: "
                    "run without --hub, or uninstall the hub with helm yourself"
                ),
            )
        deployed = deployed_values(cluster, self.release, self.namespace)
        if deployed == self.user_values:
            # Nothing of bhsvc's in the hub: only bhsvc's record of what it set goes.
            return Removal(
                self.name,
                "helm",
                self._record_lines(),
                f"{where} holds no values of bhsvc's",
            )
        theirs = hub_mod.dropped_values(deployed, self.user_values)
        lost = hub_mod.dropped_values(
            deployed, self._bhsvcs_values(deep_merge(self.user_values, self.expected_values or {}))
        )
        running = chart_version(str(listed.get("chart", "")), self.chart_name)
        blocker = self._pending(cluster, listed) or self._newer(running)
        if lost and blocker is None:
            blocker = UsageError(
                f"the hub {where} holds values neither your files nor bhsvc set "
                f"({_some(lost)}); "
                "an upgrade without bhsvc's values would drop them: list the files you "
                "installed the hub with in hub.values_files (or pass --hub-values)"
            )
        self._mode = "unwire"
        what = f"bhsvc's values in {where}" + (f" ({_some(theirs)})" if theirs else "")
        return Removal(
            self.name,
            "helm",
            (what, *self._record_lines()),
            "an upgrade with your own values files only; the hub keeps running",
            ("helm", *self.unwire_args),
            blocker=blocker,
        )

    def _record_lines(self) -> tuple[str, ...]:
        """bhsvc's copy of the values the hub took: it goes with them."""
        return (f"file {self.applied_file}",) if written_by_bhsvc(self.applied_file) else ()

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        if self._mode in ("record", "gone"):
            step.status = "deleted"
            step.detail = self.applied_file.name
            if self._mode == "gone" and self.record_file is not None:
                # The release bhsvc installed is gone: so is its entry in the record.
                record.forget_hub(
                    self.record_file, cluster.kube.server, self.namespace, self.release
                )
        elif self._mode == "unwire":
            with DiagnosisSampler(cluster.kube, self.namespace, self.selector) as sampler:
                try:
                    self.info = install(cluster.helm, self.unwire_args, self.timeout)
                except helm_mod.HelmFailed as err:
                    raise OperationError(
                        f"release {self.release} did not become ready without bhsvc's values: "
                        f"{err}",
                        diagnosis=sampler.result(),
                    ) from None
            step.status = "upgraded"
            step.detail = f"revision {self.info.revision}, without bhsvc's values"
        else:
            super().remove(cluster, step)
            if self.record_file is not None:
                record.forget_hub(
                    self.record_file, cluster.kube.server, self.namespace, self.release
                )
        # The release holds no values of bhsvc's any more.
        remove_file(self.applied_file)
