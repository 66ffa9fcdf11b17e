"""`bhsvc status`: the installation at a glance, read-only.

The components as deploy's dry run observes them, both releases, BinderHub's
pods and `/versions`, the build daemon and recent builds, the registry, the hub
wiring and orphans: one screen, or one JSON document. Exit code 0 when healthy,
1 when a problem (not a warning) is found or no cluster answers, 2 on bad input.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bhsvc import helm as helm_mod
from bhsvc import render, ui
from bhsvc.chart import chart_for, check_hub_chart
from bhsvc.commands import rollout
from bhsvc.config import load_config
from bhsvc.errors import UsageError
from bhsvc.health import screen, summary
from bhsvc.health.facts import Facts
from bhsvc.hub_files import hub_user_values
from bhsvc.installation import Inputs
from bhsvc.registry.credentials import secret_docker_configs
from bhsvc.registry.gcp_clients import resolve_endpoints
from bhsvc.workdir import read_install_id

# Seconds a release may take: part of the helm commands the components describe,
# which status never runs.
UNUSED_TIMEOUT = 600


def prepare(config_path: Path, helm_path: str | None) -> tuple[Inputs, list[str]]:
    """Everything local: bad input stops here (exit 2), before any call.

    Without readable push credentials the Secrets' content cannot be compared:
    that is a note, not a stop.
    """
    config = load_config(config_path)
    user = hub_user_values(config)
    source = str(config_path)
    render.values_files(config, source, user.merged(config))  # refuses bad combinations
    check_hub_chart(config)
    chart = chart_for(config)
    resolve_endpoints()  # a bad endpoint override is bad input
    notes = []
    docker_config = pull_config = None
    try:
        docker_config, pull_config = secret_docker_configs(config)
    except UsageError as err:
        notes.append(f"the registry credentials ({err}): the Secrets' content is not compared")
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    inputs = Inputs(
        config, source, user, helm, chart, UNUSED_TIMEOUT, docker_config,
        pull_docker_config=pull_config, install_id=read_install_id(config),
    )  # fmt: skip
    return inputs, notes


def collect(config_path: Path, helm_path: str | None, output: str, doctor: bool = False) -> Facts:
    """Prepare, connect and gather: the facts status and doctor share (`doctor`: with
    the NetworkPolicies, which only its checks read)."""
    from bhsvc.health.gather import gather

    inputs, notes = prepare(config_path, helm_path)
    spinner = None
    if output != "json" and ui.err_console.is_terminal:
        spinner = ui.err_console.status("reading the cluster, the registry and the hub ...")
        spinner.start()
    try:
        inputs, kube = rollout.connect_to(inputs)
        facts = gather(inputs, kube, network=doctor)
    finally:
        if spinner is not None:
            spinner.stop()
    facts.unread += notes
    return facts


def run(config_path: Path, output: str, helm_path: str | None) -> None:
    facts = collect(config_path, helm_path, output)
    found = summary.problems(facts)
    document = summary.document(facts, found)
    if output == "json":
        ui.print_json(document)
    else:
        for line in screen.status_lines(document):
            ui.console.print(line)
    if document["exit_code"]:
        raise typer.Exit(document["exit_code"])
