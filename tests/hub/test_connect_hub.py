"""`bhsvc connect-hub` as a user runs it.

Bad input: exit 2, one line, nothing written, no cluster call. The whole command:
real helm against the fake Kubernetes API (tests/fakes/k8s_api.py), the bundled
binderhub-service chart, a stand-in z2jh chart carrying z2jh's real values
schema (so helm validates what bhsvc writes), and the final check going through
a port-forward to the hub's proxy pod, relayed to a real JupyterHub proxy with
the stand-in BinderHub behind it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hublib import ROOT, RealHub, fake_z2jh_chart, find_chp

from bhsvc.chart import bundled_chart
from bhsvc.config import load_config
from bhsvc.merge import deep_merge
from bhsvc.values import binderhub_values, jupyterhub_values
from bhsvc.values_diff import redact, run_tagger, values_bhsvc_writes, values_diff
from fakes.k8s_api import FakeKubernetes

pytestmark = pytest.mark.timeout(300)

KEY = '{"type": "service_account", "private_key": "PRIVATE-KEY-MATERIAL", "client_email": "x"}'


def bhsvc(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bhsvc", *args],
        capture_output=True, text=True, timeout=240, check=False, cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def write_config(directory: Path, hub: dict[str, Any] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".bhsvc").mkdir(parents=True, exist_ok=True)
    for account in ("pusher", "puller"):  # with a hub, its users pull with their own key
        key = directory / ".bhsvc" / f"binderhub-{account}-key.json"
        key.write_text(KEY)
        key.chmod(0o600)
    data = {
        "version": 1,
        "kube": {"namespace": "binder"},
        "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
        "hub": {"enabled": True, **(hub or {})},
    }
    path = directory / "bhsvc.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ---- bad input ------------------------------------------------------------------


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """No kubeconfig and a helm download that would fail loudly if ever tried."""
    return {
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "BHSVC_HELM": "",
        "PATH": str(tmp_path / "no-bin"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "BHSVC_HELM_DOWNLOAD_URL": "http://127.0.0.1:9/never-fetched.tar.gz",
        "BHSVC_HELM_DOWNLOAD_SHA256": "0" * 64,
    }


def _bad(tmp_path: Path, case: str) -> tuple[list[str], str]:
    config = write_config(tmp_path / "proj")
    args = ["connect-hub", "--config", str(config)]
    if case == "hub-disabled":
        config.write_text(config.read_text().replace("enabled: true", "enabled: false"))
        return args, "hub.enabled is false"
    if case == "missing-values-file":
        return [*args, "--hub-values", str(tmp_path / "nope.yaml")], "values file not found"
    if case == "values-not-a-mapping":
        bad = tmp_path / "list.yaml"
        bad.write_text("- 1\n")
        return [*args, "--hub-values", str(bad)], "expected a mapping of chart values"
    if case == "values-not-yaml":
        bad = tmp_path / "broken.yaml"
        bad.write_text("hub: [\n")
        return [*args, "--hub-values", str(bad)], "not valid YAML at line"
    if case == "token-in-config":
        token = {"hub": {"services": {"binder": {"api_token": "abc"}}}}
        write_config(tmp_path / "proj", {"values": token})
        return args, "remove the API token"
    if case == "hub-base-url":
        other = tmp_path / "mine.yaml"
        other.write_text("hub:\n  baseUrl: /jupyter/\n")
        return [*args, "--hub-values", str(other)], "hub.baseUrl is '/jupyter/'"
    if case == "own-file":
        own = tmp_path / "proj" / ".bhsvc" / "rendered" / "jupyterhub.values.yaml"
        own.parent.mkdir(parents=True)
        own.write_text("{}\n")
        return [*args, "--hub-values", str(own), "--yes"], "this is the file bhsvc writes"
    if case == "no-yes":
        return args, "needs a confirmation: pass --yes"
    if case == "no-credentials":
        (tmp_path / "proj" / ".bhsvc" / "binderhub-pusher-key.json").unlink()
        return [*args, "--yes"], "service-account key file not found"
    raise AssertionError(case)


BAD = [
    "hub-disabled",
    "missing-values-file",
    "values-not-a-mapping",
    "values-not-yaml",
    "token-in-config",
    "hub-base-url",
    "own-file",
    "no-yes",
    "no-credentials",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: str, tmp_path: Path, offline_env: dict[str, str]
) -> None:
    args, message = _bad(tmp_path, case)
    before = sorted(p for p in tmp_path.rglob("*"))
    proc = bhsvc(*args, env=offline_env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before


# ---- the diff --------------------------------------------------------------------


def test_answering_no_cancels_with_exit_code_1_as_deploy_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bhsvc.commands.rollout import confirm
    from bhsvc.errors import OperationError
    from bhsvc.prompts import TerminalPrompter

    monkeypatch.setattr(TerminalPrompter, "ask", lambda self, prompt: "n")  # the user types n
    with pytest.raises(OperationError, match="connect-hub cancelled: nothing was changed") as err:
        confirm(False, "connect-hub")
    assert err.value.exit_code == 1


USER_SECRETS = {
    "proxy": {"secretToken": "s3cr3t"},
    "hub": {
        "db": {"url": "postgresql://jhub:DBURLPASS77@db/jhub", "password": None},
        "config": {"CryptKeeper": {"keys": ["CRYPTKEYAAAA1111"]}, "Auth": {"enabled": True}},
        "extraEnv": [{"name": "GITHUB_TOKEN", "value": "ghp_LISTFORMTOKEN999"}],
        "extraFiles": {"c": {"mountPath": "/x", "stringData": '{"client_secret":"EFS"}'}},
        "extraConfig": {"mine": "c.X.password = 'pw'"},
    },
    "singleuser": {"extraEnv": {"OPENAI_API_KEY": {"value": "sk-DICTVALUEFORM"}}},
}
SECRET_TEXTS = ["s3cr3t", "DBURLPASS77", "CRYPTKEY", "ghp_", "EFS", "'pw'", "sk-DICT"]


def test_redaction_shows_only_what_bhsvc_writes() -> None:
    config = load_config(ROOT / "examples" / "gar-with-hub.yaml")
    ours = jupyterhub_values(config)
    assert ours is not None
    new = deep_merge(USER_SECRETS, ours)
    tag = run_tagger()
    shown = redact(new, ours, tag)
    text = yaml.safe_dump(shown)
    for secret in SECRET_TEXTS:
        assert secret not in text
    assert (
        shown["hub"]["extraConfig"]["bhsvc-fancy-profiles"]
        == ours["hub"]["extraConfig"]["bhsvc-fancy-profiles"]
    )
    assert shown["hub"]["services"] == ours["hub"]["services"]
    assert shown["hub"]["config"]["Auth"]["enabled"] is True
    assert shown["hub"]["db"]["password"] is None
    assert shown["proxy"]["secretToken"].startswith("<not shown ")
    assert values_diff(new, new, "x", ours, tag) == ""
    changed = values_diff(new, deep_merge(new, {"proxy": {"secretToken": "t"}}), "x", ours, tag)
    assert "-  secretToken: <not shown " in changed and "+  secretToken: <not shown " in changed
    assert "s3cr3t" not in changed


def test_bhsvcs_profile_shows_also_beside_the_users_profiles() -> None:
    config = load_config(ROOT / "examples" / "gar-with-hub.yaml")
    mine = {"singleuser": {"profileList": [{"display_name": "Mine", "slug": "m", "default": True}]}}
    new = deep_merge(mine, jupyterhub_values(config, mine) or {})
    hub_ours, _ = values_bhsvc_writes(config, None)
    shown = redact(new, hub_ours, run_tagger())["singleuser"]["profileList"]
    assert shown[0]["display_name"].startswith("<not shown ")  # the user's
    assert shown[1]["display_name"] == "Build your own image"  # bhsvc's, not the default


def test_dry_run_diff_never_shows_the_users_secrets(tmp_path: Path, helm4_path: Path) -> None:
    config = yaml.safe_load((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    (tmp_path / "bhsvc.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "real-hub.yaml").write_text(yaml.safe_dump(USER_SECRETS))
    proc = subprocess.run(
        [sys.executable, "-m", "bhsvc", "connect-hub", "--dry-run", "-c",
         str(tmp_path / "bhsvc.yaml"), "--hub-values", str(tmp_path / "real-hub.yaml"),
         "--helm", str(helm4_path), "-o", "json"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "none")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)["diff"]["jupyterhub"]
    assert "services:" in diff and "secretToken: <not shown " in diff
    for secret in SECRET_TEXTS:
        assert secret not in proc.stdout + proc.stderr


def test_dry_run_without_a_cluster_shows_the_diff_against_nothing(
    tmp_path: Path, helm4_path: Path
) -> None:
    config = write_config(tmp_path / "proj")
    mine = tmp_path / "mine.yaml"
    mine.write_text("proxy:\n  secretToken: do-not-print-me\nsingleuser:\n  image:\n"
                    "    pullSecrets: [my-own]\n")  # fmt: skip
    before = mine.read_text()
    env = {"KUBECONFIG": str(tmp_path / "none"), "BHSVC_HELM": str(helm4_path)}
    proc = bhsvc("connect-hub", "-c", str(config), "--hub-values", str(mine), "--dry-run",
                 "-o", "json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["dry_run"] is True and doc["diff_against"] == "nothing"
    assert doc["service"] == {
        "name": None,
        "port": None,
        "url": "http://binderhub-binderhub-service.binder:80",
        "discovered": False,
    }
    hub_cmd, bh_cmd = [step["command"] for step in doc["plan"] if step["command"]]
    values = [hub_cmd[i + 1] for i, a in enumerate(hub_cmd) if a == "--values"]
    assert values == [str(mine), doc["files"]["jupyterhub"]]  # the user's first, ours last
    # z2jh 4.3.1 from the repository, fetched and checked into the cache before the plan
    assert hub_cmd[4].startswith(os.environ["XDG_CACHE_HOME"])
    assert hub_cmd[4].endswith("/jupyterhub-4.3.1.tgz") and "--repo" not in hub_cmd
    hub_step = next(step for step in doc["plan"] if step["command"] == hub_cmd)
    assert f"z2jh 4.3.1 from {os.environ['BHSVC_HUB_CHART_REPO']}" in hub_step["description"]
    assert bh_cmd[:5] == ["helm", "upgrade", "--install", "binderhub", str(bundled_chart())]
    pull = doc["diff"]["jupyterhub"].split("pullSecrets:\n")[1].splitlines()[:2]
    assert pull[0].startswith("+    - <not shown ")  # the user's, from their file
    assert pull[1] == "+    - binderhub-image-pull"  # bhsvc's, as it writes it
    assert "do-not-print-me" not in proc.stdout + proc.stderr
    assert "access:services!service=binder" in doc["diff"]["jupyterhub"]
    assert "/services/binder/" in doc["diff"]["binderhub"]
    assert not (tmp_path / "proj" / ".bhsvc" / "rendered").exists()
    assert mine.read_text() == before
    # and for people
    text = bhsvc("connect-hub", "-c", str(config), "--dry-run", env=env)
    assert text.returncode == 0, text.stderr
    assert "Plan for no cluster" in text.stdout
    assert "helm upgrade --install jupyterhub" in text.stdout


# ---- the whole command against a (fake) cluster ------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as kube:
        yield kube


def _helm(helm: Path, env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=240, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr


def test_connect_hub_deploys_both_charts_and_answers_through_the_proxy(
    cluster: FakeKubernetes, tmp_path: Path, helm4_path: Path
) -> None:
    chart = fake_z2jh_chart(tmp_path / "charts", "4.3.1")
    config_path = write_config(tmp_path / "proj", {"namespace": "jupyterhub", "chart": str(chart)})
    config = load_config(config_path)
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        "BHSVC_HELM": str(helm4_path),
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }
    # BinderHub deployed on its own first (as `bhsvc deploy` leaves it); no wait:
    # connect-hub waits for its own upgrade.
    standalone = binderhub_values(config.model_copy(update={"hub": config.hub.model_copy(
        update={"enabled": False})}))  # fmt: skip
    standalone_file = tmp_path / "standalone.yaml"
    standalone_file.write_text(yaml.safe_dump(standalone))
    _helm(helm4_path, env, "upgrade", "--install", "binderhub", str(bundled_chart()),
          "--namespace", "binder", "--create-namespace", "--values", str(standalone_file),
          "--timeout", "120s")  # fmt: skip
    # The hub's proxy pod relays to a real JupyterHub proxy with the stand-in behind it.
    z2jh = jupyterhub_values(config)
    assert z2jh is not None
    real = RealHub(tmp_path / "hub", z2jh, binderhub_values(config), find_chp()).start()
    try:
        cluster.port_targets[8000] = ("127.0.0.1", real.proxy_port)
        cluster.port_targets[8585] = ("127.0.0.1", real.standin_port)
        mine = tmp_path / "mine.yaml"
        mine.write_text("singleuser:\n  image:\n    pullSecrets: [my-own]\n")
        args = ["connect-hub", "-c", str(config_path), "--hub-values", str(mine), "--yes",
                "-o", "json"]  # fmt: skip
        proc = bhsvc(*args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["service"]["name"] == "binderhub-binderhub-service"
        assert doc["service"]["discovered"] is True
        # /services/binder/versions answered through the proxy
        proxy = next(s for s in doc["steps"] if s["name"].endswith("through the hub's proxy"))
        assert proxy["status"] == "ok" and proxy["detail"].startswith("BinderHub ")
        assert "PRIVATE-KEY-MATERIAL" not in proc.stdout + proc.stderr

        # the token z2jh generated, copied next to BinderHub and wired into its pod
        hub_secret = cluster.get("Secret", "jupyterhub", "hub")
        assert hub_secret is not None
        key = "hub.services.binder.apiToken"
        copied = cluster.get("Secret", "binder", "binderhub-hub-api-token")
        assert copied is not None and copied["data"][key] == hub_secret["data"][key]
        deployment = next(
            d for d in cluster.objects("Deployment", "binder")
            if d["metadata"]["labels"].get("app.kubernetes.io/component") == "binderhub"
        )  # fmt: skip
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env_vars = {e["name"]: e for e in container["env"]}
        assert env_vars["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "binderhub-hub-api-token",
            "key": key,
        }
        assert env_vars["JUPYTERHUB_API_URL"]["value"] == "http://hub.jupyterhub:8081/hub/api/"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["hub.jupyter.org/network-access-hub"] == "true"
        # user pods pull with the registry credentials
        pull = cluster.get("Secret", "jupyterhub", "binderhub-image-pull")
        assert pull is not None and pull["type"] == "kubernetes.io/dockerconfigjson"
        # the files: the user's untouched, bhsvc's written, no token in them
        assert mine.read_text() == "singleuser:\n  image:\n    pullSecrets: [my-own]\n"
        written = Path(doc["files"]["jupyterhub"]).read_text()
        assert "pullSecrets:\n    - my-own\n    - binderhub-image-pull" in written
        assert hub_secret["data"][key] not in written

        # again: converges, nothing left to change
        again = bhsvc(*args, env=env)
        assert again.returncode == 0, again.stderr
        redo = json.loads(again.stdout)
        assert redo["diff"] == {"jupyterhub": "", "binderhub": ""}
        assert redo["diff_against"] == "deployed"
        copied_again = cluster.get("Secret", "binder", "binderhub-hub-api-token")
        assert copied_again is not None
        assert copied_again["metadata"]["resourceVersion"] == copied["metadata"]["resourceVersion"]
    finally:
        cluster.port_targets.pop(8000, None)
        cluster.port_targets.pop(8585, None)
        real.stop()


def test_values_files_from_the_config_and_the_flag_reach_helm_in_order(
    tmp_path: Path, helm4_path: Path
) -> None:
    config = write_config(tmp_path / "proj", {"values_files": ["first.yaml"]})
    (tmp_path / "proj" / "first.yaml").write_text("hub:\n  config: {}\n")
    second = tmp_path / "second.yaml"
    second.write_text("singleuser:\n  memory: {limit: 2G}\n")
    env = {"KUBECONFIG": str(tmp_path / "none"), "BHSVC_HELM": str(helm4_path)}
    proc = bhsvc("connect-hub", "-c", str(config), "--hub-values", str(second), "--dry-run",
                 "--timeout", "42", "-o", "json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    commands = [step["command"] for step in json.loads(proc.stdout)["plan"] if step["command"]]
    hub_command, binderhub_command = commands
    files = [hub_command[i + 1] for i, arg in enumerate(hub_command) if arg == "--values"]
    assert files == [
        str(tmp_path / "proj" / "first.yaml"),
        str(second),
        str(tmp_path / "proj" / ".bhsvc" / "rendered" / "jupyterhub.values.yaml"),
    ]
    assert "42s" in hub_command and "42s" in binderhub_command
