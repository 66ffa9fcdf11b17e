"""Images pinned by digest: `imageDigests` (recorded at release for the chart's own
images) and `image.digest` (set by the user)."""

from __future__ import annotations

import pytest
import yaml
from chartlib import CHART, SCENARIOS_DIR, example_digest, listed_images, pod_containers

RECORDED = {image: example_digest(image) for image in listed_images()}


def pod_images(rendered) -> dict[str, str]:
    """container name -> image, for every pod the chart renders."""
    return {c["name"]: c["image"] for doc in rendered.docs for c in pod_containers(doc)}


@pytest.mark.parametrize("engine", ["dind", "podman"])
def test_recorded_digests_pin_every_image(helm, render, engine):
    rendered = render(helm, extra={"imageDigests": RECORDED, "dockerApi": {"type": engine}})
    images = pod_images(rendered)
    assert len(images) >= 4
    for name, image in images.items():
        tagged, _, digest = image.partition("@")
        assert tagged in RECORDED, (name, image)
        assert digest == RECORDED[tagged], (name, image)
    for container in (c for doc in rendered.docs for c in pod_containers(doc)):
        assert container["imagePullPolicy"] == "IfNotPresent", container["name"]


def test_an_image_set_in_the_values_is_not_held_to_a_recorded_digest(helm, render):
    """A recorded digest belongs to one repository:tag: another tag runs by its tag."""
    rendered = render(
        helm,
        extra={
            "imageDigests": RECORDED,
            "image": {"tag": "1.0.0-0.dev.git.9999.h0000000"},
            "dockerApi": {"imageCleaner": {"image": {"repository": "mirror.example/cleaner"}}},
        },
    )
    images = pod_images(rendered)
    assert (
        rendered.container["image"]
        == "quay.io/jupyterhub/k8s-binderhub:1.0.0-0.dev.git.9999.h0000000"
    )
    assert images["image-cleaner"] == "mirror.example/cleaner:1.0.0-beta.3"
    # the engine, untouched, keeps its recorded digest
    assert "@sha256:" in images["docker-api"]


def test_image_digest_wins_over_a_recorded_one(helm, render):
    mine = "sha256:" + "0" * 64
    rendered = render(helm, extra={"imageDigests": RECORDED, "image": {"digest": mine}})
    assert rendered.container["image"].endswith(f"@{mine}")
    (test_container,) = rendered.test_pod["spec"]["containers"]
    assert test_container["image"] == rendered.container["image"]


def test_a_mirror_entry_pins_the_mirror_image(helm, render):
    image = "registry.internal.example:5000/jupyterhub/docker-image-cleaner:1.0.0-beta.3"
    rendered = render(
        helm,
        extra={
            "imageDigests": {image: example_digest(image)},
            "dockerApi": {
                "imageCleaner": {
                    "image": {
                        "repository": image.rsplit(":", 1)[0],
                    }
                }
            },
        },
    )
    assert pod_images(rendered)["image-cleaner"] == f"{image}@{example_digest(image)}"


def test_every_option_pins_the_cleaner(helm, render):
    rendered = render(helm, "every-option")
    values = yaml.safe_load((SCENARIOS_DIR / "every-option.yaml").read_text())
    [(image, digest)] = values["imageDigests"].items()
    assert pod_images(rendered)["image-cleaner"] == f"{image}@{digest}"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"quay.io/jupyterhub/k8s-binderhub:1": "sha256:abc"}, "sha256"),
        ({"quay.io/jupyterhub/k8s-binderhub:1": "md5:" + "0" * 64}, "sha256"),
        ({"quay.io/jupyterhub/k8s-binderhub": example_digest("x")}, "imageDigests"),
        ({"quay.io/x:1\nprivileged: true": example_digest("x")}, "imageDigests"),
        ({"quay.io/x:1@sha256:" + "0" * 64: example_digest("x")}, "imageDigests"),
    ],
)
def test_bad_digest_entries_are_refused(template_error, entry, field):
    error = template_error({"imageDigests": entry})
    assert "imageDigests" in error and field in error, error


def test_the_chart_records_digests_only_of_its_images():
    """values.yaml's imageDigests names only images the chart lists (a stale
    entry after a tag change would never be used)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["imageDigests"]) <= set(listed_images())
