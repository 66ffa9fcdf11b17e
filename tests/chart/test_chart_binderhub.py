"""The BinderHub Deployment, Service, RBAC, Ingress and the `helm test` Job."""

from __future__ import annotations

import pytest
import yaml
from chartlib import CHART, NAMESPACE, SCENARIOS, pod_containers, pod_spec_of

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


# CKV_K8S_40: a UID of 10000 or more, outside the users a node usually has
HIGH_UID = 10001

HARDENED = {
    "runAsNonRoot": True,
    "runAsUser": HIGH_UID,
    "runAsGroup": HIGH_UID,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_chart_metadata_pins_the_binderhub_image():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "binderhub-service"
    assert chart["version"] == "0.1.0"
    assert values["image"]["repository"] == "quay.io/jupyterhub/k8s-binderhub"
    assert values["image"]["tag"] == chart["appVersion"] == "1.0.0-0.dev.git.3983.h383374de"


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        ("defaults", "/versions"),
        ("seed", "/versions"),
        ("hub-auth", "/services/binder/versions"),
        ("ingress", "/binder/versions"),
        ("every-option", "/jupyter/services/binderhub/versions"),
    ],
)
def test_probes_ask_versions_under_base_url(helm, render, scenario, path):
    container = render(helm, scenario).container
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe


def test_base_url_without_trailing_slash(helm, render):
    rendered = render(helm, extra={"config": {"BinderHub": {"base_url": "/binder"}}})
    assert rendered.container["livenessProbe"]["httpGet"]["path"] == "/binder/versions"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "every-option"])
def test_container_is_hardened(helm, render, scenario):
    rendered = render(helm, scenario)
    security = rendered.container["securityContext"]
    for key, value in HARDENED.items():
        assert security[key] == value, key
    assert rendered.pod_spec["securityContext"] == {
        "fsGroup": HIGH_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # a writable /tmp with the read-only root filesystem
    mounts = {m["mountPath"]: m["name"] for m in rendered.container["volumeMounts"]}
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_only_binderhub_and_a_cordoning_cleaner_get_an_api_token(helm, render, scenario):
    rendered = render(helm, scenario)
    # No automatic token anywhere (CKV_K8S_38): BinderHub mounts its own, and
    # so does the image cleaner's container (not the engine's) when it may
    # cordon nodes.
    assert rendered.pod_spec["automountServiceAccountToken"] is False
    for sa in rendered.all("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False
    for ds in rendered.all("DaemonSet"):
        assert ds["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert rendered.test_pod["spec"]["automountServiceAccountToken"] is False
    assert not rendered.all("Pod")
    token_mounts = [
        (doc["metadata"]["name"], c["name"], m["mountPath"])
        for doc in rendered.docs
        for c in pod_containers(doc)
        for m in c.get("volumeMounts", [])
        if m["mountPath"].startswith("/var/run/secrets/kubernetes.io")
    ]
    expected = [(rendered.deployment["metadata"]["name"], "binderhub", SA_DIR)]
    if rendered.all("ClusterRole"):
        (ds,) = rendered.all("DaemonSet")
        expected.append((ds["metadata"]["name"], "image-cleaner", SA_DIR))
    assert sorted(token_mounts) == sorted(expected)


def test_binderhub_token_volume_has_the_in_cluster_files(helm, render, scenario):
    """The files the Kubernetes client reads in a pod, where it reads them."""
    rendered = render(helm, scenario)
    mounts = {m["mountPath"]: m for m in rendered.container["volumeMounts"]}
    assert mounts[SA_DIR]["readOnly"] is True
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    projected = volumes[mounts[SA_DIR]["name"]]["projected"]
    token, ca, namespace = projected["sources"]
    assert token == {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}
    assert ca == {
        "configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    }
    assert namespace == {
        "downwardAPI": {
            "items": [
                {
                    "path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                }
            ]
        }
    }
    # the token is for the ServiceAccount bound to the Role
    if rendered.all("RoleBinding"):
        (subject,) = rendered.get("RoleBinding")["subjects"]
        assert rendered.pod_spec.get("serviceAccountName", "default") == subject["name"]


def secret_volumes(rendered) -> dict[str, int]:
    """defaultMode of each Secret or projected volume of the BinderHub pod."""
    return {
        v["name"]: (v.get("secret") or v.get("projected"))["defaultMode"]
        for v in rendered.pod_spec["volumes"]
        if "secret" in v or "projected" in v
    }


@pytest.mark.parametrize("scenario", ["defaults", "seed", "hub-auth", "every-option"])
def test_secret_files_are_readable_by_the_pod_group_only(helm, render, scenario):
    rendered = render(helm, scenario)
    modes = secret_volumes(rendered)
    assert set(modes) == {"config", "docker-config", "shared-secrets", "kube-api-access"}
    # 0440: owner and group; the kubelet gives the files the fsGroup, which
    # every container of the pod has as a supplementary group.
    assert set(modes.values()) == {0o440}
    assert rendered.pod_spec["securityContext"]["fsGroup"] > 0


def test_secret_files_without_fs_group_stay_readable(helm, render):
    """Without an fsGroup the files belong to root: a non-root user needs the
    world-readable bit."""
    rendered = render(helm, "seed", extra={"podSecurityContext": {"fsGroup": None}})
    assert "fsGroup" not in rendered.pod_spec["securityContext"]
    assert set(secret_volumes(rendered).values()) == {0o444}


def test_nothing_runs_as_uid_1000(helm, render):
    """The chart's pods and containers use 10001, or root for the engine."""
    rendered = render(helm, "defaults")
    uids = set()
    for doc in rendered.docs:
        spec = pod_spec_of(doc)
        if spec is None:
            continue
        for context in [spec.get("securityContext", {})] + [
            c.get("securityContext", {}) for c in pod_containers(doc)
        ]:
            for key in ("runAsUser", "runAsGroup", "fsGroup"):
                if key in context:
                    uids.add(context[key])
    assert uids == {HIGH_UID, 0}


def test_config_is_mounted_and_checksummed(helm, render):
    rendered = render(helm, "seed")
    config_secret = rendered.get("Secret", "binderhub-binderhub-service-config")
    assert "binderhub_config.py" in config_secret["stringData"]
    assert rendered.container["args"] == [
        "--config",
        "/etc/binderhub/config/binderhub_config.py",
    ]
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in rendered.container["volumeMounts"]}
    assert volumes[mounts["/etc/binderhub/config"]]["secret"]["secretName"] == (
        "binderhub-binderhub-service-config"
    )
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64


def test_config_change_changes_the_checksum(helm, render):
    def checksum(rendered):
        return rendered.deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = render(helm, "seed")
    changed = render(helm, "seed", extra={"extraConfig": {"x": "pass"}})
    assert checksum(base) != checksum(changed)


def test_seed_config_reaches_binderhub(helm, render):
    binderhub = render(helm, "seed").config("BinderHub")
    assert binderhub == {
        "use_registry": True,
        "image_prefix": "europe-west10-docker.pkg.dev/proj/repo/binder-",
        "enable_api_only_mode": True,
        "base_url": "/",
        "port": 8585,
        # one daemon's capacity (build capacity tests)
        "concurrent_build_limit": 8,
    }


def test_service_targets_the_http_port(helm, render):
    rendered = render(helm, "seed")
    service = rendered.get("Service")
    assert service["metadata"]["name"] == "binderhub-binderhub-service"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert rendered.container["ports"] == [
        {"name": "http", "containerPort": 8585, "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "binderhub-service",
        "app.kubernetes.io/instance": "binderhub",
        "app.kubernetes.io/component": "binderhub",
    }
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_every_option_service_and_port(helm, render):
    rendered = render(helm, "every-option")
    service = rendered.get("Service")
    assert service["metadata"]["name"] == "my-binderhub"
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30585
    assert service["spec"]["ports"][0]["port"] == 8080
    assert rendered.container["ports"][0]["containerPort"] == 8686


@pytest.mark.parametrize(
    ("release", "overrides", "fullname"),
    [
        ("binderhub", {}, "binderhub-binderhub-service"),
        ("my-binderhub-service", {}, "my-binderhub-service"),
        ("bh", {"nameOverride": "binder"}, "bh-binder"),
        ("binder-prod", {"nameOverride": "binder"}, "binder-prod"),
        ("bh", {"fullnameOverride": "builder"}, "builder"),
        ("r" * 53, {}, ("r" * 53 + "-binderhub-service")[:63]),
    ],
)
def test_fullname(helm, render, release, overrides, fullname):
    rendered = render(helm, release=release, extra=overrides or None)
    assert rendered.get("Service")["metadata"]["name"] == fullname
    assert rendered.deployment["metadata"]["name"] == fullname
    for doc in rendered.docs:
        assert len(doc["metadata"]["name"]) <= 63


def test_suffixed_names_keep_their_suffix(helm, render):
    rendered = render(helm, release="r" * 53)
    names = {d["metadata"]["name"] for d in rendered.docs}
    assert any(n.endswith("-docker-api") for n in names)
    assert any(n.endswith("-config") for n in names)
    assert any(n.endswith("-build-pods-docker-config") for n in names)


def test_rbac_is_minimal_and_namespaced(helm, render):
    rendered = render(helm, "seed")
    assert not rendered.all("ClusterRole")
    assert not rendered.all("ClusterRoleBinding")
    role = rendered.get("Role")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    binding = rendered.get("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = rendered.get("ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert rendered.pod_spec["serviceAccountName"] == sa["metadata"]["name"]


def test_rbac_and_serviceaccount_can_be_turned_off(helm, render):
    rendered = render(helm, extra={"rbac": {"create": False}, "serviceAccount": {"create": False}})
    assert not rendered.all("Role")
    assert not rendered.all("ServiceAccount")
    assert "serviceAccountName" not in rendered.pod_spec


def test_the_role_never_goes_to_the_default_service_account(helm, template_error):
    err = template_error({"serviceAccount": {"create": False}})
    assert "serviceAccount.create is false and serviceAccount.name is empty" in err


def test_several_replicas_get_a_disruption_budget(helm, render):
    assert not render(helm).all("PodDisruptionBudget")
    rendered = render(helm, "every-option")
    (budget,) = rendered.all("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == rendered.deployment["spec"]["selector"]


def test_ingress(helm, render):
    ingress = render(helm, "ingress").get("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "binder.example.org"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/binder/"
    assert path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {
        "name": "binderhub-binderhub-service",
        "port": {"name": "http"},
    }
    assert ingress["spec"]["tls"][0]["secretName"] == "binder-tls"


def test_no_ingress_by_default(helm, render):
    assert not render(helm, "defaults").all("Ingress")


def test_every_option_pod_settings(helm, render):
    rendered = render(helm, "every-option")
    pod = rendered.deployment["spec"]["template"]
    assert rendered.deployment["spec"]["replicas"] == 2
    assert pod["metadata"]["labels"]["example.org/label"] == "yes"
    assert pod["metadata"]["annotations"]["example.org/annotation"] == "yes"
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in spec["affinity"]
    assert spec["imagePullSecrets"] == [{"name": "quay-pull"}, {"name": "other-pull"}]
    # a user's securityContext (here the 2i2c chart's UID 1000) wins
    assert spec["securityContext"]["fsGroup"] == 1000
    assert rendered.container["securityContext"]["runAsUser"] == 1000
    env = rendered.env()
    assert env["RELEASE"]["value"] == "binderhub"  # extraEnv goes through tpl
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == (
        "/etc/binderhub/config/gcp-sa-key.json"
    )
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["extra"]["configMap"]["name"] == "binderhub-extra"
    assert rendered.container["imagePullPolicy"] == "IfNotPresent"
    assert rendered.container["resources"]["limits"]["memory"] == "2Gi"


def test_extra_config_and_custom_reach_the_config_file(helm, render):
    chart_config = render(helm, "every-option").chart_config()
    assert list(chart_config["extraConfig"]) == ["10-first", "20-second", "30-empty"]
    assert chart_config["custom"]["banner"] == "Welcome"


def test_helm_test_is_a_job(helm, render, scenario):
    rendered = render(helm, scenario)
    job = rendered.test_job
    assert job["apiVersion"] == "batch/v1"
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    # helm prints the pod's logs when the test fails
    assert annotations["helm.sh/hook-output-log-policy"] == "hook-failed"
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    # below helm test's default timeout of 300 s
    assert 0 < spec["activeDeadlineSeconds"] < 300
    assert spec["ttlSecondsAfterFinished"] > 0
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": HIGH_UID,
        "runAsGroup": HIGH_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "volumes" not in pod_spec


def test_helm_test_pod_gets_versions(helm, render, scenario):
    rendered = render(helm, scenario)
    (container,) = rendered.test_pod["spec"]["containers"]
    service = rendered.get("Service")
    base_url = rendered.chart_config()["config"]["BinderHub"].get("base_url", "/")
    base_url = base_url.rstrip("/") + "/"
    url = (
        f"http://{service['metadata']['name']}.{NAMESPACE}.svc:"
        f"{service['spec']['ports'][0]['port']}{base_url}versions"
    )
    assert url in container["command"][-1]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == HIGH_UID
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["image"] == rendered.container["image"]
    assert container["imagePullPolicy"] == rendered.container["imagePullPolicy"]


@pytest.mark.parametrize("scenario", ["defaults", "seed", "hub-auth"])
def test_pinned_images_are_not_pulled_again_by_default(helm, render, scenario):
    """Every image is pinned by tag: pods restart while the registry is down."""
    rendered = render(helm, scenario)
    containers = [c for doc in rendered.docs for c in pod_containers(doc)]
    assert len(containers) >= 4
    for container in containers:
        assert container["imagePullPolicy"] == "IfNotPresent", container["name"]


def test_a_floating_binderhub_tag_is_pulled_always(helm, render):
    rendered = render(helm, extra={"image": {"tag": "latest"}})
    assert rendered.container["imagePullPolicy"] == "Always"
    (test_container,) = rendered.test_pod["spec"]["containers"]
    assert test_container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("policy", ["IfNotPresent", "Never", "Always"])
def test_pull_policy_set_by_the_user_wins(helm, render, policy):
    rendered = render(helm, extra={"image": {"pullPolicy": policy}})
    assert rendered.container["imagePullPolicy"] == policy
    (test_container,) = rendered.test_pod["spec"]["containers"]
    assert test_container["imagePullPolicy"] == policy
    # the daemon image has its own setting
    (engine,) = [
        c for c in rendered.daemonset()["spec"]["template"]["spec"]["containers"]
        if c["name"] == "docker-api"
    ]  # fmt: skip
    assert engine["imagePullPolicy"] == "IfNotPresent"


def test_notes_give_the_port_forward_command(helm4, tmp_path, monkeypatch):
    # helm 4 only: helm 3's `install --dry-run=client` still contacts the
    # cluster (helm/helm#30514), and `helm template` does not render NOTES.txt.
    # An in-memory release store: no cluster needed.
    monkeypatch.setenv("HELM_DRIVER", "memory")
    monkeypatch.setenv("HELM_MEMORY_DRIVER_DATA", str(tmp_path / "releases"))
    (tmp_path / "releases").write_text("")
    out = helm4.run(
        "install", "binderhub", str(CHART), "--namespace", NAMESPACE, "--dry-run=client"
    )
    notes = out[out.index("NOTES:") :]
    assert (
        "kubectl --namespace binder port-forward service/binderhub-binderhub-service 8585:80"
        in notes
    )
    assert "curl http://localhost:8585/versions" in notes
