"""Mirroring for air-gapped clusters (docs/how-to/air-gapped.md): the chart's list of
images is the images it runs, and the page's values move every one of them, and
the builds' repo2docker image, to the mirror."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from releaselib import ROOT, helm_run

PAGE = ROOT / "docs" / "how-to" / "air-gapped.md"
MIRROR = "registry.internal.example/"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def render(helm: Path, home: Path, *args: str) -> list[dict[str, Any]]:
    out = helm_run(helm, home, "template", "binderhub", str(ROOT / "chart"), *args)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def images(manifests: list[dict[str, Any]]) -> set[str]:
    """Every image a pod of these manifests runs (containers and init containers)."""
    found = set()
    for doc in manifests:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") if "template" in spec else spec
        for key in ("containers", "initContainers"):
            found |= {c["image"] for c in (pod or {}).get(key, [])}
    return found


def test_the_chart_lists_the_images_it_runs(helm4_path: Path, tmp_path: Path) -> None:
    chart = yaml.safe_load((ROOT / "chart" / "Chart.yaml").read_text())
    listed = {i["image"] for i in yaml.safe_load(chart["annotations"]["artifacthub.io/images"])}
    run = images(render(helm4_path, tmp_path)) | images(
        render(helm4_path, tmp_path, "--set", "dockerApi.type=podman")
    )
    assert run == listed


def air_gapped_values() -> dict[str, Any]:
    """The page's values block (the one whose first line says so)."""
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.S)
    [block] = [b for b in blocks if b.startswith("# values for binderhub-service")]
    values: dict[str, Any] = yaml.safe_load(block)
    return values


def test_the_air_gapped_values_take_every_image_from_the_mirror(
    helm4_path: Path, tmp_path: Path
) -> None:
    values = air_gapped_values()
    values["image"]["digest"] = DIGEST  # as the page says, with the copied image's digest
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    manifests = render(helm4_path, tmp_path, "--values", str(file))
    run = images(manifests)
    assert run and all(image.startswith(MIRROR) for image in run), run
    tag = values["image"]["tag"]
    assert f"{MIRROR}jupyterhub/k8s-binderhub:{tag}@{DIGEST}" in run
    # Build pods run repo2docker from the mirror; the engine pulls Docker Hub from it.
    [config] = [
        d for d in manifests if d["metadata"]["name"] == "binderhub-binderhub-service-config"
    ]
    chart_config = yaml.safe_load(config["stringData"]["chart-config.yaml"])
    build_image = chart_config["config"]["KubernetesBuildExecutor"]["build_image"]
    assert build_image.startswith(MIRROR)
    [daemon] = [d for d in manifests if d["kind"] == "DaemonSet"]
    args = daemon["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--registry-mirror=https://{MIRROR.rstrip('/')}" in args


def test_the_page_copies_the_images_its_values_name() -> None:
    """Each image the values use is one the page's skopeo commands copy."""
    copied = set(re.findall(rf"docker://{re.escape(MIRROR)}(\S+)", PAGE.read_text()))
    values = air_gapped_values()
    used = {
        f"{values['image']['repository']}:{values['image']['tag']}",
        "{repository}:{tag}".format(**values["dockerApi"]["defaultImages"]["dind"]),
        "{repository}:{tag}".format(**values["dockerApi"]["imageCleaner"]["image"]),
        values["config"]["KubernetesBuildExecutor"]["build_image"],
    }
    assert {u.removeprefix(MIRROR) for u in used} <= copied
