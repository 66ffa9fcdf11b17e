"""Values cannot add YAML to the manifests.

Every string a template writes is quoted or dumped (quote, toYaml, toJson),
so free text arrives as the same text, at its place, and the manifests have
exactly the keys they have with a harmless value. Values with a shape of
their own (URL paths, object names, label values, URLs, ...) are checked by
the schema, which refuses text that is not of that shape.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from chartlib import HelmError, Rendered, secret_data, values_files

from bhsvc.values import deep_merge

# One of each way to break out of a YAML scalar: a new line (with keys
# after it), a mapping separator, a comment, quotes, a template.
HOSTILE = [
    "x\nsecurityContext:\n  privileged: true",
    "x: y",
    "x # y",
    'x"y',
    "x'y",
    "{{ .Release.Name }}",
    "x\\ny\r\n- z",
]
BENIGN = "benign"
MARK = "@@"


def fill(template: Any, text: str) -> Any:
    """`template` with MARK replaced by `text` in every string."""
    if isinstance(template, dict):
        return {k: fill(v, text) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, text) for v in template]
    if isinstance(template, str):
        return template.replace(MARK, text)
    return template


# Values whose text is free: each is set to the same string at once.
FREE_TEXT = {
    "podAnnotations": {"example.org/a": MARK},
    "podLabels": {"example.org/l": "fixed"},
    "service": {"annotations": {"example.org/s": MARK}},
    "serviceAccount": {"annotations": {"example.org/sa": MARK}},
    "ingress": {"enabled": True, "annotations": {"example.org/i": MARK}},
    "buildPodsRegistryCredentials": {
        "server": "https://registry.example.org",
        "username": "u",
        "password": MARK,
    },
    "extraCredentials": {"googleServiceAccountKey": MARK},
    "extraConfig": {"snippet": MARK},
    "custom": {"text": MARK},
    "config": {"BinderHub": {"banner_message": MARK}},
    # tpl renders the reference; what it yields is text, not YAML
    "extraEnv": [
        {"name": "FROM_CUSTOM", "value": "{{ .Values.custom.text }}"},
        {"name": "FIXED", "value": "fixed"},
    ],
    "hubIntegration": {"enabled": True, "oauthClientId": MARK},
    "dockerApi": {
        "podAnnotations": {"example.org/d": MARK},
        "extraArgs": [MARK],
        "extraFiles": {"note": {"mountPath": "/etc/note", "stringData": MARK}},
    },
}


def where(rendered: Rendered) -> dict[str, Any]:
    """Where each free text value lands, read back from the manifests."""
    deployment = rendered.deployment
    ds = rendered.daemonset()
    assert ds is not None
    pod_meta = deployment["spec"]["template"]["metadata"]
    config = rendered.chart_config()
    push = rendered.get("Secret", rendered.config("KubernetesBuildExecutor")["push_secret"])
    auth = json.loads(secret_data(push, "config.json"))["auths"]["https://registry.example.org"]
    config_secret = rendered.find("Secret", "binderhub")[0]
    engine_secret = rendered.get("Secret", ds["metadata"]["name"])
    env = rendered.env()
    return {
        "podAnnotations": pod_meta["annotations"]["example.org/a"],
        "podAnnotations on the engine": ds["spec"]["template"]["metadata"]["annotations"][
            "example.org/a"
        ],
        "service.annotations": rendered.get("Service")["metadata"]["annotations"]["example.org/s"],
        "serviceAccount.annotations": rendered.get("ServiceAccount")["metadata"]["annotations"][
            "example.org/sa"
        ],
        "ingress.annotations": rendered.get("Ingress")["metadata"]["annotations"]["example.org/i"],
        "buildPodsRegistryCredentials.password": base64.b64decode(auth["auth"])
        .decode()
        .partition(":")[2],
        "extraCredentials.googleServiceAccountKey": secret_data(config_secret, "gcp-sa-key.json"),
        "extraConfig": config["extraConfig"]["snippet"],
        "custom": config["custom"]["text"],
        "config.BinderHub": config["config"]["BinderHub"]["banner_message"],
        "extraEnv": env["FROM_CUSTOM"]["value"],
        "hubIntegration.oauthClientId": env["JUPYTERHUB_CLIENT_ID"]["value"],
        "dockerApi.podAnnotations": ds["spec"]["template"]["metadata"]["annotations"][
            "example.org/d"
        ],
        "dockerApi.extraArgs": ds["spec"]["template"]["spec"]["containers"][0]["args"][-1],
        "dockerApi.extraFiles": secret_data(engine_secret, "note"),
    }


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key of a document, as a path (list items by index)."""
    paths = {prefix}
    if isinstance(value, dict):
        for k, v in value.items():
            paths |= key_paths(v, f"{prefix}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths |= key_paths(v, f"{prefix}/{i}")
    return paths


def shape(rendered: Rendered) -> dict[tuple[str, str], set[str]]:
    return {(d["kind"], d["metadata"]["name"]): key_paths(d) for d in rendered.docs}


@pytest.mark.parametrize("text", HOSTILE)
def test_free_text_stays_text(helm, render, k8s_validate, text):
    benign = render(helm, extra=fill(FREE_TEXT, BENIGN))
    hostile = render(helm, extra=fill(FREE_TEXT, text))
    assert set(where(benign).values()) == {BENIGN}
    # each value arrives as it was written...
    assert where(hostile) == dict.fromkeys(where(benign), text)
    # ...and adds no key anywhere: the same objects with the same keys
    assert shape(hostile) == shape(benign)
    for doc in hostile.docs:
        k8s_validate(doc, "1.35.0")


def test_a_template_in_a_templated_value_is_not_run_twice(helm, render):
    rendered = render(helm, extra=fill(FREE_TEXT, '{{ fail "ran" }}'))
    assert rendered.env()["FROM_CUSTOM"]["value"] == '{{ fail "ran" }}'


def image_tags(tag: str) -> dict[str, Any]:
    """The same tag for every image: BinderHub's, the engine's, the cleaner's."""
    return {
        "image": {"tag": tag},
        "dockerApi": {"image": {"tag": tag}, "imageCleaner": {"image": {"tag": tag}}},
    }


def test_image_tags_are_quoted(helm, render):
    for tag in ['x"y', "x'y", "x#y", "{{x}}", "x:y"]:
        rendered = render(helm, extra=image_tags(tag))
        assert rendered.container["image"].endswith(":" + tag)
        engine, cleaner = rendered.daemonset()["spec"]["template"]["spec"]["containers"]
        assert engine["image"].endswith(":" + tag)
        assert cleaner["image"].endswith(":" + tag)
        assert shape(rendered) == shape(render(helm, extra=image_tags("t")))


# One DNS peer with text in an address and in a label value.
DNS_PEERS = [{"ipBlock": {"cidr": MARK}, "podSelector": {"matchLabels": {"k8s-app": MARK}}}]

# Values with a shape of their own refuse text of another shape: the JSON
# pointer of each key -> values that put MARK there.
SHAPED = {
    "/config/BinderHub/base_url": {"config": {"BinderHub": {"base_url": "/" + MARK + "/"}}},
    "/hubIntegration/baseUrl": {"hubIntegration": {"baseUrl": "/" + MARK + "/"}},
    "/ingress/pathSuffix": {"ingress": {"pathSuffix": MARK}},
    "/hubIntegration/apiUrl": {"hubIntegration": {"apiUrl": "http://hub/" + MARK + "/"}},
    "/hubIntegration/url": {"hubIntegration": {"url": "https://hub/" + MARK}},
    "/hubIntegration/urlLocal": {"hubIntegration": {"urlLocal": "http://hub/" + MARK}},
    "/hubIntegration/oauthCallbackUrl": {"hubIntegration": {"oauthCallbackUrl": "/" + MARK}},
    "/hubIntegration/serviceName": {"hubIntegration": {"serviceName": MARK}},
    "/hubIntegration/apiToken/key": {"hubIntegration": {"apiToken": {"key": MARK}}},
    "/fullnameOverride": {"fullnameOverride": MARK},
    "/nameOverride": {"nameOverride": MARK},
    "/serviceAccount/name": {"serviceAccount": {"name": MARK}},
    "/buildPodsRegistryCredentials/existingSecret": {
        "buildPodsRegistryCredentials": {"existingSecret": MARK}
    },
    "/ingress/hosts/0": {"ingress": {"hosts": [MARK]}},
    "/ingress/ingressClassName": {"ingress": {"ingressClassName": MARK}},
    "/podLabels/example.org~1l": {"podLabels": {"example.org/l": MARK}},
    "/nodeSelector/example.org~1n": {"nodeSelector": {"example.org/n": MARK}},
    "/image/pullSecrets/0": {"image": {"pullSecrets": [MARK]}},
    "/extraEnv/0/name": {"extraEnv": [{"name": MARK, "value": "v"}]},
    "/buildPods/memory": {"buildPods": {"memory": MARK}},
    "/buildTokenSecret/existingSecret": {"buildTokenSecret": {"existingSecret": MARK}},
    "/buildTokenSecret/key": {"buildTokenSecret": {"key": MARK}},
    "/hubIntegration/cookieSecret/existingSecret": {
        "hubIntegration": {"cookieSecret": {"existingSecret": MARK}}
    },
    "/hubIntegration/cookieSecret/key": {"hubIntegration": {"cookieSecret": {"key": MARK}}},
    "/networkPolicy/dns/to/0/ipBlock/cidr": {"networkPolicy": {"dns": {"to": DNS_PEERS}}},
    "/networkPolicy/dns/to/0/podSelector/matchLabels/k8s-app": {
        "networkPolicy": {"dns": {"to": DNS_PEERS}}
    },
    "/dockerApi/imageCleaner/thresholdPercent": {
        "dockerApi": {"imageCleaner": {"thresholdPercent": MARK}}
    },
    "/dockerApi/imageCleaner/intervalSeconds": {
        "dockerApi": {"imageCleaner": {"intervalSeconds": MARK}}
    },
    "/gkeWorkloadIdentity/googleServiceAccount": {
        "gkeWorkloadIdentity": {"googleServiceAccount": MARK + "@p.iam.gserviceaccount.com"}
    },
    "/gkeWorkloadIdentity/registryHost": {"gkeWorkloadIdentity": {"registryHost": MARK}},
}
# A quote ' belongs to URL paths and URLs (and is quoted when written), so
# only the shapes without it refuse it.
ALLOWS_QUOTE = {
    "/config/BinderHub/base_url",
    "/hubIntegration/baseUrl",
    "/ingress/pathSuffix",
    "/hubIntegration/apiUrl",
    "/hubIntegration/url",
    "/hubIntegration/urlLocal",
    "/hubIntegration/oauthCallbackUrl",
}


@pytest.mark.parametrize("text", HOSTILE)
def test_shaped_values_refuse_other_text(template_error, text):
    """All at once: helm lists every value the schema refuses, by path."""
    values: dict[str, Any] = {}
    for template in SHAPED.values():
        values = deep_merge(values, fill(template, text))
    err = template_error(values)
    for pointer in SHAPED:
        refused = f"at '{pointer}'" in err
        assert refused == (text != "x'y" or pointer not in ALLOWS_QUOTE), (pointer, err)


def extra_file_at(path: str) -> dict[str, Any]:
    return {"dockerApi": {"extraFiles": {"f": {"mountPath": path, "stringData": "x"}}}}


def host_data_dir(path: str) -> dict[str, Any]:
    """The nodes' Docker data directory, for the cleaner of the nodes' Docker."""
    return {"dockerApi": {"type": "host", "imageCleaner": {"host": True, "hostDataDir": path}}}


@pytest.mark.parametrize("path", ["/etc/a\nb", "/etc/a\tb", "etc/a", "/etc/a\x7f"])
def test_paths_refuse_control_characters(template_error, path):
    path = path.encode().decode("unicode_escape")
    err = template_error(deep_merge(extra_file_at(path), host_data_dir(path)))
    for pointer in ("/dockerApi/extraFiles/f/mountPath", "/dockerApi/imageCleaner/hostDataDir"):
        assert f"at '{pointer}'" in err


@pytest.mark.parametrize("text", [t for t in HOSTILE if t.isprintable()])
def test_paths_stay_text(helm, render, text):
    """A path may hold any printable text: it arrives as written."""
    path = "/" + text
    rendered = render(helm, extra=extra_file_at(path))
    (mount,) = [m for m in rendered.daemonset()["spec"]["template"]["spec"]["containers"][0][
        "volumeMounts"] if m["name"] == "extra-files"]  # fmt: skip
    assert mount["mountPath"] == path
    assert shape(rendered) == shape(render(helm, extra=extra_file_at("/benign")))
    rendered = render(helm, extra=host_data_dir(path))
    (cleaner,) = rendered.all("DaemonSet")
    volumes = {v["name"]: v for v in cleaner["spec"]["template"]["spec"]["volumes"]}
    assert volumes["docker-storage"]["hostPath"]["path"] == path
    assert shape(rendered) == shape(render(helm, extra=host_data_dir("/benign")))


def test_the_injection_through_base_url_is_refused(template_error):
    """A base_url that used to add securityContext to the container."""
    err = template_error(
        {"config": {"BinderHub": {"base_url": "/\n  securityContext: {privileged: true}\n#"}}}
    )
    assert "base_url" in err


@pytest.mark.parametrize("path", ["/binder/", "/services/binder", "/a-b_c.d~e/%20/:@!$&'()*+,;="])
def test_url_paths_are_accepted(helm, render, path):
    rendered = render(helm, extra={"config": {"BinderHub": {"base_url": path}}})
    assert rendered.container["readinessProbe"]["httpGet"]["path"] == path.rstrip("/") + "/versions"
    assert rendered.config("BinderHub")["base_url"] == path


@pytest.mark.parametrize("namespace", ['a"b', "a\nb: c", "A", "a_b", "-a", "a" * 64])
def test_a_namespace_kubernetes_refuses_is_refused(helm, values_dir, namespace):
    with pytest.raises(HelmError) as info:
        helm.template(values_files(values_dir, None, None), namespace=namespace)
    assert "is not a Kubernetes namespace name" in info.value.stderr
