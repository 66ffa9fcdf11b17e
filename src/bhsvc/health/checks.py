"""Doctor's checks: what actually breaks a BinderHub service, each a pure function of
the gathered facts that returns its findings, each finding with the exact fix.

A check draws no conclusion from a fact that could not be read (None): a missing
permission shows up in the status's "not read" lines, never as a false finding.
docs/doctor.md has the table of findings; keep it in step with CHECKS. The checks of
the hub's side are in hub_checks.py.
"""

from __future__ import annotations

import shlex

from bhsvc import naming
from bhsvc.config import image_host, server_host
from bhsvc.health.facts import Facts, pods_ready
from bhsvc.health.finding import (
    Check,
    Finding,
    bhsvc,
    fancy_profiles_on,
    registry_name,
)
from bhsvc.health.hub_checks import binderhub_to_hub, hub_image, hub_to_binderhub, pull_denied
from bhsvc.health.logs import PUSH_DENIED, first_match, manifest_failures
from bhsvc.health.summary import (
    ERROR,
    WARNING,
    builder,
    daemon_nodes,
    pusher_trouble,
)
from bhsvc.merge import value_at

# What gives all BinderHub replicas one secret, read from BinderHub's pod:
# BINDERHUB_BUILD_TOKEN_SECRET (the default of BinderHub.build_token_secret) and
# BINDERHUB_SERVICE_COOKIE_SECRET (the chart's shared cookie secret). A build token
# secret can also be a trait in the values; when the chart gets a values key of its
# own for it, add that key's path to BUILD_TOKEN_VALUES.
BUILD_TOKEN_ENV = "BINDERHUB_BUILD_TOKEN_SECRET"
COOKIE_SECRET_ENV = "BINDERHUB_SERVICE_COOKIE_SECRET"
BUILD_TOKEN_VALUES: tuple[tuple[str, ...], ...] = (("config", "BinderHub", "build_token_secret"),)


# ---- the registry ------------------------------------------------------------------


def rebuild_loop(facts: Facts) -> list[Finding]:
    """BinderHub asks the registry whether an image exists before it builds: asking
    another registry than the one it pushes to, or with credentials that may not read,
    it never finds the image and builds it again on every launch."""
    found = []
    prefix_host = registry_name(image_host(facts.image_prefix))
    url = value_at(facts.binderhub_values, ("config", "DockerRegistry", "url"))
    secret = facts.registry_secret
    asked: str | None = None
    how = ""
    if url:
        asked, how = registry_name(server_host(str(url)) or str(url)), "config.DockerRegistry.url"
    elif secret is not None and secret.hosts:
        asked, how = registry_name(secret.hosts[0]), "the first registry of its credentials"
    elif secret is not None:
        found.append(
            Finding(
                "rebuild-loop",
                ERROR,
                f"the registry Secret holds no docker config.json for {prefix_host}: "
                "BinderHub cannot look its images up and rebuilds them every time",
                bhsvc(facts, "deploy", "--force"),
            )
        )
    if asked is not None and asked != prefix_host:
        found.append(
            Finding(
                "rebuild-loop",
                ERROR,
                f"BinderHub looks images up at {asked} ({how}) but pushes them to "
                f"{prefix_host} (config.BinderHub.image_prefix): it never finds what it "
                "built and rebuilds on every launch",
                "remove config.DockerRegistry.url from binderhub.values (or set it to "
                f"https://{prefix_host}), then {bhsvc(facts, 'deploy')}"
                if url
                else f"make registry.server and registry.image_prefix name one registry, "
                f"then {bhsvc(facts, 'deploy')}",
            )
        )
    count, codes = manifest_failures(facts.binderhub_log or [])
    if count:
        status = "/".join(sorted(codes)) or "an error"
        found.append(
            Finding(
                "rebuild-loop",
                ERROR,
                f"BinderHub's log shows {count} failed image lookups (HTTP {status}): "
                "its registry credentials can push but not read, so it rebuilds images "
                "that exist",
                _grant_read(facts),
            )
        )
    return found


def _grant_read(facts: Facts) -> str:
    gar = facts.config.registry.gar
    if gar is None:
        return (
            f"give the account of the registry Secret read (pull) access to "
            f"{facts.image_prefix}*, then {bhsvc(facts, 'deploy', '--force')}"
        )
    email = facts.gar.account if facts.gar else "<pusher account>"
    return shlex.join(
        [
            "gcloud", "artifacts", "repositories", "add-iam-policy-binding", gar.repository,
            "--location", gar.region, "--project", gar.project,
            "--member", f"serviceAccount:{email}", "--role", "roles/artifactregistry.reader",
        ]
    )  # fmt: skip


def push_denied(facts: Facts) -> list[Finding]:
    """A registry that refuses the build pods' push: the build fails after building."""
    for pod, log in facts.build_logs.items():
        line = first_match(log, PUSH_DENIED)
        if line is None:
            continue
        if facts.config.keyless:
            fix = (
                f"{bhsvc(facts, 'init', '--non-interactive')} (lets BinderHub's ServiceAccount "
                "act as the pusher and grants it roles/artifactregistry.writer), then "
                f"{bhsvc(facts, 'deploy')}; a Workload Identity token lives an hour: a push "
                "after a longer build is refused, start the build again"
            )
        elif facts.config.registry.gar is not None:
            fix = (
                f"{bhsvc(facts, 'init', '--non-interactive')} (grants the pusher "
                "roles/artifactregistry.writer on the repository; add --rotate-key when the "
                f"key was revoked), then {bhsvc(facts, 'deploy')}"
            )
        else:
            fix = (
                "check registry.username and the password (registry.password_file or "
                f"BHSVC_REGISTRY_PASSWORD): the account needs push rights on "
                f"{facts.image_prefix}*; then {bhsvc(facts, 'deploy')}"
            )
        return [
            Finding(
                "push-denied",
                ERROR,
                f"build pod {pod} could not push: {line}",
                fix,
            )
        ]
    return []


def pusher_key(facts: Facts) -> list[Finding]:
    """The service-account key the build pods push with (Artifact Registry)."""
    trouble = pusher_trouble(facts)
    gar = facts.config.registry.gar
    if trouble is None or facts.gar is None or gar is None:
        return []
    init, deploy = bhsvc(facts, "init", "--non-interactive"), bhsvc(facts, "deploy")
    rotate = f"{bhsvc(facts, 'init', '--non-interactive', '--rotate-key')}, then {deploy}"
    enable = ["gcloud", "iam", "service-accounts", "enable", facts.gar.account]
    fixes = {
        "account-missing": f"{init}, then {deploy}",
        "account-disabled": shlex.join([*enable, "--project", gar.project]),
        "key-deleted": f"{init} (makes a new key), then {deploy}",
        "key-disabled": rotate,
        "key-old": rotate,
    }
    refused = "" if trouble.severity == WARNING else ": every push is refused"
    return [Finding("pusher-key", trouble.severity, trouble.message + refused, fixes[trouble.kind])]


# ---- the build daemon ----------------------------------------------------------------


def build_daemon(facts: Facts) -> list[Finding]:
    """Build pods talk to the daemon on their own node through a socket: a node where
    it is missing or not ready fails the builds there (a socket path the kubelet made
    a directory before the daemon started is the classic race), and a node short of
    disk evicts builds."""
    if builder(facts) == "host" or facts.daemon_pods is None or facts.build_pods is None:
        return []
    found = []
    ns = facts.config.kube.namespace
    daemon = f"{naming.release_selector(facts.config)},app.kubernetes.io/component=docker-api"
    for node in daemon_nodes(facts):
        if node.build_pods and node.ready < max(node.total, 1):
            state = "missing" if not node.total else f"not ready ({node.ready}/{node.total})"
            found.append(
                Finding(
                    "build-daemon",
                    ERROR,
                    f"{node.build_pods} build pod(s) on node {node.node}, where the build "
                    f"daemon is {state}: their builds fail",
                    f"kubectl --namespace {ns} get pods -l {daemon} -o wide shows why; a "
                    "node the daemon may not run on needs dockerApi.nodeSelector/tolerations "
                    "that cover the build pods' nodes (then "
                    f"{bhsvc(facts, 'deploy')}); delete the stuck build pods so that "
                    "BinderHub starts them again",
                )
            )
    daemon_hosts = {n.node for n in daemon_nodes(facts) if n.total}
    for listed in facts.nodes or []:
        name = str((listed.get("metadata") or {}).get("name", ""))
        conditions = (listed.get("status") or {}).get("conditions") or []
        pressure = any(
            c.get("type") == "DiskPressure" and c.get("status") == "True" for c in conditions
        )
        if pressure and name in daemon_hosts:
            found.append(
                Finding(
                    "build-daemon",
                    ERROR,
                    f"node {name} has DiskPressure: the kubelet evicts build pods there and "
                    "the daemon's image store cannot grow",
                    f"free disk on {name} (the daemon keeps every layer it built: prune it, "
                    "or run a docker image cleaner), or give the daemon its own volume "
                    f"(binderhub.values.dockerApi.storage), then {bhsvc(facts, 'deploy')}",
                )
            )
    return found


# ---- BinderHub itself ------------------------------------------------------------------


def replicas(facts: Facts) -> list[Finding]:
    """Several BinderHub replicas: all must be ready, and share the secrets each
    process would otherwise draw at random (cookies with hub auth; build tokens of
    BinderHub's own pages)."""
    wanted = facts.replicas_wanted
    if wanted is None or wanted <= 1:
        return []
    found = []
    ready, total = pods_ready(facts.binderhub_pods or [])
    if facts.binderhub_pods is not None and ready < wanted:
        found.append(
            Finding(
                "replicas",
                ERROR,
                f"{ready} of {wanted} BinderHub replicas ready ({total} pods): requests "
                "that reach the others fail",
                f"kubectl --namespace {facts.config.kube.namespace} describe pods -l "
                f"{naming.binderhub_selector(facts.config)} shows why; or set "
                f"binderhub.values.replicas: 1 and {bhsvc(facts, 'deploy')}",
            )
        )
    env = facts.binderhub_env()
    if env is None:
        return found
    hub = value_at(facts.binderhub_values, ("hubIntegration",), {}) or {}
    if hub.get("enabled") and hub.get("auth", True) and COOKIE_SECRET_ENV not in env:
        found.append(
            Finding(
                "replicas",
                ERROR,
                f"{wanted} replicas with hub auth but no shared cookie secret: each replica "
                "signs logins with its own, so users are logged out when a request "
                "reaches another",
                f"set binderhub.values.replicas: 1, then {bhsvc(facts, 'deploy')}",
            )
        )
    shared_token = BUILD_TOKEN_ENV in env or any(
        value_at(facts.binderhub_values, path) for path in BUILD_TOKEN_VALUES
    )
    if not facts.api_only and not shared_token:
        found.append(
            Finding(
                "replicas",
                ERROR,
                f"{wanted} replicas serve BinderHub's pages without a shared build token "
                "secret: a build started from one replica's page is refused by another",
                "give every replica one secret (binderhub.values.extraEnv: "
                f"{BUILD_TOKEN_ENV} from a Secret, hex), or set binderhub.values.replicas: 1; "
                f"then {bhsvc(facts, 'deploy')}",
            )
        )
    return found


def api_only(facts: Facts) -> list[Finding]:
    """fancy-profiles asks BinderHub for build_only builds, which only API-only mode allows."""
    if facts.hub is None or not fancy_profiles_on(facts) or facts.api_only:
        return []
    return [
        Finding(
            "api-only",
            ERROR,
            "the hub loads fancy-profiles, whose builds ask for build_only=true, but "
            "BinderHub runs with enable_api_only_mode false: every build is refused",
            f"set binderhub.api_only: true (hub.launch: fancy-profiles), then "
            f"{bhsvc(facts, 'deploy')}",
        )
    ]


def base_url(facts: Facts) -> list[Finding]:
    """The hub's proxy passes /services/<name>/... on unchanged: BinderHub must serve there."""
    if facts.hub is None or facts.hub_service is None or facts.binderhub_release is None:
        return []
    route = f"/services/{facts.hub.service_name}/"
    if facts.base_url == route:
        return []
    evidence = f" (through the proxy: {facts.hub.route.error})" if facts.hub.route.error else ""
    return [
        Finding(
            "base-url",
            ERROR,
            f"BinderHub serves under {facts.base_url} but the hub routes {route} to it{evidence}",
            bhsvc(facts, "connect-hub"),
        )
    ]


# In the order doctor reports them: BinderHub's own pipeline first, then the hub.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("rebuild-loop", rebuild_loop),
    ("push-denied", push_denied),
    ("pusher-key", pusher_key),
    ("build-daemon", build_daemon),
    ("replicas", replicas),
    ("api-only", api_only),
    ("base-url", base_url),
    ("hub-to-binderhub", hub_to_binderhub),
    ("binderhub-to-hub", binderhub_to_hub),
    ("pull-denied", pull_denied),
    ("hub-image", hub_image),
)


def run_checks(facts: Facts) -> list[Finding]:
    return [finding for _name, check in CHECKS for finding in check(facts)]
