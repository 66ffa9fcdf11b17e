"""Wrong values are refused, and the error names the key."""

from __future__ import annotations

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
