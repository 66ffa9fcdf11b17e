"""Doctor's checks: what actually breaks a BinderHub service, each a pure function of
the gathered facts that returns its findings, each finding with the exact fix.

A check draws no conclusion from a fact that could not be read (None): a missing
permission shows up in the status's "not read" lines, never as a false finding.
docs/doctor.md has the table of findings; keep it in step with CHECKS.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bhsvc import naming
from bhsvc.config import image_host, server_host
from bhsvc.health import netpol
from bhsvc.health.facts import (
    Facts,
    newest,
    parse_service_url,
    pod_images,
    pod_name,
    pods_ready,
    value_at,
    waiting_reasons,
)
from bhsvc.health.logs import (
    NO_FANCY_PROFILES,
    PUSH_DENIED,
    first_match,
    manifest_failures,
    pull_refusal,
    shown,
)
from bhsvc.health.summary import (
    ERROR,
    WARNING,
    builder,
    daemon_nodes,
    pusher_trouble,
)

# The network-access label z2jh's hub NetworkPolicy admits.
HUB_ACCESS_LABEL = "hub.jupyter.org/network-access-hub"
# The stock z2jh hub image: it does not include jupyterhub-fancy-profiles.
STOCK_HUB_IMAGE = "quay.io/jupyterhub/k8s-hub"
FANCY_PROFILES_MODULE = "jupyterhub_fancy_profiles"
# What gives all BinderHub replicas one secret, read from BinderHub's pod:
# BINDERHUB_BUILD_TOKEN_SECRET (the default of BinderHub.build_token_secret) and
# BINDERHUB_SERVICE_COOKIE_SECRET (the chart's shared cookie secret). A build token
# secret can also be a trait in the values; when the chart gets a values key of its
# own for it, add that key's path to BUILD_TOKEN_VALUES.
BUILD_TOKEN_ENV = "BINDERHUB_BUILD_TOKEN_SECRET"
COOKIE_SECRET_ENV = "BINDERHUB_SERVICE_COOKIE_SECRET"
BUILD_TOKEN_VALUES: tuple[tuple[str, ...], ...] = (("config", "BinderHub", "build_token_secret"),)
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
    return shlex.join(["bhsvc", command, "--config", facts.config_file, *flags])


def _registry(host: str) -> str:
    return "docker.io" if host in _DOCKER_HUB else host


def _binderhub_labels(facts: Facts) -> dict[str, str] | None:
    """The labels of BinderHub's newest pod; None: no pod."""
    pod = newest(facts.binderhub_pods or [])
    return None if pod is None else dict((pod.get("metadata") or {}).get("labels") or {})


def _fancy_profiles_on(facts: Facts) -> bool:
    """Whether the hub's deployed values load jupyterhub-fancy-profiles."""
    snippets = value_at(facts.hub_values, ("hub", "extraConfig"), {}) or {}
    return isinstance(snippets, Mapping) and any(
        FANCY_PROFILES_MODULE in str(text) for text in snippets.values()
    )


# ---- the registry ------------------------------------------------------------------


def rebuild_loop(facts: Facts) -> list[Finding]:
    """BinderHub asks the registry whether an image exists before it builds: asking
    another registry than the one it pushes to, or with credentials that may not read,
    it never finds the image and builds it again on every launch."""
    found = []
    prefix_host = _registry(image_host(facts.image_prefix))
    url = value_at(facts.binderhub_values, ("config", "DockerRegistry", "url"))
    secret = facts.registry_secret
    asked: str | None = None
    how = ""
    if url:
        asked, how = _registry(server_host(str(url)) or str(url)), "config.DockerRegistry.url"
    elif secret is not None and secret.hosts:
        asked, how = _registry(secret.hosts[0]), "the first registry of its credentials"
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
    if facts.hub is None or not _fancy_profiles_on(facts) or facts.api_only:
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


# ---- the hub ------------------------------------------------------------------------


def hub_to_binderhub(facts: Facts) -> list[Finding]:
    """The hub's proxy reaches BinderHub at hub.services.<name>.url: a Service of that
    name and port that selects BinderHub's pod, and NetworkPolicies that let it in."""
    hub, service = facts.hub, facts.hub_service
    if hub is None or service is None or not service.get("url"):
        return []
    url = shown(str(service["url"]))
    target = parse_service_url(str(service["url"]))
    fix = bhsvc(facts, "connect-hub")
    hub_ns = facts.config.hub_namespace
    if target is None:
        return [
            Finding(
                "hub-to-binderhub",
                ERROR,
                f"hub.services.{hub.service_name}.url {url} names no Service in the cluster",
                fix,
            )
        ]
    name, namespace, port = target
    namespace = namespace or hub_ns
    found = []
    if hub.service_read and hub.service is None:
        found.append(
            Finding(
                "hub-to-binderhub",
                ERROR,
                f"hub.services.{hub.service_name}.url {url} names Service {namespace}/{name}, "
                "which does not exist: the hub's proxy cannot reach BinderHub",
                fix,
            )
        )
    elif hub.service is not None:
        spec = hub.service.get("spec") or {}
        ports = [int(p.get("port", 0)) for p in spec.get("ports") or []]
        labels = _binderhub_labels(facts)
        if port not in ports:
            found.append(
                Finding(
                    "hub-to-binderhub",
                    ERROR,
                    f"hub.services.{hub.service_name}.url {url} uses port {port}, but Service "
                    f"{namespace}/{name} listens on {', '.join(map(str, ports)) or 'no port'}",
                    fix,
                )
            )
        selector = spec.get("selector") or {}
        if labels is not None and not (
            selector and all(labels.get(k) == v for k, v in selector.items())
        ):
            found.append(
                Finding(
                    "hub-to-binderhub",
                    ERROR,
                    f"Service {namespace}/{name} (hub.services.{hub.service_name}.url) does "
                    "not select BinderHub's pod",
                    fix,
                )
            )
    found += _blocked_by_policies(facts)
    return found


def _blocked_by_policies(facts: Facts) -> list[Finding]:
    hub = facts.hub
    labels = _binderhub_labels(facts)
    if hub is None or labels is None or facts.network_policies is None or hub.pods is None:
        return []
    proxies = [
        p for p in hub.pods if ((p.get("metadata") or {}).get("labels") or {}).get("component")
        == "proxy"
    ]  # fmt: skip
    ns, hub_ns = facts.config.kube.namespace, facts.config.hub_namespace
    if not proxies or ns not in facts.namespaces or hub_ns not in facts.namespaces:
        return []

    def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
        return dict((obj.get("metadata") or {}).get("labels") or {})

    target = netpol.Endpoint(ns, labels, labels_of(facts.namespaces[ns]))
    source = netpol.Endpoint(hub_ns, labels_of(proxies[0]), labels_of(facts.namespaces[hub_ns]))
    port = int(facts.binderhub_trait("port", naming.BINDERHUB_PORT))
    if netpol.admits(facts.network_policies, target, port, "http", source):
        return []
    names = ", ".join(netpol.policy_names(netpol.isolating(facts.network_policies, target)))
    return [
        Finding(
            "hub-to-binderhub",
            ERROR,
            f"NetworkPolicies {names} in namespace {ns} select BinderHub's pod and admit "
            f"nothing from the hub's proxy (namespace {hub_ns}) on port {port}",
            f"add an ingress rule to one of them that admits the proxy pods (namespace "
            f"{hub_ns}, component=proxy) on port http, or let the chart add its own "
            f"(binderhub.values.networkPolicy.enabled: true, then {bhsvc(facts, 'deploy')})",
        )
    ]


def binderhub_to_hub(facts: Facts) -> list[Finding]:
    """BinderHub calls the hub's API with the service's token: the hub's NetworkPolicy
    admits pods with the network-access label (from another namespace only when the
    hub accepts such labels), and the token must be in BinderHub's namespace."""
    if facts.hub is None or facts.hub_release is None or not facts.hub_release.installed:
        return []
    found = []
    fix = bhsvc(facts, "connect-hub")
    labels = _binderhub_labels(facts)
    if labels is not None and labels.get(HUB_ACCESS_LABEL) != "true":
        found.append(
            Finding(
                "binderhub-to-hub",
                ERROR,
                f"BinderHub's pod lacks the label {HUB_ACCESS_LABEL}=true: the hub's "
                "NetworkPolicy drops its API calls (login, token checks, launches)",
                f"remove {HUB_ACCESS_LABEL} from binderhub.values.podLabels, then "
                f"{bhsvc(facts, 'deploy')}",
            )
        )
    policy = value_at(facts.hub_values, ("hub", "networkPolicy"), {}) or {}
    if (
        facts.config.hub_namespace != facts.config.kube.namespace
        and policy.get("enabled", True)
        and policy.get("interNamespaceAccessLabels", "ignore") != "accept"
    ):
        found.append(
            Finding(
                "binderhub-to-hub",
                ERROR,
                f"BinderHub runs in namespace {facts.config.kube.namespace}, but the hub's "
                "NetworkPolicy ignores the network-access label of pods in other namespaces "
                "(hub.networkPolicy.interNamespaceAccessLabels is not accept)",
                fix,
            )
        )
    token = value_at(facts.binderhub_values, ("hubIntegration", "apiToken"), {}) or {}
    if facts.hub.token_present is False:
        found.append(
            Finding(
                "binderhub-to-hub",
                ERROR,
                f"Secret {facts.config.kube.namespace}/{token.get('existingSecret')} or its key "
                f"{token.get('key')} is missing: BinderHub has no token for the hub's API",
                fix,
            )
        )
    return found


def pull_denied(facts: Facts) -> list[Finding]:
    """User servers pull the images BinderHub built with the hub's image pull Secret
    (with Workload Identity: as the nodes' service account, without a Secret)."""
    hub = facts.hub
    if hub is None or facts.hub_release is None or not facts.hub_release.installed:
        return []
    pull = naming.image_pull_secret(facts.config)
    prefix_host = _registry(image_host(facts.image_prefix))
    keyless = facts.config.keyless
    wrong = []
    if keyless:
        pass  # no Secret to look at: only refused pulls tell
    elif hub.pull_secret_read and hub.pull_secret is None:
        wrong.append(f"Secret {pull.namespace}/{pull.name} does not exist")
    elif hub.pull_secret is not None and prefix_host not in map(_registry, hub.pull_secret.hosts):
        wrong.append(f"Secret {pull.namespace}/{pull.name} has no credentials for {prefix_host}")
    listed = value_at(facts.hub_values, ("singleuser", "image", "pullSecrets"), []) or []
    names = [str(s.get("name") if isinstance(s, Mapping) else s) for s in listed]
    if pull.name not in names and not keyless:
        wrong.append(f"singleuser.image.pullSecrets does not list {pull.name}")
    refused = []
    for pod in hub.user_pods or []:
        built = any(image.startswith(facts.image_prefix) for image in pod_images(pod))
        if not built or not {"ImagePullBackOff", "ErrImagePull"} & set(waiting_reasons(pod)):
            continue
        messages = [str(e.get("message", "")) for e in hub.user_events.get(pod_name(pod), [])]
        line = pull_refusal(messages)
        if line is not None:
            refused.append(f"pod {pod_name(pod)}: {line}")
    if not wrong and not refused:
        return []
    what = "; ".join(wrong) if wrong else "the pull Secret's credentials are refused"
    fix = (
        f"{bhsvc(facts, 'connect-hub')} (writes the pull Secret and lists it), then "
        "restart the servers that failed"
    )
    if keyless:
        what = "the nodes' service account may not read the repository"
        fix = (
            f"{bhsvc(facts, 'init', '--non-interactive')} (grants the nodes' service account "
            "roles/artifactregistry.reader; set registry.gar.node_service_account when the "
            "nodes run as another account), then restart the servers that failed"
        )
    evidence = f" ({refused[0]})" if refused else ""
    return [
        Finding(
            "pull-denied",
            ERROR,
            f"user servers cannot pull the images BinderHub built: {what}{evidence}",
            fix,
        )
    ]


def hub_image(facts: Facts) -> list[Finding]:
    """fancy-profiles runs inside the hub: its image must include the package."""
    hub = facts.hub
    if hub is None or not _fancy_profiles_on(facts) or hub.pods is None:
        return []
    for pod in hub.pods:
        if ((pod.get("metadata") or {}).get("labels") or {}).get("component") != "hub":
            continue
        images = [i for i in pod_images(pod) if i.rsplit(":", 1)[0] == STOCK_HUB_IMAGE]
        crashed = NO_FANCY_PROFILES in "\n".join(hub.hub_log or [])
        if images or crashed:
            why = (
                f"its log says {NO_FANCY_PROFILES}"
                if crashed
                else f"{images[0]} is z2jh's own hub image, without the package"
            )
            return [
                Finding(
                    "hub-image",
                    ERROR,
                    f"the hub loads jupyterhub-fancy-profiles but its image lacks it ({why})",
                    "set hub.image to a hub image with jupyterhub-fancy-profiles (or, with "
                    "hub.chart_version 4.3.1, leave it unset for the published one), then "
                    f"{bhsvc(facts, 'deploy')}",
                )
            ]
    return []


Check = Callable[[Facts], list[Finding]]

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
