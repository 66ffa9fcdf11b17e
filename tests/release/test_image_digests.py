"""`release.py digests` records the digests a real registry serves for the chart's
images, and `release.py check` holds values.yaml to the images Chart.yaml lists."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml
from releaselib import helm_run, release

from oci_images import oci_index_layout, oci_layout, skopeo
from oci_registry import Registry


def listed_images(root: Path) -> list[str]:
    chart = yaml.safe_load((root / "chart" / "Chart.yaml").read_text())
    return [i["image"] for i in yaml.safe_load(chart["annotations"]["artifacthub.io/images"])]


def recorded(root: Path) -> dict[str, str]:
    digests: dict[str, str] = yaml.safe_load((root / "chart" / "values.yaml").read_text())[
        "imageDigests"
    ]
    return digests


def without_digests_block(text: str) -> str:
    return re.sub(r"(?m)^imageDigests:.*\n(?:[ \t]+\S.*\n)*", "", text)


def mirror(images: list[str], registry: Registry, skopeo_path: str, work: Path) -> dict[str, str]:
    """Each image, made here (the first with two platforms), copied into the registry
    at its path (as `skopeo copy` to a mirror does); image -> its digest."""
    digests = {}
    for n, image in enumerate(images):
        path, tag = image.split("/", 1)[1].rsplit(":", 1)
        layout = work / f"layout-{n}"
        content = f"{image}\n".encode()
        made = (
            oci_index_layout(layout, tag, content) if n == 0 else oci_layout(layout, tag, content)
        )
        target = f"docker://{registry.host}/{path}:{tag}"
        copied = skopeo(skopeo_path, work, "copy", "--all", "--dest-tls-verify=false",
                        f"oci:{layout}:{tag}", target)  # fmt: skip
        assert copied.returncode == 0, copied.stderr
        digests[image] = f"sha256:{hashlib.sha256(made).hexdigest()}"
    return digests


def test_digests_are_recorded_from_a_registry_and_pin_the_chart(
    checkout: Path, oci_registry: Registry, skopeo_path: str, helm4_path: Path, tmp_path: Path
) -> None:
    images = listed_images(checkout)
    expected = mirror(images, oci_registry, skopeo_path, tmp_path)
    values = checkout / "chart" / "values.yaml"
    before = values.read_text()
    env = {"SKOPEO": skopeo_path, "HOME": str(tmp_path)}

    done = release("digests", "--from", oci_registry.host, "--plain-http",
                   helm=helm4_path, home=tmp_path, env=env, root=checkout)  # fmt: skip
    assert done.code == 0, done.both
    assert recorded(checkout) == expected
    for image, digest in expected.items():
        assert f"{image}: {digest}" in done.out
    # Only the imageDigests block changed: comments and every other value stay.
    assert without_digests_block(values.read_text()) == without_digests_block(before)

    # A second run finds the same digests and leaves the file as it is.
    written = values.read_bytes()
    again = release("digests", "--from", oci_registry.host, "--plain-http",
                    helm=helm4_path, home=tmp_path, env=env, root=checkout)  # fmt: skip
    assert again.code == 0, again.both
    assert "the digests recorded already" in again.out
    assert values.read_bytes() == written

    pinned = release("check", "--pinned", helm=helm4_path, home=tmp_path, root=checkout)
    assert pinned.code == 0, pinned.both

    # The chart now runs each image by its digest, with either engine.
    for engine in ("dind", "podman"):
        out = helm_run(helm4_path, tmp_path, "template", "binderhub", str(checkout / "chart"),
                       "--set", f"dockerApi.type={engine}")  # fmt: skip
        run = set(re.findall(r"(?m)^\s+image: \"?([^\"\s]+)\"?$", out))
        assert run, out
        assert run <= {f"{image}@{digest}" for image, digest in expected.items()}, run


def test_check_pinned_names_an_image_without_a_digest(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    first = listed_images(checkout)[0]
    done = release("check", "--pinned", helm=helm4_path, home=tmp_path, root=checkout)
    assert done.code == 2
    assert done.err.strip() == (
        f"release: {checkout / 'chart' / 'values.yaml'}: imageDigests has no digest of "
        f"{first} (run `digests`)"
    )


def test_check_refuses_a_digest_of_an_image_the_chart_no_longer_lists(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    values = checkout / "chart" / "values.yaml"
    old = "quay.io/jupyterhub/docker-image-cleaner:0.9.0"
    values.write_text(
        values.read_text().replace(
            "imageDigests: {}", f'imageDigests:\n  {old}: "sha256:{"0" * 64}"'
        )
    )
    done = release("check", helm=helm4_path, home=tmp_path, root=checkout)
    assert done.code == 2
    assert f"imageDigests has {old}, an image Chart.yaml does not list" in done.err


def test_an_image_the_registry_lacks_fails_and_records_nothing(
    checkout: Path, oci_registry: Registry, skopeo_path: str, helm4_path: Path, tmp_path: Path
) -> None:
    chart_yaml = checkout / "chart" / "Chart.yaml"
    chart_yaml.write_text(
        chart_yaml.read_text().replace("docker-image-cleaner:1.0.0-beta.3", "bhsvc-absent:1")
    )
    # The registry has every other image: the one it lacks is the last looked up.
    images = listed_images(checkout)
    mirror([i for i in images if "bhsvc-absent" not in i], oci_registry, skopeo_path, tmp_path)
    values = checkout / "chart" / "values.yaml"
    before = values.read_bytes()
    done = release("digests", "--from", oci_registry.host, "--plain-http", helm=helm4_path,
                   home=tmp_path, env={"SKOPEO": skopeo_path, "HOME": str(tmp_path)},
                   root=checkout)  # fmt: skip
    assert done.code == 1
    assert done.err.startswith("release: skopeo inspect failed: "), done.err
    assert f"{oci_registry.host}/jupyterhub/bhsvc-absent: manifest unknown" in done.err
    assert values.read_bytes() == before


def test_bad_input_is_refused_before_any_lookup(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    # A skopeo that cannot run: any lookup would fail with exit 1, not 2.
    env = {"SKOPEO": str(tmp_path / "no-skopeo")}
    bad_mirror = release("digests", "--from=-registry", helm=helm4_path, home=tmp_path,
                         env=env, root=checkout)  # fmt: skip
    assert bad_mirror.code == 2
    assert bad_mirror.err.strip() == "release: --from '-registry': expected HOST or HOST:PORT"

    values = checkout / "chart" / "values.yaml"
    values.write_text(values.read_text().replace("imageDigests: {}\n", ""))
    no_key = release("digests", helm=helm4_path, home=tmp_path, env=env, root=checkout)
    assert no_key.code == 2
    assert no_key.err.strip() == (f"release: {values}: expected one top-level `imageDigests:` key")


def test_a_chart_that_lists_no_images_is_refused(
    checkout: Path, helm4_path: Path, tmp_path: Path
) -> None:
    """`check --pinned` cannot pass by listing nothing."""
    chart_yaml = checkout / "chart" / "Chart.yaml"
    chart = yaml.safe_load(chart_yaml.read_text())
    del chart["annotations"]
    chart_yaml.write_text(yaml.safe_dump(chart))
    done = release("check", "--pinned", helm=helm4_path, home=tmp_path, root=checkout)
    assert done.code == 2
    assert done.err.strip() == (
        f"release: {chart_yaml}: no artifacthub.io/images annotation listing the chart's images"
    )
