"""bhsvc.kube: the real kubernetes client against the fake API server over TLS."""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import NAMESPACE

from bhsvc import kube as kube_mod
from bhsvc.errors import OperationError, UsageError
from bhsvc.kube import client as kube_client
from bhsvc.kube import kubeconfig as kube_connect
from bhsvc.kube.diagnosis import diagnose
from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes


@pytest.fixture
def kube(cluster: FakeKubernetes, tmp_path: Path) -> kube_mod.Kube:
    return kube_mod.connect(None, str(cluster.kubeconfig(tmp_path / "kubeconfig")))


def deployment(
    name: str, labels: dict[str, str], image: str = "example.org/app:1"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def with_namespace(cluster: FakeKubernetes) -> None:
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})


# ---- connecting ------------------------------------------------------------------


def test_connect_resolves_the_current_context_without_a_request(
    cluster: FakeKubernetes, tmp_path: Path
) -> None:
    kube = kube_mod.connect(None, str(cluster.kubeconfig(tmp_path / "kubeconfig", context="ctx")))
    assert (kube.context_name, kube.server) == ("ctx", cluster.url)
    assert cluster.requests == []
    assert kube.server_version().startswith("v1.")


def test_unknown_context_is_bad_input_naming_the_available_ones(
    cluster: FakeKubernetes, tmp_path: Path
) -> None:
    config = cluster.kubeconfig(tmp_path / "kubeconfig", context="dev")
    with pytest.raises(
        UsageError, match=r"'prod' is not in the kubeconfig .*available contexts: dev"
    ):
        kube_mod.connect("prod", str(config))
    assert cluster.requests == []


def test_no_kubeconfig_is_an_operation_error(tmp_path: Path) -> None:
    with pytest.raises(OperationError, match="no kubeconfig at"):
        kube_mod.connect(None, str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("clusters: [\n", "not valid YAML"),
        ("- just a list\n", "not a kubeconfig"),
        ("contexts: 5\ncurrent-context: x\n", "not a kubeconfig"),
        (
            "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
            "clusters: [{name: c, cluster: 7}]\nusers: [{name: u, user: {}}]\n"
            "current-context: x\n",
            "cluster or user entry is malformed",
        ),
    ],
)
def test_a_broken_kubeconfig_is_one_line_not_a_traceback(
    tmp_path: Path, text: str, complaint: str
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(text)
    with pytest.raises(OperationError) as err:
        kube_mod.connect(None, str(config))
    assert str(config) in str(err.value) and complaint in str(err.value)


def test_kubeconfig_list_in_the_environment(
    cluster: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cluster.kubeconfig(tmp_path / "real")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{real}")
    assert kube_mod.connect("fake").context_name == "fake"


def test_a_dead_cluster_is_one_line_not_a_traceback(
    cluster: FakeKubernetes, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    doc = yaml.safe_load(cluster.kubeconfig(tmp_path / "kubeconfig").read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(doc))
    kube = kube_mod.connect(None, str(tmp_path / "kubeconfig"))
    with pytest.raises(
        OperationError, match=f"cannot reach the Kubernetes API at https://127.0.0.1:{port}"
    ):
        kube.server_version(timeout=2)


# ---- namespaces and secrets -----------------------------------------------------------


def test_ensure_namespace_creates_once(kube: kube_mod.Kube, cluster: FakeKubernetes) -> None:
    assert kube.namespace_phase("fresh") is None
    assert kube.ensure_namespace("fresh") == "created"
    assert kube.ensure_namespace("fresh") == "present"
    assert [w.verb for w in cluster.writes_of("Namespace", "fresh")] == ["create"]
    labels = cluster.get("Namespace", "", "fresh")["metadata"]["labels"]  # type: ignore[index]
    assert labels["app.kubernetes.io/managed-by"] == "bhsvc"


def test_ensure_secret_writes_only_when_the_content_changes(
    kube: kube_mod.Kube, cluster: FakeKubernetes
) -> None:
    with_namespace(cluster)
    data = {".dockerconfigjson": b'{"auths": {}}', "config.json": b'{"auths": {}}'}
    kind = "kubernetes.io/dockerconfigjson"
    assert kube.ensure_secret(NAMESPACE, "creds", data, kind, {"a": "b"}) == "created"
    assert kube.ensure_secret(NAMESPACE, "creds", data, kind, {"a": "b"}) == "unchanged"
    assert len(cluster.writes_of("Secret", "creds")) == 1
    changed = {**data, "config.json": b'{"auths": {"x": {}}}'}
    current = kube.read_secret(NAMESPACE, "creds")
    wanted_labels = kube_client.managed_labels({"a": "b"})
    assert kube_client.secret_change(current, changed, kind, wanted_labels) == "update"
    assert len(cluster.writes_of("Secret", "creds")) == 1
    assert kube.ensure_secret(NAMESPACE, "creds", changed, kind, {"a": "b"}) == "updated"
    stored = cluster.get("Secret", NAMESPACE, "creds")
    assert stored is not None and stored["type"] == kind
    assert base64.b64decode(stored["data"]["config.json"]) == b'{"auths": {"x": {}}}'
    assert stored["metadata"]["labels"] == {"a": "b", "app.kubernetes.io/managed-by": "bhsvc"}
    assert kube.read_secret_key(NAMESPACE, "creds", "config.json") == b'{"auths": {"x": {}}}'
    assert kube.read_secret_key(NAMESPACE, "creds", "absent") is None
    assert kube.read_secret_key(NAMESPACE, "absent", "config.json") is None


def test_ensure_secret_and_the_immutable_type(kube: kube_mod.Kube, cluster: FakeKubernetes) -> None:
    with_namespace(cluster)
    kube.ensure_secret(NAMESPACE, "mine", {"k": b"v"}, "Opaque", None)
    # bhsvc made it: it may delete and recreate it with the new type.
    docker = {".dockerconfigjson": b"{}"}
    assert kube.ensure_secret(
        NAMESPACE, "mine", docker, "kubernetes.io/dockerconfigjson", None
    ) == ("updated")
    assert cluster.get("Secret", NAMESPACE, "mine")["type"] == "kubernetes.io/dockerconfigjson"  # type: ignore[index]
    # Someone else's Secret of another type is left alone.
    theirs = {"name": "theirs", "namespace": NAMESPACE}
    data = {"k": base64.b64encode(b"v").decode()}
    cluster.create({"apiVersion": "v1", "kind": "Secret", "metadata": theirs, "data": data})
    with pytest.raises(OperationError, match="not made by bhsvc"):
        kube.ensure_secret(NAMESPACE, "theirs", docker, "kubernetes.io/dockerconfigjson", None)
    assert cluster.get("Secret", NAMESPACE, "theirs")["type"] == "Opaque"  # type: ignore[index]


def test_a_delete_goes_only_to_the_object_that_was_read(
    kube: kube_mod.Kube, cluster: FakeKubernetes
) -> None:
    with_namespace(cluster)
    kube.ensure_secret(NAMESPACE, "s", {"k": b"v"})
    first = kube.read_secret(NAMESPACE, "s")
    assert first is not None
    # Deleted and made again by someone else meanwhile: not the Secret that was read.
    kube.delete_secret(NAMESPACE, "s", first["metadata"]["uid"])
    kube.ensure_secret(NAMESPACE, "s", {"k": b"v"})
    with pytest.raises(OperationError, match=r"delete Secret binder/s: .*Precondition failed"):
        kube.delete_secret(NAMESPACE, "s", first["metadata"]["uid"])
    assert kube.read_secret(NAMESPACE, "s") is not None
    # One already gone is fine.
    second = kube.read_secret(NAMESPACE, "s")
    assert second is not None
    kube.delete_secret(NAMESPACE, "s", second["metadata"]["uid"])
    kube.delete_secret(NAMESPACE, "s", second["metadata"]["uid"])


def test_namespace_contents_lists_every_kind_discovery_names(
    kube: kube_mod.Kube, cluster: FakeKubernetes
) -> None:
    with_namespace(cluster)
    cluster.create(deployment("web", {"app": "web"}))
    found = {(o["kind"], o["metadata"]["name"]) for o in kube.namespace_contents(NAMESPACE)}
    # What a new namespace gets from the cluster, and the Deployment with what it made.
    assert {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")} <= found
    assert ("Deployment", "web") in found
    assert any(kind == "ReplicaSet" for kind, _ in found)
    assert any(kind == "Pod" for kind, _ in found)
    assert not any(kind == "Event" for kind, _ in found)
    cluster.forbidden_reads.add((NAMESPACE, "configmaps"))
    with pytest.raises(OperationError, match="list configmaps in namespace binder: forbidden"):
        kube.namespace_contents(NAMESPACE)


def test_api_errors_name_what_was_done(kube: kube_mod.Kube) -> None:
    with pytest.raises(
        OperationError, match=r'create Secret nowhere/s: namespaces "nowhere" not found'
    ):
        kube.ensure_secret("nowhere", "s", {"k": b"v"}, "Opaque", None)


# ---- pods, services, port-forward ---------------------------------------------------


def test_find_pod_and_service(kube: kube_mod.Kube, cluster: FakeKubernetes) -> None:
    with_namespace(cluster)
    cluster.create(deployment("web", {"app": "web"}))
    cluster.set_pod_behavior("CrashLoopBackOff", "app=bad")
    cluster.create(deployment("bad", {"app": "bad"}))
    cluster.create(
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "web", "namespace": NAMESPACE, "labels": {"app": "web"}},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8585}]}}
    )  # fmt: skip
    assert kube.find_pod(NAMESPACE, "app=web").startswith("web-")
    with pytest.raises(OperationError, match=r"no ready pod matches app=bad .*\(1 not ready: bad-"):
        kube.find_pod(NAMESPACE, "app=bad")
    assert kube.find_pod(NAMESPACE, "app=bad", ready_only=False).startswith("bad-")
    assert kube.find_service(NAMESPACE, "app=web") == ("web", 80)
    with pytest.raises(OperationError, match="no Service matches app=none"):
        kube.find_service(NAMESPACE, "app=none")


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_port_forward_relays_connections_over_the_websocket(
    kube: kube_mod.Kube, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    with_namespace(cluster)
    cluster.create(deployment("bh", {"app": "bh"}))
    pod = kube.find_pod(NAMESPACE, "app=bh")
    results: list[tuple[int, bytes]] = []
    with kube_mod.port_forward(kube, NAMESPACE, pod, 8585) as port:
        # Several connections at once, each its own port-forward stream.
        threads = [
            threading.Thread(target=lambda: results.append(_get(port, "/versions")))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert len(results) == 4
    for status, body in results:
        assert status == 200 and json.loads(body)["binderhub"] == binderhub.version
    forwards = [r for r in cluster.requests if r.path.endswith(f"/pods/{pod}/portforward")]
    assert len(forwards) == 4 and all(r.query["ports"] == ["8585"] for r in forwards)
    assert len([r for r in binderhub.requests if r.path == "/versions"]) == 4


def test_port_forward_reports_what_the_api_server_said(
    kube: kube_mod.Kube, cluster: FakeKubernetes
) -> None:
    with_namespace(cluster)
    cluster.create(deployment("bh", {"app": "bh"}))
    pod = kube.find_pod(NAMESPACE, "app=bh")
    errors: list[str] = []
    with (
        kube_mod.port_forward(kube, NAMESPACE, pod, 9999, errors=errors) as port,
        pytest.raises((http.client.HTTPException, ConnectionError)),
    ):
        _get(port, "/versions")
    assert any("error forwarding port 9999" in e and "connection refused" in e for e in errors)


def test_the_servers_version_is_shown_safely(kube: kube_mod.Kube, cluster: FakeKubernetes) -> None:
    cluster.version["gitVersion"] = "v1.30.0\x1b]0;PWNED\x07\x1b[2J\u202eEVIL" + "x" * 500
    shown = kube.server_version()
    assert shown.startswith("v1.30.0EVILxxx") and shown.isprintable()
    assert len(shown) < 150


def test_a_client_that_hangs_up_early_leaves_no_thread_dying(
    kube: kube_mod.Kube, cluster: FakeKubernetes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pod answers more than the client reads before it hangs up (a build's
    event stream cut short): closing the relay's end with unread data must not
    reset the kubernetes library's proxy thread, whose death would print a
    traceback on the user's terminal."""
    died: list[str] = []
    monkeypatch.setattr(
        threading, "excepthook", lambda args: died.append(f"{args.thread}: {args.exc_value!r}")
    )
    server = socket.create_server(("127.0.0.1", 0))
    answered = threading.Event()

    def pod() -> None:
        conn, _ = server.accept()
        with conn, contextlib.suppress(OSError):  # the stream may end while it writes
            conn.recv(100)
            answered.set()
            conn.sendall(b"x" * 4_000_000)
            conn.recv(100)

    threading.Thread(target=pod, daemon=True).start()
    cluster.port_targets[7000] = server.getsockname()
    with_namespace(cluster)
    cluster.create(deployment("bh", {"app": "bh"}))
    name = kube.find_pod(NAMESPACE, "app=bh")
    before = set(threading.enumerate())
    with kube_mod.port_forward(kube, NAMESPACE, name, 7000) as port:
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(b"GET\n")
        assert client.recv(10)
        assert answered.wait(10)
        time.sleep(0.5)  # the answer fills the buffers on its way
        client.close()
        time.sleep(0.5)  # the relay sees the hang-up and closes its end
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    server.close()
    assert died == []


# ---- diagnosis ------------------------------------------------------------------------

DIAGNOSES = {
    "ImagePullBackOff": [
        r"pod bad-\S+ \(Pending\) container main: ImagePullBackOff: Back-off pulling image "
        r'"example.org/app:1"',
        r'event Warning Failed on Pod bad-\S+: Failed to pull image "example.org/app:1"',
    ],
    "CrashLoopBackOff": [
        r"container main: CrashLoopBackOff: .*\(restarted 4 times, last exit code 1, Error\)",
        r"event Warning BackOff on Pod bad-\S+: Back-off restarting failed container main",
        r"last \d+ log lines of container main \(previous run\):",
        r"\| traitlets.traitlets.TraitError",
    ],
    "Unschedulable": [
        r"pod bad-\S+ \(Pending\): Unschedulable: 0/3 nodes are available: 3 Insufficient cpu",
        r"event Warning FailedScheduling on Pod bad-\S+: 0/3 nodes are available",
    ],
}


@pytest.mark.parametrize("behavior", sorted(DIAGNOSES))
def test_diagnose_says_why_pods_are_not_ready(
    kube: kube_mod.Kube, cluster: FakeKubernetes, behavior: str
) -> None:
    import re

    with_namespace(cluster)
    cluster.set_pod_behavior(behavior, "app=bad")
    cluster.create(deployment("bad", {"app": "bad"}))
    cluster.create(deployment("good", {"app": "good"}))
    text = "\n".join(diagnose(kube, NAMESPACE, "app"))
    for pattern in DIAGNOSES[behavior]:
        assert re.search(pattern, text), (pattern, text)
    assert "good-" not in text  # ready pods are not mentioned
    assert diagnose(kube, NAMESPACE, "app=good") == []


def test_diagnose_missing_secret_and_no_pods(kube: kube_mod.Kube, cluster: FakeKubernetes) -> None:
    with_namespace(cluster)
    needs = deployment("needs", {"app": "needs"})
    needs["spec"]["template"]["spec"]["volumes"] = [
        {"name": "creds", "secret": {"secretName": "gone"}}
    ]
    cluster.create(needs)
    text = "\n".join(diagnose(kube, NAMESPACE, "app=needs"))
    assert "ContainerCreating" in text
    assert 'MountVolume.SetUp failed for volume "creds" : secret "gone" not found' in text
    # The kubelet retries when the Secret appears.
    kube.ensure_secret(NAMESPACE, "gone", {"k": b"v"}, "Opaque", None)
    assert diagnose(kube, NAMESPACE, "app=needs") == []
    lines = diagnose(kube, NAMESPACE, "app=none")
    assert lines[0] == f"no pod matches app=none in namespace {NAMESPACE}"
    assert any("FailedMount" in line for line in lines[1:])


# ---- a server that is not a Kubernetes API ------------------------------------


class _LoginPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Please sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_server_that_is_not_a_kubernetes_api_is_one_line(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LoginPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
            ],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
        kube = kube_mod.connect(None, str(tmp_path / "kubeconfig"))
        for call in (kube.server_version, lambda: kube.list_pods("binder", "app=x")):
            with pytest.raises(OperationError, match="did not answer like a Kubernetes API") as err:
                call()
            assert "sign in" not in str(err.value)
    finally:
        server.shutdown()


# ---- kubeconfig credential plugins (exec) ---------------------------------------


def exec_kubeconfig(cluster: FakeKubernetes, tmp_path: Path, script: str) -> str:
    """The fake's kubeconfig with its user's token handed out by a plugin script."""
    plugin = tmp_path / "plugin"
    plugin.write_text("#!/bin/sh\n" + script)
    plugin.chmod(0o755)
    config = yaml.safe_load(cluster.kubeconfig(tmp_path / "kubeconfig").read_text())
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": str(plugin),
            "interactiveMode": "Never",
        }
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    return str(tmp_path / "kubeconfig")


def test_a_credential_plugins_token_is_used(cluster: FakeKubernetes, tmp_path: Path) -> None:
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1",
                  "kind": "ExecCredential", "status": {"token": cluster.token}}  # fmt: skip
    path = exec_kubeconfig(cluster, tmp_path, f"echo '{json.dumps(credential)}'\n")
    assert kube_mod.connect(None, path).server_version().startswith("v1.")


def test_a_failing_credential_plugin_is_one_line_with_its_message(
    cluster: FakeKubernetes, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = exec_kubeconfig(cluster, tmp_path, "echo 'error: you are not logged in' >&2\nexit 1\n")
    with pytest.raises(OperationError) as err:
        kube_mod.connect(None, path)
    assert "the credential plugin of context fake failed: exec: process returned 1" in str(
        err.value
    )
    assert "you are not logged in" in str(err.value)
    assert "ERROR:root" not in capfd.readouterr().err


def test_a_credential_plugin_that_hangs_has_a_deadline(
    cluster: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_connect, "CREDENTIAL_PLUGIN_TIMEOUT", 0.5)
    path = exec_kubeconfig(cluster, tmp_path, "sleep 3\n")
    with pytest.raises(OperationError, match=r"did not answer within 0\.5s"):
        kube_mod.connect(None, path)
