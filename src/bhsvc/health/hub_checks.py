"""Doctor's checks of the hub's side: the routes between the hub and BinderHub, the
hub's users pulling what BinderHub built, and the hub image fancy-profiles needs.
Pure functions of the gathered facts, like checks.py's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bhsvc import naming
from bhsvc.config import image_host
from bhsvc.health import netpol
from bhsvc.health.facts import (
    Facts,
    parse_service_url,
    pod_images,
    pod_name,
    waiting_reasons,
)
from bhsvc.health.finding import (
    Finding,
    bhsvc,
    binderhub_labels,
    fancy_profiles_on,
    registry_name,
)
from bhsvc.health.logs import NO_FANCY_PROFILES, pull_refusal, shown
from bhsvc.health.summary import ERROR
from bhsvc.merge import value_at

# The network-access label z2jh's hub NetworkPolicy admits.
HUB_ACCESS_LABEL = "hub.jupyter.org/network-access-hub"
# The stock z2jh hub image: it does not include jupyterhub-fancy-profiles.
STOCK_HUB_IMAGE = "quay.io/jupyterhub/k8s-hub"


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
        labels = binderhub_labels(facts)
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
    labels = binderhub_labels(facts)
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
    labels = binderhub_labels(facts)
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
    prefix_host = registry_name(image_host(facts.image_prefix))
    keyless = facts.config.keyless
    wrong = []
    if keyless:
        pass  # no Secret to look at: only refused pulls tell
    elif hub.pull_secret_read and hub.pull_secret is None:
        wrong.append(f"Secret {pull.namespace}/{pull.name} does not exist")
    elif hub.pull_secret is not None and prefix_host not in map(
        registry_name, hub.pull_secret.hosts
    ):
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
    if hub is None or not fancy_profiles_on(facts) or hub.pods is None:
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
