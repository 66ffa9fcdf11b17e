"""Every name bhsvc derives from the charts (`bhsvc.naming`) is the one the chart
renders, for every example and for the overrides that change names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bhsvc import helm, naming, render
from bhsvc.chart import bundled_chart
from bhsvc.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
OVERRIDES = {
    "defaults": {},
    "nameOverride": {"nameOverride": "bh"},
    "fullnameOverride": {"fullnameOverride": "my-binder"},
    "service port": {"service": {"port": 8080}},
    "2i2c names": {"naming": "2i2c"},
    "2i2c names, prefixed": {"naming": "2i2c", "fullnameOverride": "mine"},
    "2i2c names from the release": {"naming": "2i2c", "fullnameOverride": None},
    "ServiceAccount named": {"serviceAccount": {"name": "binder-builder"}},
}


def rendered(config: Config, helm_path: Path) -> list[dict[str, Any]]:
    files = render.render(config, "bhsvc.yaml", helm.probe(helm_path), str(bundled_chart()))
    return [doc for doc in yaml.safe_load_all(files.files["binderhub-service.yaml"]) if doc]


def one(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [m["metadata"]["name"] for m in manifests])
    return found[0]


def selected(selector: str, labels: dict[str, str]) -> bool:
    wanted = dict(part.split("=", 1) for part in selector.split(","))
    return all(labels.get(key) == value for key, value in wanted.items())


def secrets_read(node: Any) -> set[str]:
    """The names of the Secrets the manifests mount or read a key of."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("secretName"), str):
            found.add(node["secretName"])
        ref = node.get("secretKeyRef") or node.get("secretRef")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            found.add(ref["name"])
        for value in node.values():
            found |= secrets_read(value)
    elif isinstance(node, list):
        for value in node:
            found |= secrets_read(value)
    return found


@pytest.mark.parametrize("override", OVERRIDES, ids=list(OVERRIDES))
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_names_match_the_rendered_chart(example: Path, override: str, helm4_path: Path) -> None:
    base = load_config(example)
    values = {**base.binderhub.values, **OVERRIDES[override]}
    config = base.model_copy(
        update={"binderhub": base.binderhub.model_copy(update={"values": values})}
    )
    manifests = rendered(config, helm4_path)

    name, port = naming.binderhub_service(config)
    service = one(manifests, "Service", name)
    assert service["spec"]["ports"][0]["port"] == port
    assert selected(naming.service_selector(config), service["metadata"]["labels"])
    assert naming.service_url(config) == f"http://{name}.{config.kube.namespace}:{port}"

    deployment = one(manifests, "Deployment", naming.binderhub_fullname(config))
    pod = deployment["spec"]["template"]
    assert selected(naming.binderhub_selector(config), pod["metadata"]["labels"])
    assert selected(naming.release_selector(config), pod["metadata"]["labels"])
    ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])]
    assert naming.BINDERHUB_PORT in ports
    daemons = [m for m in manifests if m["kind"] == "DaemonSet"]
    for daemon in daemons:  # the build daemon is one of the release's pods too
        labels = daemon["spec"]["template"]["metadata"]["labels"]
        assert selected(naming.release_selector(config), labels)

    # BinderHub runs as the ServiceAccount that Workload Identity binds to the pusher.
    account = naming.binderhub_service_account(config)
    assert pod["spec"]["serviceAccountName"] == account
    service_account = one(manifests, "ServiceAccount", account)
    annotations = service_account["metadata"].get("annotations") or {}
    if config.keyless:
        assert annotations["iam.gke.io/gcp-service-account"] == config.pusher_email
    else:
        assert "iam.gke.io/gcp-service-account" not in annotations

    # The Secrets bhsvc writes are the ones the pods read.
    assert (naming.registry_secret(config) in secrets_read(manifests)) != config.keyless
    if config.hub.enabled:
        [container] = [c for c in pod["spec"]["containers"] if c["name"] == "binderhub"]
        env = {e["name"]: e for e in container["env"]}
        token = naming.token_target(config, {})
        assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": token.name,
            "key": token.key,
        }
        assert env["JUPYTERHUB_API_URL"]["value"] == naming.hub_api_url(config, {})


@pytest.mark.parametrize("override", [o for o in OVERRIDES if "2i2c" in o])
def test_with_2i2c_names_bhsvc_writes_the_2i2c_charts_push_secret(
    override: str, helm4_path: Path, tmp_path: Path
) -> None:
    """The Secret the chart makes itself from credentials, in that naming scheme, is the
    one bhsvc writes (a release taken over from the 2i2c chart keeps it)."""
    base = load_config(EXAMPLES[0])
    values = {**base.binderhub.values, **OVERRIDES[override]}
    config = base.model_copy(
        update={"binderhub": base.binderhub.model_copy(update={"values": values})}
    )
    chart_values = {
        **values,
        "buildPodsRegistryCredentials": {
            "server": "r.example.org",
            "username": "u",
            "password": "p",
        },
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(chart_values))
    args = helm.template_args(
        "binderhub", str(bundled_chart()), "binder", [tmp_path / "values.yaml"]
    )
    text = helm.run(helm.probe(helm4_path), args)
    secrets = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Secret"]
    pushed = [s for s in secrets if "config.json" in (s.get("stringData") or s.get("data") or {})]
    assert [s["metadata"]["name"] for s in pushed] == [naming.registry_secret(config)]
