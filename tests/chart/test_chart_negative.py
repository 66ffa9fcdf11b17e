"""Wrong values are refused, and the error names the key."""

from __future__ import annotations

import base64
import re

import pytest


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"dockerApi": {"imagee": {"tag": "x"}}}, ["dockerApi", "imagee"]),
        ({"replicas": "two"}, ["replicas"]),
        ({"dockerApi": {"type": "docker"}}, ["dockerApi", "type"]),
        ({"hubIntegration": {"enabeld": True}}, ["hubIntegration", "enabeld"]),
        ({"buildPodsRegistryCredentials": {"existingsecret": "x"}}, ["existingsecret"]),
        ({"service": {"port": "80"}}, ["service", "port"]),
        ({"networkPolicy": {"enabled": "yes"}}, ["networkPolicy", "enabled"]),
        ({"image": {"pullPolicy": "Sometimes"}}, ["image", "pullPolicy"]),
        ({"unknownTopLevel": 1}, ["unknownTopLevel"]),
        ({"buildPods": {"targetRepoDir": 5}}, ["buildPods", "targetRepoDir"]),
    ],
    ids=[
        "typo-dockerApi.imagee",
        "replicas-string",
        "bad-dockerApi.type",
        "typo-hubIntegration",
        "typo-existingSecret",
        "service.port-string",
        "networkPolicy.enabled-string",
        "bad-pullPolicy",
        "unknown-top-level",
        "targetRepoDir-number",
    ],
)
def test_schema_refuses(template_error, values, words):
    err = template_error(values)
    for word in words:
        assert word in err, err


def test_free_form_sections_accept_anything(helm, render):
    rendered = render(
        helm,
        extra={
            "config": {"AnyClass": {"any_trait": [1, 2]}, "BinderHub": {"new_trait": 1}},
            "custom": {"x": {"y": "z"}},
            "global": {"anything": True},
            "resources": {"requests": {"ephemeral-storage": "1Gi"}},
        },
    )
    assert rendered.config("AnyClass") == {"any_trait": [1, 2]}


# ---------------------------------------------------------------------------
# Values Kubernetes would refuse are refused before anything is installed.
# The schema refuses each with its JSON pointer (helm lists every refused
# value at once, so one render checks a whole class).
# ---------------------------------------------------------------------------

REFUSED = {
    "object names, uppercase": (
        {
            "fullnameOverride": "BinderHub",
            "nameOverride": "Binder",
            "serviceAccount": {"name": "BinderHub"},
            "ingress": {"ingressClassName": "Nginx"},
            "buildPodsRegistryCredentials": {"existingSecret": "Push"},
            "buildTokenSecret": {"existingSecret": "Token"},
            "hubIntegration": {"cookieSecret": {"existingSecret": "Cookie"}},
        },
        ["/fullnameOverride", "/nameOverride", "/serviceAccount/name",
         "/ingress/ingressClassName", "/buildPodsRegistryCredentials/existingSecret",
         "/buildTokenSecret/existingSecret", "/hubIntegration/cookieSecret/existingSecret"],
    ),
    "secret keys": (
        {"buildTokenSecret": {"key": "a/b"}, "hubIntegration": {"cookieSecret": {"key": ""}}},
        ["/buildTokenSecret/key", "/hubIntegration/cookieSecret/key"],
    ),
    "object names, underscore and dots": (
        {
            "fullnameOverride": "binder_hub",
            "nameOverride": "binder.hub",
            "serviceAccount": {"name": "binder_hub"},
            "ingress": {"ingressClassName": "a..b"},
        },
        ["/fullnameOverride", "/nameOverride", "/serviceAccount/name", "/ingress/ingressClassName"],
    ),
    "object names, edges and length": (
        {"fullnameOverride": "-binder", "nameOverride": "b" * 64,
         "serviceAccount": {"name": "sa-"}},
        ["/fullnameOverride", "/nameOverride", "/serviceAccount/name"],
    ),
    "quantities": (
        {
            "resources": {
                "requests": {"cpu": "-1", "memory": "1GB", "ephemeral-storage": "1.2.3"},
                "limits": {"cpu": -1, "memory": "Gi", "nvidia.com/gpu": "one"},
            },
            "dockerApi": {
                "resources": {"requests": {"cpu": "1 m"}, "limits": {"memory": "-2Gi"}},
                "imageCleaner": {"resources": {"requests": {"memory": "64 Mi"},
                                               "limits": {"cpu": "x"}}},
            },
            "buildPods": {"memory": "2GB"},
        },
        ["/resources/requests/cpu", "/resources/requests/memory",
         "/resources/requests/ephemeral-storage", "/resources/limits/cpu",
         "/resources/limits/memory", "/resources/limits/nvidia.com~1gpu",
         "/dockerApi/resources/requests/cpu", "/dockerApi/resources/limits/memory",
         "/dockerApi/imageCleaner/resources/requests/memory",
         "/dockerApi/imageCleaner/resources/limits/cpu", "/buildPods/memory"],
    ),
    "replicas 1e12, nodePort 5": (
        {"replicas": 1e12, "service": {"type": "NodePort", "nodePort": 5}},
        ["/replicas", "/service/nodePort"],
    ),
    "replicas -1, nodePort 80": (
        {"replicas": -1, "service": {"type": "NodePort", "nodePort": 80}},
        ["/replicas", "/service/nodePort"],
    ),
    "replicas 2.5, nodePort 32768": (
        {"replicas": 2.5, "service": {"type": "NodePort", "nodePort": 32768}},
        ["/replicas", "/service/nodePort"],
    ),
    "replicas 2^31, nodePort 65536": (
        {"replicas": 2**31, "service": {"type": "NodePort", "nodePort": 65536}},
        ["/replicas", "/service/nodePort"],
    ),
    "env names": (
        {"extraEnv": [{"name": n, "value": "v"} for n in ("A=B", "1ABC", "A B", "", "A:B")]},
        [f"/extraEnv/{i}/name" for i in range(5)],
    ),
    "ingress hosts": (
        {
            "ingress": {
                "hosts": ["Binder.example.org", "binder_x.org", "1.2.3.4", "-x.org",
                          "x..org", "*x.org", "https://x.org", "x.org."],
                "tls": [{"hosts": ["A.example.org"], "secretName": "Tls"}],
            }
        },
        [f"/ingress/hosts/{i}" for i in range(8)]
        + ["/ingress/tls/0/hosts/0", "/ingress/tls/0/secretName"],
    ),
    "label values": (
        {
            "podLabels": {"a": "x" * 64, "b": "-x", "c": "a b", "d": "x/y"},
            "nodeSelector": {"e": "a:b"},
            "dockerApi": {"nodeSelector": {"f": "x_"}},
            "networkPolicy": {
                "dns": {"to": [{"podSelector": {"matchLabels": {"g": "a b"}},
                                "namespaceSelector": {"matchExpressions": [
                                    {"key": "h", "operator": "In", "values": ["x/y"]}]}}]},
                "extraEgress": [{"to": [{"namespaceSelector": {"matchLabels": {"i": "-x"}}}]}],
            },
        },
        ["/podLabels/a", "/podLabels/b", "/podLabels/c", "/podLabels/d", "/nodeSelector/e",
         "/dockerApi/nodeSelector/f", "/networkPolicy/dns/to/0/podSelector/matchLabels/g",
         "/networkPolicy/dns/to/0/namespaceSelector/matchExpressions/0/values/0",
         "/networkPolicy/extraEgress/0/to/0/namespaceSelector/matchLabels/i"],
    ),
    "label and annotation keys": (
        {
            "podLabels": {"a b": "x"},
            "nodeSelector": {"example.org/": "x"},
            "podAnnotations": {"/x": "y"},
            "service": {"annotations": {"Example.org/x": "y"}},
            "dockerApi": {"nodeSelector": {"a/b/c": "x"}},
        },
        ["invalid propertyName 'a b'", "invalid propertyName 'example.org/'",
         "invalid propertyName '/x'", "invalid propertyName 'Example.org/x'",
         "invalid propertyName 'a/b/c'"],
    ),
    "tolerations": (
        {
            "tolerations": [
                {"key": "k", "operator": "In", "value": "v"},
                {"key": "k", "operator": "Exists", "value": "v"},
                {"key": "", "operator": "Equal", "value": "v"},
                {"operator": "Equal", "value": "v"},
                {"key": "k", "operator": "Equal", "effect": "NoScheduled"},
                {"key": "a b", "operator": "Exists"},
            ],
            "dockerApi": {"tolerations": [{"key": "k", "operator": "exists"}]},
        },
        [f"/tolerations/{i}" for i in range(6)] + ["/dockerApi/tolerations/0"],
    ),
    "CIDRs": (
        {
            "networkPolicy": {
                "extraEgress": [
                    {"to": [{"ipBlock": {"cidr": c}} for c in
                            ("10.0.0.0", "10.0.0.256/8", "10.0.0.0/33", "fc00::/129",
                             "2001:db8:::1/64", "any", "10.0.0.0/8 ")]},
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/", "::g/8"]}}]},
                ],
                "dns": {"to": [{"ipBlock": {"cidr": "169.254.20.10"}}]},
            }
        },
        [f"/networkPolicy/extraEgress/0/to/{i}/ipBlock/cidr" for i in range(7)]
        + ["/networkPolicy/extraEgress/1/to/0/ipBlock/except/0",
           "/networkPolicy/extraEgress/1/to/0/ipBlock/except/1",
           "/networkPolicy/dns/to/0/ipBlock/cidr"],
    ),
    "paths and the image cleaner's numbers": (
        {"dockerApi": {"imageCleaner": {"hostDataDir": "var/lib/docker", "thresholdPercent": 100,
                                        "intervalSeconds": 5}}},
        ["/dockerApi/imageCleaner/hostDataDir", "/dockerApi/imageCleaner/thresholdPercent",
         "/dockerApi/imageCleaner/intervalSeconds"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_values_kubernetes_would_refuse(template_error, case):
    values, refused = REFUSED[case]
    err = template_error(values)
    for where in refused:
        # the value's pointer, or one inside it (/tolerations/0/operator)
        pattern = f"at '{re.escape(where)}(/[^']*)?'" if where.startswith("/") else re.escape(where)
        assert re.search(pattern, err), (where, err)


def test_values_kubernetes_accepts(helm, render, k8s_validate):
    """The valid neighbours of the refused values above."""
    rendered = render(
        helm,
        extra={
            "fullnameOverride": "binder-hub-2",
            "serviceAccount": {"name": "binder.hub-sa"},
            "replicas": 3,
            "service": {"type": "NodePort", "nodePort": 30000},
            "resources": {
                "requests": {"cpu": "+.5", "memory": "1e3", "ephemeral-storage": 1024},
                "limits": {"cpu": 1, "memory": "1Gi", "ephemeral-storage": "1Ki"},
            },
            "extraEnv": [{"name": "a.b-c_D", "value": "v"}],
            "ingress": {"enabled": True, "hosts": ["*.example.org", "binder.example.org"]},
            "podLabels": {"example.org/a_b.c": "A-b_c.d", "empty": ""},
            "tolerations": [
                {"operator": "Exists"},
                {"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute",
                 "tolerationSeconds": 30},
            ],
            "networkPolicy": {
                "extraEgress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                            {"ipBlock": {"cidr": "2001:db8::/32"}}],
                     "ports": [{"port": 443, "protocol": "TCP"}, {"port": "https"}]}
                ],
                "dns": {"to": [
                    {"ipBlock": {"cidr": "169.254.20.10/32"}},
                    {"namespaceSelector": {"matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In",
                         "values": ["kube-system"]}]},
                     "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}},
                ]},
            },
            "buildPods": {"memory": "1.5e9"},
            "buildTokenSecret": {"existingSecret": "build.token-1", "key": "hex_key.v1"},
            "dockerApi": {"imageCleaner": {"resources": {"requests": {"memory": "64Mi"},
                                                         "limits": {"memory": "0.25Gi"}}}},
        },
    )  # fmt: skip
    assert rendered.deployment["spec"]["replicas"] == 3
    # (17Gi - 1Gi) // 1.5e9 builds per daemon, shared by the 3 replicas
    assert rendered.config("BinderHub")["concurrent_build_limit"] == 11 // 3
    for doc in rendered.docs:
        k8s_validate(doc, "1.35.0")


@pytest.mark.parametrize(
    ("resources", "key"),
    [
        ({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}, "resources.requests.cpu"),
        ({"requests": {"cpu": "1500m"}, "limits": {"cpu": 1}}, "resources.requests.cpu"),
        ({"requests": {"memory": "1Gi"}, "limits": {"memory": "1000Mi"}},
         "resources.requests.memory"),
        ({"requests": {"memory": 2e9}, "limits": {"memory": "1G"}}, "resources.requests.memory"),
        ({"requests": {"example.org/disk": "1"}, "limits": {"example.org/disk": "999m"}},
         "resources.requests.example.org/disk"),
    ],
)  # fmt: skip
def test_requests_above_limits(template_error, resources, key):
    err = template_error({"resources": resources})
    assert f"{key} (" in err and "Kubernetes refuses a request above its limit" in err


def test_requests_above_limits_of_the_image_cleaner(template_error):
    err = template_error(
        {"dockerApi": {"imageCleaner": {"resources": {"requests": {"memory": "300Mi"}}}}}
    )
    assert (
        "dockerApi.imageCleaner.resources.requests.memory (300Mi) is more than "
        "dockerApi.imageCleaner.resources.limits.memory"
    ) in err


def test_requests_above_limits_of_the_engine(template_error):
    err = template_error({"dockerApi": {"resources": {"requests": {"cpu": "9"}}}})
    assert "dockerApi.resources.requests.cpu (9) is more than dockerApi.resources.limits.cpu" in err


# The same amounts written differently: none is above its limit.
EQUAL = [("1Gi", "1024Mi"), ("500m", "0.5"), ("1e3", "1k"), ("0.1", "100m"), (2, "2000m"),
         ("1.5G", "1500M"), ("1Mi", "1048576"), ("2e-3", "2m")]  # fmt: skip


def test_equal_requests_and_limits_written_differently(helm, render):
    names = [f"example.org/r{i}" for i in range(len(EQUAL))]
    requests = {name: request for name, (request, _) in zip(names, EQUAL, strict=True)}
    limits = {name: limit for name, (_, limit) in zip(names, EQUAL, strict=True)}
    rendered = render(helm, extra={"resources": {"requests": requests, "limits": limits}})
    got = rendered.container["resources"]
    for name, (request, limit) in zip(names, EQUAL, strict=True):
        assert got["limits"][name] == limit
        # helm reads an unquoted 1e3 as a number
        assert got["requests"][name] == request or got["requests"][name] == float(request)


MIB = 1024 * 1024
PREFIX = "binderhub-binderhub-service"
HALF_MIB_OF_ZEROS = base64.b64encode(b"\0" * (MIB // 2)).decode()


@pytest.mark.parametrize(
    ("values", "secret", "named"),
    [
        # several snippets, each under the limit, over it together
        ({"extraConfig": {"a": "#" * (MIB // 2), "b": "#" * (MIB // 2)}},
         f"{PREFIX}-config", "extraConfig"),
        ({"buildPodsRegistryCredentials": {"server": "https://r.example.org", "username": "u",
                                           "password": "p" * MIB}},
         f"{PREFIX}-build-pods-docker-config", "buildPodsRegistryCredentials"),
        # the decoded size counts, not the base64 text
        ({"dockerApi": {"extraFiles": {
            "a": {"mountPath": "/etc/a", "binaryData": HALF_MIB_OF_ZEROS},
            "b": {"mountPath": "/etc/b", "stringData": "x" * (MIB // 2 + 1)}}}},
         f"{PREFIX}-docker-api", "dockerApi.extraFiles"),
    ],
    ids=["extraConfig", "password", "extraFiles"],
)  # fmt: skip
def test_secrets_over_one_mib(template_error, values, secret, named):
    err = template_error(values)
    assert named in err and f"the Secret {secret} would hold" in err
    assert "more than the 1048576 (1 MiB) Kubernetes allows" in err


def test_secrets_just_under_one_mib(helm, render):
    rendered = render(helm, extra={"extraConfig": {"a": "#" * (MIB - 64 * 1024)}})
    assert len(rendered.chart_config()["extraConfig"]["a"]) == MIB - 64 * 1024
