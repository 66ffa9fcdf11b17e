"""Does an image BinderHub reports as pushed exist in Artifact Registry?

One read (`GetTag` on the image's package) answers it. The check never fails
the caller for reasons of its own: missing credentials or permissions become a
"not checked" result that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bhsvc.config import Config
from bhsvc.errors import BhsvcError
from bhsvc.registry.images import FOUND, MISSING, NOT_CHECKED, ImageCheck


@dataclass(frozen=True)
class ImageRef:
    host: str
    project: str
    repository: str
    package: str  # the image path inside the repository, e.g. binder-foo-2dbar-55ab5c
    tag: str

    @property
    def repository_name(self) -> str:
        region = self.host.removesuffix("-docker.pkg.dev")
        return f"projects/{self.project}/locations/{region}/repositories/{self.repository}"

    @property
    def tag_name(self) -> str:
        # Package ids of nested image paths have their '/' encoded as %2F.
        return f"{self.repository_name}/packages/{quote(self.package, safe='')}/tags/{self.tag}"


def parse_gar_image(image: str) -> ImageRef | None:
    """`<region>-docker.pkg.dev/<project>/<repo>/<path>:<tag>` split up; None for other images."""
    name, _, tag = image.rpartition(":")
    if not name or not tag or "/" in tag or "@" in image:
        return None
    parts = name.split("/")
    if len(parts) < 4 or not parts[0].endswith("-docker.pkg.dev"):
        return None
    host, project, repository, *path = parts
    return ImageRef(host, project, repository, "/".join(path), tag)


def check_image(
    config: Config, image: str, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> ImageCheck:
    """Look the image's tag up in the config's repository, waiting at most `timeout` seconds.

    The endpoint can be overridden with BHSVC_ARTIFACT_REGISTRY_ENDPOINT.
    """
    gar = config.registry.gar
    if gar is None:
        return ImageCheck(
            NOT_CHECKED, f"registry provider {config.registry.provider!r} is not checked"
        )
    ref = parse_gar_image(image)
    if ref is None:
        return ImageCheck(NOT_CHECKED, f"{image} is not an Artifact Registry image")
    if (ref.host, ref.project, ref.repository) != (gar.host, gar.project, gar.repository):
        return ImageCheck(
            NOT_CHECKED,
            f"{image} is not in the configured repository "
            f"{gar.host}/{gar.project}/{gar.repository}",
        )
    from bhsvc.registry.endpoints import artifact_registry_endpoint

    endpoint = artifact_registry_endpoint(env)  # a bad value is a UsageError, raised as such
    try:
        return _get_tag(ref, endpoint, timeout)
    except BhsvcError as err:
        return ImageCheck(NOT_CHECKED, str(err))


def _get_tag(ref: ImageRef, endpoint: Any, timeout: float) -> ImageCheck:
    from google.api_core import exceptions as gexc

    from bhsvc.registry.gcp_clients import (
        LazyDefaultCredentials,
        make_artifact_registry_client,
        silence_payload_logging,
    )
    from bhsvc.registry.gcp_errors import Action, translate

    silence_payload_logging()
    action = Action(
        "read the image tag",
        ref.tag_name,
        "artifactregistry.tags.get",
        "roles/artifactregistry.reader",
    )
    with make_artifact_registry_client(endpoint, LazyDefaultCredentials()) as client:
        try:
            tag = client.get_tag(name=ref.tag_name, retry=None, timeout=timeout)
        except gexc.NotFound:
            return ImageCheck(
                MISSING,
                f"BinderHub reported the image pushed, but {ref.repository_name} has no "
                f"tag {ref.tag} on {ref.package}",
            )
        except BhsvcError:
            raise
        except Exception as err:
            raise translate(err, action) from None
    digest = str(tag.version).rpartition("/")[2]
    return ImageCheck(FOUND, f"{ref.host}/{ref.project}/{ref.repository}/{ref.package}@{digest}")
