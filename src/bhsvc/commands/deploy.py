"""`bhsvc deploy`: from any state of the cluster to a running, smoke-checked BinderHub."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bhsvc import deploy as steps_mod
from bhsvc import helm as helm_mod
from bhsvc import ui
from bhsvc.config import Config, load_config
from bhsvc.errors import OperationError, UsageError
from bhsvc.hub import image_pull_secret
from bhsvc.hub_files import HubUserValues, hub_user_values
from bhsvc.plan import deploy_plan, helm_commands, values_dir


@dataclass
class Outcome:
    """What `--output json` prints: one document, also on failure."""

    config: Config
    context: str = ""
    server: str = ""
    binderhub: steps_mod.ReleaseInfo | None = None
    hub: steps_mod.ReleaseInfo | None = None
    binderhub_version: str | None = None
    values_files: list[str] = field(default_factory=list)
    error: str | None = None
    diagnosis: list[str] = field(default_factory=list)

    def document(self, steps: ui.Steps) -> dict[str, Any]:
        bh = self.binderhub
        return {
            "ok": self.error is None,
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
            "steps": [result.as_dict() for result in steps.results],
            "error": self.error,
            "exit_code": 0 if self.error is None else OperationError.exit_code,
            "diagnosis": self.diagnosis,
        }


def run(
    config_path: Path,
    dry_run: bool,
    output: str,
    helm_path: str | None,
    yes: bool = False,
    timeout: int = steps_mod.DEFAULT_TIMEOUT,
    hub_values: Sequence[Path] | None = None,
) -> None:
    config = load_config(config_path)
    user = hub_user_values(config, hub_values or ())
    if dry_run:
        return _dry_run(config, str(config_path), output, helm_path, timeout, user)
    # Everything local first: bad input stops here, before any request.
    from bhsvc.registry.credentials import docker_config_json, load_credentials

    docker_config = docker_config_json(load_credentials(config))
    steps = ui.Steps(quiet=output == "json")
    with steps.step("find helm") as step:
        helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
        step.detail = f"{helm.version_text} at {helm.path}"
    chart = _chart(config)
    with steps.step("check the values against the chart") as step:
        steps_mod.check_chart_values(config, str(config_path), helm, chart, user.merged(config))
        step.detail = "helm template, offline"

    from bhsvc import kube as kube_mod

    kube = kube_mod.connect(config.kube.context)
    config = steps_mod.with_context(config, kube.context_name)
    _announce(config, kube)
    _confirm(yes)

    outcome = Outcome(config, kube.context_name, kube.server)
    try:
        source = str(config_path)
        _deploy(config, source, user, kube, helm, chart, timeout, docker_config, steps, outcome)
    except OperationError as err:
        outcome.error = str(err)
        if output == "json":
            ui.print_json(outcome.document(steps))
        elif outcome.diagnosis:
            ui.err_console.print("[bold]Diagnosis:[/]")
            for line in outcome.diagnosis:
                ui.err_console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        raise
    if output == "json":
        ui.print_json(outcome.document(steps))
        return
    bh = outcome.binderhub
    assert bh is not None
    ui.console.print(
        f"BinderHub {outcome.binderhub_version} is up: release {bh.name} revision {bh.revision} "
        f"(chart {bh.chart_version}) in namespace {bh.namespace}, context {kube.context_name}."
    )
    ui.console.print(f"Next: bhsvc verify --config {config_path}")


def _chart(config: Config) -> str:
    from bhsvc.chart import chart_for, check_hub_chart

    check_hub_chart(config)
    return chart_for(config)


def _announce(config: Config, kube: Any) -> None:
    from rich.markup import escape

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
    ui.err_console.print(where + ".", soft_wrap=True)


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "deploy changes the cluster named above and needs a confirmation: pass --yes "
            "(stdin is not a terminal, so bhsvc cannot ask)"
        )
    from rich.prompt import Confirm

    try:
        agreed = Confirm.ask("Go ahead?", console=ui.err_console, default=False)
    except EOFError:
        agreed = False
    if not agreed:
        raise OperationError("deploy cancelled: nothing was changed")


def _deploy(
    config: Config,
    source: str,
    user: HubUserValues,
    kube: Any,
    helm: helm_mod.Helm,
    chart: str,
    timeout: int,
    docker_config: str,
    steps: ui.Steps,
    outcome: Outcome,
) -> None:
    ns = config.kube.namespace
    commands = helm_commands(config, helm, chart, timeout, user.files)
    existing = user.merged(config)
    steps_mod.check_no_pending(helm, config)  # before any change
    if commands.hub is not None:
        # Before any change: an upgrade must not drop the hub's own settings.
        deployed = steps_mod.deployed_values(
            helm, config.hub.release, config.hub_namespace, config.kube.context
        )
        steps_mod.check_nothing_dropped(config, deployed, user.effective(config))
    with steps.step("namespace") as step:
        done = steps_mod.ensure_namespaces(kube, config)
        step.status = "created" if "created" in done.values() else "present"
        step.detail = ", ".join(f"{name} {state}" for name, state in done.items())
    with steps.step("registry credentials Secret") as step:
        step.status = steps_mod.ensure_registry_secret(kube, config, docker_config)
        step.detail = f"{ns}/{config.registry_secret_name}"
    if config.hub.enabled:
        with steps.step("image pull Secret for the hub's users") as step:
            step.status = steps_mod.ensure_pull_secret(kube, config, docker_config)
            step.detail = f"{config.hub_namespace}/{image_pull_secret(config).name}"
    with steps.step("values files") as step:
        written = steps_mod.write_values(config, source, existing)
        outcome.values_files = [str(p) for p in written]
        step.status = "written"
        step.detail = str(values_dir(config))
    if commands.hub is not None:
        with steps.step(f"JupyterHub release {config.hub.release}") as step:
            outcome.hub = _helm_step(
                kube,
                helm,
                commands.hub,
                timeout,
                config.hub_namespace,
                f"release={config.hub.release}",
                step,
                outcome,
            )
        steps_mod.record_applied_hub_values(config)
        with steps.step("hub API token for BinderHub") as step:
            step.status = steps_mod.copy_hub_token(kube, config, existing)
    with steps.step(f"BinderHub release {config.binderhub.release}") as step:
        outcome.binderhub = _helm_step(
            kube,
            helm,
            commands.binderhub,
            timeout,
            ns,
            steps_mod.release_selector(config.binderhub.release),
            step,
            outcome,
        )
    with steps.step(f"GET {config.binderhub_base_url}versions") as step:
        versions = _check(
            outcome,
            kube,
            ns,
            steps_mod.binderhub_selector(config),
            steps_mod.BINDERHUB_PORT,
            config.binderhub_base_url,
            timeout,
        )
        outcome.binderhub_version = versions.binderhub
        step.detail = f"BinderHub {versions.binderhub}"
    if config.hub.enabled:
        prefix = config.hub_service_prefix
        with steps.step(f"GET {prefix}versions through the hub's proxy") as step:
            versions = _check(
                outcome,
                kube,
                config.hub_namespace,
                steps_mod.hub_proxy_selector(config),
                steps_mod.HUB_PROXY_PORT,
                prefix,
                timeout,
            )
            step.detail = f"BinderHub {versions.binderhub}"


def _helm_step(
    kube: Any,
    helm: helm_mod.Helm,
    args: list[str],
    timeout: int,
    namespace: str,
    selector: str,
    step: ui.StepResult,
    outcome: Outcome,
) -> steps_mod.ReleaseInfo:
    release = args[2]
    try:
        with steps_mod.DiagnosisSampler(kube, namespace, selector) as sampler:
            info = steps_mod.install(helm, args, timeout)
    except helm_mod.HelmFailed as err:
        outcome.diagnosis = sampler.result()
        if "another operation" in str(err):
            # Another run took the release after our check, or one was killed.
            context = kube.context_name
            outcome.diagnosis = []  # the pods are not what went wrong
            raise OperationError(
                f"helm cannot change release {release} now ({err}): "
                + steps_mod.recovery_hint(release, namespace, context)
            ) from None
        raise OperationError(f"release {release} did not become ready: {err}") from None
    step.status = info.status
    step.detail = f"revision {info.revision}, chart {info.chart_version}"
    return info


def _check(
    outcome: Outcome,
    kube: Any,
    namespace: str,
    selector: str,
    port: int,
    base_url: str,
    timeout: int,
) -> Any:
    try:
        return steps_mod.smoke_check(
            kube, namespace, selector, port, base_url, min(float(timeout), steps_mod.SMOKE_TIMEOUT)
        )
    except OperationError:
        outcome.diagnosis = kube.diagnose(namespace, selector)
        raise


# ---- --dry-run ----------------------------------------------------------------------


def _dry_run(
    config: Config,
    source: str,
    output: str,
    helm_path: str | None,
    timeout: int,
    user: HubUserValues,
) -> None:
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    chart = _chart(config)
    steps_mod.check_chart_values(config, source, helm, chart, user.merged(config))
    cluster = _cluster_state(config, helm)
    if cluster.get("reachable"):
        config = steps_mod.with_context(config, cluster["context"])
    plan = deploy_plan(config, helm_commands(config, helm, chart, timeout, user.files))
    notes = steps_mod.credentials_notes(config, "deploy")
    if output == "json":
        ui.print_json(
            {
                "ok": True,
                "dry_run": True,
                "steps": [step.as_dict() for step in plan],
                "cluster": cluster,
                "notes": notes,
            }
        )
        return
    from rich.markup import escape

    context = config.kube.context or "(current kubeconfig context)"
    ui.console.print(
        f"Plan for context [bold]{escape(context)}[/], namespace [bold]{config.kube.namespace}[/]:"
    )
    for number, step in enumerate(plan, start=1):
        ui.console.print(f"{number}. {escape(step.description)}", soft_wrap=True)
        if step.command:
            ui.console.print(f"   [dim]{escape(shlex.join(step.command))}[/]", soft_wrap=True)
    ui.console.print()
    for line in [*_cluster_lines(cluster), *(f"Note: {note}" for note in notes)]:
        ui.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _cluster_state(config: Config, helm: helm_mod.Helm) -> dict[str, Any]:
    """What already exists, when a cluster answers; the dry run works offline too."""
    from bhsvc import kube as kube_mod
    from bhsvc.errors import BhsvcError

    try:
        kube = kube_mod.connect(config.kube.context)
        version = kube.server_version(timeout=5.0)
    except UsageError:
        raise  # kube.context is not in the kubeconfig: the real run would refuse it too
    except BhsvcError as err:
        return {"reachable": False, "reason": str(err)}
    config = steps_mod.with_context(config, kube.context_name)
    state: dict[str, Any] = {
        "reachable": True,
        "context": kube.context_name,
        "server": kube.server,
        "kubernetes_version": version,
    }
    try:
        state["namespaces"] = steps_mod.ensure_namespaces(kube, config, dry_run=True)
        state["registry_secret"] = _secret_state(kube, config)
        names = [config.binderhub.release] + ([config.hub.release] if config.hub.enabled else [])
        found: dict[str, Any] = {}
        for namespace in dict.fromkeys([config.kube.namespace, config.hub_namespace]):
            if state["namespaces"].get(namespace) == "create":
                continue
            found.update(steps_mod.releases(helm, namespace, kube.context_name, names))
        state["releases"] = {
            name: (
                {k: found[name].get(k) for k in ("namespace", "revision", "status", "chart")}
                if name in found
                else None
            )
            for name in names
        }
    except BhsvcError as err:
        state["error"] = str(err)
    return state


def _secret_state(kube: Any, config: Config) -> str:
    from bhsvc.errors import UsageError as Usage
    from bhsvc.registry.credentials import docker_config_json, load_credentials

    try:
        docker_config = docker_config_json(load_credentials(config))
    except Usage as err:
        exists = kube.read_secret(config.kube.namespace, config.registry_secret_name) is not None
        return f"{'exists' if exists else 'missing'} (cannot compare: {err})"
    return str(steps_mod.ensure_registry_secret(kube, config, docker_config, dry_run=True))


def _cluster_lines(cluster: dict[str, Any]) -> list[str]:
    if not cluster.get("reachable"):
        return [f"No cluster reached ({cluster.get('reason')}): showing the plan only."]
    lines = [
        f"Cluster: context {cluster['context']} ({cluster['server']}), Kubernetes "
        f"{cluster['kubernetes_version']}"
    ]
    for name, state in (cluster.get("namespaces") or {}).items():
        lines.append(f"  namespace {name}: {'will be created' if state == 'create' else 'exists'}")
    if "registry_secret" in cluster:
        words = {
            "create": "will be created",
            "update": "will be updated",
            "unchanged": "up to date",
        }
        secret = cluster["registry_secret"]
        lines.append(f"  registry credentials Secret: {words.get(secret, secret)}")
    for name, release in (cluster.get("releases") or {}).items():
        if release is None:
            lines.append(f"  release {name}: not installed (will be installed)")
        else:
            pending = str(release["status"]).startswith("pending")
            then = "deploy stops here until it is rolled back" if pending else "will be upgraded"
            lines.append(
                f"  release {name}: revision {release['revision']} {release['status']} "
                f"({release['chart']}) in {release['namespace']} ({then})"
            )
    if cluster.get("error"):
        lines.append(f"  could not read everything: {cluster['error']}")
    return lines
