"""What deploy and connect-hub share: the local checks, the plan (and what exists),
asking first, applying the components and the one document a run prints; and
the removal plan deploy --prune and uninstall print and carry out."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from bhsvc import helm as helm_mod
from bhsvc import hub_chart as hub_chart_mod
from bhsvc import lifecycle, prompts, record, render, ui
from bhsvc.chart import chart_for, check_hub_chart
from bhsvc.components.checks import VersionsCheck
from bhsvc.components.releases import Release, ReleaseInfo
from bhsvc.components.values_files import ValuesFiles
from bhsvc.config import Config, load_config
from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.hub_files import hub_user_values
from bhsvc.installation import Inputs, release_of, with_context
from bhsvc.kube import Kube, connect
from bhsvc.lifecycle import Cluster, Component, Observation, PlanStep, Removal, State
from bhsvc.registry.credentials import secret_docker_configs
from bhsvc.text import shown_command
from bhsvc.workdir import (
    HUB_APPLIED_FILE,
    HUB_VALUES_FILE,
    ensure_install_id,
    read_install_id,
    values_dir,
    written_by_bhsvc,
)


def prepare(
    config_path: Path,
    hub_values: Sequence[Path],
    helm_path: str | None,
    timeout: int,
    dry_run: bool,
    yes: bool,
    command: str,
    force: bool = False,
) -> tuple[Inputs, list[str]]:
    """Everything local, before any request: bad input stops here (exit 2), the
    checks that need no program first.

    A dry run goes on without readable push credentials; the notes say where the
    real run would stop.
    """
    config = load_config(config_path)
    if command == "connect-hub" and not config.hub.enabled:
        raise UsageError(
            f"{config_path}: hub.enabled is false; set hub.enabled: true (and the hub "
            "settings) to connect BinderHub to a JupyterHub"
        )
    user = hub_user_values(config, hub_values)
    source = str(config_path)
    written = render.values_files(config, source, user.merged(config))  # refuses bad combinations
    notes: list[str] = []
    docker_config = pull_config = None
    try:
        docker_config, pull_config = secret_docker_configs(config)
    except UsageError as err:
        if not dry_run:
            raise
        why = f"{command} would stop here (exit code 2): {err}"
        if config.registry.gar is not None and not config.key_file.exists():
            why += " (run 'bhsvc init' first: it creates the pusher key)"
        notes.append(why)
    check_confirmable(command, dry_run, yes)
    if config.hub.enabled:  # written when bhsvc installs the hub: never over another file
        record.read(record.record_path(config))
    check_hub_chart(config)
    chart = chart_for(config)
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    # Settings BinderHub's chart refuses are bad input: rendered offline first.
    render.render(config, source, helm, chart, user.merged(config))
    hub_chart = hub_chart_for(config, helm, dry_run, notes, command)
    if config.hub.enabled and hub_chart is not None:
        # The same for the hub's chart, with the user's values files and bhsvc's.
        render.render_hub(config, helm, hub_chart.path, user.files, written[HUB_VALUES_FILE])
    # What bhsvc makes is labelled with this folder's install id, made by the first
    # real run (a dry run only reads it).
    install_id = read_install_id(config) if dry_run else ensure_install_id(config)
    inputs = Inputs(
        config, source, user, helm, chart, timeout, docker_config, hub_chart, force=force,
        pull_docker_config=pull_config, install_id=install_id,
    )  # fmt: skip
    return inputs, notes


def hub_chart_for(
    config: Config, helm: helm_mod.Helm, dry_run: bool, notes: list[str], command: str
) -> hub_chart_mod.HubChart | None:
    """The hub's chart, fetched and checked, when a run may install or upgrade the hub:
    with a hub, or when bhsvc's values must leave a hub that was turned off. A dry run
    goes on without it (None), noting where the real run would stop."""
    hub_off = written_by_bhsvc(values_dir(config) / HUB_APPLIED_FILE)
    if not (config.hub.enabled or hub_off):
        return None
    found = hub_chart_mod.locate(config, os.environ)
    try:
        hub_chart_mod.ensure(found, helm, ui.print_notice)
    except OperationError as err:
        if not dry_run:
            raise
        notes.append(f"{command} would stop here (exit code 1): {err}")
        return None
    return found


def check_confirmable(
    command: str, dry_run: bool, yes: bool, does: str = "changes the cluster"
) -> None:
    """A run that changes things asks first: without a terminal, --yes must say so."""
    if not (dry_run or yes or sys.stdin.isatty()):
        raise UsageError(
            f"{command} {does} and needs a confirmation: pass --yes (stdin is not a "
            "terminal, so bhsvc cannot ask)"
        )


def connect_to(inputs: Inputs) -> tuple[Inputs, Kube]:
    """The cluster of the config's context; helm acts on the context the kubeconfig
    resolved, as the Python client does."""
    kube = connect(inputs.config.kube.context)
    return replace(inputs, config=with_context(inputs.config, kube.context_name)), kube


def try_connect(inputs: Inputs) -> tuple[Inputs, Kube | None, str]:
    """connect_to for a dry run: a cluster it cannot reach is a reason, not an error.
    A context the kubeconfig does not have is still bad input."""
    try:
        found, kube = connect_to(inputs)
    except UsageError:
        raise
    except BhsvcError as err:
        return inputs, None, str(err)
    return found, kube, ""


def announce(config: Config, kube: Kube) -> None:
    """Where the run acts, before it asks and before any change."""
    where = (
        f"Deploying BinderHub release [bold]{config.binderhub.release}[/] to context "
        f"[bold]{escape(kube.context_name)}[/] (cluster {escape(kube.server)}), namespace "
        f"[bold]{config.kube.namespace}[/]"
    )
    if config.hub.enabled:
        where += (
            f", with JupyterHub release [bold]{config.hub.release}[/] in namespace "
            f"[bold]{config.hub_namespace}[/]"
        )
    ui.err_console.print(where + ".")


def confirm(yes: bool, command: str, question: str = "Go ahead?") -> None:
    """Go on with --yes; otherwise ask (`prepare` made sure there is a terminal)."""
    if yes:
        return
    try:
        agreed = prompts.confirm(question, default=False)
    except EOFError:
        agreed = False
    if not agreed:
        raise OperationError(f"{command} cancelled: nothing was changed")


# ---- the plan and what exists ----------------------------------------------------------

# How a plan line reads when the observation has no detail of its own.
_STATE_WORDS = {
    State.CONVERGED: "up to date",
    State.DRIFTED: "will be changed",
    State.MISSING: "will be created",
    State.UNKNOWN: "known when it runs",
}


def observe_quietly(
    parts: Sequence[Component], kube: Kube | None, reason: str, inputs: Inputs
) -> dict[str, Any]:
    """A dry run's look at the cluster: what exists, and what would stop the run."""
    if kube is None:
        return {"reachable": False, "reason": reason}
    cluster = Cluster(kube, inputs.helm)
    try:
        version = kube.server_version(timeout=5.0)
        observations = lifecycle.observe(parts, cluster)
    except BhsvcError as err:
        return {"reachable": False, "reason": str(err)}
    return {
        "reachable": True,
        "context": kube.context_name,
        "server": kube.server,
        "kubernetes_version": version,
        "observations": observations,
    }


def plan_document(
    plan: Sequence[PlanStep], observed: Sequence[Observation]
) -> list[dict[str, Any]]:
    rows = []
    for number, step in enumerate(plan):
        row = step.as_dict()
        if observed:
            seen = observed[number]
            row["state"] = seen.state.value
            row["detail"] = seen.detail
            row["blocker"] = str(seen.blocker) if seen.blocker else None
        rows.append(row)
    return rows


def print_plan(
    config: Config,
    plan: Sequence[PlanStep],
    cluster: dict[str, Any] | None,
    notes: Sequence[str],
) -> None:
    """The numbered plan, each step with what exists when a cluster answered."""
    observed: list[Observation] = (cluster or {}).get("observations", [])
    if cluster and cluster.get("reachable"):
        where = f"context [bold]{escape(cluster['context'])}[/] ({escape(cluster['server'])})"
    else:
        where = "[bold]no cluster[/]"
    ui.console.print(f"Plan for {where}, namespace [bold]{config.kube.namespace}[/]:")
    for number, step in enumerate(plan, start=1):
        line = f"{number}. {escape(step.description)}"
        if observed:
            seen = observed[number - 1]
            state = _STATE_WORDS[seen.state]
            line += f" [dim]({escape(seen.detail or state)})[/]"
        ui.console.print(line)
        if step.command:
            ui.console.print(f"   [dim]{escape(shown_command(step.command))}[/]")
        if observed and observed[number - 1].blocker is not None:
            stop = escape(str(observed[number - 1].blocker))
            ui.console.print(f"   [yellow]the run would stop here:[/] {stop}")
    ui.console.print()
    if cluster is not None and not cluster.get("reachable"):
        ui.console.print(
            f"No cluster reached ({cluster.get('reason')}): showing the plan only.",
            markup=False,
        )
    elif cluster is not None:
        ui.console.print(
            f"Cluster: context {cluster['context']} ({cluster['server']}), Kubernetes "
            f"{cluster['kubernetes_version']}",
            markup=False,
        )
    for note in notes:
        ui.console.print(f"Note: {note}", markup=False, highlight=False)


def cluster_document(cluster: dict[str, Any] | None) -> dict[str, Any]:
    if cluster is None:
        return {"reachable": False, "reason": "not looked up"}
    return {k: v for k, v in cluster.items() if k != "observations"}


# ---- the real run ----------------------------------------------------------------------


@dataclass
class Report:
    """The one document deploy and connect-hub print with --output json."""

    config: Config
    context: str
    server: str
    plan: list[PlanStep]
    steps: ui.Steps
    binderhub: ReleaseInfo | None = None
    hub: ReleaseInfo | None = None
    binderhub_version: str | None = None
    values_files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # releases left alone
    error: str | None = None
    diagnosis: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        bh = self.binderhub
        return {
            "ok": self.error is None,
            "dry_run": False,
            "context": self.context,
            "server": self.server,
            "namespace": self.config.kube.namespace,
            "release": self.config.binderhub.release,
            "revision": bh.revision if bh else None,
            "chart_version": bh.chart_version if bh else None,
            "app_version": bh.app_version if bh else None,
            "binderhub_version": self.binderhub_version,
            "hub": self.hub.as_dict() if self.hub else None,
            "values_files": self.values_files,
            "skipped": self.skipped,
            "plan": [step.as_dict() for step in self.plan],
            "steps": [result.as_dict() for result in self.steps.results],
            "error": self.error,
            "exit_code": 0 if self.error is None else OperationError.exit_code,
            "diagnosis": self.diagnosis,
        }


def apply(
    parts: Sequence[Component],
    inputs: Inputs,
    kube: Kube,
    output: str,
    observed: Sequence[Observation] | None = None,
) -> Report:
    """Stop before any change on what would block a step (`observed`, or observed
    now), then apply each component.

    On failure the report (with the diagnosis) is printed, as a JSON document or as
    the diagnosis lines, and the error raised.
    """
    cluster = Cluster(kube, inputs.helm)
    lifecycle.check_blockers(observed or lifecycle.observe(parts, cluster))
    report = Report(
        inputs.config,
        kube.context_name,
        kube.server,
        lifecycle.plan(parts),
        ui.Steps(quiet=output == "json"),
    )
    try:
        lifecycle.apply(parts, cluster, report.steps)
    except OperationError as err:
        _collect(report, parts, inputs)
        report.error = str(err)
        report.diagnosis = err.diagnosis
        if output == "json":
            ui.print_json(report.document())
        else:
            print_diagnosis(err.diagnosis)
        raise
    _collect(report, parts, inputs)
    return report


def _collect(report: Report, parts: Sequence[Component], inputs: Inputs) -> None:
    """What the components read and made, for the document."""
    config = inputs.config
    binderhub = release_of(parts, config.binderhub.release)
    report.binderhub = binderhub.info if binderhub else None
    if config.hub.enabled:
        hub = release_of(parts, config.hub.release)
        report.hub = hub.info if hub else None
    report.skipped = [p.name for p in parts if isinstance(p, Release) and p.skipped]
    answered = [p.versions for p in parts if isinstance(p, VersionsCheck) and p.versions]
    report.binderhub_version = answered[0].binderhub if answered else None
    done = {r.name for r in report.steps.results if r.status != "failed"}
    report.values_files = [
        str(path)
        for p in parts
        if isinstance(p, ValuesFiles) and p.name in done
        for path in p.files
    ]


def print_diagnosis(lines: Sequence[str]) -> None:
    if not lines:
        return
    ui.err_console.print("[bold]Diagnosis:[/]")
    for line in lines:
        ui.err_console.print(f"  {line}", markup=False, highlight=False)


# ---- removing ----------------------------------------------------------------------------


def removal_rows(planned: Sequence[Removal]) -> list[dict[str, Any]]:
    """The steps that remove something, as a document lists them."""
    return [removal.as_dict() for removal in planned if removal.objects]


def kept_rows(planned: Sequence[Removal]) -> list[dict[str, str]]:
    """What stays, and why (components with nothing to say are left out)."""
    return [
        {"name": removal.name, "detail": removal.detail}
        for removal in planned
        if not removal.objects and removal.detail
    ]


def print_removal_plan(planned: Sequence[Removal], title: str) -> None:
    """The numbered removal plan: what goes, in order (with the helm command), what
    would stop it, and what is not removed and why."""
    rows = [removal for removal in planned if removal.objects]
    ui.console.print(title if rows else f"{title} nothing.", markup=False)
    for number, removal in enumerate(rows, start=1):
        what = escape("; ".join(removal.objects))
        ui.console.print(f"{number}. {escape(removal.name)}: remove {what}")
        if removal.detail:
            ui.console.print(f"   [dim]{escape(removal.detail)}[/]")
        if removal.command:
            ui.console.print(f"   [dim]{escape(shown_command(removal.command))}[/]")
        _print_blocker(removal)
    kept = [removal for removal in planned if not removal.objects and removal.detail]
    if kept:
        ui.console.print("Not removed:")
    for removal in kept:
        ui.console.print(f"- {escape(removal.detail)}")
        _print_blocker(removal)


def _print_blocker(removal: Removal) -> None:
    if removal.blocker is not None:
        stop = escape(str(removal.blocker))
        ui.console.print(f"   [yellow]the run would stop here:[/] {stop}")
