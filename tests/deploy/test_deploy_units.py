"""The pure parts of deploy: decisions, parsing helm's answers, wording diagnoses."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from deploylib import Project

from bhsvc import diagnose, helm, hub_chart, installation
from bhsvc.components.releases import install, parse_release
from bhsvc.config import Config, load_config
from bhsvc.hub_files import HubUserValues
from bhsvc.kube import client as kube_client
from bhsvc.kube.kubeconfig import kubeconfig_paths

HELM4 = helm.Helm(Path("/usr/bin/helm"), (4, 1, 4))
HELM3 = helm.Helm(Path("/usr/bin/helm"), (3, 19, 0))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_secret_change_compares_content_type_and_labels() -> None:
    labels = {"app.kubernetes.io/managed-by": "bhsvc"}
    current = {
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"labels": {**labels, "other": "kept"}},
        "data": {".dockerconfigjson": _b64(b"{}")},
    }
    wanted = {".dockerconfigjson": b"{}"}
    assert kube_client.secret_change(None, wanted, "Opaque", labels) == "create"
    assert (
        kube_client.secret_change(current, wanted, "kubernetes.io/dockerconfigjson", labels)
        == "unchanged"
    )
    assert (
        kube_client.secret_change(current, {".dockerconfigjson": b"[]"}, current["type"], labels)
        == "update"
    )
    assert (
        kube_client.secret_change(current, {**wanted, "x": b""}, current["type"], labels)
        == "update"
    )
    assert kube_client.secret_change(current, wanted, current["type"], {"new": "label"}) == "update"
    assert kube_client.secret_change(current, wanted, "Opaque", labels) == "recreate"
    # annotations bhsvc sets (helm's keep policy) are compared; others are left alone
    keep = {"helm.sh/resource-policy": "keep"}
    kind = current["type"]
    assert kube_client.secret_change(current, wanted, kind, labels, keep) == "update"
    current["metadata"]["annotations"] = {**keep, "meta.helm.sh/release-name": "x"}
    assert kube_client.secret_change(current, wanted, kind, labels, keep) == "unchanged"


def test_registry_secret_holds_the_same_docker_config_twice() -> None:
    data = installation.registry_secret_data('{"auths": {}}')
    assert data == {".dockerconfigjson": b'{"auths": {}}', "config.json": b'{"auths": {}}'}


def test_kubeconfig_paths() -> None:
    home = Path("~").expanduser()
    assert kubeconfig_paths(None, {}) == [home / ".kube" / "config"]
    assert kubeconfig_paths(None, {"KUBECONFIG": "/a:/b"}) == [Path("/a"), Path("/b")]
    assert kubeconfig_paths("/c", {"KUBECONFIG": "/a"}) == [Path("/c")]


def test_api_error_text_uses_the_status_message() -> None:
    body = '{"kind": "Status", "message": "secrets \\"x\\" is forbidden: User \\"u\\" cannot"}'
    assert kube_client.api_error_text(403, "Forbidden", body).startswith('forbidden: secrets "x"')
    assert "expired" in kube_client.api_error_text(401, "Unauthorized", "")
    assert kube_client.api_error_text(500, "Internal", "not json") == "Internal (HTTP 500)"


def test_parse_release_reads_helms_document() -> None:
    info = parse_release(
        {
            "name": "binderhub",
            "namespace": "binder",
            "version": 3,
            "info": {"status": "deployed"},
            "chart": {"metadata": {"version": "0.1.0", "appVersion": "1.0.0"}},
        }
    )
    assert info.as_dict() == {
        "release": "binderhub",
        "namespace": "binder",
        "revision": 3,
        "status": "deployed",
        "chart_version": "0.1.0",
        "app_version": "1.0.0",
    }


def test_helm_error_keeps_helms_message_not_its_logs() -> None:
    stderr = (
        'level=WARN msg="upgrade failed" name=binderhub error="x"\n'
        "Error: UPGRADE FAILED: release binderhub failed, and has been rolled back\n"
        "context deadline exceeded\n"
    )
    assert helm.helm_error(stderr) == (
        "UPGRADE FAILED: release binderhub failed, and has been rolled back "
        "context deadline exceeded"
    )
    assert helm.helm_error("") == "no output"


def test_helm_error_shows_what_servers_said_safely() -> None:
    """helm repeats an API server's or a registry's message: no escape sequences,
    no bidirectional overrides, and not megabytes of it."""
    hostile = "Error: list: denied \x1b]0;PWNED\x07\x1b[2J\u202eEVIL\n"
    assert helm.helm_error(hostile) == "list: denied EVIL"
    huge = helm.helm_error("Error: " + "x" * 2_000_000)
    assert len(huge) < helm.ERROR_LIMIT + 50 and huge.endswith("(2000000 characters)")


CACHE = {"XDG_CACHE_HOME": "/cache"}


def inputs(config: Config, helm_bin: helm.Helm, timeout: int) -> installation.Inputs:
    hub = hub_chart.locate(config, CACHE) if config.hub.enabled else None
    return installation.Inputs(
        config, "bhsvc.yaml", HubUserValues([], []), helm_bin, "/chart", timeout, None, hub
    )


def test_helm_commands_with_the_rollback_flag_of_each_major(project: Project) -> None:
    project.write_config({"hub": {"enabled": True, "namespace": "jupyterhub"}})
    config = installation.with_context(load_config(project.config), "prod")
    assert config.path(Path("x")) == project.root / "x"  # still relative to the file
    hub = installation.hub_chart_args(inputs(config, HELM4, 42))
    binderhub = installation.binderhub_chart_args(inputs(config, HELM4, 42))
    # z2jh's copy in bhsvc's cache, fetched and checked before anything changed
    assert hub[:3] == ["upgrade", "--install", "jupyterhub"]
    assert hub[3].startswith("/cache/bhsvc/charts/") and hub[3].endswith("/jupyterhub-4.3.1.tgz")
    assert "--repo" not in hub and "--version" not in hub
    assert binderhub[:4] == ["upgrade", "--install", "binderhub", "/chart"]
    for args in (hub, binderhub):
        assert args[args.index("--kube-context") + 1] == "prod"
        assert args[args.index("--timeout") + 1] == "42s"
        assert "--wait" in args and "--rollback-on-failure" in args
    values = binderhub[binderhub.index("--values") + 1]
    assert values == str(project.rendered / "binderhub-service.values.yaml")
    assert "--atomic" in installation.binderhub_chart_args(inputs(config, HELM3, 42))


def test_the_hub_release_goes_first(project: Project) -> None:
    project.write_config({"hub": {"enabled": True, "namespace": "jupyterhub"}})
    names = [
        c.name for c in installation.components(inputs(load_config(project.config), HELM4, 60))
    ]
    assert names.index("JupyterHub release jupyterhub") < names.index("BinderHub release binderhub")
    assert names.index("hub API token for BinderHub") < names.index("BinderHub release binderhub")


def test_helm_commands_use_a_local_hub_chart(project: Project, tmp_path: Path) -> None:
    project.write_config({"hub": {"enabled": True, "chart": "charts/jupyterhub"}})
    hub = installation.hub_chart_args(inputs(load_config(project.config), HELM4, 60))
    assert hub[3] == str(project.root / "charts" / "jupyterhub")
    assert "--repo" not in hub and "--version" not in hub


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            {"name": "init", "state": {"waiting": {"reason": "PodInitializing"}}},
            "init container init: PodInitializing",
        ),
        (
            {"name": "main", "ready": False, "state": {"running": {}}},
            "container main: running but not ready (its readiness probe fails)",
        ),
        (
            {"name": "main", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}},
            "container main: terminated with exit code 2 (Error)",
        ),
    ],
)
def test_pod_problems(state: dict[str, object], expected: str) -> None:
    key = "initContainerStatuses" if state["name"] == "init" else "containerStatuses"
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            key: [state],
        },
    }
    assert diagnose.pod_problems(pod) == [f"pod p (Running) {expected}"]
    assert not diagnose.pod_ready(pod)


def test_event_lines_are_the_last_ones_in_order() -> None:
    events = [
        {"metadata": {"resourceVersion": str(rv)}, "lastTimestamp": "2026-01-01T00:00:00Z",
         "type": "Warning", "reason": f"R{rv}", "message": "m", "count": rv,
         "involvedObject": {"kind": "Pod", "name": "p"}}
        for rv in (3, 1, 2)
    ]  # fmt: skip
    assert diagnose.event_lines(events, limit=2) == [
        "event Warning R2 on Pod p: m (x2)",
        "event Warning R3 on Pod p: m (x3)",
    ]


def test_helm_gets_time_for_the_rollback_after_its_own_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A helm that, like a failed upgrade with its rollback, runs past --timeout.
    script = tmp_path / "helm"
    release_json = '{"name": "hub", "namespace": "jh", "version": 2, "info": {}}'
    script.write_text(f"#!/bin/sh\nsleep 1.6\necho '{release_json}'\n")
    script.chmod(0o755)
    monkeypatch.setattr(helm, "GRACE_SECONDS", 0.2)
    release = install(helm.Helm(script, (4, 1, 4)), ["upgrade", "hub"], timeout_seconds=1)
    assert (release.name, release.revision) == ("hub", 2)


def test_server_text_is_shown_without_escapes() -> None:
    evil = "pulled\x1b[2J\x1b]0;owned\x07 image" + "x" * 1000
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "c", "state": {"waiting": {"reason": "ErrImagePull", "message": evil}}}
            ],
        },
    }
    [line] = diagnose.pod_problems(pod)
    assert "\x1b" not in line and "owned" not in line and len(line) < 400
    [_, logged] = diagnose.log_lines("c", ["\x1b[31mred\x1b[0m"], previous=False)
    assert "\x1b" not in logged and "red" in logged
    body = '{"message": "no\\u001b[2J way"}'
    assert "\x1b" not in kube_client.api_error_text(500, "Internal", body)
