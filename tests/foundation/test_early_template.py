"""`bhsvc render` starts `helm template` before the config is validated: the names it
passes must be safe, the process must be the one that renders, and bad input must
stop it before it has read anything."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from bhsvc import early_template, helm
from bhsvc.chart import bundled_chart
from clirun import RunCli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"kube": {"namespace": "binder"}}, ("binderhub", "binder")),
        ({"kube": {"namespace": "b"}, "binderhub": {"release": "bh.v2"}}, ("bh.v2", "b")),
        # Anything the model may still refuse or read otherwise: no early start.
        ({"kube": {"namespace": "binder"}, "binderhub": {"chart": "./mine"}}, None),
        ({"kube": {"namespace": "binder"}, "binderhub": {"release": "--post-renderer=x"}}, None),
        ({"kube": {"namespace": "--kube-context=prod"}}, None),
        ({"kube": {"namespace": "Binder"}}, None),
        ({"kube": {"namespace": 7}}, None),
        ({"kube": {}}, None),
        ({"kube": "binder"}, None),
        ({"kube": {"namespace": "binder"}, "binderhub": None}, None),
        ([{"kube": {"namespace": "binder"}}], None),
        (None, None),
    ],
)
def test_only_plain_names_reach_helm_before_validation(
    data: Any, names: tuple[str, str] | None
) -> None:
    assert early_template.template_names(data) == names


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch, helm4_path: Path) -> list[helm.Running]:
    """Every helm process the command starts, watched (helm itself runs for real)."""
    monkeypatch.setenv("BHSVC_HELM", str(helm4_path))
    started: list[helm.Running] = []
    real_spawn = helm.spawn

    def watch(*args: Any, **kwargs: Any) -> helm.Running:
        running = real_spawn(*args, **kwargs)
        started.append(running)
        return running

    monkeypatch.setattr(helm, "spawn", watch)
    return started


def test_render_uses_the_helm_it_started_early(
    run_cli: RunCli, spawned: list[helm.Running], tmp_path: Path, helm4_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "-c", str(ROOT / "examples" / "gar.yaml"), "-d", str(out))
    assert result.code == 0, result.both
    assert [r.argv for r in spawned] == [
        (str(helm4_path), "template", "binderhub", str(bundled_chart()),
         "--namespace", "binder", "--values", "-"),
    ]  # fmt: skip
    assert spawned[0].process.returncode == 0
    assert "kind: Deployment" in (out / "binderhub-service.yaml").read_text()


def write_config(folder: Path, binderhub: str, region: str) -> Path:
    config = folder / "bhsvc.yaml"
    config.write_text(
        f"version: 1\nkube: {{namespace: binder}}\nbinderhub: {binderhub}\n"
        f"registry: {{provider: gar, gar: {{project: my-project, region: {region}}}}}\n"
    )
    return config


def test_bad_config_stops_the_early_helm_before_it_reads_anything(
    run_cli: RunCli, spawned: list[helm.Running], tmp_path: Path
) -> None:
    config = write_config(tmp_path, "{}", region="mars")
    out = tmp_path / "out"
    result = run_cli("render", "-c", str(config), "-d", str(out))
    assert result.code == 2
    assert "registry.gar.region" in result.err
    assert len(spawned) == 1, "plain names: helm was started early"
    assert spawned[0].process.returncode == -signal.SIGKILL
    assert not out.exists()


def test_a_release_that_reads_as_a_flag_never_reaches_helm(
    run_cli: RunCli, spawned: list[helm.Running], tmp_path: Path
) -> None:
    config = write_config(tmp_path, "{release: '--post-renderer=/bin/false'}", region="us")
    result = run_cli("render", "-c", str(config), "-d", str(tmp_path / "out"))
    assert result.code == 2
    assert "binderhub.release" in result.err
    assert spawned == []


def test_a_waiting_helm_for_another_command_is_stopped(helm4_path: Path) -> None:
    found = helm.probe(helm4_path)
    chart = str(bundled_chart())
    waiting = helm.spawn(found, helm.template_args("old", chart, "binder", ["-"]), reads_stdin=True)
    assert helm.reuse(waiting, found, helm.template_args("new", chart, "binder", ["-"])) is None
    assert waiting.process.returncode == -signal.SIGKILL
    again = helm.spawn(found, helm.template_args("same", chart, "b", ["-"]), reads_stdin=True)
    assert helm.reuse(again, found, helm.template_args("same", chart, "b", ["-"])) is again
    helm.feed(again, "")
    assert "name: same" in helm.finish(again)
