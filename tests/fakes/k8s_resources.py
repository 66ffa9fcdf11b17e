"""The resource types the fake Kubernetes API serves, their discovery documents,
and the defaulting and validation the real API server applies to them."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

READ_VERBS = ["get", "list", "watch"]
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCES = [
    Resource(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        subresources=("status", "finalize"),
    ),
    Resource(
        "", "v1", "Node", "nodes", namespaced=False, short_names=("no",), subresources=("status",)
    ),
    Resource("", "v1", "Secret", "secrets"),
    Resource("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    Resource(
        "", "v1", "Service", "services", short_names=("svc",), subresources=("status", "proxy")
    ),
    Resource(
        "",
        "v1",
        "Pod",
        "pods",
        short_names=("po",),
        subresources=("status", "log", "portforward", "exec", "eviction"),
    ),
    Resource("", "v1", "Event", "events", short_names=("ev",)),
    Resource(
        "", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",), subresources=("token",)
    ),
    Resource(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        subresources=("status",),
    ),
    Resource("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    Resource(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        short_names=("quota",),
        subresources=("status",),
    ),
    Resource("", "v1", "LimitRange", "limitranges", short_names=("limits",)),
    Resource(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        subresources=("status", "scale"),
    ),
    Resource(
        "apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), subresources=("status",)
    ),
    Resource(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        subresources=("status", "scale"),
    ),
    Resource(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        subresources=("status", "scale"),
    ),
    Resource("batch", "v1", "Job", "jobs", subresources=("status",)),
    Resource("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), subresources=("status",)),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    Resource(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
    ),
    Resource(
        "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)
    ),
    Resource(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        short_names=("ing",),
        subresources=("status",),
    ),
    Resource("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    Resource(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        subresources=("status",),
    ),
    Resource(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        namespaced=False,
        short_names=("pc",),
    ),
    Resource(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        namespaced=False,
        short_names=("sc",),
    ),
    Resource("coordination.k8s.io", "v1", "Lease", "leases"),
    Resource(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short_names=("crd",),
        subresources=("status",),
    ),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND = {(r.group, r.kind): r for r in RESOURCES}
# Kinds whose metadata.generation follows changes of everything but metadata and status.
GENERATION_KINDS = {
    "Deployment",
    "DaemonSet",
    "ReplicaSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "NetworkPolicy",
    "Ingress",
    "PodDisruptionBudget",
}


def groups() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = found.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return found


def api_group_list() -> dict[str, Any]:
    items = []
    for group, versions in groups().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        items.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def api_group(group: str) -> dict[str, Any] | None:
    versions = groups().get(group)
    if not versions or not group:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    selected = [r for r in RESOURCES if r.group == group and r.version == version]
    if not selected:
        return None
    entries: list[dict[str, Any]] = []
    for r in selected:
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": ALL_VERBS,
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        entries.append(entry)
        for sub in r.subresources:
            verbs = {
                "log": ["get"],
                "portforward": ["create", "get"],
                "exec": ["create", "get"],
                "eviction": ["create"],
                "token": ["create"],
                "proxy": ["get", "create"],
            }
            sub_kind = {
                "log": "Pod",
                "portforward": "PodPortForwardOptions",
                "exec": "PodExecOptions",
                "eviction": "Eviction",
                "token": "TokenRequest",
                "scale": "Scale",
            }.get(sub, r.kind)
            entries.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": sub_kind,
                    "verbs": verbs.get(sub, ["get", "patch", "update"]),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


# ---- validation ---------------------------------------------------------


class Invalid(ValueError):
    """A 422 Invalid answer: `causes` are (field, message) pairs."""

    def __init__(self, kind: str, name: str, causes: list[tuple[str, str]]):
        self.kind, self.name, self.causes = kind, name, causes
        text = "; ".join(f"{f}: {m}" for f, m in causes)
        super().__init__(f'{kind} "{name}" is invalid: {text}')


def _dns_label(value: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value)) and len(value) <= 63


def _dns_subdomain(value: str) -> bool:
    import re

    part = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    return bool(re.fullmatch(rf"{part}(\.{part})*", value)) and len(value) <= 253


def validate(resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    name = obj.get("metadata", {}).get("name", "")
    causes: list[tuple[str, str]] = []
    ok_name = (
        _dns_label(name) if resource.kind in ("Namespace", "Service") else _dns_subdomain(name)
    )
    if resource.kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Event"):
        ok_name = bool(name)  # path segment names
    if not ok_name:
        causes.append(("metadata.name", f'Invalid value: "{name}"'))
    if resource.kind == "Secret":
        secret_type = obj.get("type", "Opaque")
        data = obj.get("data") or {}
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError):
                causes.append((f"data[{key}]", "Invalid value: not base64"))
        if secret_type == "kubernetes.io/dockerconfigjson":
            raw = data.get(".dockerconfigjson")
            if raw is None:
                causes.append(("data[.dockerconfigjson]", "Required value"))
            else:
                try:
                    json.loads(base64.b64decode(raw))
                except ValueError:
                    causes.append(("data[.dockerconfigjson]", "Invalid value: not valid JSON"))
        if old is not None and old.get("type", "Opaque") != secret_type:
            causes.append(("type", "Invalid value: field is immutable"))
    if resource.kind in ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet"):
        selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
        labels = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "Invalid value: `selector` does not match template `labels`",
                )
            )
        if old is not None and old.get("spec", {}).get("selector") != obj.get("spec", {}).get(
            "selector"
        ):
            causes.append(("spec.selector", "Invalid value: field is immutable"))
    if causes:
        raise Invalid(resource.kind, name, causes)


# ---- defaulting ---------------------------------------------------------


def _default_container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tag_latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if tag_latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports", []):
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in container:
            p = container[probe]
            for key, value in (
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ):
                p.setdefault(key, value)
            if "httpGet" in p:
                p["httpGet"].setdefault("scheme", "HTTP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        _default_container(container)
    if spec.get("serviceAccountName"):
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            volume["secret"].setdefault("defaultMode", 420)
        if "configMap" in volume:
            volume["configMap"].setdefault("defaultMode", 420)
        if "hostPath" in volume:
            volume["hostPath"].setdefault("type", "")


def default_object(resource: Resource, obj: dict[str, Any], cluster_ip: str) -> None:
    """What the API server fills in on every write."""
    spec = obj.setdefault("spec", {}) if resource.kind not in _NO_SPEC else None
    kind = resource.kind
    if kind == "Secret":
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) if string_data else obj.get("data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault("type", "Opaque")
    elif kind == "Namespace":
        assert spec is not None
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {
            "phase": "Terminating" if obj["metadata"].get("deletionTimestamp") else "Active"
        }
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"][
            "name"
        ]
    elif kind == "Service":
        assert spec is not None
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("clusterIP", cluster_ip)
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports", []):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind in ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet"):
        assert spec is not None
        spec.setdefault("revisionHistoryLimit", 10)
        if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            spec.setdefault("replicas", 1)
        if kind == "Deployment":
            strategy = spec.setdefault("strategy", {})
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
            spec.setdefault("progressDeadlineSeconds", 600)
        if kind == "DaemonSet":
            strategy = spec.setdefault("updateStrategy", {})
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {})
        default_pod_spec(template.setdefault("spec", {}))
        obj.setdefault("status", {})
    elif kind == "Pod":
        assert spec is not None
        default_pod_spec(spec)
    elif kind == "PersistentVolumeClaim":
        assert spec is not None
        spec.setdefault("volumeMode", "Filesystem")
        obj.setdefault("status", {"phase": "Bound"})
    elif kind == "Job":
        assert spec is not None
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {})
        default_pod_spec(template.setdefault("spec", {}))
    elif kind == "RoleBinding" or kind == "ClusterRoleBinding":
        for subject in obj.get("subjects", []):
            if subject.get("kind") in ("User", "Group"):
                subject.setdefault("apiGroup", "rbac.authorization.k8s.io")
    elif kind == "NetworkPolicy":
        assert spec is not None
        if "policyTypes" not in spec:
            types = ["Ingress"]
            if "egress" in spec:
                types.append("Egress")
            spec["policyTypes"] = types
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            for port in rule.get("ports", []):
                port.setdefault("protocol", "TCP")
    if spec is not None and not spec and kind in _SPECLESS_OK:
        obj.pop("spec")


# Kinds with no spec field at all, and kinds whose empty spec is dropped.
_NO_SPEC = {
    "Secret",
    "ConfigMap",
    "ServiceAccount",
    "Event",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Endpoints",
    "Lease",
}
_SPECLESS_OK = {"Node"}


def spec_fingerprint(obj: dict[str, Any]) -> str:
    """What metadata.generation follows: everything but metadata and status."""
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def template_hash(template: dict[str, Any]) -> str:
    """A stable pod-template-hash value, like the deployment controller's."""
    clean = copy.deepcopy(template)
    clean.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[int(digest[i : i + 2], 16) % len(alphabet)] for i in range(0, 20, 2))


# ---- OpenAPI v3 ---------------------------------------------------------
#
# kubectl's (and so helm's) validation first asks, per kind, whether the server
# validates fields itself: it looks in /openapi/v3 for the kind's PATCH
# operation and its `fieldValidation` query parameter. The fake says yes, so
# clients send `fieldValidation=Strict` instead of validating locally.


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root() -> dict[str, Any]:
    paths = {}
    for group, versions in groups().items():
        for version in versions:
            path = _gv_path(group, version)
            digest = hashlib.sha256(path.encode()).hexdigest()[:16].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def openapi_group_version(path: str) -> dict[str, Any] | None:
    selected = [r for r in RESOURCES if _gv_path(r.group, r.version) == path]
    if not selected:
        return None
    field_validation = {
        "name": "fieldValidation",
        "in": "query",
        "description": "fieldValidation instructs the server on how to handle objects in the "
        "request containing unknown or duplicate fields.",
        "schema": {"type": "string", "uniqueItems": True},
    }
    paths: dict[str, Any] = {}
    for r in selected:
        scope = "/namespaces/{namespace}" if r.namespaced else ""
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        ok = {"200": {"description": "OK"}}
        paths[f"/{path}{scope}/{r.plural}/{{name}}"] = {
            "get": {
                "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": gvk,
                "responses": ok,
            },
            "patch": {
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [field_validation],
                "responses": ok,
            },
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.4"},
        "paths": paths,
    }
