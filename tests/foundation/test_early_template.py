"""`bhsvc render` starts `helm template` before the config is validated: the names it
passes must be safe, the process must be the one that renders, and bad input must
stop it before it has read anything."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from bhsvc import config, early_template, helm
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
def events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, helm4_path: Path) -> list[Any]:
    """In order: each helm process the command starts (helm runs for real) and
    "validated" when the config model has accepted the file. The version cache is
    private to the test and starts empty."""
    monkeypatch.setenv("BHSVC_HELM", str(helm4_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    seen: list[Any] = []
    real_spawn, real_parse = helm.spawn, config.parse_config

    def watch_spawn(*args: Any, **kwargs: Any) -> helm.Running:
        running = real_spawn(*args, **kwargs)
        seen.append(running)
        return running

    def watch_parse(*args: Any, **kwargs: Any) -> config.Config:
        parsed = real_parse(*args, **kwargs)
        seen.append("validated")
        return parsed

    monkeypatch.setattr(helm, "spawn", watch_spawn)
    monkeypatch.setattr(config, "parse_config", watch_parse)
    return seen


def spawned(events: list[Any]) -> list[helm.Running]:
    return [e for e in events if isinstance(e, helm.Running)]


def template_argv(helm_path: Path) -> tuple[str, ...]:
    return (str(helm_path), "template", "binderhub", str(bundled_chart()),
            "--namespace", "binder", "--values", "-")  # fmt: skip


def test_render_starts_helm_before_validating_once_helm_is_known(
    run_cli: RunCli, events: list[Any], tmp_path: Path, helm4_path: Path
) -> None:
    example = str(ROOT / "examples" / "gar.yaml")
    # First run: the version cache is empty, so helm is probed after validation.
    assert run_cli("render", "-c", example, "-d", str(tmp_path / "first")).code == 0
    assert events[0] == "validated"
    assert [r.argv for r in spawned(events)] == [template_argv(helm4_path)]
    events.clear()
    # Next run: the known helm starts first, and that one process renders.
    out = tmp_path / "out"
    result = run_cli("render", "-c", example, "-d", str(out))
    assert result.code == 0, result.both
    assert isinstance(events[0], helm.Running) and events[1] == "validated"
    assert [r.argv for r in spawned(events)] == [template_argv(helm4_path)]
    assert spawned(events)[0].process.returncode == 0
    assert "kind: Deployment" in (out / "binderhub-service.yaml").read_text()
    assert (out / "binderhub-service.yaml").read_text() == (
        tmp_path / "first" / "binderhub-service.yaml"
    ).read_text()


def write_config(folder: Path, binderhub: str, region: str) -> Path:
    config = folder / "bhsvc.yaml"
    config.write_text(
        f"version: 1\nkube: {{namespace: binder}}\nbinderhub: {binderhub}\n"
        f"registry: {{provider: gar, gar: {{project: my-project, region: {region}}}}}\n"
    )
    return config


def test_bad_config_stops_the_early_helm_before_it_reads_anything(
    run_cli: RunCli, events: list[Any], tmp_path: Path, helm4_path: Path
) -> None:
    helm.find_helm(str(helm4_path))  # a run before this one probed helm
    bad = write_config(tmp_path, "{}", region="mars")
    out = tmp_path / "out"
    result = run_cli("render", "-c", str(bad), "-d", str(out))
    assert result.code == 2
    assert "registry.gar.region" in result.err
    assert len(spawned(events)) == 1, "plain names: helm was started early"
    assert spawned(events)[0].process.returncode == -signal.SIGKILL
    assert not out.exists()


def test_bad_config_with_an_unknown_helm_runs_and_writes_nothing(
    run_cli: RunCli, events: list[Any], tmp_path: Path
) -> None:
    bad = write_config(tmp_path, "{}", region="mars")
    result = run_cli("render", "-c", str(bad), "-d", str(tmp_path / "out"))
    assert result.code == 2
    assert spawned(events) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bhsvc.yaml"], "no version cache"


def test_a_release_that_reads_as_a_flag_never_reaches_helm(
    run_cli: RunCli, events: list[Any], tmp_path: Path, helm4_path: Path
) -> None:
    helm.find_helm(str(helm4_path))
    bad = write_config(tmp_path, "{release: '--post-renderer=/bin/false'}", region="us")
    result = run_cli("render", "-c", str(bad), "-d", str(tmp_path / "out"))
    assert result.code == 2
    assert "binderhub.release" in result.err
    assert spawned(events) == []


def test_a_waiting_helm_for_another_command_is_stopped(helm4_path: Path) -> None:
    found = helm.probe(helm4_path)
    chart = str(bundled_chart())
    waiting = helm.spawn(found, helm.template_args("old", chart, "binder", ["-"]), reads_stdin=True)
    assert helm.reuse(waiting, found, helm.template_args("new", chart, "binder", ["-"])) is None
    assert waiting.process.returncode == -signal.SIGKILL
    again = helm.spawn(found, helm.template_args("same", chart, "b", ["-"]), reads_stdin=True)
    assert helm.reuse(again, found, helm.template_args("same", chart, "b", ["-"])) is again
    helm.feed(again, "")
    assert 'name: "same-binderhub-service"' in helm.finish(again)
