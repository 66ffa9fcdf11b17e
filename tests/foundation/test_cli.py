"""The CLI as a user runs it: a subprocess, real helm, real validators."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def bhsvc(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bhsvc", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def helm_env(helm4_path: Path) -> dict[str, str]:
    return {"BHSVC_HELM": str(helm4_path)}


# ---- bad input: exit 2, one short message, nothing written, no network ----------


@pytest.fixture
def no_network_env(tmp_path: Path) -> dict[str, str]:
    """No helm anywhere and a download URL that would fail loudly if ever used."""
    return {
        "PATH": str(tmp_path / "no-bin"),
        "BHSVC_HELM": "",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "BHSVC_HELM_DOWNLOAD_URL": "http://127.0.0.1:9/never-fetched.tar.gz",
        "BHSVC_HELM_DOWNLOAD_SHA256": "0" * 64,
    }


BAD_CONFIGS = {
    "missing": (None, "config file not found"),
    "empty": (b"", "the file is empty"),
    "not-yaml": (b"kube: {namespace: [\n", "not valid YAML at line"),
    "not-utf8": (b"kube: \xff\xfe\n", "not UTF-8"),
    "list": (b"- 1\n", "expected a mapping"),
    "invalid": (
        b"version: 1\nkube: {namespace: Bad}\n"
        b"registry: {provider: gar, gar: {project: x, region: y}}\n",
        "kube.namespace",
    ),
    "duplicate-key": (
        b"version: 1\nkube: {namespace: a}\n"
        b"registry: {provider: gar, gar: {project: my-project, region: us}}\n"
        b"kube: {namespace: b}\n",
        "not valid YAML at line 4, column 1: duplicate key 'kube' (first at line 2)",
    ),
    "empty-section": (
        b"version: 1\nkube:\nregistry: {provider: dockerhub, username: My Org/x}\n",
        "kube: is empty; expected a mapping",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", ["render", "deploy"])
def test_bad_config_exits_2_and_writes_nothing(
    tmp_path: Path, no_network_env: dict[str, str], case: str, command: str
) -> None:
    content, expected = BAD_CONFIGS[case]
    config = tmp_path / "bhsvc.yaml"
    if content is not None:
        config.write_bytes(content)
    out_dir = tmp_path / "out"
    extra = ["--output-dir", str(out_dir)] if command == "render" else ["--dry-run"]
    proc = bhsvc(command, "--config", str(config), *extra, env=no_network_env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert str(config) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 6
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"bhsvc.yaml"} if content is not None else set()
    )


def test_every_bad_field_is_listed(tmp_path: Path, no_network_env: dict[str, str]) -> None:
    config = tmp_path / "bhsvc.yaml"
    config.write_text(
        "version: 1\nkube: {namespace: Bad_NS}\nbinderhub: {release: UPPER, builder: kaniko}\n"
        "registry: {provider: gar, gar: {project: p, region: mars}}\n"
    )
    proc = bhsvc("render", "--config", str(config), env=no_network_env)
    assert proc.returncode == 2
    for field in [
        "kube.namespace",
        "binderhub.release",
        "binderhub.builder",
        "registry.gar.project",
        "registry.gar.region",
    ]:
        assert field in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path, no_network_env: dict[str, str]) -> None:
    proc = bhsvc("--debug", "render", "--config", str(tmp_path / "none.yaml"), env=no_network_env)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_default_config_path_is_bhsvc_yaml(tmp_path: Path, no_network_env: dict[str, str]) -> None:
    proc = bhsvc("render", env=no_network_env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "bhsvc.yaml: config file not found" in proc.stderr


@pytest.mark.parametrize(
    "command",
    [["render"], ["deploy"], ["deploy", "--dry-run"], ["verify"], ["connect-hub"],
     ["init", "--non-interactive"]],
    ids=" ".join,
)  # fmt: skip
def test_json_output_is_one_document_also_on_bad_input(
    tmp_path: Path, no_network_env: dict[str, str], command: list[str]
) -> None:
    """A script reading stdout gets `ok: false` and the message, not an empty stdout."""
    config = tmp_path / "missing.yaml"
    proc = bhsvc(*command, "--config", str(config), "-o", "json", env=no_network_env)
    assert proc.returncode == 2
    document = json.loads(proc.stdout)
    assert document["ok"] is False and document["exit_code"] == 2
    assert f"{config}: config file not found" in document["error"]
    assert f"{config}: config file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_with_json_output_gives_exit_130_and_a_document(tmp_path: Path) -> None:
    with socket.socket() as silent:  # takes the connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(60)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        proc = subprocess.Popen(
            [sys.executable, "-m", "bhsvc", "verify", "--url", url, "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )  # fmt: skip
        conn, _ = silent.accept()  # verify is now waiting for /versions
        with conn:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out) == {"ok": False, "error": "interrupted", "exit_code": 130}
    assert "Traceback" not in err
    assert err.strip().endswith("interrupted")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "--colour"], "error: No such option: --colour (see 'bhsvc render --help')"),
        (
            ["deploy", "--dry-run", "--timeout", "0"],
            "error: Invalid value for '--timeout': 0 is not in the range 1<=x<=86400. "
            "(see 'bhsvc deploy --help')",
        ),
        # helm would refuse it only after bhsvc changed the cluster.
        (
            ["deploy", "--dry-run", "--timeout", "99999999999999999999"],
            "error: Invalid value for '--timeout': 99999999999999999999 is not in the range "
            "1<=x<=86400. (see 'bhsvc deploy --help')",
        ),
        (
            ["connect-hub", "--timeout", "86401"],
            "error: Invalid value for '--timeout': 86401 is not in the range 1<=x<=86400. "
            "(see 'bhsvc connect-hub --help')",
        ),
        (
            ["uninstall", "--timeout", "10000000000"],
            "error: Invalid value for '--timeout': 10000000000 is not in the range "
            "1<=x<=86400. (see 'bhsvc uninstall --help')",
        ),
        (
            ["verify", "--timeout", "inf"],
            "error: Invalid value for '--timeout': inf is not in the range 0.001<=x<=86400. "
            "(see 'bhsvc verify --help')",
        ),
        (
            ["verify", "--idle-timeout", "nan"],
            "error: Invalid value for '--idle-timeout': nan is not a number of seconds "
            "(see 'bhsvc verify --help')",
        ),
        (["nosuch"], "error: No such command 'nosuch'. (see 'bhsvc --help')"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = bhsvc(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip() == message
    assert proc.stdout == ""


@pytest.mark.parametrize("json_flag", [["-o", "json"], ["--output=json"], ["-ojson"]])
def test_a_bad_flag_with_json_output_still_gives_the_document(json_flag: list[str]) -> None:
    proc = bhsvc("verify", "--zzz", *json_flag)
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {
        "ok": False,
        "error": "No such option: --zzz (see 'bhsvc verify --help')",
        "exit_code": 2,
    }


def test_no_command_shows_the_help() -> None:
    proc = bhsvc()
    assert proc.returncode == 0, proc.stderr
    assert "Usage: bhsvc [OPTIONS] COMMAND" in proc.stdout
    assert "render" in proc.stdout and proc.stderr == ""


@pytest.mark.parametrize("args", [["-h"], ["deploy", "-h"], ["verify", "-h"]])
def test_dash_h_is_help(args: list[str]) -> None:
    proc = bhsvc(*args)
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: bhsvc {' '.join(args[:-1])}".rstrip() in proc.stdout


COMMANDS = ["init", "deploy", "verify", "connect-hub", "render", "status", "doctor",
            "uninstall", "adopt"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help_without_a_terminal_cuts_nothing(command: str) -> None:
    """A CI log or a pipe gets 80 columns: an example URL, a scope or a default that
    does not fit an option's cell would be cut to `…`, and could not be copied."""
    proc = bhsvc(command, "--help", env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout, proc.stdout


def test_verify_help_names_the_repository_it_builds_by_default() -> None:
    from bhsvc.repo_spec import EXAMPLE

    proc = bhsvc("verify", "--help", env={"COLUMNS": "80"})
    assert f"Without --repo it builds {EXAMPLE}." in " ".join(proc.stdout.split())


def test_shell_completion_script_for_bash() -> None:
    proc = bhsvc("--show-completion", env={"SHELL": "/bin/bash"})
    assert proc.returncode == 0, proc.stderr
    assert "_bhsvc_completion" in proc.stdout and "complete " in proc.stdout


# ---- render ------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_render_writes_values_and_valid_manifests(
    tmp_path: Path, helm_env: dict[str, str], example: Path
) -> None:
    out = tmp_path / "rendered"
    proc = bhsvc(
        "render", "--config", str(example), "--output-dir", str(out), "-o", "json", env=helm_env
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    names = sorted(Path(p).name for p in document["files"])
    hub = yaml.safe_load(example.read_text()).get("hub", {}).get("enabled", False)
    expected = ["binderhub-service.values.yaml", "binderhub-service.yaml"]
    if hub:
        expected.append("jupyterhub.values.yaml")
    assert names == sorted(expected)
    manifests = list(yaml.safe_load_all((out / "binderhub-service.yaml").read_text()))
    kinds = {doc["kind"] for doc in manifests if doc}
    assert {"Deployment", "Service", "DaemonSet"} <= kinds
    validate = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.35",
         str(out / "binderhub-service.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_rendered_files_are_private(tmp_path: Path, helm_env: dict[str, str]) -> None:
    """bhsvc puts no secret in them, but the user's own values may."""
    out = tmp_path / "out"
    example = str(ROOT / "examples" / "gar-with-hub.yaml")
    assert bhsvc("render", "-c", example, "-d", str(out), env=helm_env).returncode == 0
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {
        "binderhub-service.values.yaml": "0o600",
        "jupyterhub.values.yaml": "0o600",
        "binderhub-service.yaml": "0o600",
    }


def test_rendered_files_hold_no_secret(tmp_path: Path, helm_env: dict[str, str]) -> None:
    secret = "pa55-word-that-must-not-leak"
    config = tmp_path / "bhsvc.yaml"
    (tmp_path / "token").write_text(secret)
    config.write_text(
        "version: 1\nkube: {namespace: binder}\n"
        "registry: {provider: quay, username: me, password_file: token}\n"
    )
    out = tmp_path / "out"
    proc = bhsvc(
        "render",
        "--config",
        str(config),
        "-d",
        str(out),
        env={**helm_env, "BHSVC_REGISTRY_PASSWORD": secret},
    )
    assert proc.returncode == 0, proc.stderr
    for path in out.iterdir():
        assert secret not in path.read_text()
    assert secret not in proc.stdout + proc.stderr


def test_render_is_idempotent(tmp_path: Path, helm_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    example = str(ROOT / "examples" / "gar-with-hub.yaml")
    assert bhsvc("render", "-c", example, "-d", str(out), env=helm_env).returncode == 0
    first = {p.name: (p.read_text(), p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}
    assert bhsvc("render", "-c", example, "-d", str(out), env=helm_env).returncode == 0
    # Same content, and the files were left alone (not even rewritten).
    assert {
        p.name: (p.read_text(), p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()
    } == first


def test_render_success_document_says_ok(tmp_path: Path, helm_env: dict[str, str]) -> None:
    example = str(ROOT / "examples" / "gar.yaml")
    proc = bhsvc("render", "-c", example, "-d", str(tmp_path / "out"), "-o", "json", env=helm_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("where", "complaint"), [("a-file", "is a file, not a directory"), ("a-file/sub", "")]
)
def test_render_to_an_output_dir_it_cannot_write_is_bad_input(
    tmp_path: Path, helm_env: dict[str, str], where: str, complaint: str
) -> None:
    (tmp_path / "a-file").write_text("mine")
    example = str(ROOT / "examples" / "gar.yaml")
    out = tmp_path / where
    proc = bhsvc("render", "-c", example, "-d", str(out), env=helm_env)
    assert proc.returncode == 2, proc.stderr
    assert f"error: --output-dir {out}: " in proc.stderr and complaint in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "a-file").read_text() == "mine"


def test_render_writes_nothing_when_a_file_it_writes_is_a_directory(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    (out / "binderhub-service.yaml").mkdir(parents=True)
    example = str(ROOT / "examples" / "gar.yaml")
    proc = bhsvc("render", "-c", example, "-d", str(out), env=helm_env)
    assert proc.returncode == 2, proc.stderr
    assert f"{out / 'binderhub-service.yaml'}: is a directory, where bhsvc writes" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["binderhub-service.yaml"]


def test_render_shows_paths_escaped(tmp_path: Path, helm_env: dict[str, str]) -> None:
    """A folder name holding a terminal escape cannot repaint the terminal: the wrote
    lines, the step's line and a refusal show it escaped, as every message does."""
    folder = tmp_path / "esc\x1b[31mRED"
    folder.mkdir()
    config = folder / "bhsvc.yaml"
    shutil.copy(ROOT / "examples" / "gar.yaml", config)
    shown = f"{tmp_path}/esc\\x1b[31mRED/.bhsvc/rendered"

    proc = bhsvc("render", "-c", str(config), env=helm_env)

    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    assert f"(2 files in {shown})" in proc.stderr
    assert proc.stdout.splitlines() == [
        f"wrote {shown}/binderhub-service.values.yaml",
        f"wrote {shown}/binderhub-service.yaml",
    ]

    (folder / ".bhsvc" / "rendered" / "binderhub-service.yaml").write_text("mine\n")
    proc = bhsvc("render", "-c", str(config), env=helm_env)

    assert proc.returncode == 2
    assert "\x1b" not in proc.stdout + proc.stderr
    assert f"error: {shown}/binderhub-service.yaml exists and bhsvc did not" in proc.stderr


def test_render_extends_the_hubs_own_values_files_as_deploy_does(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    config = yaml.safe_load((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    config["hub"]["values_files"] = ["mine.yaml"]
    (tmp_path / "bhsvc.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    args = ("render", "-c", str(tmp_path / "bhsvc.yaml"), "-d", str(out))
    missing = bhsvc(*args, env=helm_env)
    assert missing.returncode == 2
    assert "mine.yaml: values file not found (hub.values_files)" in missing.stderr
    assert not out.exists()
    (tmp_path / "mine.yaml").write_text(
        "singleuser:\n  image: {pullSecrets: [my-pull]}\n"
        "  profileList: [{display_name: Small, slug: small, default: true}]\n"
    )
    assert bhsvc(*args, env=helm_env).returncode == 0
    hub = yaml.safe_load((out / "jupyterhub.values.yaml").read_text())["singleuser"]
    assert hub["image"]["pullSecrets"] == ["my-pull", "binderhub-image-pull"]
    assert [p["slug"] for p in hub["profileList"]] == ["small", "binderhub"]
    assert "default" not in hub["profileList"][1], "the user's default stays the default"


@pytest.mark.parametrize("command", ["render", "deploy"])
def test_values_the_chart_refuses_are_bad_input_and_change_nothing(
    tmp_path: Path, helm_env: dict[str, str], command: str
) -> None:
    config = tmp_path / "bhsvc.yaml"
    config.write_text(
        "version: 1\nkube: {namespace: binder}\n"
        "binderhub: {values: {replicas: many}}\n"
        "registry: {provider: gar, gar: {project: my-project, region: us}}\n"
    )
    out = tmp_path / "out"
    extra = ["-d", str(out)] if command == "render" else ["--dry-run"]
    proc = bhsvc(command, "--config", str(config), *extra, env=helm_env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "error: binderhub.values: the chart's schema refuses the values" in proc.stderr
    assert "at '/replicas': got string, want integer" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bhsvc.yaml"]


def test_connect_hub_checks_binderhubs_values_before_the_cluster(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    config = yaml.safe_load((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    config["binderhub"] = {"values": {"replicas": "two"}}
    (tmp_path / "bhsvc.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / ".bhsvc").mkdir()
    for account in ("pusher", "puller"):
        key = tmp_path / ".bhsvc" / f"binderhub-{account}-key.json"
        key.write_text(json.dumps({"type": "service_account", "private_key": "x"}))
    for extra in (["--dry-run"], ["--yes"]):
        proc = bhsvc("connect-hub", "-c", str(tmp_path / "bhsvc.yaml"), *extra,
                     env={**helm_env, "KUBECONFIG": str(tmp_path / "kubeconfig")})  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert "binderhub.values: the chart's schema refuses the values" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bhsvc", "bhsvc.yaml"]
    assert sorted(p.name for p in key.parent.iterdir()) == [
        "binderhub-puller-key.json",
        "binderhub-pusher-key.json",
    ], "no values written"


def test_a_combination_the_chart_refuses_is_bad_input(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    config = yaml.safe_load((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    # a build daemon whose memory limit holds no build: refused
    limits = {"limits": {"memory": "1Gi"}}
    config["binderhub"] = {"values": {"dockerApi": {"resources": limits}}}
    (tmp_path / "bhsvc.yaml").write_text(yaml.safe_dump(config))
    proc = bhsvc("render", "-c", str(tmp_path / "bhsvc.yaml"), "-d", str(tmp_path / "out"),
                 env=helm_env)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert (
        "error: the binderhub-service chart refuses these settings: "
        "dockerApi.resources.limits.memory (1Gi) leaves no room"
    ) in proc.stderr
    assert "--debug" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_render_failure_in_helm_writes_nothing(tmp_path: Path, helm_env: dict[str, str]) -> None:
    chart = tmp_path / "broken-chart"
    shutil.copytree(ROOT / "chart", chart)
    (chart / "templates" / "broken.yaml").write_text("{{ .Values.nothing.here }}\n")
    config = tmp_path / "bhsvc.yaml"
    config.write_text(
        "version: 1\nkube: {namespace: binder}\nbinderhub: {chart: broken-chart}\n"
        "registry: {provider: gar, gar: {project: my-project, region: us}}\n"
    )
    out = tmp_path / "out"
    proc = bhsvc("render", "--config", str(config), "-d", str(out), env=helm_env)
    assert proc.returncode == 1
    assert "helm template failed" in proc.stderr and "broken.yaml" in proc.stderr
    assert not out.exists()


# ---- deploy --dry-run ----------------------------------------------------------


def test_deploy_dry_run_prints_the_ordered_plan(helm_env: dict[str, str], tmp_path: Path) -> None:
    example = str(ROOT / "examples" / "gar-with-hub.yaml")
    proc = bhsvc(
        "deploy",
        "--dry-run",
        "-c",
        example,
        "-o",
        "json",
        env={**helm_env, "KUBECONFIG": str(tmp_path / "none")},
    )
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout)["plan"]
    actions = [step["action"] for step in steps]
    assert actions[:2] == ["namespace", "secret"]
    helm_steps = [step for step in steps if step["action"] == "helm"]
    assert "jupyterhub" in helm_steps[0]["command"], "the hub must come first: it makes the token"
    assert "binderhub" in helm_steps[1]["command"]
    assert "--rollback-on-failure" in helm_steps[1]["command"]
    text = bhsvc(
        "deploy", "--dry-run", "-c", example, env={**helm_env, "KUBECONFIG": str(tmp_path / "none")}
    )
    assert text.returncode == 0, text.stderr
    # the z2jh chart as fetched and checked into bhsvc's cache
    cached = os.path.join(os.environ["XDG_CACHE_HOME"], "bhsvc", "charts")
    assert f"helm upgrade --install jupyterhub {cached}" in text.stdout


@pytest.mark.parametrize("command", ["render", "deploy"])
def test_a_missing_local_hub_chart_is_bad_input(
    tmp_path: Path, helm_env: dict[str, str], command: str
) -> None:
    config = yaml.safe_load((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    config["hub"]["chart"] = "no-such-chart"
    (tmp_path / "bhsvc.yaml").write_text(yaml.safe_dump(config))
    extra = ["-d", str(tmp_path / "out")] if command == "render" else ["--dry-run"]
    proc = bhsvc(command, "-c", str(tmp_path / "bhsvc.yaml"), *extra, env=helm_env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: hub.chart: {tmp_path / 'no-such-chart'} does not exist"


def test_a_remote_hub_chart_is_fetched_into_the_cache_before_anything_changes(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    """Fetched from a registry, it is tests/deploy/test_hub_chart.py's; here the registry
    cannot be reached, and the dry run says where the real run would stop."""
    config = yaml.safe_load((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    config["hub"]["chart"] = "oci://registry.invalid/charts/jupyterhub"
    (tmp_path / "bhsvc.yaml").write_text(yaml.safe_dump(config))
    proc = bhsvc(
        "deploy", "--dry-run", "-c", str(tmp_path / "bhsvc.yaml"), "-o", "json",
        env={**helm_env, "KUBECONFIG": str(tmp_path / "none")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    hub_step = next(s for s in doc["plan"] if "jupyterhub" in s["command"])
    assert "z2jh 4.3.1 from oci://registry.invalid/charts/jupyterhub" in hub_step["description"]
    command = hub_step["command"]
    assert command[4].endswith("/jupyterhub-4.3.1.tgz")  # the copy the real run installs
    assert "--repo" not in command and "--version" not in command
    assert any(
        n.startswith("deploy would stop here (exit code 1): cannot fetch the z2jh chart "
                     "oci://registry.invalid/charts/jupyterhub 4.3.1") for n in doc["notes"]
    ), doc["notes"]  # fmt: skip


def test_dry_run_says_when_the_push_credentials_are_not_there_yet(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    env = {**helm_env, "KUBECONFIG": str(tmp_path / "none")}
    example = str(ROOT / "examples" / "dockerhub.yaml")
    proc = bhsvc("deploy", "--dry-run", "-c", example, "-o", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    [note] = json.loads(proc.stdout)["notes"]
    assert note.startswith("deploy would stop here (exit code 2): ")
    assert "password file not found" in note
    text = bhsvc("deploy", "--dry-run", "-c", example, env=env)
    assert f"Note: {note}" in text.stdout
    hub = bhsvc("connect-hub", "--dry-run", "-c", str(ROOT / "examples" / "gar-with-hub.yaml"),
                "-o", "json", env=env)  # fmt: skip
    assert hub.returncode == 0, hub.stderr
    assert any(n.startswith("connect-hub would stop here (exit code 2): ")
               and "key file not found" in n for n in json.loads(hub.stdout)["notes"])  # fmt: skip


@pytest.mark.parametrize("where", ["file", "variable"])
def test_a_password_of_blanks_is_empty_wherever_it_comes_from(
    tmp_path: Path, helm_env: dict[str, str], where: str
) -> None:
    registry = {"provider": "ghcr", "username": "octo"}
    if where == "file":
        (tmp_path / "token").write_text("  \t \n")
        registry["password_file"] = "token"
    config = tmp_path / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({"kube": {"namespace": "binder"}, "registry": registry}))
    env = {**helm_env, "KUBECONFIG": str(tmp_path / "none"), "BHSVC_REGISTRY_PASSWORD": "   "}

    proc = bhsvc("deploy", "--dry-run", "-c", str(config), "-o", "json", env=env)

    assert proc.returncode == 0, proc.stderr
    [note] = json.loads(proc.stdout)["notes"]
    empty = {
        "file": f"{tmp_path / 'token'}: the password file is empty",
        "variable": "registry.password_file is not set and BHSVC_REGISTRY_PASSWORD is empty",
    }
    assert note.startswith(f"deploy would stop here (exit code 2): {empty[where]}")


def test_render_resolves_a_local_chart_from_the_config_files_folder(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    import shutil

    site = tmp_path / "site"
    shutil.copytree(ROOT / "chart", site / "charts" / "binderhub-service")
    config = site / "bhsvc.yaml"
    config.write_text(
        "version: 1\nkube: {namespace: binder}\nbinderhub: {chart: charts/binderhub-service}\n"
        "registry: {provider: gar, gar: {project: my-project, region: us}}\n"
    )
    proc = bhsvc(
        "render", "-c", str(config), "-d", str(tmp_path / "out"), env=helm_env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    config.write_text(config.read_text().replace("charts/binderhub-service", "charts/missing"))
    proc = bhsvc("render", "-c", str(config), "-d", str(tmp_path / "out2"), env=helm_env)
    assert proc.returncode == 2
    assert "binderhub.chart:" in proc.stderr and "charts/missing does not exist" in proc.stderr
    assert not (tmp_path / "out2").exists()


def test_nothing_a_user_copies_is_wrapped_without_a_terminal(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    """A CI log has no terminal width: rich would wrap at 80 columns, splitting paths
    and commands; every line a user may copy stays whole."""
    folder = tmp_path / ("a-folder-with-a-rather-long-name-" * 3)
    folder.mkdir()
    config = folder / "bhsvc.yaml"
    config.write_text((ROOT / "examples" / "gar-with-hub.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run(
        [sys.executable, "-m", "bhsvc", "deploy", "--dry-run", "-c", str(config)],
        env={**env, **helm_env, "KUBECONFIG": str(tmp_path / "none")},
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if "helm upgrade --install" in line]
    assert len(commands) == 2
    for line in commands:
        assert line.rstrip().endswith("--rollback-on-failure"), "the whole command on one line"
        assert str(folder / ".bhsvc" / "rendered") in line
    assert any(len(line) > 200 for line in proc.stdout.splitlines())


def test_the_plan_shows_a_password_files_path_escaped(
    tmp_path: Path, helm_env: dict[str, str]
) -> None:
    """A folder name may hold a terminal escape sequence: the plan names the file
    without letting it reach the terminal."""
    folder = tmp_path / "esc\x1b[31mRED"
    folder.mkdir()
    config = folder / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({
        "version": 1,
        "kube": {"namespace": "binder"},
        "registry": {"provider": "dockerhub", "username": "myuser", "password_file": "pw.txt"},
    }))  # fmt: skip
    proc = bhsvc("deploy", "--dry-run", "--config", str(config), env=helm_env)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "from password file " + str(folder).replace("\x1b", "\\x1b") + "/pw.txt)" in proc.stdout
