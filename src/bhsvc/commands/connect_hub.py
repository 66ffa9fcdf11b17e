"""`bhsvc connect-hub`: make BinderHub a service of a z2jh JupyterHub.

Order of work:

1. Everything local first (config, the user's `--hub-values` files, registry
   credentials, the values of both charts): bad input stops here, before any
   cluster call and before any file is written.
2. Find BinderHub's Service by its labels.
3. Write bhsvc's values files (the user's files are only read).
4. Hub namespace and the image pull Secret its user pods need.
5. `helm upgrade --install` of the hub: the chart creates the service's API
   token in its Secret `hub`.
6. BinderHub in another namespace: copy that one key into a Secret there.
7. `helm upgrade --install` of BinderHub, which now finds the token.
8. `GET /services/<name>/versions` through the hub's proxy.
"""

from __future__ import annotations

import difflib
import hmac
import secrets
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bhsvc import deploy, ui
from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc.chart import chart_for, check_hub_chart
from bhsvc.config import Config, load_config
from bhsvc.errors import OperationError, UsageError
from bhsvc.hub_files import hub_user_values
from bhsvc.plan import BINDERHUB_VALUES_FILE, HUB_VALUES_FILE, helm_commands, values_dir
from bhsvc.registry.credentials import docker_config_json, load_credentials
from bhsvc.values import binderhub_values, deep_merge

if TYPE_CHECKING:
    from bhsvc.kube import Kube

CHECK_TIMEOUT = 180.0


# ---- pure helpers --------------------------------------------------------------


_NOT_OURS = object()


def redact(values: Any, ours: Any, tag: Callable[[str], str]) -> Any:
    """Values safe to print: what bhsvc itself writes (`ours`), booleans and nulls as
    they are; every other value, which came from the user's files or raw values and
    may be a password, replaced by `tag`. Keys are shown."""
    if isinstance(values, Mapping):
        known = ours if isinstance(ours, Mapping) else {}
        return {key: redact(value, known.get(key, _NOT_OURS), tag) for key, value in values.items()}
    if isinstance(values, list):
        known_items = ours if isinstance(ours, list) else []
        return [item if item in known_items else redact(item, _NOT_OURS, tag) for item in values]
    if values is None or isinstance(values, bool) or (ours is not _NOT_OURS and values == ours):
        return values
    return tag(repr(values))


def run_tagger() -> Callable[[str], str]:
    """Tags equal for equal values within one run, so a change still shows as a new
    tag, and meaningless outside it: the key is random and never kept."""
    key = secrets.token_bytes(16)
    return lambda text: f"<not shown {hmac.new(key, text.encode(), 'sha256').hexdigest()[:8]}>"


def values_diff(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    name: str,
    ours: Mapping[str, Any],
    tag: Callable[[str], str],
) -> str:
    """A unified diff of two values documents, redacted against `ours`; '' when equal."""
    before = yaml.safe_dump(redact(dict(old or {}), ours, tag), sort_keys=True) if old else ""
    after = yaml.safe_dump(redact(dict(new), ours, tag), sort_keys=True)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name} (deployed)" if old is not None else f"{name} (nothing deployed)",
        tofile=f"{name} (new)",
        n=2,
    )
    return "".join(lines)


def values_bhsvc_writes(
    config: Config, service: tuple[str, int] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both charts' values from the config alone (no raw values, no user files): what
    a diff may show as it is."""
    bare = config.model_copy(
        update={
            "hub": config.hub.model_copy(update={"values": {}}),
            "binderhub": config.binderhub.model_copy(update={"values": {}}),
        }
    )
    hub = hub_mod.z2jh_values(bare, {}, service)
    if "profileList" in hub["singleuser"]:
        # bhsvc's profile is the default one only when the user has none: both are ours.
        hub["singleuser"]["profileList"].append(hub_mod.fancy_profile(default=False))
    return hub, binderhub_values(bare, {})


@dataclass
class Plan:
    """Everything connect-hub will do, decided before any change."""

    config: Config
    user_files: list[Path]
    existing: dict[str, Any]
    service: tuple[str, int] | None
    values_dir: Path
    hub_values: dict[str, Any]
    binderhub_values: dict[str, Any]
    # The user's --hub-values files, parsed, in order.
    existing_files_values: list[dict[str, Any]] = field(default_factory=list)
    hub_args: list[str] = field(default_factory=list)
    binderhub_args: list[str] = field(default_factory=list)

    @property
    def hub_file(self) -> Path:
        return self.values_dir / HUB_VALUES_FILE

    @property
    def binderhub_file(self) -> Path:
        return self.values_dir / BINDERHUB_VALUES_FILE

    @property
    def effective_hub_values(self) -> dict[str, Any]:
        """What helm will hold for the hub: the user's files, then bhsvc's."""
        merged: dict[str, Any] = {}
        for values in self.existing_files_values:
            merged = deep_merge(merged, values)
        return deep_merge(merged, self.hub_values)

    def secret_steps(self) -> list[str]:
        config = self.config
        pull = hub_mod.image_pull_secret(config)
        steps = [
            f"ensure namespace {config.hub_namespace}",
            f"ensure Secret {pull.namespace}/{pull.name} (image pull credentials for "
            f"{config.registry_server}, for user pods)",
        ]
        source = hub_mod.token_source(config, self.existing)
        target = hub_mod.token_target(config, self.existing)
        if source.namespace != target.namespace:
            steps.append(
                f"copy key {source.key} of Secret {source.namespace}/{source.name} to "
                f"{target.namespace}/{target.name}"
            )
        return steps


def make_plan(
    config: Config,
    user_files: Sequence[Path],
    user_values: Sequence[dict[str, Any]],
    service: tuple[str, int] | None,
) -> Plan:
    """Both charts' values from the config, the user's hub values and the found Service."""
    existing = hub_mod.merged_hub_values(config, user_values)
    hub_values = hub_mod.z2jh_values(config, existing, service)
    plan = Plan(
        config=config,
        user_files=list(user_files),
        existing=existing,
        service=service,
        values_dir=values_dir(config),
        hub_values=hub_values,
        binderhub_values=binderhub_values(config, existing),
        existing_files_values=list(user_values),
    )
    return plan


# ---- cluster side ----------------------------------------------------------------


def discover_service(kube: Kube, config: Config) -> tuple[str, int]:
    selector = hub_mod.service_selector(config)
    try:
        return kube.find_service(config.kube.namespace, selector)
    except OperationError as err:
        if "no Service matches" not in str(err):
            raise
        raise OperationError(
            f"BinderHub release {config.binderhub.release} has no Service in namespace "
            f"{config.kube.namespace} (labels {selector}): run 'bhsvc deploy' first"
        ) from None


# ---- the command ------------------------------------------------------------------


def _confirm(plan: Plan) -> None:
    import typer

    config = plan.config
    question = (
        f"Upgrade JupyterHub {config.hub.release} in {config.hub_namespace} and BinderHub "
        f"{config.binderhub.release} in {config.kube.namespace}?"
    )
    if not typer.confirm(question, default=False, err=True):
        raise OperationError("connect-hub cancelled: nothing was changed")  # as deploy does


def run(
    config_path: Path,
    hub_values_paths: Sequence[Path],
    dry_run: bool,
    yes: bool,
    output: str,
    helm_path: str | None,
    timeout: int = 600,
) -> None:
    # 1. local checks: no cluster call, no file written before these pass
    config = load_config(config_path)
    if not config.hub.enabled:
        raise UsageError(
            f"{config_path}: hub.enabled is false; set hub.enabled: true (and the hub "
            "settings) to connect BinderHub to a JupyterHub"
        )
    user = hub_user_values(config, hub_values_paths)
    user_files, user_values = user.files, user.values
    make_plan(config, user_files, user_values, None)  # rejects bad combinations early
    interactive = sys.stdin.isatty() and output != "json"
    if not dry_run and not yes and not interactive:
        raise UsageError("connect-hub upgrades two releases: pass --yes to confirm")
    docker_config = None
    if not dry_run:
        docker_config = docker_config_json(load_credentials(config))
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    check_hub_chart(config)
    chart = chart_for(config)
    # Local, before the cluster: settings BinderHub's chart refuses are bad input.
    deploy.check_chart_values(
        config, str(config_path), helm, chart, hub_mod.merged_hub_values(config, user_values)
    )

    steps = ui.Steps(quiet=output == "json")
    notes: list[str] = []
    kube: Kube | None = None
    service: tuple[str, int] | None = None
    with steps.step("find BinderHub's Service") as step:
        from bhsvc import kube as kube_mod

        try:
            kube = kube_mod.connect(config.kube.context)
            # helm acts on the context the kubeconfig resolved, as the client does.
            config = deploy.with_context(config, kube.context_name)
            service = discover_service(kube, config)
            step.detail = f"{config.kube.namespace}/{service[0]} port {service[1]}"
        except OperationError as err:
            if not dry_run:
                raise
            step.status = "skipped"
            step.detail = "not found" if kube is not None else "cluster not reachable"
            notes.append(f"BinderHub's Service not looked up ({err}); assumed the chart's name")
    plan = make_plan(config, user_files, user_values, service)
    chart_commands = helm_commands(config, helm, chart, timeout, plan.user_files)
    assert chart_commands.hub is not None  # connect-hub runs only with hub.enabled
    plan.hub_args = chart_commands.hub
    plan.binderhub_args = chart_commands.binderhub

    with steps.step("compare with the deployed values") as step:
        hub_before: dict[str, Any] | None = None
        bh_before: dict[str, Any] | None = None
        if kube is not None:
            try:
                hub_before = deploy.deployed_values(
                    helm, config.hub.release, config.hub_namespace, config.kube.context
                )
                bh_before = deploy.deployed_values(
                    helm, config.binderhub.release, config.kube.namespace, config.kube.context
                )
            except OperationError as err:
                if not dry_run:
                    raise  # the upgrade must know what it would drop
                hub_before = bh_before = None
                notes.append(f"{err}: the diff is against nothing")
        against = "deployed" if hub_before is not None and bh_before is not None else "nothing"
        if against == "nothing" and kube is None:
            notes.append("deployed values not readable: the diff is against nothing")
        hub_ours, bh_ours = values_bhsvc_writes(config, plan.service)
        tag = run_tagger()
        diffs = {
            "jupyterhub": values_diff(
                hub_before, plan.effective_hub_values, "jupyterhub", hub_ours, tag
            ),
            "binderhub": values_diff(bh_before, plan.binderhub_values, "binderhub", bh_ours, tag),
        }
        changed = [name for name, text in diffs.items() if text]
        step.detail = f"changes in {', '.join(changed)}" if changed else "no changes"
        try:
            deploy.check_nothing_dropped(config, hub_before, plan.effective_hub_values)
        except UsageError as err:
            if not dry_run:
                raise
            notes.append(str(err))

    if dry_run:
        notes += deploy.credentials_notes(config, "connect-hub")
    commands = [["helm", *plan.hub_args], ["helm", *plan.binderhub_args]]
    document: dict[str, Any] = {
        "ok": True,
        "dry_run": dry_run,
        "service": {
            "name": service[0] if service else None,
            "port": service[1] if service else None,
            "url": hub_mod.service_url(config, service),
            "discovered": service is not None,
        },
        "files": {"jupyterhub": str(plan.hub_file), "binderhub": str(plan.binderhub_file)},
        "user_values_files": [str(p) for p in user_files],
        "diff_against": against,
        "diff": diffs,
        "secrets": plan.secret_steps(),
        "commands": commands,
        "notes": notes,
    }
    if output != "json":
        _print_plan(plan, diffs, commands, notes, dry_run)
    if dry_run:
        if output == "json":
            document["steps"] = [r.as_dict() for r in steps.results]
            ui.print_json(document)
        return
    if not yes:
        _confirm(plan)
    assert kube is not None and docker_config is not None
    deploy.check_no_pending(helm, config)  # before any change

    with steps.step("write values files") as step:
        deploy.write_values(config, str(config_path), plan.existing, plan.service)
        step.detail = str(plan.values_dir)
    with steps.step(f"namespace {config.hub_namespace}") as step:
        step.detail = kube.ensure_namespace(config.hub_namespace)
    pull = hub_mod.image_pull_secret(config)
    with steps.step(f"image pull Secret {pull.namespace}/{pull.name}") as step:
        step.detail = deploy.ensure_pull_secret(kube, config, docker_config)
    with steps.step(f"JupyterHub release {config.hub.release}") as step:
        hub_release = deploy.install(helm, plan.hub_args, timeout)
        step.detail = f"revision {hub_release.revision}, chart {hub_release.chart_version}"
    deploy.record_applied_hub_values(config)
    with steps.step("hub API token for BinderHub") as step:
        # The hub's values as helm will hold them name its Secret.
        step.detail = deploy.copy_hub_token(kube, config, plan.existing)
    with steps.step(f"BinderHub release {config.binderhub.release}") as step:
        bh_release = deploy.install(helm, plan.binderhub_args, timeout)
        step.detail = f"revision {bh_release.revision}"
    prefix = config.hub_service_prefix
    with steps.step(f"GET {prefix}versions through the hub's proxy") as step:
        versions = deploy.smoke_check(
            kube,
            config.hub_namespace,
            deploy.hub_proxy_selector(config),
            deploy.HUB_PROXY_PORT,
            prefix,
            CHECK_TIMEOUT,
        )
        step.detail = f"BinderHub {versions.binderhub}"
    document["releases"] = {"jupyterhub": hub_release.as_dict(), "binderhub": bh_release.as_dict()}
    document["check"] = {"path": f"{prefix}versions", "binderhub": versions.binderhub}
    document["steps"] = [r.as_dict() for r in steps.results]
    if output == "json":
        ui.print_json(document)
        return
    ui.console.print(
        f"BinderHub answers at {prefix} of JupyterHub {config.hub.release} "
        f"(namespace {config.hub_namespace})."
    )


def _print_plan(
    plan: Plan,
    diffs: dict[str, str],
    commands: list[list[str]],
    notes: list[str],
    dry_run: bool,
) -> None:
    from rich.markup import escape

    for note in notes:
        ui.print_warning(note)
    for name, text in diffs.items():
        if text:
            ui.console.print(escape(text.rstrip("\n")), highlight=False, soft_wrap=True)
        else:
            ui.console.print(f"{name}: values unchanged")
    heading = "Would run:" if dry_run else "Running:"
    ui.console.print(heading)
    for line in plan.secret_steps():
        ui.console.print(f"  {escape(line)}", soft_wrap=True)
    for command in commands:
        ui.console.print(f"  [dim]{escape(shlex.join(command))}[/]", soft_wrap=True)
