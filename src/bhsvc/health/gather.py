"""The one gatherer of `status` and `doctor`: every fact, read once, read-only.

Plain sequential calls, each with a timeout (the Kubernetes client's request
timeout, helm's read timeout, the Google clients' call timeout, a short
port-forward for `/versions`). A read that fails leaves its fact None and says
why in `Facts.unread`; only an unreachable cluster stops the gathering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar

from bhsvc import installation, naming, pruning
from bhsvc.components.checks import VersionsCheck, get_versions_through
from bhsvc.components.releases import HubRelease, Release
from bhsvc.diagnose import containers_with_logs, pod_ready
from bhsvc.errors import BhsvcError, OperationError
from bhsvc.health.facts import (
    Answer,
    ComponentFact,
    Facts,
    HubFacts,
    ReleaseFacts,
    newest,
    parse_service_url,
    pod_name,
    pod_phase,
    read_docker_config,
    recent,
    waiting_reasons,
)
from bhsvc.kube.client import Kube
from bhsvc.lifecycle import Cluster, Component, Observation, State
from bhsvc.merge import value_at

T = TypeVar("T")

VERSIONS_TIMEOUT = 5.0  # one GET <prefix>versions through a port-forward
MAX_BUILD_LOGS = 10  # build pods whose logs are read, newest first
BUILD_LOG_LINES = 100
BINDERHUB_LOG_LINES = 300
HUB_LOG_LINES = 50
# z2jh labels its pods component=<hub|proxy|singleuser-server>, release=<release>.
HUB_PODS = "component in (hub,proxy),release={release}"
USER_PODS = "component=singleuser-server"
PULL_WAITING = ("ImagePullBackOff", "ErrImagePull")


class _Reader:
    """Runs reads; a failed one gives its default and is noted, so the rest goes on."""

    def __init__(self) -> None:
        self.unread: list[str] = []

    def __call__(self, fn: Callable[[], T], default: T) -> T:
        try:
            return fn()
        except BhsvcError as err:
            self.unread.append(str(err))
            return default

    def attempt(self, fn: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, what fn() gave), or (False, None) with the reason noted."""
        try:
            return True, fn()
        except BhsvcError as err:
            self.unread.append(str(err))
            return False, None


def gather(
    inputs: installation.Inputs, kube: Kube, network: bool = False, now: datetime | None = None
) -> Facts:
    """Everything status and doctor look at. An unreachable cluster raises (exit 1).

    `network`: read the NetworkPolicies too (doctor's check of the hub's way to
    BinderHub; the client's networking module costs a third of a second to load).
    """
    config = inputs.config
    facts = Facts(
        config,
        inputs.source,
        kube.context_name,
        kube.server,
        kube.server_version(timeout=5.0),
        now or datetime.now(timezone.utc),
    )
    read = _Reader()
    parts = installation.components(inputs)
    observed = _observe(parts, Cluster(kube, inputs.helm))
    _releases(facts, parts)
    _binderhub(facts, kube, read)
    _builds(facts, kube, read)
    _registry(facts, kube, read)
    if config.hub.enabled:
        facts.hub = _hub(facts, kube, read)
    if network:
        _network(facts, kube, read)
    facts.components = _component_facts(parts, observed, facts)
    cluster = Cluster(kube, inputs.helm)
    facts.orphans = read(lambda: pruning.find(facts.config, cluster, inputs.install_id), None)
    facts.unread = read.unread + (facts.gar.unread if facts.gar else [])
    return facts


# ---- the installation's components -------------------------------------------------


def _observe(parts: Sequence[Component], cluster: Cluster) -> list[Observation]:
    """Each component's observation; one that cannot be read is unknown, with why."""
    seen = []
    for part in parts:
        try:
            seen.append(part.observe(cluster))
        except BhsvcError as err:
            seen.append(Observation(State.UNKNOWN, f"not read: {err}"))
    return seen


def _component_facts(
    parts: Sequence[Component], observed: Sequence[Observation], facts: Facts
) -> list[ComponentFact]:
    found = []
    for part, seen in zip(parts, observed, strict=True):
        if isinstance(part, VersionsCheck):
            through_proxy = part.port == naming.HUB_PROXY_PORT
            answer = facts.hub.route if through_proxy and facts.hub else facts.versions
            state, detail = (
                ("converged", f"answered: BinderHub {answer.versions.binderhub}")
                if answer.versions
                else ("failing", answer.error)
            )
            found.append(ComponentFact(part.name, state, detail))
        elif isinstance(part, Release):
            found.append(ComponentFact(part.name, seen.state.value, release_detail(part, seen)))
        else:
            detail = seen.detail or {"missing": "does not exist"}.get(seen.state.value, "")
            found.append(ComponentFact(part.name, seen.state.value, detail))
    return found


def release_detail(part: Release, seen: Observation) -> str:
    """What a status screen says of a release: where it is, and what differs."""
    listed = part.listed
    if listed is None:
        return seen.detail if seen.state is State.UNKNOWN else "not installed"
    where = f"revision {listed.get('revision')} {listed.get('status')}, {listed.get('chart')}"
    if seen.blocker is not None:
        return f"{where}: {seen.blocker}"
    if seen.state is State.CONVERGED:
        return f"{where}: chart and values as the config says"
    differs = []
    running = str(listed.get("chart", ""))
    wanted = f"{part.chart_name}-{part.chart_version}" if part.chart_version else None
    if wanted and running != wanted:
        differs.append(f"bhsvc installs {wanted}")
    if part.expected_values is not None and part.deployed is not None:
        paths = differing_keys(part.deployed, part.expected_values)
        if paths:
            shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            differs.append(f"values differ at {shown}")
    return f"{where}: " + ("; ".join(differs) or "differs from the config")


def differing_keys(a: Any, b: Any, depth: int = 4, prefix: str = "") -> list[str]:
    """The dotted paths where two values documents differ, `depth` levels down."""
    if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or depth == 0:
        return [] if a == b else [prefix or "(all)"]
    paths = []
    for key in sorted({*a, *b}, key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in a or key not in b:
            paths.append(path)
        else:
            paths += differing_keys(a[key], b[key], depth - 1, path)
    return paths


def _releases(facts: Facts, parts: Sequence[Component]) -> None:
    config = facts.config
    for part in parts:
        if not isinstance(part, Release):
            continue
        hub = isinstance(part, HubRelease)
        listed = part.listed or {}
        release = ReleaseFacts(
            "jupyterhub" if hub else "binderhub",
            part.release,
            part.namespace,
            part.chart_name,
            part.listed is not None,
            chart=str(listed.get("chart", "")),
            app_version=str(listed.get("app_version", "")),
            revision=int(listed.get("revision") or 0),
            status=str(listed.get("status", "")),
            updated=str(listed.get("updated", "")),
            values=part.deployed or {},
        )
        if hub:
            facts.hub_release = release
        elif part.release == config.binderhub.release:
            facts.binderhub_release = release


# ---- BinderHub and its builds ------------------------------------------------------


def _binderhub(facts: Facts, kube: Kube, read: _Reader) -> None:
    config = facts.config
    ns, selector = config.kube.namespace, naming.binderhub_selector(config)
    facts.binderhub_pods = read(lambda: kube.list_pods(ns, selector), None)
    pod = newest(facts.binderhub_pods or [])
    if pod is not None:
        container = (pod.get("spec") or {}).get("containers", [{}])[0].get("name", "")
        log = partial(kube.pod_log, ns, pod_name(pod), container, BINDERHUB_LOG_LINES, False)
        facts.binderhub_log = read(log, None)
    facts.versions = _ask_versions(kube, ns, selector, naming.BINDERHUB_PORT, facts.base_url)


def _ask_versions(kube: Kube, namespace: str, selector: str, port: int, prefix: str) -> Answer:
    """One GET <prefix>versions through a port-forward to the newest ready pod."""
    try:
        versions = get_versions_through(
            kube, namespace, selector, port, prefix, VERSIONS_TIMEOUT, pause=VERSIONS_TIMEOUT
        )
    except OperationError as err:
        return Answer(None, str(err))
    return Answer(versions)


def _builds(facts: Facts, kube: Kube, read: _Reader) -> None:
    ns = facts.config.kube.namespace
    daemon = f"{naming.release_selector(facts.config)},app.kubernetes.io/component=docker-api"
    facts.daemon_pods = read(lambda: kube.list_pods(ns, daemon), None)
    facts.nodes = read(kube.list_nodes, None)
    builds = read(lambda: kube.list_pods(ns, naming.BUILD_POD_SELECTOR), None)
    facts.build_pods = builds
    # Logs of the builds that run or failed, newest first: a refused push shows there.
    worth = [
        p for p in builds or [] if pod_phase(p) in ("Running", "Failed") and recent(p, facts.now)
    ]
    worth.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    for pod in worth[:MAX_BUILD_LOGS]:
        container = (pod.get("spec") or {}).get("containers", [{}])[0].get("name", "")
        try:
            facts.build_logs[pod_name(pod)] = kube.pod_log(
                ns, pod_name(pod), container, BUILD_LOG_LINES, False
            )
        except OperationError:
            continue  # a container that never started has no log


# ---- the registry ----------------------------------------------------------------


def _registry(facts: Facts, kube: Kube, read: _Reader) -> None:
    config = facts.config
    # The Secret BinderHub and its build pods read (the chart's existingSecret).
    name = str(
        value_at(facts.binderhub_values, ("buildPodsRegistryCredentials", "existingSecret"))
        or naming.registry_secret(config)
    )
    ns = config.kube.namespace
    facts.registry_secret_read, secret = read.attempt(partial(kube.read_secret, ns, name))
    if facts.registry_secret_read:
        facts.registry_secret = read_docker_config(secret, "config.json")
    if config.registry.gar is not None:
        from bhsvc.registry.inventory import read_gar

        facts.gar = read_gar(config)


# ---- the hub ---------------------------------------------------------------------------


def _hub(facts: Facts, kube: Kube, read: _Reader) -> HubFacts:
    config = facts.config
    hub_ns = config.hub_namespace
    found = HubFacts(config.hub.service_name)
    found.pods = read(
        lambda: kube.list_pods(hub_ns, HUB_PODS.format(release=config.hub.release)), None
    )
    for pod in found.pods or []:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get("component") == "hub" and not pod_ready(pod):
            for container, previous in containers_with_logs(pod)[:1]:
                log = partial(
                    kube.pod_log, hub_ns, pod_name(pod), container, HUB_LOG_LINES, previous
                )
                found.hub_log = read(log, None)
    found.user_pods = read(lambda: kube.list_pods(hub_ns, USER_PODS), None)
    for pod in found.user_pods or []:
        if set(waiting_reasons(pod)) & set(PULL_WAITING):
            name = pod_name(pod)
            found.user_events[name] = read(partial(kube.pod_events, hub_ns, name), [])
    pull = naming.image_pull_secret(config)
    found.pull_secret_read, secret = read.attempt(
        partial(kube.read_secret, pull.namespace, pull.name)
    )
    if found.pull_secret_read:
        found.pull_secret = read_docker_config(secret, pull.key)
    token = value_at(facts.binderhub_values, ("hubIntegration", "apiToken")) or {}
    if isinstance(token, Mapping) and token.get("existingSecret") and token.get("key"):
        ns = config.kube.namespace
        done, value = read.attempt(
            partial(kube.read_secret_key, ns, str(token["existingSecret"]), str(token["key"]))
        )
        found.token_present = value is not None if done else None
    service = facts.hub_service or {}
    target = parse_service_url(str(service.get("url", ""))) if service.get("url") else None
    if target is not None:
        name, namespace, _port = target
        service_ns = namespace or hub_ns
        found.service_read, found.service = read.attempt(
            partial(kube.read_service, service_ns, name)
        )
    found.route = _ask_versions(
        kube,
        hub_ns,
        naming.proxy_selector(config),
        naming.HUB_PROXY_PORT,
        config.hub_service_prefix,
    )
    return found


def _network(facts: Facts, kube: Kube, read: _Reader) -> None:
    ns = facts.config.kube.namespace
    facts.network_policies = read(lambda: kube.list_network_policies(ns), None)
    for name in dict.fromkeys([ns, facts.config.hub_namespace]):
        found = read(partial(kube.read_namespace, name), None)
        if found is not None:
            facts.namespaces[name] = found
