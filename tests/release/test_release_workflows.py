"""The GitHub Actions workflows, which cannot run here: linted offline (actionlint,
zizmor), their actions pinned by commit, and every step something a developer can
run by hand (nox sessions and tools/ scripts that exist). tools/e2e.sh's bhsvc.yaml
is one bhsvc accepts and renders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from releaselib import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# uses: owner/repo@<40 hex> # vX.Y.Z
PINNED = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}")


def linter(name: str) -> str:
    found = shutil.which(
        name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if found is None:
        pytest.fail(f"no {name}: run the tests through 'nox -s tests', which installs it")
    return found


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def steps() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in WORKFLOWS:
        for job_name, job in load(path)["jobs"].items():
            found += [(f"{path.name}:{job_name}", step) for step in job.get("steps", [])]
    return found


def test_the_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["e2e.yml", "release.yml", "test.yml"]


def test_actionlint_finds_nothing() -> None:
    proc = subprocess.run(
        [linter("actionlint"), "-no-color", "-oneline", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_even_pedantic() -> None:
    proc = subprocess.run(
        [linter("zizmor"), "--offline", "--persona", "pedantic", "--format", "plain",
         str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


def test_actions_are_pinned_by_commit_with_their_version() -> None:
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "uses:" not in line:
                continue
            uses = line.split("uses:", 1)[1].strip()
            where = f"{path.name}:{number}"
            assert PINNED.match(uses), f"{where}: {uses} is not pinned to a commit"
            assert re.search(r"# v\d+\.\d+\.\d+$", uses), f"{where}: say which version"


def test_every_job_is_bounded_and_asks_for_least_permissions() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        assert workflow["permissions"] == {}, path.name
        for name, job in workflow["jobs"].items():
            assert job.get("timeout-minutes", 0) <= 90, f"{path.name}:{name}"
            assert "permissions" in job, f"{path.name}:{name}"


def test_steps_run_what_a_developer_can_run() -> None:
    sessions = set(re.findall(r"^def (\w+)\(session", (ROOT / "noxfile.py").read_text(), re.M))
    run = "\n".join(step.get("run", "") for _, step in steps())
    for session in re.findall(r"nox -s (\w+)", run):
        assert session in sessions, f"no nox session {session}"
    for script in re.findall(r"(?:\.ci|tools)/[\w.-]+", run):
        assert (ROOT / script).is_file() and os.access(ROOT / script, os.X_OK), script
    release_steps = set(re.findall(r"nox -s release -- (\w+)", run))
    assert release_steps == {"check", "build", "push", "index"}
    # A tag whose chart lacks a digest of one of its images is not released.
    assert 'release -- check --expect "$GITHUB_REF_NAME" --pinned' in run


def test_the_test_workflow_runs_the_readme_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "python3 -m pip install nox && python3 -m nox"
    assert f"{command}\n" in readme
    assert command in (ROOT / ".ci" / "run").read_text()
    runs = [step.get("run") for _, step in steps()]
    assert ".ci/run" in runs


def test_e2e_config_is_one_bhsvc_accepts(tmp_path: Path, helm4_path: Path) -> None:
    """tools/e2e.sh config writes the bhsvc.yaml the end-to-end job deploys; bhsvc
    reads it and renders the chart with it (build daemon told about the plain-HTTP
    registry, NetworkPolicies open to it)."""
    env = {
        **os.environ,
        "E2E_REGISTRY": "10.1.0.5:5001",
        "E2E_INSECURE_REGISTRY": "1",
        "E2E_DIR": str(tmp_path),
        "BHSVC_REGISTRY_PASSWORD": "unused",
        "BHSVC_HELM": str(helm4_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    subprocess.run([str(ROOT / "tools" / "e2e.sh"), "config"], env=env, timeout=60, check=True)
    out = tmp_path / "rendered"
    subprocess.run(
        [sys.executable, "-m", "bhsvc", "render", "--config", str(tmp_path / "bhsvc.yaml"),
         "--output-dir", str(out)],
        env=env,
        timeout=120,
        check=True,
        capture_output=True,
    )  # fmt: skip
    manifests = list(yaml.safe_load_all((out / "binderhub-service.yaml").read_text()))
    daemon = next(d for d in manifests if d and d["kind"] == "DaemonSet")
    args = daemon["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--insecure-registry=10.1.0.5:5001" in args
    egress = [
        rule
        for d in manifests
        if d and d["kind"] == "NetworkPolicy"
        for rule in d["spec"].get("egress", [])
        if {"ipBlock": {"cidr": "10.1.0.5/32"}} in rule.get("to", [])
    ]
    assert egress and all(r["ports"] == [{"port": 5001, "protocol": "TCP"}] for r in egress)
    values = yaml.safe_load((out / "binderhub-service.values.yaml").read_text())
    assert values["config"]["BinderHub"]["image_prefix"] == "10.1.0.5:5001/bhsvc-e2e/binder-"
